"""CHES and LN-CHES of preference pairs under a Hugging Face causal LM (arXiv 2410.08847), batched and padding-safe.

Per pair: tokenise as in ``rmlab.lm.data`` (prompt ids; response ids + EOS) and sum the last layer's hidden states
(``model.base_model(...).last_hidden_state``, after the final norm) at the n = |y| + 1 positions that predict each
response token and the EOS: the last prompt token, then every response token but the last one (the EOS, unless
``max_length`` truncated it away). The math is in ``rmlab.measure.ches``.

Prompt sharing. Chosen and rejected share their prompt, so a batch of B pairs runs in two forward passes:

1. the B prompts (padded, ``use_cache=True``): the hidden state at each last prompt token and the key/value cache;
2. the cache duplicated (chosen rows, then rejected rows), and the 2B responses on top of it, with the attention
   mask ``[prompt mask | response mask]`` and ``position_ids`` continuing from each prompt's true length. Only
   the response tokens whose states are read are fed: the last one (the EOS) predicts nothing that CHES uses.

This is exact, not an approximation: in a causal decoder the states of the prompt tokens do not depend on what
follows them, and a response token attends to the prompt's keys/values exactly as in the full sequence, at the same
positions (padding is masked out and never attended). So the scores equal those of one unpadded pass per sequence up
to float rounding (tested to rel. 1e-10 in float64 against ``output_hidden_states`` recomputations), while the
prompt is computed once instead of twice. Backbones whose cache is not a plain full-attention ``DynamicCache``
(sliding-window or hybrid attention, recurrent states) are not trusted with it: they fall back to running
prompt + chosen and prompt + rejected as two full sequences (same numbers, no sharing); see ``shares_prompt_cache``.

Conventions and deviations from the official code (github.com/princeton-nlp/unintentional-unalignment):

* Positions: last prompt token ... last response token, as in the paper's Def. 2 and both official scripts (which
  differ in whether EOS is appended and the last column dropped; rmlab's result equals both -- tested).
* Prompt and response are tokenised separately (the official per-example script tokenises prompt + response as one
  text); with BPE a merge across the boundary can make the two differ (``rmlab.lm.data.joined_tokenisation_differs``
  counts such pairs; with SmolLM2-135M-Instruct's chat template none of notebook 06's pairs differ). No
  ``<|prompter|>``/``<|assistant|>`` tokens are added to base models; pass ``chat_template=True`` for chat models.
* Padding: rows are located by their lengths, so left and right padding of the prompts give the same scores (the
  official ``ches.py`` is correct only for left padding). Responses are always right-padded.
* ``max_length`` truncates responses so that prompt + response fit (the official script truncates each text to 512
  tokens); without it, a pair longer than the model's context is an error.
* Pairs are processed in windows sorted by length (less padding); rows come out in input order.
"""

from __future__ import annotations

from typing import Iterator

import datasets
import numpy as np
import pandas as pd
import torch
from rmlab._headless import tqdm
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from rmlab.lm.data import encode_pairs, load_preferences
from rmlab.lm.load import context_length
from rmlab.lm.batching import (cache_keyword, last_hidden_state, length_sorted_batches, model_device, pad_batch,
                                pad_prompt_response_batch, padding_id)
from rmlab.measure.ches import ches_from_sums, normalized_edit_distances, span_sums
from rmlab.theory.multi_token import alpha_coefficients

CHES_COLUMNS = ("index", "ches", "ln_ches", "edit_distance", "last_hidden_inner_product")
BATCHES_PER_WINDOW = 16


def encode_preference_pairs(tokenizer, preferences: datasets.Dataset, *, chat_template=False, max_length=None,
                            context=None, **messages) -> list[tuple[list[int], list[int], list[int]]]:
    """Per pair: ``(prompt_ids, chosen_ids, rejected_ids)``, the response ids ending with EOS unless truncated.
    ``messages``: ``too_long_hint`` of :func:`rmlab.lm.data.encode_pairs`."""
    columns = preferences.select_columns(["prompt", "chosen", "rejected"]).to_dict()
    chosen = encode_pairs(tokenizer, columns["prompt"], columns["chosen"], chat_template=chat_template,
                          max_length=max_length, context=context, what="pair (chosen)", **messages)
    rejected = encode_pairs(tokenizer, columns["prompt"], columns["rejected"], chat_template=chat_template,
                            max_length=max_length, context=context, what="pair (rejected)", **messages)
    return [(prompt_ids, c_ids, r_ids) for (prompt_ids, c_ids), (_, r_ids) in zip(chosen, rejected)]


def _without_eos(ids: list[int], eos_id: int) -> list[int]:
    """The response-text tokens: the appended EOS removed (absent when ``max_length`` truncated it away)."""
    return ids[:-1] if ids and ids[-1] == eos_id else ids


@torch.no_grad()
def shares_prompt_cache(model) -> bool:
    """Whether ``model``'s backbone returns a cache responses can safely be run on top of: a ``DynamicCache`` whose
    layers are all full-attention ``DynamicLayer``s (checked with a one-token forward). Otherwise CHES falls back to
    two full sequences per pair."""
    backbone = model.base_model
    if backbone is model:                       # no separate backbone: the full path raises the explanatory error
        return False
    probe = torch.zeros(1, 1, dtype=torch.long, device=model_device(model))
    cache = getattr(backbone(input_ids=probe, use_cache=True), cache_keyword(backbone))
    return isinstance(cache, DynamicCache) and all(type(layer) is DynamicLayer for layer in cache.layers)


def _full_sequence_states(model, pad_id, pairs, batch, padding_side):
    """Hidden states ``[2B, R, d]`` (rows: B chosen, then B rejected; R: longest response ids) whose column j is the
    position predicting response token j (0-based): the last prompt token, then the response tokens. Prompt +
    response run as one sequence."""
    both = [(pairs[i][0], pairs[i][k]) for k in (1, 2) for i in batch]                      # 2B sequences
    ids, mask, positions, columns, _ = pad_prompt_response_batch(both, pad_id, side=padding_side,
                                                                 device=model_device(model))
    hidden = last_hidden_state(model, ids, mask, positions)                                    # [2B, T, d]
    return hidden[torch.arange(len(both), device=ids.device)[:, None], columns]                # [2B, R, d]


def _shared_prompt_states(model, pad_id, pairs, batch, padding_side):
    """Same output as ``_full_sequence_states``, the prompts run once and their key/value cache shared by chosen
    and rejected."""
    device, backbone, n = model_device(model), model.base_model, len(batch)
    ids, prompt_mask, positions, starts = pad_batch([pairs[i][0] for i in batch], pad_id, side=padding_side,
                                                    device=device)                            # [B, P]
    out = backbone(input_ids=ids, attention_mask=prompt_mask, position_ids=positions, use_cache=True)
    prompt_len = torch.tensor([len(pairs[i][0]) for i in batch], device=device)               # [B]
    last_prompt = out.last_hidden_state[torch.arange(n, device=device), starts + prompt_len - 1]   # [B, d]
    both = torch.arange(n, device=device).repeat(2)                  # [2B]: chosen rows, then rejected rows
    fed = [pairs[i][k][:-1] for k in (1, 2) for i in batch]          # the last response token's state is unused
    if not any(fed):                                                 # every response truncated to one token
        return last_prompt[both, None]                                                          # [2B, 1, d]
    keyword = cache_keyword(backbone)
    cache = getattr(out, keyword)
    cache.batch_select_indices(both)                                                            # [2B, ..., P, ...]
    ids, response_mask, positions, _ = pad_batch(fed, pad_id, side="right", device=device)     # [2B, R - 1]
    hidden = backbone(input_ids=ids, attention_mask=torch.cat([prompt_mask[both], response_mask], dim=1),
                      position_ids=positions + prompt_len[both, None], use_cache=True,
                      **{keyword: cache}).last_hidden_state                                     # [2B, R - 1, d]
    return torch.cat([last_prompt[both, None], hidden], dim=1)                                 # [2B, R, d]


def _padded_length(pair, share_prompt: bool) -> int:
    """The length that decides a pair's padding: its longer response when the prompt is run apart (2B response
    rows dominate the cost), else its longer prompt + response sequence."""
    prompt_ids, chosen_ids, rejected_ids = pair
    return max(len(chosen_ids), len(rejected_ids)) + (0 if share_prompt else len(prompt_ids))


@torch.no_grad()
def _score_batch(model, tokenizer, pairs, batch, padding_side, share_prompt) -> list[dict]:
    """CHES rows for the pairs ``batch`` (indices into ``pairs``): prompt shared or two full sequences."""
    states = (_shared_prompt_states if share_prompt else _full_sequence_states)(
        model, padding_id(tokenizer), pairs, batch, padding_side)                              # [2B, R, d]
    device = states.device
    count = torch.tensor([len(pairs[i][k]) for k in (1, 2) for i in batch], device=device)   # n = |y| + 1
    sums = span_sums(states, torch.zeros_like(count), count)                                   # [2B, d] float64
    last = states[torch.arange(len(count), device=device), count - 1].double()               # [2B, d]
    n = len(batch)
    ches, ln_ches = ches_from_sums(sums[:n], sums[n:], count[:n], count[n:])
    inner = (last[:n] * last[n:]).sum(-1)
    eos = tokenizer.eos_token_id                     # CPU work before the first sync: overlaps a GPU forward
    edit = normalized_edit_distances([_without_eos(pairs[i][1], eos) for i in batch],
                                     [_without_eos(pairs[i][2], eos) for i in batch])
    ches, ln_ches, inner = (t.cpu().numpy() for t in (ches, ln_ches, inner))
    return [{"ches": float(ches[b]), "ln_ches": float(ln_ches[b]), "edit_distance": float(edit[b]),
             "last_hidden_inner_product": float(inner[b])} for b in range(n)]


def iter_ches_rows(model, tokenizer, pairs, indices, *, batch_size=16, padding_side="right",
                   progress=True) -> Iterator[list[dict]]:
    """Yield lists of CHES rows (keys ``CHES_COLUMNS``) in input order, one list per window of pairs.

    ``pairs``: from ``encode_preference_pairs``; ``indices``: the row index reported for each pair.
    """
    window = batch_size * BATCHES_PER_WINDOW
    share_prompt = shares_prompt_cache(model)
    with tqdm(total=len(pairs), desc="CHES", disable=not progress) as bar:
        for start in range(0, len(pairs), window):
            members = list(range(start, min(start + window, len(pairs))))
            lengths = [_padded_length(pairs[i], share_prompt) for i in members]
            rows: dict[int, dict] = {}
            for batch in length_sorted_batches(lengths, batch_size):
                batch = [members[j] for j in batch]
                for i, row in zip(batch, _score_batch(model, tokenizer, pairs, batch, padding_side,
                                                           share_prompt)):
                    rows[i] = {"index": int(indices[i]), **row}
                bar.update(len(batch))
            yield [rows[i] for i in members]


def ches_scores(model, tokenizer, preferences, *, batch_size=16, max_length=None, chat_template=False,
                progress=True, padding_side="right") -> pd.DataFrame:
    """CHES, LN-CHES and the two baselines for every preference pair, as a DataFrame (columns ``CHES_COLUMNS``).

    ``preferences``: anything ``load_preferences`` accepts (a file, a ``Dataset``, a list of dicts, a hub id).
    Every pair is tokenised and length-checked before the first forward pass.

    >>> scores = ches_scores(model, tokenizer, "pairs.jsonl")          # doctest: +SKIP
    >>> kept = filter_by_ln_ches("pairs.jsonl", scores, drop_fraction=0.95)  # doctest: +SKIP
    """
    preferences = load_preferences(preferences)
    pairs = encode_preference_pairs(tokenizer, preferences, chat_template=chat_template, max_length=max_length,
                                    context=context_length(model))
    rows = [row for chunk in iter_ches_rows(model, tokenizer, pairs, range(len(pairs)), batch_size=batch_size,
                                            padding_side=padding_side, progress=progress) for row in chunk]
    return pd.DataFrame(rows, columns=list(CHES_COLUMNS))


def filter_by_ln_ches(preferences, scores, drop_fraction: float) -> datasets.Dataset:
    """Drop the ``floor(drop_fraction * n)`` pairs with the highest LN-CHES; keep the rest in their original order.

    The paper (Sec. 6) keeps the 5 % lowest LN-CHES pairs of SORRY-Bench (19 of 370), i.e. ``drop_fraction=0.95``.
    ``scores``: the DataFrame of ``ches_scores`` (matched on its ``index`` column) or an array of LN-CHES values.
    Ties are broken by index (the earlier pair is kept).
    """
    if not 0.0 <= drop_fraction < 1.0:
        raise ValueError(f"drop_fraction must be in [0, 1), got {drop_fraction}")
    preferences = load_preferences(preferences)
    n = len(preferences)
    if isinstance(scores, pd.DataFrame):
        ln_ches = np.full(n, np.nan)
        ln_ches[scores["index"].to_numpy()] = scores["ln_ches"].to_numpy()
    else:
        ln_ches = np.asarray(scores, dtype=np.float64)
    if ln_ches.shape != (n,) or not np.all(np.isfinite(ln_ches)):
        raise ValueError(f"need one finite LN-CHES score per pair ({n} pairs), got shape {ln_ches.shape} with "
                         f"{int(np.sum(~np.isfinite(ln_ches)))} missing/non-finite values")
    n_drop = int(np.floor(drop_fraction * n + 1e-9))
    keep = np.sort(np.argsort(ln_ches, kind="stable")[:n - n_drop])
    return preferences.select(keep.tolist())


THM6_COLUMNS = ("index", "n_plus", "n_minus", "alpha_positive", "alpha_minus_positive", "alpha_plus_positive",
                "inner_positive")


@torch.no_grad()
def thm6_signs(model, tokenizer, preferences, *, batch_size: int = 16, chat_template=False,
               max_length=None) -> pd.DataFrame:
    """The premise of CHES (arXiv 2410.08847, Thm 6), per pair: the shares of positive coefficients ``alpha-_{kk'}``
    (y+ position k, y- position k'; ``n_plus x n_minus`` of them) and ``alpha+_{kk'}`` (``n_plus^2``), together
    (``alpha_positive``) and apart, and of positive hidden-state inner products ``<h+_k, h-_k'>``, at the n = |y| + 1
    positions CHES sums (:func:`rmlab.theory.multi_token.alpha_coefficients` on the model's next-token
    distributions there). CHES is Thm 6's hidden-state part with every alpha set to 1; the paper reports over 69 % of
    the alphas positive. Columns ``THM6_COLUMNS``, rows in input order."""
    preferences = load_preferences(preferences)
    pairs = encode_preference_pairs(tokenizer, preferences, chat_template=chat_template, max_length=max_length,
                                    context=context_length(model))
    head, pad_id, rows = model.get_output_embeddings(), padding_id(tokenizer), []
    for start in range(0, len(pairs), batch_size):
        batch = list(range(start, min(start + batch_size, len(pairs))))
        states = _full_sequence_states(model, pad_id, pairs, batch, "right")                  # [2B, R, d]
        for b, i in enumerate(batch):        # one pair's next-token distributions at a time: [|y| + 1, V] each
            (_, chosen, rejected), n = pairs[i], len(batch)
            h_plus, h_minus = states[b, :len(chosen)].double(), states[n + b, :len(rejected)].double()
            p_plus, p_minus = (torch.softmax(head(h).double(), dim=-1) for h in (states[b, :len(chosen)],
                                                                                 states[n + b, :len(rejected)]))
            ids_plus, ids_minus = (torch.tensor(ids, device=states.device) for ids in (chosen, rejected))
            alpha_minus = alpha_coefficients(p_plus, ids_plus, p_minus, ids_minus) > 0
            alpha_plus = alpha_coefficients(p_plus, ids_plus, p_plus, ids_plus) > 0
            rows.append({"index": i, "n_plus": len(chosen), "n_minus": len(rejected),
                         "alpha_positive": _share(torch.cat([alpha_minus.flatten(), alpha_plus.flatten()])),
                         "alpha_minus_positive": _share(alpha_minus), "alpha_plus_positive": _share(alpha_plus),
                         "inner_positive": _share(h_plus @ h_minus.T > 0)})
    return pd.DataFrame(rows, columns=list(THM6_COLUMNS))


def _share(flags: torch.Tensor) -> float:
    return float(flags.double().mean())
