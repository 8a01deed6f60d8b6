"""Exact autoregressive toy: probabilities, gradients (vs autograd and finite differences), J, bounds, flow."""

import numpy as np
import pytest
import torch

from rmlab.theory import autoregressive as ar
from rmlab.theory import tabular

SPACES = [(2, 1), (2, 3), (3, 3), (4, 2)]


def _autograd_log_probs(space, logits):
    """ln pi(y) by indexing log_softmax along every sequence (independent of the module's reshape trick)."""
    rows = {prefix: i for i, prefix in enumerate(space.prefixes())}
    seqs = space.sequences()
    row = np.array([[rows[tuple(s[:t])] for t in range(space.length)] for s in seqs])   # [N, L]
    logq = torch.log_softmax(logits, -1)
    return sum(logq[..., row[:, t], seqs[:, t]] for t in range(space.length))             # [..., N]


def _autograd_objective(space, logits, r, lam, logits_ref):
    logp = _autograd_log_probs(space, logits)
    logp_ref = _autograd_log_probs(space, logits_ref)
    return (logp.exp() * (r - lam * (logp - logp_ref))).sum(-1)


def _random_problem(space, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, space.num_prefixes, space.vocab_size)
    return (2 * rng.standard_normal(shape), rng.standard_normal(shape),
            rng.uniform(-1, 1, size=(batch, space.num_outputs)))


@pytest.mark.parametrize("v,length", SPACES)
def test_sequence_probs_match_product_of_conditionals(v, length):
    space = ar.SequenceSpace(v, length)
    logits, _, _ = _random_problem(space)
    p = ar.sequence_probs(space, logits)
    expected = _autograd_log_probs(space, torch.tensor(logits)).exp().numpy()
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-13)


@pytest.mark.parametrize("v,length", SPACES)
@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_logit_gradient_matches_autograd(v, length, lam):
    space = ar.SequenceSpace(v, length)
    logits, ref, r = _random_problem(space, seed=v + length)
    g = ar.logit_gradient(space, logits, r, lam, ref)
    t = torch.tensor(logits, requires_grad=True)
    obj = _autograd_objective(space, t, torch.tensor(r), lam, torch.tensor(ref))
    (g_auto,) = torch.autograd.grad(obj.sum(), t)
    assert np.max(np.abs(g - g_auto.numpy())) <= 1e-10
    np.testing.assert_allclose(ar.objective(space, logits, r, lam, ref), obj.detach().numpy(), atol=1e-12)


def test_logit_gradient_matches_finite_differences():
    space = ar.SequenceSpace(3, 2)
    logits, ref, r = _random_problem(space, batch=1, seed=3)
    lam, eps = 0.3, 1e-6
    g = ar.logit_gradient(space, logits, r, lam, ref)[0]
    fd = np.zeros_like(g)
    for idx in np.ndindex(g.shape):
        e = np.zeros_like(logits)
        e[(0, *idx)] = eps
        fd[idx] = (ar.objective(space, logits + e, r, lam, ref)[0]
                   - ar.objective(space, logits - e, r, lam, ref)[0]) / (2 * eps)
    assert np.max(np.abs(g - fd)) < 1e-8


def test_reference_equal_to_policy_removes_kl_gradient():
    space = ar.SequenceSpace(3, 2)
    logits, _, r = _random_problem(space)
    np.testing.assert_allclose(ar.logit_gradient(space, logits, r, 0.7, logits), ar.logit_gradient(space, logits, r),
                               atol=1e-15)


def test_per_prefix_jacobian_norm_is_one():
    space = ar.SequenceSpace(3, 3)
    params = torch.randn(space.num_prefixes * 3, dtype=torch.float64)
    assert ar.jacobian_norm(lambda p: p.reshape(space.num_prefixes, 3), params) == pytest.approx(1.0, abs=1e-12)


def test_mlp_jacobian_norm_matches_direct_computation():
    space = ar.SequenceSpace(2, 3)
    model = ar.TinyMLP(space, hidden=5, num_prompts=2)
    params = model.init(2, seed=4)
    got = ar.mlp_jacobian_norms(model, params)
    for b in range(2):
        jac = torch.autograd.functional.jacobian(model.logits, torch.tensor(params[b])).numpy()   # [S, P, V, D]
        direct = max(np.linalg.svd(jac[s, p], compute_uv=False)[0]
                     for s in range(jac.shape[0]) for p in range(jac.shape[1]))
        assert got[b] == pytest.approx(direct, rel=1e-12)
    np.testing.assert_allclose(model.jacobian_norms(params), got, rtol=1e-12)   # closed form = jacrev
    assert np.all(got >= 1.0)   # the output bias alone contributes an identity block


@pytest.mark.parametrize("lam", [0.0, 0.2])
def test_mlp_gradient_matches_autograd(lam):
    space = ar.SequenceSpace(3, 2)
    model = ar.TinyMLP(space, hidden=6, num_prompts=3)
    params = model.init(2, seed=5)
    params_ref = 0.9 * params
    r = np.random.default_rng(6).uniform(-1, 1, size=(2, 3, space.num_outputs))
    g = ar.mlp_gradient(model, params, r, lam, params_ref)
    t = torch.tensor(params, requires_grad=True)
    obj = _autograd_objective(space, model.logits(t), torch.tensor(r), lam, model.logits(torch.tensor(params_ref)))
    (g_auto,) = torch.autograd.grad(obj.mean(-1).sum(), t)
    assert np.max(np.abs(g - g_auto.numpy())) <= 1e-10


def test_prop2_bound_holds_on_random_instances_with_kl():
    """Prop. 2 with lam in {0, 0.1, 1}, pi_ref != pi, M = max(max |r_KL|, 1), per-prefix logits (J = 1)."""
    space = ar.SequenceSpace(3, 3)
    rng = np.random.default_rng(7)
    worst = 0.0
    for lam in (0.0, 0.1, 1.0):
        scale = np.exp(rng.uniform(np.log(0.1), np.log(4.0), size=(300, 1, 1)))
        logits = scale * rng.standard_normal((300, space.num_prefixes, 3))
        ref = logits + 0.5 * rng.standard_normal(logits.shape)
        r = rng.uniform(-1, 1, size=(300, space.num_outputs))
        g = ar.logit_gradient(space, logits, r, lam, ref)
        r_kl = ar.kl_regularized_reward(space, logits, r, lam, ref)
        var_kl = tabular.reward_variance(ar.sequence_probs(space, logits), r_kl)
        m = np.maximum(np.abs(r_kl).max(-1), 1.0)
        bound = np.array([ar.prop2_gradient_bound(space.length, 1.0, v, mm) for v, mm in zip(var_kl, m)])
        worst = max(worst, np.max(np.linalg.norm(g.reshape(300, -1), axis=-1) / bound))
    assert 0 < worst <= 1.0


def test_thm4_bound_and_time_rescaling_in_flow():
    space = ar.SequenceSpace(2, 3)
    rng = np.random.default_rng(8)
    logits0 = rng.standard_normal((3, space.num_prefixes, 2))
    r_gold = rng.uniform(-1, 1, size=(3, space.num_outputs))
    var = tabular.reward_variance(ar.sequence_probs(space, logits0), r_gold)
    t1 = ar.time_to_gain(space, logits0, r_gold, r_gold, 0.1, t_max=1e4).t_gamma
    t2 = ar.time_to_gain(space, logits0, 0.01 * r_gold, r_gold, 0.1, t_max=1e6).t_gamma
    assert np.all(np.isfinite(t1))
    np.testing.assert_allclose(t2, 100 * t1, rtol=1e-7)                      # c r: exact time rescaling t -> t / c
    assert np.all(t1 >= ar.thm4_time_lower_bound(0.1, 0.0, space.length, 1.0, var))


def test_mlp_flow_respects_thm4_with_trajectory_jacobian():
    space = ar.SequenceSpace(2, 3)
    model = ar.TinyMLP(space, hidden=4, num_prompts=2)
    rng = np.random.default_rng(10)
    params0 = 0.5 * rng.standard_normal((3, model.num_params))
    r_gold = rng.uniform(-1, 1, size=(3, 2, space.num_outputs))
    res, jac = ar.mlp_time_to_gain(model, params0, r_gold, r_gold, 0.1, t_max=1e4)
    res_c, _ = ar.mlp_time_to_gain(model, params0, 0.1 * r_gold, r_gold, 0.1, t_max=1e5)
    np.testing.assert_allclose(res_c.t_gamma, 10 * res.t_gamma, rtol=1e-7)   # shared parameters: still a rescaling
    assert np.all(jac >= model.jacobian_norms(params0) - 1e-12)
    probs0 = ar.sequence_probs(space, model.logits(params0).detach().numpy())
    mean_var = tabular.reward_variance(probs0, r_gold).mean(-1)
    assert np.all(res.t_gamma >= ar.thm4_time_lower_bound(0.1, 0.0, space.length, jac, mean_var))


def test_flow_time_converges_as_tolerance_tightens():
    space = ar.SequenceSpace(3, 2)
    rng = np.random.default_rng(9)
    logits0 = rng.standard_normal((2, space.num_prefixes, 3))
    r = rng.uniform(-1, 1, size=(2, space.num_outputs))
    times = [ar.time_to_gain(space, logits0, r, r, 0.2, lam=0.05, rtol=rtol, atol=1e-14).t_gamma
             for rtol in (1e-4, 1e-7, 1e-10, 1e-12)]
    errors = [np.max(np.abs(t - times[-1])) for t in times[:-1]]
    assert errors[-1] <= errors[0] and errors[-1] < 1e-7


def test_invalid_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="exceeds"):
        ar.SequenceSpace(3, 6)                                                # 729 > 256 outputs
    with pytest.raises(ValueError, match="length"):
        ar.SequenceSpace(3, 0)
    with pytest.raises(ValueError, match="vocab_size"):
        ar.SequenceSpace(1, 3)
    space = ar.SequenceSpace(2, 2)
    logits = np.zeros((space.num_prefixes, 2))
    with pytest.raises(ValueError, match="NaN"):
        ar.logit_gradient(space, logits, np.array([0.0, np.nan, 0.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        ar.sequence_probs(space, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        ar.sequence_probs(space, np.full((space.num_prefixes, 2), np.nan))
    with pytest.raises(ValueError, match="lam"):
        ar.logit_gradient(space, logits, np.zeros(4), lam=-1.0)
    with pytest.raises(ValueError, match="outputs"):
        ar.logit_gradient(space, logits, np.zeros(3))
    with pytest.raises(ValueError, match="not reachable"):
        ar.time_to_gain(space, logits, np.array([0.0, 0.1, 0.2, 0.3]), np.array([0.0, 0.1, 0.2, 0.3]), gamma=1.0)
