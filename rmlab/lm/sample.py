"""Seeded, batched sampling of K responses per prompt, reproducible whatever the batch composition.

Plain ancestral sampling by default: temperature 1, ``top_k=0`` (off), ``top_p=1`` (off). rmlab does the sampling
itself in a logits processor and runs ``generate`` greedily on the one token it picked, so no generation default of
the checkpoint or of ``transformers`` (which applies ``top_k=50`` unless told otherwise, and checkpoints often ship
``temperature``/``top_p``/``repetition_penalty``) can change the distribution silently.

Seeding: sample j of prompt i draws its uniforms from its own ``torch.Generator`` seeded by ``(seed, index_i, j)``
and picks the token by inverse CDF. The samples of prompt i therefore depend only on the seed, its index, the prompt
and the model -- not on the batch size or on which other prompts share its batch -- so a resumed run reproduces the
same rows (up to float rounding moving a CDF boundary across a draw, which needs a draw within ~1e-7 of it).

Prompts are tokenised as in ``rmlab.lm.data`` (``chat_template=True`` applies the tokenizer's chat template with the
generation prompt); responses are decoded up to (excluding) the first EOS with special tokens skipped. A response may
be empty (the model emitted EOS first).
"""

from __future__ import annotations

import numpy as np
import torch
from rmlab._headless import tqdm
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from rmlab.errors import UserError
from rmlab.lm.data import encode_prompt
from rmlab.lm.load import context_length
from rmlab.lm.batching import model_device, pad_batch, padding_id


def row_seed(seed: int, prompt_index: int, sample_index: int) -> int:
    """The 64-bit seed of one (prompt, sample) row, independent of every other row's."""
    state = np.random.SeedSequence([seed, prompt_index, sample_index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 32 | int(state[1])


def row_generator(seed: int, prompt_index: int, sample_index: int) -> torch.Generator:
    """The random stream of one (prompt, sample) row, independent of every other row."""
    return torch.Generator().manual_seed(row_seed(seed, prompt_index, sample_index))


def filter_logits(logits: torch.Tensor, *, temperature=1.0, top_k=0, top_p=1.0) -> torch.Tensor:
    """Temperature, then top-k (0 = off), then nucleus top-p (1 = off) on ``logits [R, V]``; removed -> -inf."""
    logits = logits.float() / temperature
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]                       # [R, 1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = probs.cumsum(-1) - probs                                       # [R, V] mass of better tokens
        remove_sorted = mass_before >= top_p                                         # keeps at least the top token
        logits = logits.masked_fill(remove_sorted.scatter(-1, order, remove_sorted), float("-inf"))
    return logits


class _InverseCDFSampler(LogitsProcessor):
    """Pick one token per row with the row's own generator; return logits that make greedy decoding choose it."""

    def __init__(self, generators, *, temperature, top_k, top_p):
        self.generators = generators
        self.options = dict(temperature=temperature, top_k=top_k, top_p=top_p)

    def __call__(self, input_ids, scores):
        probs = torch.softmax(filter_logits(scores, **self.options), dim=-1).double()        # [R, V]
        uniforms = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in self.generators])
        cdf = probs.cumsum(-1)                                                                 # [R, V]
        target = (uniforms.to(cdf.device) * cdf[:, -1])[:, None]                              # [R, 1]
        tokens = torch.searchsorted(cdf, target).clamp(max=cdf.shape[-1] - 1)                  # [R, 1]
        tokens = torch.where(probs.gather(-1, tokens) > 0, tokens, probs.argmax(-1, keepdim=True))
        chosen = torch.full_like(scores, float("-inf"))
        return chosen.scatter(-1, tokens, 0.0)


def eos_token_ids(model, tokenizer) -> list[int]:
    """The ids that end a response: the tokenizer's EOS and the model's generation-config EOS ids."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, (list, tuple)) else [configured])
    return sorted(i for i in ids if i is not None)


def through_first_eos(ids: list[int], eos_ids: list[int]) -> list[int]:
    cut = next((n + 1 for n, t in enumerate(ids) if t in eos_ids), len(ids))
    return ids[:cut]


def decode_response(tokenizer, ids: list[int], eos_ids: list[int]) -> str:
    """The text of sampled ids up to (excluding) the first EOS, special tokens skipped."""
    cut = next((n for n, t in enumerate(ids) if t in eos_ids), len(ids))
    return tokenizer.decode(ids[:cut], skip_special_tokens=True)


@torch.no_grad()
def sample_responses(model, tokenizer, prompts, k, *, max_new_tokens=64, temperature=1.0, top_k=0, top_p=1.0,
                     seed=0, batch_size=16, chat_template=False, progress=True, indices=None,
                     sampler=None) -> list[list[str]]:
    """K sampled responses for each prompt: ``len(prompts)`` lists of ``k`` strings (:func:`sample_token_ids`, or
    ``sampler`` with its signature, e.g. a :mod:`rmlab.lm.backends` backend's, decoded up to the first EOS).

    >>> sample_responses(model, tokenizer, ["Once upon a time"], k=4, seed=0)  # doctest: +SKIP
    [['...', '...', '...', '...']]
    """
    eos_ids = eos_token_ids(model, tokenizer)
    ids = (sampler or sample_token_ids)(model, tokenizer, prompts, k, max_new_tokens=max_new_tokens,
                                        temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                                        batch_size=batch_size, chat_template=chat_template, progress=progress,
                                        indices=indices)
    return [[decode_response(tokenizer, response, eos_ids) for response in group] for group in ids]


def encode_for_sampling(model, tokenizer, prompts, k, *, max_new_tokens, temperature, top_k, top_p, chat_template,
                        indices=None) -> tuple[list[list[int]], list[int]]:
    """The checked settings and prompts of a sampling call: ``(prompt token ids, seeding indices)``; a
    :class:`~rmlab.errors.UserError` names a prompt that tokenises to nothing or does not fit the context."""
    prompts = list(prompts)
    indices = list(range(len(prompts))) if indices is None else [int(i) for i in indices]
    if len(indices) != len(prompts):
        raise ValueError(f"{len(indices)} indices for {len(prompts)} prompts")
    if k < 1:
        raise UserError(f"k must be >= 1, got {k}")
    if temperature <= 0 or not 0 < top_p <= 1 or top_k < 0:
        raise UserError(f"need temperature > 0, 0 < top_p <= 1, top_k >= 0 (got {temperature}, {top_p}, {top_k})")
    encoded = [encode_prompt(tokenizer, p, chat_template=chat_template) for p in prompts]
    context = context_length(model)
    for index, ids in zip(indices, encoded):
        if not ids:
            raise UserError(f"prompt {index}: tokenises to no tokens")
        if context is not None and len(ids) + max_new_tokens > context:
            raise UserError(f"prompt {index}: {len(ids)} prompt tokens + max_new_tokens={max_new_tokens} exceed the "
                             f"model's context of {context} tokens")
    return encoded, indices


@torch.no_grad()
def sample_token_ids(model, tokenizer, prompts, k, *, max_new_tokens=64, temperature=1.0, top_k=0, top_p=1.0,
                     seed=0, batch_size=16, chat_template=False, progress=True, indices=None) -> list[list[list[int]]]:
    """K sampled responses for each prompt as token ids: ``len(prompts)`` lists of ``k`` id lists, each cut after
    its first EOS (kept: the response + EOS convention of :mod:`rmlab.lm.data`; a response that hit
    ``max_new_tokens`` has none). Training scores these ids directly, never re-tokenised text.

    ``batch_size`` counts sequences per ``generate`` call (``max(1, batch_size // k)`` prompts). ``indices``: the
    indices used for seeding (default ``0 .. len(prompts)-1``); pass the original indices when sampling a subset
    (e.g. resuming), so prompt i gets the same samples as in the full run.
    """
    encoded, indices = encode_for_sampling(model, tokenizer, prompts, k, max_new_tokens=max_new_tokens,
                                           temperature=temperature, top_k=top_k, top_p=top_p,
                                           chat_template=chat_template, indices=indices)
    eos_ids = eos_token_ids(model, tokenizer)
    config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max_new_tokens, eos_token_id=eos_ids,
                              pad_token_id=padding_id(tokenizer))
    per_call = max(1, batch_size // k)
    responses: list[list[list[int]]] = []
    for start in tqdm(range(0, len(prompts), per_call), desc="sampling", disable=not progress):
        chunk = range(start, min(start + per_call, len(prompts)))
        ids, mask, _, _ = pad_batch([encoded[i] for i in chunk for _ in range(k)], padding_id(tokenizer),
                                    side="left", device=model_device(model))            # [len(chunk)*k, T]
        generators = [row_generator(seed, indices[i], j) for i in chunk for j in range(k)]
        sampler = _InverseCDFSampler(generators, temperature=temperature, top_k=top_k, top_p=top_p)
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config,
                             logits_processor=LogitsProcessorList([sampler]))             # [len(chunk)*k, T+new]
        new_tokens = out[:, ids.shape[1]:].tolist()
        for n in range(len(chunk)):
            responses.append([through_first_eos(new_tokens[n * k + j], eos_ids) for j in range(k)])
    return responses
