"""Sampling backends: who draws the k responses per prompt of the reward report and of RLOO/GRPO steps.

``hf`` (default): :func:`rmlab.lm.sample.sample_token_ids`, rmlab's seeded inverse-CDF sampler on ``generate``.
``vllm``: a vLLM engine (``pip install vllm``; GPU), with the same settings: temperature as given (1 by default),
top-k off unless given (vLLM's ``top_k=-1``), top-p 1, no repetition penalty or min-p, at most ``max_new_tokens``
tokens, stopping at the same EOS ids, prompts tokenised by rmlab (:func:`rmlab.lm.sample.encode_for_sampling`, so
chat templates, context checks and EOS conventions are the same) and passed as token ids, and **one request per
(prompt, sample) with its own seed** ``row_seed(seed, prompt index, sample index)`` (vLLM's per-request
``SamplingParams.seed``). The samples are therefore reproducible and independent of batching under vLLM too, but
they are **not the same draws** as the ``hf`` backend's: vLLM's seeded sampler turns a seed into tokens its own way
(same distribution, different samples). Responses come back as token ids cut after the first EOS (kept, as the hf
backend does), so scoring, decoding and training see the same conventions.

Both backends expose one method, ``sample_token_ids(model, tokenizer, prompts, k, **settings)``, with the signature
of :func:`rmlab.lm.sample.sample_token_ids` (pass it as ``sampler=`` to :func:`rmlab.lm.sample.sample_responses` or
:func:`rmlab.train.pg.train_pg`). The vLLM backend copies the HF ``model``'s current weights into the engine before
sampling whenever they changed since the last copy: once for a report, every step for RLOO.

What was verified here (no GPU, no vLLM): the contract, with a fake engine (``tests/test_lm_backends.py``): request
construction (token-id prompts, per-row seeds, the settings above), EOS handling, grouping k per prompt in order,
the report and RLOO using the chosen backend, and the engine sampling with the policy's current weights at every
RLOO step. Not verified: a real vLLM engine, its seeding semantics across versions, and the
weight-loading call :func:`load_weights_into_vllm` (vLLM's internal model path, which moves between releases).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from rmlab.errors import UserError

# rmlab.lm.sample (torch, transformers) is imported where it is used: the command line reads BACKENDS and
# BACKEND_HELP, and checks a choice, before loading any of it

BACKENDS = ("hf", "vllm")


class HFBackend:
    """rmlab's own sampler (:func:`rmlab.lm.sample.sample_token_ids`)."""

    name = "hf"

    def sample_token_ids(self, model, tokenizer, prompts, k, **settings) -> list[list[list[int]]]:
        from rmlab.lm.sample import sample_token_ids

        return sample_token_ids(model, tokenizer, prompts, k, **settings)


class VLLMBackend:
    """Sampling with a vLLM engine (module docstring). ``engine``: a ``vllm.LLM`` (or any object with its
    ``generate(prompts, sampling_params, use_tqdm=...)``); ``sampling_params``: the ``vllm.SamplingParams`` class;
    ``load_weights(engine, model)``: copies an HF model's weights into the engine (None: never synced)."""

    name = "vllm"

    def __init__(self, engine, *, sampling_params: Callable, load_weights: Callable | None = None):
        self.engine, self.sampling_params, self.load_weights = engine, sampling_params, load_weights
        self._synced_version = None

    def sample_token_ids(self, model, tokenizer, prompts, k, *, max_new_tokens=64, temperature=1.0, top_k=0,
                         top_p=1.0, seed=0, batch_size=16, chat_template=False, progress=True,
                         indices=None) -> list[list[list[int]]]:
        from rmlab.lm.sample import encode_for_sampling, eos_token_ids, row_seed

        encoded, indices = encode_for_sampling(model, tokenizer, prompts, k, max_new_tokens=max_new_tokens,
                                               temperature=temperature, top_k=top_k, top_p=top_p,
                                               chat_template=chat_template, indices=indices)
        self._sync(model)
        eos_ids = eos_token_ids(model, tokenizer)
        requests = [{"prompt_token_ids": ids} for ids in encoded for _ in range(k)]
        params = [self.sampling_params(n=1, temperature=temperature, top_k=top_k if top_k > 0 else -1, top_p=top_p,
                                       min_p=0.0, repetition_penalty=1.0, max_tokens=max_new_tokens,
                                       stop_token_ids=eos_ids, seed=row_seed(seed, index, j), detokenize=False)
                  for index in indices for j in range(k)]
        outputs = self.engine.generate(requests, params, use_tqdm=progress)
        if len(outputs) != len(requests):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(requests)} requests")
        rows = [_response_ids(out.outputs[0], eos_ids) for out in outputs]
        return [rows[n * k:(n + 1) * k] for n in range(len(encoded))]

    def _sync(self, model) -> None:
        """Copy the policy's weights into the engine if they changed since the last sync (parameter versions)."""
        if self.load_weights is None:
            return
        version = tuple(p._version for p in model.parameters())
        if version != self._synced_version:
            self.load_weights(self.engine, model)
            self._synced_version = version


def _response_ids(completion, eos_ids: list[int]) -> list[int]:
    """A vLLM completion's token ids in rmlab's convention: cut after the first EOS, which is kept; a completion
    that stopped on an EOS id vLLM left out of ``token_ids`` gets it appended."""
    from rmlab.lm.sample import through_first_eos

    ids = through_first_eos(list(completion.token_ids), eos_ids)
    stopped_on_eos = completion.finish_reason == "stop" and (completion.stop_reason is None
                                                             or completion.stop_reason in eos_ids)
    if stopped_on_eos and (not ids or ids[-1] not in eos_ids):
        ids.append(completion.stop_reason if completion.stop_reason in eos_ids else eos_ids[0])
    return ids


def load_weights_into_vllm(engine, model) -> None:
    """Copy ``model``'s weights into a single-GPU ``vllm.LLM`` (TRL's colocate path). Unverified (module docstring)."""
    runner = engine.llm_engine.model_executor.driver_worker.model_runner
    runner.model.load_weights(model.state_dict().items())
    engine.reset_prefix_cache()


BACKEND_HELP = ("sampling backend: hf (rmlab's seeded sampler, default) or vllm (a vLLM engine, GPU; same settings, "
                "per-sample seeds, but other draws than hf: see rmlab.lm.backends)")


def check_backend(name: str, *, model_path=None, flag: str = "--backend") -> str:
    """Check a backend choice without building anything: one of :data:`BACKENDS`; ``vllm`` needs the policy as a
    folder or hub id and vLLM importable. A :class:`~rmlab.errors.UserError` names ``flag`` otherwise."""
    if name not in BACKENDS:
        raise UserError(f"{flag} must be one of {', '.join(BACKENDS)}, got {name!r}")
    if name == "vllm":
        if model_path is None:
            raise UserError(f"{flag} vllm needs the policy as a model folder or hub id, not an in-memory model")
        if importlib.util.find_spec("vllm") is None:
            raise UserError(f"{flag} vllm needs vLLM (pip install vllm; a CUDA GPU): it is not installed")
    return name


def make_backend(name: str, *, model_path=None, seed: int = 0, dtype: str | None = None, flag: str = "--backend"):
    """The backend called ``name`` (checked by :func:`check_backend`); ``vllm`` builds a ``vllm.LLM`` on
    ``model_path``."""
    if check_backend(name, model_path=model_path, flag=flag) == "hf":
        return HFBackend()
    import vllm

    engine = vllm.LLM(model=str(model_path), seed=seed, trust_remote_code=False, dtype=dtype or "auto",
                      enable_prefix_caching=True)
    return VLLMBackend(engine, sampling_params=vllm.SamplingParams, load_weights=load_weights_into_vllm)
