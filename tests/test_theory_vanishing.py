"""Vanishing gradients: the bound experiment and the RFT vs SFT separation."""

import numpy as np
import pytest

from rmlab.theory import autoregressive as ar
from rmlab.theory import vanishing

P0 = [1e-1, 1e-2, 1e-3]


@pytest.mark.parametrize("reward", ["indicator", "plus_minus"])
def test_flow_times_match_closed_form(reward):
    res = vanishing.rft_sft_times(P0, reward=reward)
    np.testing.assert_allclose(res.t_rft, res.t_rft_closed, rtol=1e-7)
    np.testing.assert_allclose(res.t_sft, res.t_sft_closed, rtol=1e-7)
    assert np.all(res.t_sft < res.t_rft)


def test_reference_numbers_of_the_notes():
    """Shared notes, 2310.20703 §2: t_RFT = 12.0, 97.4, 911.5 and t_SFT = 2.78, 5.03, 7.12 for p0 = 1e-1..1e-3."""
    res = vanishing.rft_sft_times(P0)
    np.testing.assert_allclose(res.t_rft, [12.0, 97.4, 911.5], rtol=5e-3)
    np.testing.assert_allclose(res.t_sft, [2.78, 5.03, 7.12], rtol=5e-3)


def test_flow_times_converge_as_tolerance_tightens():
    times = [vanishing.rft_sft_times(P0, rtol=rtol, atol=1e-14) for rtol in (1e-4, 1e-7, 1e-10)]
    for name in ("t_rft", "t_sft"):
        errors = [np.max(np.abs(getattr(t, name) / getattr(t, name + "_closed") - 1)) for t in times]
        assert errors[2] <= errors[0] and errors[2] < 1e-8


def test_separation_fits():
    res = vanishing.rft_sft_times([1e-1, 1e-2, 1e-3, 1e-4, 1e-5])
    rft, sft = vanishing.fit_separation(res)
    assert -2.1 <= rft.slope <= -1.9
    assert sft.r2 > 0.99


def test_fit_line_is_exact_on_a_line():
    fit = vanishing.fit_line([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
    assert (fit.slope, fit.intercept, fit.r2) == pytest.approx((2.0, 1.0, 1.0))
    with pytest.raises(ValueError):
        vanishing.fit_line([0.0], [1.0])


def test_bound_instances_and_ratios():
    space = ar.SequenceSpace(3, 3)
    cfg = vanishing.BoundConfig(n_random=100, n_adversarial=100, n_near_constant=100)
    inst = vanishing.bound_instances(space, cfg, seed=1)
    again = vanishing.bound_instances(space, cfg, seed=1)
    np.testing.assert_array_equal(inst.r, again.r)                              # same seed, same instances
    assert np.all(np.abs(inst.r) <= 1)
    b = vanishing.gradient_bound_ratios(space, inst.logits, inst.r)
    assert 0 < b.ratio.max() <= 1.0
    adv = inst.kind == "adversarial"
    assert b.grad_norm[adv].max() < 1e-2 and b.max_gap[adv].min() > 0.5


def test_kl_ratios_use_the_kl_reward_and_its_range():
    space = ar.SequenceSpace(2, 3)
    inst = vanishing.bound_instances(space, vanishing.BoundConfig(20, 10, 10), seed=4)
    ref = inst.logits + 3.0 * np.random.default_rng(5).standard_normal(inst.logits.shape)
    plain = vanishing.gradient_bound_ratios(space, inst.logits, inst.r)
    np.testing.assert_allclose(vanishing.kl_gradient_bound_ratios(space, inst.logits, inst.r, 0.0, ref).ratio,
                               plain.ratio)                                     # lambda = 0: Thm 1 of 2310.20703
    b = vanishing.kl_gradient_bound_ratios(space, inst.logits, inst.r, 1.0, ref)
    r_kl = ar.kl_regularized_reward(space, inst.logits, inst.r, 1.0, ref)
    probs = ar.sequence_probs(space, inst.logits)
    np.testing.assert_allclose(b.value, np.sum(probs * r_kl, -1))
    m = np.maximum(1.0, np.abs(r_kl).max(-1))
    assert m.max() > 1.0                                                        # the KL term widens the range
    np.testing.assert_allclose(b.bound, 6.0 * m ** (1 / 3) * space.length * b.std ** (2 / 3))
    grad = ar.logit_gradient(space, inst.logits, inst.r, 1.0, ref)
    np.testing.assert_allclose(b.grad_norm, np.linalg.norm(grad.reshape(len(grad), -1), axis=-1))
    assert 0 < b.ratio.max() <= 1.0


def test_mlp_ratios_use_computed_jacobian():
    space = ar.SequenceSpace(2, 3)
    model = ar.TinyMLP(space, hidden=4)
    params = model.init(6, seed=2)
    r = np.random.default_rng(3).uniform(-1, 1, size=(6, space.num_outputs))
    b = vanishing.mlp_gradient_bound_ratios(model, params, r)
    np.testing.assert_allclose(b.jacobian, ar.mlp_jacobian_norms(model, params))
    assert np.all(b.jacobian >= 1.0) and 0 < b.ratio.max() <= 1.0


def test_invalid_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="p0"):
        vanishing.rft_sft_times([0.0, 0.1])
    with pytest.raises(ValueError, match="p0"):
        vanishing.rft_sft_times([np.nan])
    with pytest.raises(ValueError, match="target"):
        vanishing.rft_sft_times([0.6])
    with pytest.raises(ValueError, match="reward"):
        vanishing.rft_sft_times([0.1], reward="binary")
    with pytest.raises(ValueError, match="num_labels"):
        vanishing.initial_logits([0.1], 1)


def test_low_std_share_matches_autograd_and_is_negligible():
    import torch
    from rmlab.theory.vanishing import low_std_gradient_share
    res = low_std_gradient_share(n_inputs=50, frac_low=0.2, p_low=1e-4, seed=3)
    rng = np.random.default_rng(3)
    theta = torch.tensor(rng.normal(0.0, 1.0, size=(50, 10)), requires_grad=True)
    with torch.no_grad():   # same construction: low inputs reset to p(y*) = 1e-4, the other labels uniform
        low = torch.as_tensor(res.low)
        theta[low] = 0.0
        theta[low, 0] = float(np.log(1e-4) - np.log((1 - 1e-4) / 9))
    r = torch.zeros(10, dtype=torch.float64)
    r[0] = 1.0
    (torch.softmax(theta, -1) @ r).mean().backward()
    block = theta.grad.norm(dim=-1).numpy()
    assert np.allclose(block, res.grad_norm, rtol=1e-10, atol=1e-15)
    assert res.share == pytest.approx(np.linalg.norm(block[res.low]) / np.linalg.norm(block), rel=1e-10)
    assert res.share < 0.01 and np.all(res.value[res.low] < 1e-3)


def test_low_std_share_grows_with_p_low_and_rejects_bad_fractions():
    from rmlab.theory.vanishing import low_std_gradient_share
    shares = [low_std_gradient_share(p_low=p, seed=0).share for p in (1e-6, 1e-4, 1e-2)]
    assert shares[0] < shares[1] < shares[2]
    with pytest.raises(ValueError, match="frac_low"):
        low_std_gradient_share(frac_low=0.0)
