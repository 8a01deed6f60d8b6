"""CHES math on last-layer hidden states (arXiv 2410.08847, Def. 2 and App. A) and the paper's two baselines.

Model-agnostic: inputs are tensors of hidden states and token-id lists; ``rmlab.lm.ches`` runs the model.

For a pair (x, y+, y-), S+ = sum of the hidden states at the n+ = |y+| + 1 positions that predict each token of
y+ followed by EOS (the last prompt token ... the last response token), likewise S-. Then

    CHES    = <S+, S-> - ||S+||^2
    LN-CHES = <S+, S->/(n+ n-) - ||S+||^2/n+^2  = <mean h+, mean h-> - ||mean h+||^2

Higher means more similar preferences, and predicts more likelihood displacement under DPO. All accumulation is in
float64 (raw CHES overflowed float32 in the official issue #1). Baselines: ``normalized_edit_distance`` (Levenshtein
distance of the response token ids / the longer length; LOWER = more similar -- the official code stores its
negation, ``minus_normalized_edit_distances``) and the inner product of the last hidden states, taken at the
EOS-predicting position (the last response token), as the official per-example script does.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def span_sums(hidden: torch.Tensor, first: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Sum of ``hidden[b, first[b] : first[b] + count[b]]`` per row, in float64: ``[B, T, d] -> [B, d]``.

    Positions outside the span (padding on either side, the prompt) are excluded by selection, so even non-finite
    hidden states on padding cannot leak in.
    """
    columns = torch.arange(hidden.shape[1], device=hidden.device)                     # [T]
    inside = (columns >= first[:, None]) & (columns < (first + count)[:, None])      # [B, T]
    return hidden.double().masked_fill(~inside[..., None], 0.0).sum(dim=1)            # [B, d]


def ches_from_sums(sum_chosen: torch.Tensor, sum_rejected: torch.Tensor, n_chosen, n_rejected):
    """``(ches [B], ln_ches [B])`` from the hidden-state sums ``[B, d]`` and the position counts ``[B]``."""
    sum_chosen, sum_rejected = sum_chosen.double(), sum_rejected.double()
    n_chosen = torch.as_tensor(n_chosen, dtype=torch.float64, device=sum_chosen.device)
    n_rejected = torch.as_tensor(n_rejected, dtype=torch.float64, device=sum_chosen.device)
    cross = (sum_chosen * sum_rejected).sum(-1)                                       # <S+, S->
    self_sq = (sum_chosen * sum_chosen).sum(-1)                                       # ||S+||^2
    return cross - self_sq, cross / (n_chosen * n_rejected) - self_sq / n_chosen ** 2


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Edit distance (insertions, deletions, substitutions, each of cost 1), one numpy row per token of ``a``."""
    a, b = np.asarray(a), np.asarray(b)
    previous = np.arange(len(b) + 1)                                                  # distances from a[:0]
    offsets = np.arange(len(b) + 1)
    for i, token in enumerate(a, start=1):
        no_insert = np.empty_like(previous)
        no_insert[0] = i
        no_insert[1:] = np.minimum(previous[1:] + 1, previous[:-1] + (b != token))   # delete / substitute
        # insertions chain left to right: d[j] = min_{j' <= j} no_insert[j'] + (j - j')
        previous = np.minimum.accumulate(no_insert - offsets) + offsets
    return int(previous[-1])


def normalized_edit_distance(a: Sequence[int], b: Sequence[int]) -> float:
    """Levenshtein(a, b) / max(len a, len b) in [0, 1]; 0 when both are empty. Lower = more similar.

    >>> normalized_edit_distance([1, 2, 3], [1, 5, 3, 4])
    0.5
    """
    longest = max(len(a), len(b))
    return levenshtein(a, b) / longest if longest else 0.0
