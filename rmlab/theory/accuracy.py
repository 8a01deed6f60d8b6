"""Pairwise ranking accuracy of a reward model against a ground-truth reward (Def. 1 of arXiv 2503.15477).

Over the unordered pairs ``{i, j}`` (``i < j``) of the last axis, a pair is correct iff
``sign(r_rm[i] - r_rm[j]) == sign(r_gold[i] - r_gold[j])`` with ``sign(0) = 0``: a pair tied under both rewards is
correct, a pair tied under only one of them is wrong (the official on-policy recipe; footnote 3 of the paper).

>>> import numpy as np
>>> pairwise_accuracy(np.array([0.1, 0.2, 0.3]), np.array([-1.0, 0.0, 1.0]))   # same order: all 3 pairs right
array(1.)
>>> pairwise_accuracy(np.array([0.3, 0.2, 0.1]), np.array([-1.0, 0.0, 1.0]))   # reversed: all wrong
array(0.)
>>> pairwise_accuracy(np.array([1.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.5]), weights=np.array([0.5, 0.25, 0.25]))
array(0.8)
"""

from __future__ import annotations

import numpy as np


def pairwise_accuracy(r_rm, r_gold, weights=None) -> np.ndarray:
    """Fraction of correctly ordered unordered pairs over the last axis; returns shape ``r_rm.shape[:-1]``.

    Args:
        r_rm: ``[..., N]`` reward-model scores of N outputs (N >= 2).
        r_gold: ``[..., N]`` ground-truth rewards of the same outputs (same shape).
        weights: ``None`` for the uniform distribution over the ``N(N-1)/2`` pairs (Def. 1 with uniform 𝒟), or
            ``[..., N]`` non-negative per-output weights, e.g. policy probabilities: pair ``{i, j}`` then has weight
            ``w_i * w_j`` (two distinct draws from the policy; the on-policy accuracy of a tabular policy).
            Weights need not sum to one; a row whose pair weights are all zero is an error.
    """
    rm = np.asarray(r_rm, dtype=np.float64)
    gold = np.asarray(r_gold, dtype=np.float64)
    if rm.shape != gold.shape:
        raise ValueError(f"r_rm and r_gold must have the same shape; got {rm.shape} and {gold.shape}")
    if rm.ndim == 0 or rm.shape[-1] < 2:
        raise ValueError(f"r_rm needs N >= 2 outputs on its last axis to form pairs; got shape {rm.shape}")
    for name, a in (("r_rm", rm), ("r_gold", gold)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or infinite rewards")
    n = rm.shape[-1]
    i, j = np.triu_indices(n, k=1)                                          # the N(N-1)/2 unordered pairs
    correct = np.sign(rm[..., i] - rm[..., j]) == np.sign(gold[..., i] - gold[..., j])  # [..., P]
    if weights is None:
        return np.asarray(correct.mean(-1))
    w = np.asarray(weights, dtype=np.float64)
    try:
        w = np.broadcast_to(w, rm.shape)
    except ValueError:
        raise ValueError(f"weights of shape {w.shape} does not broadcast to r_rm's shape {rm.shape}") from None
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    pair_w = w[..., i] * w[..., j]                                           # [..., P]
    total = pair_w.sum(-1)
    if np.any(total <= 0):
        raise ValueError("weights put no mass on any pair of distinct outputs in some row (need two outputs > 0)")
    return np.asarray((pair_w * correct).sum(-1) / total)
