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


def levenshtein_batch(seqs_a: Sequence[Sequence[int]], seqs_b: Sequence[Sequence[int]]) -> np.ndarray:
    """Edit distances (insertions, deletions, substitutions of cost 1) of many pairs at once: ``[n]`` int.

    One numpy step per token of the longest ``a`` over all pairs together (``[n, max len b + 1]`` rows); padding
    never matches and a pair's answer is read when its own ``a`` ends, so padding cannot change it.
    """
    n = len(seqs_a)
    if n != len(seqs_b):
        raise ValueError(f"{n} first sequences but {len(seqs_b)} second sequences")
    len_a = np.array([len(a) for a in seqs_a], dtype=np.int64)
    len_b = np.array([len(b) for b in seqs_b], dtype=np.int64)
    width_a, width_b = int(len_a.max(initial=0)), int(len_b.max(initial=0))
    a = np.full((n, width_a), -1, dtype=np.int64)                                    # distinct paddings
    b = np.full((n, width_b), -2, dtype=np.int64)
    for row, (x, y) in enumerate(zip(seqs_a, seqs_b)):
        a[row, :len(x)], b[row, :len(y)] = x, y
    offsets = np.arange(width_b + 1)
    rows = np.arange(n)
    previous = np.broadcast_to(offsets, (n, width_b + 1)).copy()                       # distances from a[:0]
    distance = previous[rows, len_b].copy()                                           # pairs with empty a
    for i in range(1, width_a + 1):
        no_insert = np.empty_like(previous)
        no_insert[:, 0] = i
        substitute = previous[:, :-1] + (b != a[:, i - 1:i])                          # [n, width_b]
        no_insert[:, 1:] = np.minimum(previous[:, 1:] + 1, substitute)               # delete / substitute
        # insertions chain left to right: d[j] = min_{j' <= j} no_insert[j'] + (j - j')
        previous = np.minimum.accumulate(no_insert - offsets, axis=1) + offsets
        ends_here = len_a == i
        distance[ends_here] = previous[ends_here, len_b[ends_here]]
    return distance


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Edit distance of one pair (see ``levenshtein_batch``)."""
    return int(levenshtein_batch([a], [b])[0])


def normalized_edit_distances(seqs_a, seqs_b) -> np.ndarray:
    """Levenshtein(a, b) / max(len a, len b) per pair, in [0, 1]; 0 when both are empty. Lower = more similar."""
    longest = np.array([max(len(a), len(b)) for a, b in zip(seqs_a, seqs_b)], dtype=np.float64)
    return levenshtein_batch(seqs_a, seqs_b) / np.maximum(longest, 1.0)


def normalized_edit_distance(a: Sequence[int], b: Sequence[int]) -> float:
    """Normalised edit distance of one pair (see ``normalized_edit_distances``).

    >>> normalized_edit_distance([1, 2, 3], [1, 5, 3, 4])
    0.5
    """
    return float(normalized_edit_distances([a], [b])[0])


def quantile_window(scores, q: float, size: int) -> np.ndarray:
    """Indices of the ``size`` pairs around the ``q``-quantile of ``scores`` (arXiv 2410.08847 §5, the official
    ``__quantile_slice``): sort ascending (stable), centre a window of ``size`` consecutive pairs on position
    ``round(q (N - 1))``, shifted to stay inside the sorted list (q = 0: the ``size`` lowest, q = 1: the highest).

    >>> scores = [5.0, 1.0, 4.0, 2.0, 3.0]
    >>> quantile_window(scores, 0.0, 2).tolist(), quantile_window(scores, 0.5, 3).tolist()
    ([1, 3], [3, 4, 2])
    """
    scores = np.asarray(scores, dtype=np.float64)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    if not 1 <= size <= len(scores):
        raise ValueError(f"window size must be in [1, {len(scores)}] (the number of pairs), got {size}")
    order = np.argsort(scores, kind="stable")
    centre = int(round(q * (len(scores) - 1)))
    start = min(max(centre - size // 2, 0), len(scores) - size)
    return order[start:start + size]

