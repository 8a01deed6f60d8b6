"""rmlab.theory.token_cues: Thm 2 of 2507.07981 (IM-RM ties on unseen tokens, EX-RM generalises through hidden
states) and the one-step change formulas against actual gradient steps."""

import numpy as np
import pytest

from rmlab.theory import token_cues as T


def random_response(rng, vocab: int, dim: int, length: int) -> T.Response:
    return T.Response(rng.integers(0, vocab, size=length), rng.normal(size=(length, dim)), rng.normal(size=dim))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_thm2_implicit_ties_exactly_on_unseen_tokens_while_explicit_generalises(seed):
    run = T.single_token_dynamics(T.TokenCuesConfig(seed=seed, steps=150))
    assert run.accuracy["explicit"]["train"][-1] == 1.0 and run.accuracy["implicit"]["train"][-1] == 1.0
    assert run.accuracy["explicit"]["unseen"][-1] == 1.0
    assert run.accuracy["implicit"]["unseen"][-1] == 0.5
    assert np.all(run.unseen_differences["implicit"] == 0.0)
    assert sorted(run.moved_rows) == sorted(T.SEEN_CHOSEN + T.SEEN_REJECTED)


def test_explicit_rm_fails_on_unseen_tokens_whose_hidden_states_point_the_other_way():
    run = T.single_token_dynamics(T.TokenCuesConfig(alignment=-0.8, steps=150))
    assert run.accuracy["explicit"]["train"][-1] == 1.0 and run.accuracy["explicit"]["unseen"][-1] == 0.0
    assert run.accuracy["implicit"]["unseen"][-1] == 0.5


def test_explicit_one_step_change_is_exact():
    rng = np.random.default_rng(0)
    chosen, rejected, target = (random_response(rng, 7, 5, 3) for _ in range(3))
    u = rng.normal(size=5)
    for lr in (1e-3, 0.7):
        actual = T.explicit_reward(T.explicit_step(u, lr, chosen, rejected), target) - T.explicit_reward(u, target)
        assert T.explicit_change(u, lr, target, chosen, rejected) == pytest.approx(actual, rel=1e-10)


def test_implicit_one_step_change_matches_the_rho_formula_to_first_order():
    rng = np.random.default_rng(1)
    V, d, beta = 9, 6, 0.5
    W_ref = rng.normal(size=(V, d))
    W = W_ref + 0.3 * rng.normal(size=(V, d))
    chosen, rejected, target = (random_response(rng, V, d, n) for n in (3, 4, 2))
    errors = []
    for lr in (1e-2, 5e-3):
        actual = (T.implicit_reward(T.implicit_step(W, W_ref, beta, lr, chosen, rejected), W_ref, beta, target)
                  - T.implicit_reward(W, W_ref, beta, target))
        predicted = T.implicit_first_order_change(W, W_ref, beta, lr, target, chosen, rejected)
        errors.append(abs(actual - predicted) / abs(actual))
        assert np.sign(actual) == np.sign(predicted)
    assert errors[0] < 0.05 and 1.8 <= errors[0] / errors[1] <= 2.2     # relative error O(lr)


def test_rho_is_bounded_and_about_one_on_a_token_match():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(11, 4))
    a = T.Response(np.array([3, 5, 7, 9, 1]), rng.normal(size=(5, 4)), rng.normal(size=4))
    b = T.Response(np.array([2, 5, 0, 4, 6, 10]), rng.normal(size=(6, 4)), rng.normal(size=4))
    rho = T.rho_coefficients(W, a, b)
    assert rho.shape == (5, 6) and np.all(np.abs(rho) <= 2)
    assert rho[1, 1] > 0.5 > rho[np.arange(5) != 1].max()      # token 5 matches only there


def test_one_step_moves_both_unseen_synonyms_alike_under_the_implicit_rm():
    run = T.single_token_dynamics(T.TokenCuesConfig(steps=1))
    step = run.one_step
    assert step["unseen synonym of y+"]["explicit"] > 0 > step["unseen synonym of y-"]["explicit"]
    assert step["unseen synonym of y+"]["implicit"] == pytest.approx(step["unseen synonym of y-"]["implicit"],
                                                                     rel=1e-9, abs=1e-15)
    assert step["seen y+"]["implicit"] > 0 > step["seen y-"]["implicit"]


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="cosines"):
        T.TokenCuesConfig(alignment=1.5)
    with pytest.raises(ValueError, match=">= 1"):
        T.TokenCuesConfig(steps=0)
