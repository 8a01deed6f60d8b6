"""Prompt selection by reward variance and the teacher score, on reward arrays (rmlab.measure.selection / teacher)."""

import numpy as np
import pytest

from rmlab.measure.selection import random_prompt_subset, rank_prompts_by_variance, select_prompts_by_variance
from rmlab.measure.teacher import per_prompt_teacher_score, teacher_score
from rmlab.measure.variance import per_prompt_variance


def _rewards(n=30, k=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 1)) + rng.normal(size=(n, k)) * rng.uniform(0.0, 2.0, size=(n, 1))


def test_ranking_orders_prompts_by_their_unbiased_variance():
    R = _rewards()
    order = rank_prompts_by_variance(R)
    assert sorted(order.tolist()) == list(range(30))
    assert np.all(np.diff(per_prompt_variance(R)[order]) <= 0)


def test_ranking_ignores_affine_rescaling_and_ties_keep_input_order():
    R = _rewards(seed=1)
    np.testing.assert_array_equal(rank_prompts_by_variance(R), rank_prompts_by_variance(3.0 * R - 7.0))
    flat = np.zeros((4, 3))
    assert rank_prompts_by_variance(flat).tolist() == [0, 1, 2, 3]


def test_selection_keeps_the_top_of_the_ranking_in_input_order():
    R = _rewards(seed=2)
    chosen = select_prompts_by_variance(R, 7)
    assert chosen.tolist() == sorted(rank_prompts_by_variance(R)[:7].tolist())
    np.testing.assert_array_equal(select_prompts_by_variance(R, fraction=0.5), select_prompts_by_variance(R, 15))
    left_out = np.setdiff1d(np.arange(30), chosen)
    assert per_prompt_variance(R)[chosen].min() >= per_prompt_variance(R)[left_out].max()


@pytest.mark.parametrize("kwargs", [{}, {"size": 0}, {"size": 31}, {"size": 2.5}, {"fraction": 0.0},
                                    {"size": 3, "fraction": 0.5}])
def test_bad_subset_sizes_are_refused(kwargs):
    with pytest.raises(ValueError):
        select_prompts_by_variance(_rewards(), **kwargs)


def test_random_subset_is_seeded_and_without_replacement():
    a = random_prompt_subset(50, 20, seed=3)
    assert a.tolist() == random_prompt_subset(50, 20, seed=3).tolist() != random_prompt_subset(50, 20, seed=4).tolist()
    assert len(set(a.tolist())) == 20 and a.min() >= 0 and a.max() < 50


def test_teacher_score_is_the_within_prompt_covariance_per_unit_rm_spread():
    rm, gold = _rewards(seed=4), _rewards(seed=5)
    spread = np.sqrt(np.mean([np.var(row, ddof=1) for row in rm]))
    direct = np.mean([np.cov(rm[i], gold[i])[0, 1] for i in range(len(rm))]) / spread
    assert float(teacher_score(rm, gold)) == pytest.approx(direct, rel=1e-12)
    assert float(teacher_score(5 * rm + 2, gold)) == pytest.approx(direct, rel=1e-10)     # RM scale drops out
    shifted = rm + 10 * np.arange(len(rm))[:, None]                    # a shift per prompt, which RLOO removes
    assert float(teacher_score(shifted, gold)) == pytest.approx(direct, rel=1e-10)
    assert np.isnan(teacher_score(np.ones_like(rm), gold))                   # flat everywhere: no direction at all


def test_teacher_score_separates_speed_direction_and_headroom():
    gold = _rewards(seed=6)
    assert float(teacher_score(gold, gold)) > 0 > float(teacher_score(-gold, gold))        # direction
    flat = gold.copy()
    flat[::2] = flat[::2] * 1e-3 + 10 * np.arange(15)[:, None]   # half the prompts compressed (and shifted)
    # the compressed half nearly stops teaching, and the RM's spread is the other half's: with v the gold reward's
    # within-prompt variances, the score is (v_odd + 1e-3 v_even) / sqrt(n (v_odd + 1e-6 v_even)), summed over prompts
    v = per_prompt_variance(gold)
    v_odd, v_even = v[1::2].sum(), v[::2].sum()
    expected = (v_odd + 1e-3 * v_even) / np.sqrt(len(v) * (v_odd + 1e-6 * v_even))
    assert float(teacher_score(flat, gold)) == pytest.approx(expected, rel=1e-10)
    assert 0 < float(teacher_score(flat, gold)) < float(teacher_score(gold, gold))
    assert float(teacher_score(gold, np.ones_like(gold))) == 0.0                          # no gold headroom


def test_teacher_score_accepts_leading_axes_for_the_bootstrap():
    rm, gold = _rewards(seed=7), _rewards(seed=8)
    stacked = teacher_score(np.stack([rm, rm[::-1]]), np.stack([gold, gold[::-1]]))
    assert stacked.shape == (2,) and stacked[0] == pytest.approx(float(teacher_score(rm, gold)))
    assert per_prompt_teacher_score(rm, gold).shape == (30,)
    with pytest.raises(ValueError, match="same shape"):
        teacher_score(rm, gold[:3])
