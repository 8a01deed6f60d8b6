"""Tabular softmax core (rmlab.theory.tabular) and pairwise accuracy (rmlab.theory.accuracy)."""

import itertools

import numpy as np
import pytest
import torch

from rmlab.theory import tabular as tb
from rmlab.theory.accuracy import pairwise_accuracy


def random_instance(rng, batch, S, N, scale=2.0):
    theta = rng.normal(0, scale, (batch, S, N))
    theta_ref = theta + rng.normal(0, 0.5, theta.shape)       # pi_ref != pi_theta, so the KL term matters
    r = rng.uniform(-1, 1, (batch, S, N))
    return theta, theta_ref, r


def torch_objective(theta, r, lam, theta_ref):
    """Eq. 1 written directly with torch ops (the reference for autograd)."""
    logp = torch.log_softmax(theta, -1)
    logp_ref = torch.log_softmax(theta_ref, -1)
    p = logp.exp()
    per_prompt = (p * r).sum(-1) - lam * (p * (logp - logp_ref)).sum(-1)
    return per_prompt.mean(-1)


@pytest.mark.parametrize("N,lam,S", itertools.product([5, 50], [0.0, 0.1], [1, 4]))
def test_gradient_matches_autograd(N, lam, S):
    rng = np.random.default_rng(N * 100 + S + int(lam * 10))
    theta, theta_ref, r = random_instance(rng, 8, S, N)
    t = torch.tensor(theta, requires_grad=True)
    obj = torch_objective(t, torch.tensor(r), lam, torch.tensor(theta_ref))
    (auto,) = torch.autograd.grad(obj.sum(), t)
    exact = tb.policy_gradient(theta, r, lam, theta_ref)
    assert np.max(np.abs(exact - auto.numpy())) <= 1e-10
    np.testing.assert_allclose(tb.objective(theta, r, lam, theta_ref), obj.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_gradient_matches_finite_differences(lam):
    rng = np.random.default_rng(1)
    theta, theta_ref, r = random_instance(rng, 1, 3, 6)
    grad = tb.policy_gradient(theta, r, lam, theta_ref)
    h, fd = 1e-6, np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = h
        fd[idx] = (tb.objective(theta + e, r, lam, theta_ref) - tb.objective(theta - e, r, lam, theta_ref))[0] / (2 * h)
    assert np.max(np.abs(grad - fd)) <= 1e-8


@pytest.mark.parametrize("N,lam,S", itertools.product([5, 50], [0.0, 0.1], [1, 4]))
def test_probability_velocity_is_lemma9(N, lam, S):
    """Lemma 9 = d/dt softmax(theta(t)) along the flow: a Jacobian-vector product computed by torch."""
    rng = np.random.default_rng(7 + N + S)
    theta, theta_ref, r = random_instance(rng, 4, S, N)
    grad = torch.tensor(tb.policy_gradient(theta, r, lam, theta_ref))
    _, jvp = torch.func.jvp(lambda t: torch.softmax(t, -1), (torch.tensor(theta),), (grad,))
    assert np.max(np.abs(tb.probability_velocity(theta, r, lam, theta_ref) - jvp.numpy())) <= 1e-10
    # and Lemma 9's closed form written out
    p, q = tb.probabilities(theta), tb.probabilities(theta_ref)
    adv = (r - (p * r).sum(-1, keepdims=True)) - lam * (np.log(p / q) - tb.kl(p, q)[..., None])
    lemma9 = (p ** 2 * adv - p * (p ** 2 * adv).sum(-1, keepdims=True)) / S
    assert np.max(np.abs(tb.probability_velocity(theta, r, lam, theta_ref) - lemma9)) <= 1e-12


def test_variance_identity_and_pairwise_form():
    rng = np.random.default_rng(2)
    theta = rng.normal(0, 2, (50, 3, 17))
    r = rng.uniform(-1, 1, theta.shape)
    p = tb.probabilities(theta)
    var = tb.reward_variance(p, r)
    half_pair = 0.5 * np.einsum("...i,...j,...ij->...", p, p, (r[..., :, None] - r[..., None, :]) ** 2)
    assert np.max(np.abs(var - half_pair)) <= 1e-12
    assert np.max(np.abs(var - (tb.expected_reward(p, r ** 2) - tb.expected_reward(p, r) ** 2))) <= 1e-12
    assert np.max(np.abs(tb.reward_variance(p, 3 * r) - 9 * var)) <= 1e-12


def test_lemma8_l1_gradient_at_most_std():
    """Lemma 8: per-prompt ||grad||_1 <= sqrt(Var[r_KL]) on 2,000 instances, N in [2, 50], logit scale 0.1-5."""
    rng = np.random.default_rng(3)
    ratios = []
    for _ in range(2000):
        N, scale, lam = rng.integers(2, 51), rng.uniform(0.1, 5), rng.choice([0.0, 0.1, 1.0])
        theta = rng.normal(0, scale, (1, N))
        theta_ref = theta + rng.normal(0, 0.3, theta.shape)
        r = rng.uniform(-1, 1, N)
        p, q = tb.probabilities(theta), tb.probabilities(theta_ref)
        std = np.sqrt(tb.reward_variance(p, tb.kl_regularized_reward(p, r, lam, q)))[0]
        ratios.append(np.abs(tb.policy_gradient(theta, r, lam, theta_ref)).sum() / std)
    assert max(ratios) <= 1 + 1e-12
    assert max(ratios) > 0.99          # and tight: two-point-like instances come close to equality


def test_kl_properties():
    rng = np.random.default_rng(4)
    p = tb.probabilities(rng.normal(size=(10, 6)))
    q = tb.probabilities(rng.normal(size=(10, 6)))
    assert np.all(tb.kl(p, q) > 0) and np.max(np.abs(tb.kl(p, p))) <= 1e-15
    torch_kl = (torch.tensor(p) * (torch.tensor(p).log() - torch.tensor(q).log())).sum(-1)
    np.testing.assert_allclose(tb.kl(p, q), torch_kl.numpy(), atol=1e-14)
    assert tb.kl(np.array([0.0, 1.0]), np.array([0.5, 0.5])) == pytest.approx(np.log(2))


@pytest.mark.parametrize("call,match", [
    (lambda: tb.expected_reward(np.array([0.5, 0.6]), np.zeros(2)), "sum to 1"),
    (lambda: tb.reward_variance(np.array([1.2, -0.2]), np.zeros(2)), "non-negative"),
    (lambda: tb.expected_reward(np.array([0.5, 0.5]), np.zeros(3)), "does not broadcast with probs"),
    (lambda: tb.policy_gradient(np.zeros((2, 3, 4)), np.zeros((5, 3, 4))), "does not broadcast"),
    (lambda: tb.policy_gradient(np.zeros((1, 1)), np.zeros(1)), "N >= 2"),
    (lambda: tb.probabilities(np.zeros(1)), "N >= 2"),
    (lambda: tb.policy_gradient(np.zeros((1, 3)), np.array([0.0, np.nan, 1.0])), "NaN"),
    (lambda: tb.policy_gradient(np.zeros(3), np.zeros(3)), r"\[..., S, N\]"),
    (lambda: tb.policy_gradient(np.zeros((1, 3)), np.zeros(3), lam=-1.0), "lam"),
    (lambda: tb.policy_gradient(np.zeros((1, 3)), np.zeros(3), theta_ref=np.zeros((2, 2))), "theta_ref"),
    (lambda: tb.kl(np.array([0.5, 0.5]), np.array([1 / 3, 1 / 3, 1 / 3])), "different numbers of outputs"),
])
def test_invalid_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------------------------------------ accuracy
def brute_force_accuracy(rm, gold, w=None):
    num = den = 0.0
    for i, j in itertools.combinations(range(len(rm)), 2):
        weight = 1.0 if w is None else w[i] * w[j]
        num += weight * (np.sign(rm[i] - rm[j]) == np.sign(gold[i] - gold[j]))
        den += weight
    return num / den


def test_accuracy_matches_brute_force_with_ties_and_weights():
    rng = np.random.default_rng(5)
    rm = rng.integers(0, 3, (20, 7)).astype(float)      # many ties on both sides
    gold = rng.integers(0, 3, (20, 7)).astype(float)
    w = rng.dirichlet(np.ones(7), size=20)
    np.testing.assert_allclose(pairwise_accuracy(rm, gold), [brute_force_accuracy(a, b) for a, b in zip(rm, gold)],
                               atol=1e-14)
    np.testing.assert_allclose(pairwise_accuracy(rm, gold, w),
                               [brute_force_accuracy(a, b, c) for a, b, c in zip(rm, gold, w)], atol=1e-14)
    assert pairwise_accuracy(rm, gold).shape == (20,)


def test_accuracy_tie_rule_and_monotone_transform():
    gold = np.array([0.0, 0.0, 1.0])
    assert pairwise_accuracy(np.array([5.0, 5.0, 7.0]), gold) == 1.0          # both tie => correct
    assert pairwise_accuracy(np.array([5.0, 6.0, 7.0]), gold) == pytest.approx(2 / 3)  # RM breaks a GT tie => wrong
    rng = np.random.default_rng(6)
    g = rng.uniform(-1, 1, (10, 30))
    assert np.all(pairwise_accuracy(np.tanh(3 * g) + 2, g) == 1.0)
    assert np.all(pairwise_accuracy(-g, g) == 0.0)


@pytest.mark.parametrize("call,match", [
    (lambda: pairwise_accuracy(np.zeros(3), np.zeros(4)), "same shape"),
    (lambda: pairwise_accuracy(np.zeros(1), np.zeros(1)), "N >= 2"),
    (lambda: pairwise_accuracy(np.array([0.0, np.nan]), np.zeros(2)), "r_rm contains NaN"),
    (lambda: pairwise_accuracy(np.zeros(3), np.zeros(3), weights=np.array([1.0, 0.0, 0.0])), "no mass"),
    (lambda: pairwise_accuracy(np.zeros(3), np.zeros(3), weights=np.array([1.0, -1.0, 1.0])), "non-negative"),
])
def test_accuracy_invalid_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
