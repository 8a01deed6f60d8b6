"""Reward statistics on a ``[n_prompts, k]`` array: k rewards per prompt, one row per prompt.

Three variances, named so that nobody can confuse them (arXiv 2503.15477 §4.4; 05_ecosystem §1.2):

* **within-prompt** variance: the spread of the k rewards of *one* prompt, Var_{y~π(·|x)} r(x, y). This is the
  quantity the theory of "What makes a reward model a good teacher?" is about (Def. 2) and what drives RLOO / GRPO
  advantages. ``per_prompt_variance`` gives it per prompt (unbiased, ddof=1, as the official code's
  ``per_prompt_rewards.var(dim=1)``); ``reward_variance`` is its mean over prompts.
* **between-prompt** variance: the spread of the per-prompt *means* across prompts (how much easier some prompts are).
* **total** (batch) variance: the spread of all n·k rewards pooled. TRL's logged ``reward_std`` is the square root of
  (the unbiased form of) this total: a *batch* std that mixes the two previous terms, not a within-prompt std.

With population (ddof=0) variances the law of total variance is an exact identity for equal group sizes::

    total = within + between     (within = mean_i Var_j R_ij, between = Var_i mean_j R_ij)

The paper's headline metric, the **whitened reward variance**, first whitens all n·k rewards with their global mean
and *unbiased* std, then averages the unbiased per-prompt variances. By the identity above it is
``k/(k-1) · within/total · (nk-1)/(nk)``: the share of the reward's spread that lies within prompts, invariant to any
affine rescaling of the reward model.

Every function accepts extra leading axes (``[..., n_prompts, k]``), so a bootstrap can evaluate all resamples at once.

>>> import numpy as np
>>> R = np.array([[0.0, 1.0], [2.0, 4.0]])
>>> per_prompt_variance(R)            # unbiased, per prompt
array([0.5, 2. ])
>>> d = variance_decomposition(R)     # population form
>>> float(d.within_prompt + d.between_prompt - d.total)
0.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ZERO_STD_ATOL = 1e-8
"""Default tolerance of ``frac_zero_variance``: a prompt counts as zero-variance when the std of its k rewards is at
most this. It equals ``torch.isclose(std, 0)``'s default atol, i.e. TRL's ``frac_reward_zero_std``."""


def _check_rewards(rewards, name: str = "rewards") -> np.ndarray:
    """float64 array of shape [..., n_prompts, k] with k >= 2 and only finite entries, or a ValueError naming it."""
    R = np.asarray(rewards, dtype=np.float64)
    if R.ndim < 2:
        raise ValueError(f"{name} must have shape [n_prompts, k], got shape {R.shape}")
    if R.shape[-2] < 1:
        raise ValueError(f"{name} has no prompts (shape {R.shape})")
    if R.shape[-1] < 2:
        raise ValueError(f"{name} needs k >= 2 samples per prompt to estimate a variance, got k = {R.shape[-1]}")
    if not np.all(np.isfinite(R)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return R


def per_prompt_mean(rewards) -> np.ndarray:
    """Mean of the k rewards of each prompt: [..., n, k] -> [..., n]."""
    return _check_rewards(rewards).mean(axis=-1)


def per_prompt_variance(rewards, *, ddof: int = 1) -> np.ndarray:
    """Within-prompt variance of each prompt, unbiased by default (ddof=1): [..., n, k] -> [..., n]."""
    return _check_rewards(rewards).var(axis=-1, ddof=ddof)


def reward_variance(rewards) -> np.ndarray:
    """Mean over prompts of the unbiased within-prompt variance (the official "Reward Variance"). [..., n, k] -> [...]
    """
    return per_prompt_variance(rewards).mean(axis=-1)


def whiten(rewards) -> np.ndarray:
    """(R − mean) / std with the mean and the *unbiased* std over all n·k entries (per leading index).

    Rewards that are constant over all prompts and samples cannot be whitened: their whitened values are NaN (so that
    one degenerate bootstrap resample does not stop the others; ``bootstrap_ci`` skips NaN resamples).
    """
    R = _check_rewards(rewards)
    mean = R.mean(axis=(-2, -1), keepdims=True)
    std = R.std(axis=(-2, -1), ddof=1, keepdims=True)
    return (R - mean) / np.where(std > 0, std, np.nan)


def per_prompt_whitened_variance(rewards) -> np.ndarray:
    """Unbiased within-prompt variance of the globally whitened rewards: [..., n, k] -> [..., n]."""
    return whiten(rewards).var(axis=-1, ddof=1)


def whitened_reward_variance(rewards) -> np.ndarray:
    """The paper's reward-variance metric (arXiv 2503.15477 §4.4, Table 1): mean over prompts of the unbiased
    per-prompt variance of rewards whitened by their global mean and unbiased std. [..., n, k] -> [...].

    Invariant to r -> a·r + b (a != 0). In [0, k/(k-1)·(nk-1)/(nk)]; the upper end means no between-prompt spread.
    NaN when the rewards are constant over all prompts and samples.
    """
    return per_prompt_whitened_variance(rewards).mean(axis=-1)


@dataclass(frozen=True)
class VarianceDecomposition:
    """Law of total variance over prompts (population variances, ddof=0): ``total = within_prompt + between_prompt``.

    within_prompt: mean over prompts of Var_j R_ij (what policy-gradient advantages see).
    between_prompt: Var_i of the per-prompt means (prompt difficulty; cancels in RLOO/GRPO advantages).
    total: Var of all n·k rewards pooled (the square of a batch std such as TRL's ``reward_std``, up to ddof).
    """

    within_prompt: np.ndarray
    between_prompt: np.ndarray
    total: np.ndarray


def variance_decomposition(rewards) -> VarianceDecomposition:
    """Within-prompt, between-prompt and total variance of [..., n, k] rewards (each of shape [...]).

    Population form (ddof=0) throughout, so that ``within_prompt + between_prompt == total`` holds exactly (up to
    rounding) for any rewards. Note: ``within_prompt`` here is (k−1)/k times ``reward_variance`` (which is unbiased).
    """
    R = _check_rewards(rewards)
    within = R.var(axis=-1).mean(axis=-1)
    between = R.mean(axis=-1).var(axis=-1)
    total = R.reshape(*R.shape[:-2], -1).var(axis=-1)
    return VarianceDecomposition(within_prompt=within, between_prompt=between, total=total)


def batch_reward_std(rewards) -> np.ndarray:
    """The unbiased std of all n·k rewards pooled (a *batch* std): what TRL logs as ``reward_std``. [..., n, k] -> [...]

    It includes the between-prompt spread, so it is not the within-prompt std that drives RLOO/GRPO advantages.
    """
    R = _check_rewards(rewards)
    return R.reshape(*R.shape[:-2], -1).std(axis=-1, ddof=1)


def frac_zero_variance(rewards, *, atol: float = ZERO_STD_ATOL) -> np.ndarray:
    """Fraction of prompts whose k rewards have an (unbiased) std of at most ``atol``: [..., n, k] -> [...].

    With the default ``atol=1e-8`` this is TRL's ``frac_reward_zero_std`` under ``scale_rewards="group"``
    (``torch.isclose(std, 0)``). Rewards computed in float32 carry rounding noise of ~1e-7 relative to their scale, so
    groups that are "equal up to float32" may exceed 1e-8: pass a larger ``atol`` (e.g. 1e-6 × reward scale) to count
    them as zero-variance. (TRL's metric collapses to 0 or 1 under ``scale_rewards="batch"``, where the batch std is
    broadcast to every group; this function always uses the per-prompt std.)
    """
    if atol < 0:
        raise ValueError(f"atol must be >= 0, got {atol}")
    std = np.sqrt(per_prompt_variance(rewards))
    return (std <= atol).mean(axis=-1)


def within_group_std_summary(rewards, *, atol: float = ZERO_STD_ATOL) -> dict[str, float]:
    """What a policy-gradient step sees of its task reward, per group of k samples of one prompt: the mean, 10th,
    50th and 90th percentile of the within-group (unbiased) std, and the fraction of groups whose std is at most
    ``atol`` (their RLOO/GRPO advantages vanish). ``[n, k]`` -> dict of floats; unlike TRL's batch ``reward_std``,
    every number is within-prompt.

    >>> within_group_std_summary(np.array([[0.0, 0.0], [0.0, 2.0]]))["frac_zero_std"]
    0.5
    """
    std = np.sqrt(per_prompt_variance(rewards))
    p10, p50, p90 = np.percentile(std, [10, 50, 90])
    return {"within_std_mean": float(std.mean()), "within_std_p10": float(p10), "within_std_p50": float(p50),
            "within_std_p90": float(p90), "frac_zero_std": float(frac_zero_variance(rewards, atol=atol))}
