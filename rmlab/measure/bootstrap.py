"""Bootstrap confidence intervals over prompts: resample prompts with replacement, recompute the statistic.

Prompts are the independent unit (the k samples of one prompt share it), so whole rows are resampled. All resamples are
evaluated in one vectorised call: the statistic receives arrays with an extra leading axis of size ``n_resamples``
(every statistic in ``rmlab.measure.variance`` and ``rmlab.measure.accuracy`` accepts leading axes), in chunks that
bound memory. Percentile intervals; seeded with ``numpy.random.default_rng(seed)``, so the same seed gives the same CI.

>>> import numpy as np
>>> from rmlab.measure.variance import reward_variance
>>> R = np.random.default_rng(0).normal(size=(50, 4))
>>> lo, hi = bootstrap_ci(reward_variance, R, seed=0)
>>> bool(lo <= reward_variance(R) <= hi)
True
"""

from __future__ import annotations

from typing import Callable

import numpy as np

DEFAULT_RESAMPLES = 1000
_MAX_ELEMENTS_PER_CHUNK = 2**24  # ~128 MB of float64 per gathered array


def bootstrap_distribution(statistic: Callable[..., np.ndarray], *arrays, n_resamples: int = DEFAULT_RESAMPLES,
                           seed: int = 0) -> np.ndarray:
    """The statistic on ``n_resamples`` prompt resamples: returns shape [n_resamples] (or [n_resamples, ...]).

    ``arrays`` all have prompts on axis 0 (same length n); ``statistic(*resampled)`` must accept a leading resample
    axis, i.e. arrays of shape [B, n, ...], and return shape [B] (or [B, ...]). NaN results (e.g. an accuracy that is
    undefined on a resample) are kept; ``bootstrap_ci`` ignores them.
    """
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("bootstrap needs at least one array")
    n = arrays[0].shape[0]
    if n < 1 or any(a.shape[0] != n for a in arrays):
        raise ValueError(f"all arrays need the same non-zero number of prompts on axis 0, got "
                         f"{[a.shape for a in arrays]}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    index = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))  # [B, n]
    row_size = max(int(np.prod(a.shape)) for a in arrays)
    chunk = max(1, _MAX_ELEMENTS_PER_CHUNK // row_size)
    parts = [np.asarray(statistic(*(a[index[start:start + chunk]] for a in arrays)))  # each a[idx]: [b, n, ...]
             for start in range(0, n_resamples, chunk)]
    return np.concatenate(parts, axis=0)


def bootstrap_ci(statistic: Callable[..., np.ndarray], *arrays, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval ``(lo, hi)`` of a scalar statistic over prompts (see ``bootstrap_distribution``).

    Resamples where the statistic is NaN are ignored; if all are NaN the interval is ``(nan, nan)``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    values = bootstrap_distribution(statistic, *arrays, n_resamples=n_resamples, seed=seed)
    if values.ndim != 1:
        raise ValueError(f"bootstrap_ci needs a scalar statistic, got resample values of shape {values.shape}")
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return float(lo), float(hi)
