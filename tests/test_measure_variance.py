"""Reward statistics on [n_prompts, k] arrays: decomposition identity, whitened variance, scaling, bootstrap."""

import numpy as np
import pytest

from rmlab.measure import variance as V
from rmlab.measure.bootstrap import bootstrap_ci, bootstrap_distribution


def _rewards(n=40, k=6, seed=0):
    rng = np.random.default_rng(seed)
    # prompt difficulty (between-prompt spread) + sample noise (within-prompt spread), unequal per prompt
    return rng.normal(size=(n, 1)) * 2.0 + rng.normal(size=(n, k)) * rng.uniform(0.1, 1.5, size=(n, 1))


@pytest.mark.parametrize("seed", range(5))
def test_law_of_total_variance_is_exact(seed):
    R = _rewards(seed=seed) * 10 ** seed
    d = V.variance_decomposition(R)
    assert abs(d.within_prompt + d.between_prompt - d.total) <= 1e-12 * max(1.0, d.total)
    # each term against a direct pooled computation
    assert d.total == pytest.approx(np.var(R.ravel()), rel=1e-12)
    assert d.between_prompt == pytest.approx(np.var(R.mean(axis=1)), rel=1e-12)


def test_whitened_variance_matches_direct_numpy_recomputation():
    R = _rewards(n=500, k=10, seed=3)
    flat = R.ravel()
    W = (R - flat.mean()) / flat.std(ddof=1)
    direct = np.mean([np.var(row, ddof=1) for row in W])
    assert V.whitened_reward_variance(R) == pytest.approx(direct, rel=1e-12)
    # the closed form through the decomposition (module docstring)
    n, k = R.shape
    d = V.variance_decomposition(R)
    assert V.whitened_reward_variance(R) == pytest.approx(
        k / (k - 1) * d.within_prompt / d.total * (n * k - 1) / (n * k), rel=1e-12)


@pytest.mark.parametrize("c", [0.001, 0.5, 3.0, -7.0])
def test_scaling_rm_by_c_scales_variance_by_c_squared(c):
    R = _rewards(seed=1)
    assert V.reward_variance(c * R) == pytest.approx(c ** 2 * V.reward_variance(R), rel=1e-12)
    d, dc = V.variance_decomposition(R), V.variance_decomposition(c * R + 5.0)
    for name in ("within_prompt", "between_prompt", "total"):
        assert getattr(dc, name) == pytest.approx(c ** 2 * getattr(d, name), rel=1e-10)
    assert V.whitened_reward_variance(c * R + 5.0) == pytest.approx(V.whitened_reward_variance(R), rel=1e-10)


def test_per_prompt_variance_is_unbiased_and_batch_std_is_pooled():
    R = np.array([[1.0, 3.0], [10.0, 10.0], [0.0, 6.0]])
    np.testing.assert_allclose(V.per_prompt_variance(R), [2.0, 0.0, 18.0])
    np.testing.assert_allclose(V.per_prompt_mean(R), [2.0, 10.0, 3.0])
    assert V.reward_variance(R) == pytest.approx(20.0 / 3)
    # TRL's reward_std is the pooled std: it is not the mean within-prompt std when prompts differ in mean
    assert V.batch_reward_std(R) == pytest.approx(np.std(R.ravel(), ddof=1))
    assert V.batch_reward_std(R) > np.sqrt(V.per_prompt_variance(R)).mean() + 1.0


def test_frac_zero_variance_tolerance():
    base = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0], [5.0, 5.0 + 1e-7, 5.0], [2.0, 2.0, 2.0]])
    assert V.frac_zero_variance(base) == pytest.approx(0.5)  # the 1e-7 group has std 5.8e-8 > 1e-8
    assert V.frac_zero_variance(base, atol=1e-6) == pytest.approx(0.75)
    # one float32 ulp of difference at reward scale 1 (~1.2e-7) is not "zero" at TRL's default tolerance
    ulp = np.array([[1.0, 1.0, np.nextafter(np.float32(1.0), np.float32(2.0))]], dtype=np.float32)
    assert V.frac_zero_variance(ulp) == 0.0 and V.frac_zero_variance(ulp, atol=1e-6) == 1.0
    with pytest.raises(ValueError, match="atol"):
        V.frac_zero_variance(base, atol=-1.0)


def test_leading_axes_are_vectorised():
    R = np.stack([_rewards(seed=s) for s in range(3)])  # [3, n, k]
    for fn in (V.reward_variance, V.whitened_reward_variance, V.frac_zero_variance, V.batch_reward_std):
        np.testing.assert_allclose(fn(R), [fn(r) for r in R], rtol=1e-12)
    d = V.variance_decomposition(R)
    np.testing.assert_allclose(d.within_prompt + d.between_prompt, d.total, rtol=1e-12)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 1)), "k >= 2"),
    (np.zeros(5), r"shape \[n_prompts, k\]"),
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.array([[1.0, np.inf]]), "NaN or infinite"),
])
def test_bad_reward_arrays_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        V.reward_variance(bad)


def test_constant_rewards_have_undefined_whitened_variance():
    assert np.isnan(V.whitened_reward_variance(np.ones((4, 3))))
    both = np.stack([np.ones((4, 3)), _rewards(n=4, k=3)])  # one degenerate entry does not spoil the other
    assert np.isnan(V.whitened_reward_variance(both)[0]) and np.isfinite(V.whitened_reward_variance(both)[1])


@pytest.mark.parametrize("stat", [V.reward_variance, V.whitened_reward_variance,
                                  lambda R: V.variance_decomposition(R).between_prompt])
def test_bootstrap_ci_contains_estimate_and_is_seeded(stat):
    R = _rewards(n=60, k=5, seed=7)
    lo, hi = bootstrap_ci(stat, R, n_resamples=500, seed=11)
    assert lo < float(stat(R)) < hi
    assert (lo, hi) == bootstrap_ci(stat, R, n_resamples=500, seed=11)
    assert (lo, hi) != bootstrap_ci(stat, R, n_resamples=500, seed=12)


def test_bootstrap_resamples_whole_prompts_and_matches_a_loop():
    R = _rewards(n=20, k=4, seed=2)
    values = bootstrap_distribution(V.reward_variance, R, n_resamples=50, seed=3)
    index = np.random.default_rng(3).integers(0, 20, size=(50, 20))
    np.testing.assert_allclose(values, [V.reward_variance(R[i]) for i in index], rtol=1e-12)


@pytest.mark.filterwarnings("ignore:Mean of empty slice")
def test_bootstrap_ci_narrows_with_more_prompts_and_ignores_nan():
    small, large = _rewards(n=20, seed=4), _rewards(n=2000, seed=4)
    width = [np.subtract(*bootstrap_ci(V.reward_variance, R, n_resamples=300, seed=0)[::-1]) for R in (small, large)]
    assert width[1] < width[0] / 3
    per_prompt = np.array([1.0, np.nan, 0.0, 1.0])
    lo, hi = bootstrap_ci(lambda x: np.nanmean(x, axis=-1), per_prompt, n_resamples=200, seed=0)
    assert 0.0 <= lo <= hi <= 1.0
    R = _rewards(n=5)
    with pytest.raises(ValueError, match="same non-zero number of prompts"):
        bootstrap_ci(lambda a, b: V.reward_variance(a), R, R[:3])


def test_equals_the_official_recipe_and_trl_metrics_in_torch():
    """Checklist E1-E3: the official what-makes-good-rm statistics (torch, float64: whitening by the global mean and
    unbiased std, per-prompt unbiased var, mean) and TRL's group metrics, re-expressed independently."""
    import torch

    R = _rewards(n=500, k=10, seed=9)
    R[:25] = 1.5  # some zero-variance prompts
    t = torch.tensor(R)
    whitened = (t - t.mean()) / t.std()
    assert V.whitened_reward_variance(R) == pytest.approx(whitened.var(dim=1).mean().item(), rel=1e-10)
    assert V.reward_variance(R) == pytest.approx(t.var(dim=1).mean().item(), rel=1e-10)
    # TRL (GRPO/RLOO, scale_rewards="group"): std per group, isclose(std, 0) per sample, averaged over samples
    group_std = t.view(-1, 10).std(dim=1).repeat_interleave(10)
    trl_frac_zero = torch.isclose(group_std, torch.zeros_like(group_std)).double().mean().item()
    assert V.frac_zero_variance(R) == pytest.approx(trl_frac_zero, abs=1e-12) == pytest.approx(0.05)
    # TRL's reward_std: the std of the whole batch, larger than the mean within-group std when prompts differ
    assert V.batch_reward_std(R) == pytest.approx(t.std().item(), rel=1e-10)
    assert V.batch_reward_std(R) > t.view(-1, 10).std(dim=1).mean().item()


def test_within_group_std_summary_by_hand():
    from rmlab.measure.variance import within_group_std_summary

    rewards = np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0], [0.0, 0.0, 3.0], [2.0, 2.0, 2.0 + 1e-9]])
    std = np.array([0.0, 1.0, np.sqrt(3.0), np.std([2.0, 2.0, 2.0 + 1e-9], ddof=1)])
    summary = within_group_std_summary(rewards)
    assert summary["within_std_mean"] == pytest.approx(std.mean())
    assert summary["within_std_p50"] == pytest.approx(np.median(std))
    assert summary["within_std_p10"] <= summary["within_std_p50"] <= summary["within_std_p90"] <= np.sqrt(3.0)
    assert summary["frac_zero_std"] == 0.5                   # the constant group and the one within 1e-8
    assert within_group_std_summary(rewards, atol=0.0)["frac_zero_std"] == 0.25
