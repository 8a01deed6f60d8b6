"""Constructions and bounds of Thm 2/3/5/6, Prop. 1/3/4 (rmlab.theory.constructions)."""

import itertools

import numpy as np
import pytest
from scipy.special import softmax

from rmlab.theory import constructions as C
from rmlab.theory.accuracy import pairwise_accuracy
from rmlab.theory.flow import tabular_time_to_gain


@pytest.fixture(scope="module")
def thm5():
    inst = C.thm5_instance(n_outputs=50, T=[1, 10, 100, 1000], gamma=0.2, seed=0)
    return inst, C.thm5_times(inst)


def test_thm5_construction_meets_its_accuracies(thm5):
    inst, _ = thm5
    N = inst.r_gold.size
    assert np.all(inst.acc_slow == 1.0)
    below = np.sum(inst.r_gold < inst.r_gold[inst.y_gamma])
    assert inst.acc_fast == pytest.approx(below / (N * (N - 1) / 2), abs=1e-15)   # Remark 2: only {y_gamma, worse}
    assert inst.acc_fast <= 2 / N
    assert np.all((inst.r_slow > 0) & (inst.r_slow < 1 / inst.T[:, None]))
    assert np.all(inst.var_slow <= inst.T ** -2.0)
    others = np.arange(N) != inst.y_gamma
    assert inst.r_fast[inst.y_gamma] == 1.0
    assert np.all((inst.r_fast[others] > 0) & (inst.r_fast[others] < inst.probs0[inst.y_gamma]))
    assert inst.r_gold[inst.y_gamma] > inst.probs0 @ inst.r_gold + inst.gamma and 0 < inst.rho < 1


def test_thm5_slow_and_fast_bounds_hold(thm5):
    inst, (t_slow, t_fast) = thm5
    assert np.all(t_slow >= inst.slow_lower_bound) and np.all(t_slow >= inst.prop3_lower_bound)
    slope = np.polyfit(np.log(inst.T), np.log(t_slow), 1)[0]
    assert 0.95 <= slope <= 1.05
    assert t_fast <= inst.fast_upper_bound
    t_slow_kl, t_fast_kl = C.thm5_times(inst, lam=inst.lam_max)
    assert t_fast_kl <= inst.fast_upper_bound and np.all(t_slow_kl >= inst.slow_lower_bound)


def test_thm6_construction_and_matrix():
    inst = C.thm6_instance(n_outputs=20, T=[3, 10, 30], gamma=0.2, c=0.2)
    p = inst.probs0
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-14)
    np.testing.assert_allclose(p @ inst.r_gold, 0.0, atol=1e-12)
    for k in (0, 1):
        assert np.allclose(p[:, k, inst.y_gamma[k]], inst.c)
        np.testing.assert_allclose(p[:, k, inst.y_gamma[1 - k]], inst.T ** -2.0)
    M = C.thm6_times(inst)                                             # [K, policy, RM]
    diag, off = M[:, [0, 1], [0, 1]], M[:, [0, 1], [1, 0]]
    assert np.all(diag <= inst.fast_upper_bound)
    assert np.all(off >= inst.slow_lower_bound[:, None])
    assert np.all(np.diff(off, axis=0) > 0) and np.all(off[-1] > 10 * diag[-1])
    assert np.ptp(diag, axis=0).max() < 0.1                            # O(1): barely moves with T


def brute_force_best_of_n(p, r_rm, r_gold, n):
    """Enumerate all n-tuples of draws; ties at the top of r_rm broken uniformly at random."""
    total = 0.0
    for draws in itertools.product(range(len(p)), repeat=n):
        top = max(r_rm[d] for d in draws)
        winners = [r_gold[d] for d in draws if r_rm[d] == top]
        total += np.prod([p[d] for d in draws]) * np.mean(winners)
    return total


def test_best_of_n_matches_brute_force():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5))
    r_gold = rng.uniform(-1, 1, 5)
    r_rm = np.array([0.0, 1.0, 1.0, 0.5, 0.0])                           # with ties
    for n in (1, 2, 3, 4):
        assert C.best_of_n_value(p, r_rm, r_gold, n) == pytest.approx(brute_force_best_of_n(p, r_rm, r_gold, n),
                                                                       abs=1e-13)
        assert C.expected_max_of_draws(p, r_gold, n) == pytest.approx(
            brute_force_best_of_n(p, r_gold, r_gold, n), abs=1e-13)


def test_prop1_perfectly_accurate_rms_are_best_of_n_optimal(thm5):
    inst, _ = thm5
    p, g = inst.probs0, inst.r_gold
    n = np.array([1, 4, 16, 64])
    best = C.expected_max_of_draws(p, g, n)
    for r in [*inst.r_slow, np.tanh(5 * g), g ** 3 - 7]:
        assert pairwise_accuracy(r, g) == 1.0
        assert np.max(np.abs(C.best_of_n_value(p, r, g, n) - best)) <= 1e-12
    top2 = np.argsort(g)[-2:]
    swapped = inst.r_slow[0].copy()
    swapped[top2] = swapped[top2[::-1]]
    assert np.all(C.best_of_n_value(p, swapped, g, n[1:]) < best[1:])
    assert np.all(C.best_of_n_value(p, inst.r_fast, g, n[1:]) < best[1:])


def test_prop3_bound_on_random_instances():
    rng = np.random.default_rng(1)
    theta0 = rng.normal(0, 2, (30, 4, 12))
    r_gold = rng.uniform(-1, 1, theta0.shape)
    r_rm = rng.uniform(-1, 1, theta0.shape) * rng.uniform(0.01, 1, (30, 4, 1))
    r_gold[..., 0] = 1.0                                   # every prompt can gain gamma (its value is < 0.95)
    p0 = softmax(theta0, -1)
    gamma = 0.05
    res = tabular_time_to_gain(theta0, r_rm, r_gold, gamma, t_max=1e5)
    var = (p0 * (r_rm - (p0 * r_rm).sum(-1, keepdims=True)) ** 2).sum(-1)
    assert np.all(res.t_gamma >= C.prop3_lower_bound(var, gamma, n_prompts=4))
    assert res.reached.mean() > 0.3


def test_prop4_bound_with_two_good_outputs():
    """Prop. 4 with |Y+| = 2 top outputs, lam at its maximum, Y_bad empty."""
    rng = np.random.default_rng(2)
    N = 50
    r_gold = np.sort(rng.uniform(-1, 1, N))
    p0 = softmax(rng.normal(0, 1.5, N))
    plus = np.argsort(r_gold)[-2:]
    r_rm = np.empty(N)
    r_rm[plus] = 1.0
    rest = np.setdiff1d(np.arange(N), plus)
    r_rm[rest] = np.linspace(0.9, 0.1, rest.size) * p0[plus].sum()
    gamma = 0.2
    b = C.prop4_bound(p0, r_rm, r_gold, plus, gamma)
    assert b.delta > 0 and b.bad_mass == 0.0
    b = C.prop4_bound(p0, r_rm, r_gold, plus, gamma, lam=b.lam_max)
    assert b.conditions_hold
    t = tabular_time_to_gain(np.log(p0)[None], r_rm, r_gold, gamma, lam=b.lam_max, t_max=1e7).t_gamma[0]
    assert t <= b.upper_bound
    assert not C.prop4_bound(p0, r_rm, r_gold, plus, gamma, lam=2 * b.lam_max).conditions_hold


def test_construction_input_errors():
    with pytest.raises(ValueError, match="not reachable"):
        C.most_likely_good_output(np.array([0.5, 0.5]), np.array([0.0, 0.1]), gamma=0.2)
    with pytest.raises(ValueError, match="distinct"):
        C.accurate_slow_rm(np.array([0.0, 0.0, 1.0]), T=2)
    with pytest.raises(ValueError, match="T must be >= 1"):
        C.accurate_slow_rm(np.array([0.0, 0.5, 1.0]), T=0.5)
    with pytest.raises(ValueError, match="n"):
        C.best_of_n_value(np.array([0.5, 0.5]), np.zeros(2), np.zeros(2), 0)
    with pytest.raises(ValueError, match="sum to 1"):
        C.best_of_n_value(np.array([0.5, 0.6]), np.zeros(2), np.zeros(2), 2)
    with pytest.raises(ValueError, match="c"):
        C.thm6_instance(c=0.99, T=[1.0])


def test_ranks_with_inversions_and_rms_at_any_accuracy(thm5):
    inst, _ = thm5
    for n, k in [(5, 0), (5, 3), (5, 10), (12, 29)]:
        rank = C.ranks_with_inversions(n, k)
        assert sorted(rank) == list(range(n))
        assert sum(rank[i] > rank[j] for i, j in itertools.combinations(range(n), 2)) == k
    N = inst.r_gold.size
    pairs = N * (N - 1) / 2
    for a in (0.0, 0.3, 0.77, 1.0):
        r = C.accurate_slow_rm(inst.r_gold, 10.0, accuracy=a)
        assert abs(pairwise_accuracy(r, inst.r_gold) - a) <= 0.5 / pairs + 1e-15
        assert np.all((r > 0) & (r < 0.1))
    lo, hi = C.fast_accuracy_range(inst.r_gold, inst.y_gamma)
    assert lo == pytest.approx(inst.acc_fast)
    for a in np.linspace(lo, hi, 4):
        r = C.inaccurate_fast_rm(inst.r_gold, inst.probs0, inst.y_gamma, accuracy=a)
        assert abs(pairwise_accuracy(r, inst.r_gold) - a) <= 0.5 / pairs + 1e-12
        assert np.argmax(r) == inst.y_gamma
    with pytest.raises(ValueError, match="not attainable"):
        C.inaccurate_fast_rm(inst.r_gold, inst.probs0, inst.y_gamma, accuracy=hi + 0.01)
    with pytest.raises(ValueError, match="inversions"):
        C.ranks_with_inversions(4, 7)


def test_thm5_at_every_accuracy_level(thm5):
    inst, _ = thm5
    sweep = C.thm5_accuracy_sweep(inst, [0.0, 0.5, 1.0], n_fast=3, T=100.0)
    assert np.all(sweep.t_slow >= C.thm5_slow_lower_bound(100.0, inst.gamma))   # inf (never reached) included
    assert np.all(sweep.t_fast <= inst.fast_upper_bound)
