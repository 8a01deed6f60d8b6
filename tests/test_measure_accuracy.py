"""On-policy and off-policy accuracy with the stated tie rules (arXiv 2503.15477 recipe; 2507.07981 ties-½)."""

import numpy as np
import pytest

from rmlab.measure.accuracy import (on_policy_accuracy, on_policy_accuracy_bounds, on_policy_accuracy_per_prompt,
                                    preference_accuracy, preference_correct, text_oracle_rewards)
from rmlab.measure.bootstrap import bootstrap_ci


def _loop_accuracy(rm, gold, ties):
    """Reference: an explicit double loop over prompts and pairs."""
    per_prompt = []
    for r, g in zip(rm, gold):
        credits = []
        for i in range(len(r)):
            for j in range(i + 1, len(r)):
                dr, dg = np.sign(r[i] - r[j]), np.sign(g[i] - g[j])
                if ties == "paper":
                    credits.append(float(dr == dg))
                elif dg != 0:
                    credits.append(0.5 if dr == 0 else float(dr == dg))
        per_prompt.append(np.mean(credits) if credits else np.nan)
    return np.array(per_prompt)


@pytest.mark.parametrize("transform", [lambda g: g, lambda g: 3 * g - 1, np.exp, lambda g: np.tanh(5 * g) + g ** 3])
@pytest.mark.parametrize("ties", ["paper", "half"])
def test_monotone_transform_of_gold_has_accuracy_one(transform, ties):
    gold = np.random.default_rng(0).normal(size=(30, 8))
    assert on_policy_accuracy(transform(gold), gold, ties=ties) == 1.0
    assert on_policy_accuracy(-gold, gold, ties=ties) == 0.0


@pytest.mark.parametrize("ties", ["paper", "half"])
def test_matches_explicit_pair_loop_with_ties(ties):
    rng = np.random.default_rng(1)
    rm = rng.integers(0, 3, size=(25, 5)).astype(float)   # many RM ties
    gold = rng.integers(0, 3, size=(25, 5)).astype(float)  # many gold ties
    gold[0] = 1.0                                          # one prompt whose pairs all tie under the gold reward
    expected = _loop_accuracy(rm, gold, ties)
    np.testing.assert_allclose(on_policy_accuracy_per_prompt(rm, gold, ties=ties), expected, rtol=1e-12)
    assert on_policy_accuracy(rm, gold, ties=ties) == pytest.approx(np.nanmean(expected), rel=1e-12)


def test_tie_conventions_on_hand_made_pairs():
    # on-policy, 3 samples: gold ties (0,1); RM ties (1,2)
    rm, gold = np.array([[1.0, 2.0, 2.0]]), np.array([[0.0, 0.0, 1.0]])
    # pairs (0,1): gold tie, RM orders -> wrong; (0,2): both say 2 > 0 -> right; (1,2): RM tie, gold orders -> wrong
    assert on_policy_accuracy(rm, gold) == pytest.approx(1 / 3)
    # ties-½ drops the gold-tied pair and gives the RM tie ½: (1 + ½)/2
    assert on_policy_accuracy(rm, gold, ties="half") == pytest.approx(0.75)
    # both tie -> correct under the paper rule
    assert on_policy_accuracy(np.array([[1.0, 1.0]]), np.array([[5.0, 5.0]])) == 1.0
    assert np.isnan(on_policy_accuracy(np.array([[1.0, 1.0]]), np.array([[5.0, 5.0]]), ties="half"))


def test_preference_accuracy_without_gold_scores_chosen_wins():
    rm_c, rm_r = np.array([2.0, 0.0, 1.0, 3.0]), np.array([1.0, 1.0, 1.0, -1.0])
    np.testing.assert_array_equal(preference_correct(rm_c, rm_r), [1.0, 0.0, 0.0, 1.0])  # RM tie is wrong
    np.testing.assert_array_equal(preference_correct(rm_c, rm_r, ties="half"), [1.0, 0.0, 0.5, 1.0])
    assert preference_accuracy(rm_c, rm_r) == 0.5 and preference_accuracy(rm_c, rm_r, ties="half") == 0.625


def test_preference_accuracy_with_gold_scores_uses_the_sign_rule():
    rm_c, rm_r = np.array([2.0, 0.0, 1.0, 3.0]), np.array([1.0, 1.0, 1.0, 3.0])
    gold_c, gold_r = np.array([5.0, 5.0, 4.0, 2.0]), np.array([1.0, 1.0, 4.0, 9.0])
    # pair 2: gold tie and RM tie -> right; pair 3: gold says rejected better, RM ties -> wrong
    np.testing.assert_array_equal(preference_correct(rm_c, rm_r, gold_c, gold_r), [1.0, 0.0, 1.0, 0.0])
    credit = preference_correct(rm_c, rm_r, gold_c, gold_r, ties="half")
    np.testing.assert_array_equal(credit[[0, 1, 3]], [1.0, 0.0, 0.5])
    assert np.isnan(credit[2])  # the gold tie has no preferred response under ties-½
    assert preference_accuracy(rm_c, rm_r, gold_c, gold_r, ties="half") == pytest.approx(0.5)
    # identical to the on-policy rule on the two responses of each pair
    rm, gold = np.stack([rm_c, rm_r], -1), np.stack([gold_c, gold_r], -1)
    assert preference_accuracy(rm_c, rm_r, gold_c, gold_r) == on_policy_accuracy(rm, gold)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="ties must be one of"):
        on_policy_accuracy(np.zeros((2, 3)), np.zeros((2, 3)), ties="ignore")
    with pytest.raises(ValueError, match="same shape"):
        on_policy_accuracy(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="k >= 2"):
        on_policy_accuracy(np.zeros((2, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="rm_rejected contains NaN"):
        preference_accuracy(np.zeros(3), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="both gold_chosen and gold_rejected"):
        preference_accuracy(np.zeros(3), np.zeros(3), gold_chosen=np.zeros(3))


def test_accuracy_bootstrap_over_prompts():
    rng = np.random.default_rng(2)
    gold = rng.normal(size=(80, 6))
    rm = gold + rng.normal(scale=1.0, size=gold.shape)
    per_prompt = on_policy_accuracy_per_prompt(rm, gold)
    lo, hi = bootstrap_ci(lambda a: a.mean(axis=-1), per_prompt, seed=0)
    assert 0.5 < lo < per_prompt.mean() < hi < 1.0
    # leading resample axis is supported directly on the reward arrays too
    lo2, hi2 = bootstrap_ci(on_policy_accuracy, rm, gold, seed=0)
    assert (lo2, hi2) == pytest.approx((lo, hi), rel=1e-12)


def test_equals_the_official_ranking_accuracy_in_torch():
    """Checklist E3: per-prompt sign agreement over torch.triu_indices pairs, then the mean (official recipe)."""
    import torch

    rng = np.random.default_rng(5)
    gold = rng.integers(0, 6, size=(500, 10)).astype(float)  # ties under both rewards
    rm = gold + rng.integers(-2, 3, size=gold.shape)
    t_rm, t_gold = torch.tensor(rm), torch.tensor(gold)
    i, j = torch.triu_indices(10, 10, offset=1)
    official = ((t_rm[:, i] - t_rm[:, j]).sign() == (t_gold[:, i] - t_gold[:, j]).sign()).double().mean(dim=1)
    np.testing.assert_allclose(on_policy_accuracy_per_prompt(rm, gold), official.numpy(), rtol=1e-12)
    assert on_policy_accuracy(rm, gold) == pytest.approx(official.mean().item(), rel=1e-10)


def test_tied_pair_fraction_counts_exact_ties_and_bounds_paper_accuracy():
    from rmlab.measure.accuracy import on_policy_accuracy, tied_pair_fraction
    gold = np.array([[1.0, 1.0, -1.0, -1.0], [0.0, 0.5, 1.0, 1.5]])
    assert np.allclose(tied_pair_fraction(gold), [2 / 6, 0.0])
    rm = gold + np.array([0.0, 0.01, 0.02, 0.03])            # never ties, orders every gold-ordered pair right
    assert np.isclose(on_policy_accuracy(rm, gold), 1 - np.mean(tied_pair_fraction(gold)))
    assert np.isclose(on_policy_accuracy(rm, gold, ties="half"), 1.0)
    with pytest.raises(ValueError, match="k >= 2"):
        tied_pair_fraction(np.array([1.0, 2.0]))


def _samples_with_repeats_and_gold_ties(seed=0, n=40, k=6):
    """Texts drawn from a small vocabulary (repeats) and a gold reward that is a coarse function of the text (ties)."""
    rng = np.random.default_rng(seed)
    texts = [[f"t{v}" for v in rng.integers(0, 5, size=k)] for _ in range(n)]
    value = {f"t{v}": float(v // 2) for v in range(5)}          # t0, t1 tie; t2, t3 tie
    return np.array([[value[t] for t in row] for row in texts]), texts


def test_text_oracle_orders_gold_and_ties_only_identical_texts():
    gold, texts = _samples_with_repeats_and_gold_ties()
    oracle = text_oracle_rewards(gold, texts)
    for g, o, row in zip(gold, oracle, texts):
        for a in range(len(row)):
            for b in range(len(row)):
                assert (o[a] == o[b]) == (row[a] == row[b])
                if g[a] > g[b]:
                    assert o[a] > o[b]
    with pytest.raises(ValueError, match="two gold rewards"):
        text_oracle_rewards(np.array([[0.0, 1.0]]), [["same", "same"]])


def test_accuracy_bounds_match_pair_counts_and_a_monte_carlo_of_random_text_functions():
    gold, texts = _samples_with_repeats_and_gold_ties()
    i, j = np.triu_indices(gold.shape[1], k=1)
    same = np.array([[row[a] == row[b] for a, b in zip(i, j)] for row in texts])
    orders = gold[:, i] != gold[:, j]
    bounds = on_policy_accuracy_bounds(gold, texts)
    assert bounds["ceiling"] == pytest.approx(np.mean((same | orders).mean(1)), rel=1e-12)
    assert bounds["ceiling"] < 1                                 # gold ties between different texts cap it
    rng = np.random.default_rng(1)
    draws = []
    for _ in range(2000):
        score = {f"t{v}": s for v, s in enumerate(rng.normal(size=5))}
        draws.append(on_policy_accuracy(np.array([[score[t] for t in row] for row in texts]), gold))
    assert bounds["chance"] == pytest.approx(np.mean(draws), abs=4 * np.std(draws) / np.sqrt(len(draws)))
    half = on_policy_accuracy_bounds(gold, texts, ties="half")
    assert half == {"ceiling": 1.0, "chance": 0.5}
