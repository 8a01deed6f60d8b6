"""Prompt selection by reward variance: rank a prompt set by the within-prompt variance a reward model induces under
a policy, and keep the top of the ranking (arXiv 2503.15477 §3: a prompt whose k samples all get the same reward
gives RLOO/GRPO no gradient, and the time to raise the reward grows as that variance shrinks).

The input is the ``[n_prompts, k]`` array of one RM's rewards on k samples of the policy per prompt -- what
:func:`rmlab.lm.report.reward_report` keeps in ``RewardReport.rewards``. The ranking uses the unbiased per-prompt
variance of the raw rewards (any affine rescaling of the RM ranks prompts the same way); ties keep the input order.

>>> import numpy as np
>>> R = np.array([[0.0, 0.0], [0.0, 2.0], [1.0, 2.0]])
>>> rank_prompts_by_variance(R).tolist()          # prompt 1 varies most, prompt 0 not at all
[1, 2, 0]
>>> select_prompts_by_variance(R, 2).tolist()     # the two highest-variance prompts, in input order
[1, 2]
"""

from __future__ import annotations

import numpy as np

from rmlab.measure.variance import per_prompt_variance


def rank_prompts_by_variance(rewards) -> np.ndarray:
    """Prompt indices from the highest to the lowest within-prompt reward variance (stable: ties keep input order).
    ``[n, k]`` -> ``[n]``."""
    variance = per_prompt_variance(rewards)
    if variance.ndim != 1:
        raise ValueError(f"rewards must have shape [n_prompts, k], got {np.shape(rewards)}")
    return np.argsort(-variance, kind="stable")


def _subset_size(n_prompts: int, size: int | None, fraction: float | None) -> int:
    if (size is None) == (fraction is None):
        raise ValueError("give exactly one of size and fraction")
    if fraction is not None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        size = max(1, round(fraction * n_prompts))
    if isinstance(size, bool) or int(size) != size or not 1 <= size <= n_prompts:
        raise ValueError(f"size must be an integer in [1, {n_prompts}], got {size}")
    return int(size)


def select_prompts_by_variance(rewards, size: int | None = None, *, fraction: float | None = None) -> np.ndarray:
    """Indices of the ``size`` (or ``fraction`` of the) prompts with the highest within-prompt reward variance,
    sorted in input order. ``[n, k]`` -> ``[size]``."""
    ranking = rank_prompts_by_variance(rewards)
    return np.sort(ranking[:_subset_size(len(ranking), size, fraction)])


def random_prompt_subset(n_prompts: int, size: int, *, seed: int) -> np.ndarray:
    """The baseline of variance selection: ``size`` of ``n_prompts`` indices drawn uniformly without replacement
    (seeded), sorted.

    >>> random_prompt_subset(10, 3, seed=0).tolist()
    [5, 6, 9]
    """
    size = _subset_size(n_prompts, size, None)
    return np.sort(np.random.default_rng(seed).choice(n_prompts, size=size, replace=False))
