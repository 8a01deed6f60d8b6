"""Thm 8/9 of arXiv 2410.08847 (several single-token samples sharing an unembedding) against autograd, the flow
and the theorems' cases."""

import numpy as np
import pytest
import torch

from rmlab.theory import cross_sample as C
from rmlab.theory import displacement as D


def _autograd_rates(H, W, plus, minus, beta=0.1):
    """d/dt ln pi(y+_i | x_i) = <grad ln pi(y+_i | x_i), -grad L> with L the mean DPO loss, by torch autograd."""
    Ht, Wt = torch.tensor(H, requires_grad=True), torch.tensor(W, requires_grad=True)
    logp = torch.log_softmax(Ht @ Wt.T, -1)
    rows = torch.arange(len(plus))
    delta = logp[rows, plus] - logp[rows, minus]
    loss = torch.nn.functional.softplus(-beta * (delta - delta.detach())).mean()
    gH, gW = torch.autograd.grad(loss, (Ht, Wt), retain_graph=True)
    rates = []
    for i in range(len(plus)):
        hH, hW = torch.autograd.grad(logp[i, plus[i]], (Ht, Wt), retain_graph=True)
        rates.append(-(hH * gH).sum() - (hW * gW).sum())
    return torch.stack(rates).numpy()


def test_decomposition_sums_to_the_true_rate():
    H, W, plus, minus = C.random_dataset(5, seed=1)
    ell = C.initial_ell_prime(H, W, plus, minus)
    total = C.cross_terms(H, W, plus, minus, ell).sum(1)
    np.testing.assert_allclose(total, _autograd_rates(H, W, plus, minus), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(total, C.finite_difference_rates(H, W, plus, minus), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(C.sample_rates(H, W, plus, minus, ell), C.cross_terms(H, W, plus, minus, ell),
                               atol=1e-15)


def test_one_sample_is_thm4():
    h, W, plus, minus = D.random_instances(1, seed=4)
    ell = D.initial_ell_prime(h, W, plus, minus)
    own = C.cross_terms(h, W[0], plus, minus, ell)
    assert own.shape == (1, 1)
    assert own[0, 0] == pytest.approx(D.rate_preferred(h, W, plus, minus, ell)[0], rel=1e-12)


def test_a_contradicting_sample_pushes_down_and_a_same_preferred_one_up():
    H = np.array([[1.0, 0.3, 0.0], [0.9, 0.0, 0.2], [0.8, -0.1, 0.1]])          # positive inner products
    W = np.random.default_rng(0).normal(size=(5, 3))
    plus, minus = np.array([0, 1, 0]), np.array([1, 0, 2])      # sample 1 contradicts 0; sample 2 shares y+ with 0
    terms = C.cross_terms(H, W, plus, minus, C.initial_ell_prime(H, W, plus, minus))
    assert terms[0, 1] < 0 < terms[0, 2]
    pi = np.exp(C.log_probs(H, W))
    assert C.case_of(plus, minus, pi[0], 0, 1) == "contradicting"
    assert C.case_of(plus, minus, pi[0], 0, 2) == "same preferred"
    assert C.case_of(plus, minus, pi[1], 1, 2) in C.CASES[2:]                # sample 2 is about 0 and 2, y+_1 = 1


def test_measured_signs_follow_the_cases_and_thm9_detects_a_wrong_push():
    H, W, plus, minus = C.random_dataset(8, seed=7)
    ell = C.initial_ell_prime(H, W, plus, minus)
    grouped = C.measured_cross_by_case(H, W, plus, minus, ell)
    assert sum(len(v) for v in grouped.values()) == 8 * 7
    for case, values in grouped.items():
        assert np.all(np.sign(values) == C.PREDICTED_SIGN[case]), case
    assert C.thm9_deviation(H, W, plus, minus, ell) < 1e-12
    rates = C.sample_token_rates(H, W, plus, minus, ell)                   # [j, i, z]
    j, i = 0, 1
    others = [z for z in range(W.shape[0]) if z not in (plus[j], minus[j])]
    assert np.ptp(rates[j, i, others]) < 1e-15                            # every other token: one common shift
    push = -ell[j] / 8 * (H[i] @ H[j])
    assert rates[j, i, plus[j]] - rates[j, i, others[0]] == pytest.approx(push, rel=1e-10)
    assert rates[j, i, minus[j]] - rates[j, i, others[0]] == pytest.approx(-push, rel=1e-10)
    assert abs(push) > 1e-4
