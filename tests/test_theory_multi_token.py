"""Thm 6 of arXiv 2410.08847 (one pair, multi-token responses) against autograd, and CHES as its alphas-set-to-1
hidden-state part."""

import numpy as np
import pytest
import torch

from rmlab.theory import multi_token as M


def _autograd_rate(pair: M.PairInstance, beta: float = 0.1) -> float:
    """<grad ln pi(y+), -grad L_DPO> at the start (reference = initial model), every hidden state and W free."""
    h_x = torch.tensor(pair.h_plus[0], requires_grad=True)
    rest_plus = torch.tensor(pair.h_plus[1:], requires_grad=True)
    rest_minus = torch.tensor(pair.h_minus[1:], requires_grad=True)
    W = torch.tensor(pair.W, requires_grad=True)
    params = (h_x, rest_plus, rest_minus, W)

    def log_prob(rest, tokens):
        hidden = torch.cat([h_x[None], rest])
        return torch.log_softmax(hidden @ W.T, -1)[torch.arange(len(tokens)), torch.as_tensor(tokens)].sum()

    plus, minus = log_prob(rest_plus, pair.plus), log_prob(rest_minus, pair.minus)
    delta = plus - minus
    loss = torch.nn.functional.softplus(-beta * (delta - delta.detach()))
    grad_loss = torch.autograd.grad(loss, params, retain_graph=True)
    grad_plus = torch.autograd.grad(plus, params, allow_unused=True)
    return float(-sum((g * gl).sum() for g, gl in zip(grad_plus, grad_loss) if g is not None))


@pytest.mark.parametrize("setting", [dict(), dict(anisotropy=1.0, overlap=0.6)])
def test_thm6_closed_form_is_the_chain_rule(setting):
    for pair in M.random_pairs(20, seed=5, **setting):
        expected = _autograd_rate(pair)
        assert M.rate_preferred(pair, ell_prime=-0.05) == pytest.approx(expected, rel=1e-10, abs=1e-13)


def test_single_tokens_reduce_to_thm4():
    from rmlab.theory import displacement as D

    h, W, plus, minus = D.random_instances(3, seed=2)
    ell = D.initial_ell_prime(h, W, plus, minus)
    for b in range(3):
        pair = M.PairInstance(h[b:b + 1], h[b:b + 1], W[b], plus[b:b + 1], minus[b:b + 1])
        assert M.rate_preferred(pair, ell[b]) == pytest.approx(D.rate_preferred(h, W, plus, minus, ell)[b], rel=1e-12)


def test_ches_is_minus_the_hidden_state_terms_with_every_alpha_one():
    pair = M.random_pairs(1, seed=9, anisotropy=1.0)[0]
    total_plus, total_minus = pair.h_plus.sum(0), pair.h_minus.sum(0)
    assert M.ches(pair) == pytest.approx(total_plus @ total_minus - total_plus @ total_plus)
    assert M.ches(pair) == pytest.approx(-M.hidden_state_terms(pair, alphas_one=True))


def test_alpha_coefficients_match_their_definition_in_numpy_and_torch():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(7), size=3), rng.dirichlet(np.ones(7), size=4)
    a, b = np.array([0, 3, 3]), np.array([3, 1, 0, 6])
    expected = np.array([[(np.eye(7)[a[k]] - p[k]) @ (np.eye(7)[b[j]] - q[j]) for j in range(4)] for k in range(3)])
    np.testing.assert_allclose(M.alpha_coefficients(p, a, q, b), expected, atol=1e-15)
    as_torch = M.alpha_coefficients(*(torch.tensor(x) for x in (p, a, q, b)))
    np.testing.assert_allclose(as_torch.numpy(), expected, atol=1e-15)


def test_pairs_that_break_thm6s_setting_are_refused():
    pair = M.random_pairs(1, seed=0)[0]
    with pytest.raises(ValueError, match="differ in their first token"):
        M.PairInstance(pair.h_plus, pair.h_minus, pair.W, pair.plus, np.r_[pair.plus[0], pair.minus[1:]])
    with pytest.raises(ValueError, match="prompt's hidden state"):
        M.PairInstance(pair.h_plus, pair.h_minus + 1.0, pair.W, pair.plus, pair.minus)
