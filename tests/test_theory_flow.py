"""Exact gradient flow and gradient ascent (rmlab.theory.flow)."""

import numpy as np
import pytest

from rmlab.theory import flow


def two_output_time(p0, gamma):
    """Closed form for N = 2, r = (0, 1), lam = 0, |S| = 1: dp/dt = 2 p^2 (1-p)^2, so
    2t = G(p) - G(p0) with G(p) = -1/p + 1/(1-p) + 2 ln(p/(1-p))."""
    G = lambda p: -1 / p + 1 / (1 - p) + 2 * np.log(p / (1 - p))  # noqa: E731
    return (G(p0 + gamma) - G(p0)) / 2


def random_problem(seed, batch=6, S=1, N=10):
    rng = np.random.default_rng(seed)
    theta0 = rng.normal(0, 1.5, (batch, S, N))
    r_gold = rng.uniform(-1, 1, (batch, S, N))
    r_rm = r_gold + rng.normal(0, 0.3, r_gold.shape)
    return theta0, r_rm, r_gold


@pytest.mark.parametrize("method", ["DOP853", "LSODA", "RK45"])
def test_two_output_closed_form(method):
    p0 = np.array([0.05, 0.2, 0.5])
    theta0 = np.stack([np.zeros(3), np.log(p0 / (1 - p0))], -1)[:, None, :]     # [3, 1, 2]
    r = np.array([0.0, 1.0])
    res = flow.tabular_time_to_gain(theta0, r, r, gamma=0.3, method=method)
    rel = 1e-9 if method == "DOP853" else 1e-6
    np.testing.assert_allclose(res.t_gamma[:, 0], two_output_time(p0, 0.3), rtol=rel)


def test_t_gamma_converges_as_tolerance_tightens():
    theta0, r_rm, r_gold = random_problem(0)
    ts = [flow.tabular_time_to_gain(theta0, r_rm, r_gold, 0.1, rtol=rtol, atol=rtol * 1e-2, t_max=1e4).t_gamma
          for rtol in (1e-4, 1e-6, 1e-8, 1e-10)]
    assert np.all(np.isfinite(ts[-1]))
    errors = [np.max(np.abs(t - ts[-1]) / ts[-1]) for t in ts[:-1]]
    assert errors[-1] <= 1e-7
    assert errors[0] > errors[-1]
    lsoda = flow.tabular_time_to_gain(theta0, r_rm, r_gold, 0.1, method="LSODA", rtol=1e-10, t_max=1e4).t_gamma
    np.testing.assert_allclose(lsoda, ts[-1], rtol=1e-6)


def test_batched_equals_one_by_one_and_prompts_rescale_time():
    theta0, r_rm, r_gold = random_problem(1, batch=4, S=3)
    batched = flow.tabular_time_to_gain(theta0, r_rm, r_gold, 0.1, t_max=1e5)
    for b in range(4):
        for s in range(3):
            single = flow.tabular_time_to_gain(theta0[b, s][None], r_rm[b, s], r_gold[b, s], 0.1, t_max=1e5)
            # alone, the prompt has |S| = 1 instead of 3: the flow is exactly 3 times faster
            assert batched.t_gamma[b, s] == pytest.approx(3 * single.t_gamma[0], rel=1e-8)
    assert batched.t_gamma.shape == (4, 3) and batched.theta_final.shape == theta0.shape


def test_reward_scaling_is_a_time_rescaling_at_lam_zero():
    theta0, r_rm, r_gold = random_problem(2)
    t1 = flow.tabular_time_to_gain(theta0, r_rm, r_gold, 0.1, t_max=1e6).t_gamma
    t2 = flow.tabular_time_to_gain(theta0, 0.01 * r_rm, r_gold, 0.1, t_max=1e6).t_gamma
    np.testing.assert_allclose(t2, 100 * t1, rtol=1e-7)


@pytest.mark.parametrize("lam", [0.0, 0.05])
def test_gradient_ascent_approaches_the_flow(lam):
    theta0, r_rm, r_gold = random_problem(3, batch=3)
    exact = flow.tabular_time_to_gain(theta0, r_rm, r_gold, 0.1, lam=lam, t_max=1e4).t_gamma
    errs = []
    for step in (0.1, 0.01):
        ga = flow.tabular_gradient_ascent(theta0, r_rm, r_gold, 0.1, step=step, n_steps=10**6, lam=lam)
        errs.append(np.max(np.abs(ga.t_gamma - exact)))
    assert errs[1] < errs[0] and errs[1] <= 0.02 * np.max(exact) + 0.01
    rk4 = flow.tabular_gradient_ascent(theta0, r_rm, r_gold, 0.1, step=0.01, n_steps=10**6, lam=lam, method="rk4")
    assert np.max(np.abs(rk4.t_gamma - exact)) <= 0.0100001        # only the grid rounding of the crossing step


def test_fixed_step_rk4_trajectory_matches_dense_solution():
    theta0, r_rm, r_gold = random_problem(4, batch=2)
    rk4 = flow.tabular_gradient_ascent(theta0, r_rm, r_gold, 0.2, step=0.01, n_steps=200, method="rk4",
                                       stop_when_reached=False)
    dense = flow.tabular_time_to_gain(theta0, r_rm, r_gold, 0.2, t_max=2.0, record_times=rk4.times)
    assert dense.values.shape == rk4.values.shape
    assert np.max(np.abs(dense.values - rk4.values)) <= 1e-9


def test_unreached_target_gives_inf_and_recorded_values_rise():
    theta0 = np.array([[0.0, 0.0, 0.0]])
    r = np.array([-1.0, 0.0, 1.0])
    res = flow.tabular_time_to_gain(theta0, r, r, gamma=0.9, t_max=5.0, record_times=np.linspace(0, 5, 11))
    assert not res.reached[0] and np.isinf(res.t_gamma[0]) and res.t_final == 5.0
    assert np.all(np.diff(res.values[:, 0]) > 0)                  # training on r_gold itself: value increases


def test_generic_entry_with_scalar_value():
    grad_fn = lambda x: -x + 1.0                      # noqa: E731  x(t) = 1 - e^{-t}
    value_fn = lambda x: x[0]                         # noqa: E731
    res = flow.time_to_gain(grad_fn, value_fn, np.zeros(1), gamma=0.5, t_max=10.0)
    assert res.t_gamma[0] == pytest.approx(np.log(2), rel=1e-9)


@pytest.mark.parametrize("kwargs,match", [
    (dict(gamma=1.0), "not reachable"),               # V0 = 0, max r_gold = 1: gamma must be < 1
    (dict(gamma=0.0), "gamma must be finite and > 0"),
    (dict(gamma=0.1, t_max=-1.0), "t_max"),
    (dict(gamma=0.1, method="euler"), "method"),
    (dict(gamma=np.array([0.1, 0.2])), "gamma"),
])
def test_invalid_flow_inputs(kwargs, match):
    theta0 = np.zeros((1, 3))
    r = np.array([-1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=match):
        flow.tabular_time_to_gain(theta0, r, r, **kwargs)


def test_invalid_fixed_step_inputs():
    theta0, r = np.zeros((1, 3)), np.array([-1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="step"):
        flow.tabular_gradient_ascent(theta0, r, r, 0.1, step=0.0, n_steps=10)
    with pytest.raises(ValueError, match="n_steps"):
        flow.tabular_gradient_ascent(theta0, r, r, 0.1, step=0.1, n_steps=0)
    with pytest.raises(ValueError, match="r_gold contains NaN"):
        flow.tabular_gradient_ascent(theta0, r, np.array([0.0, np.nan, 1.0]), 0.1, step=0.1, n_steps=10)


def test_recording_continues_after_every_target_is_reached():
    theta0 = np.zeros((2, 1, 3))
    r = np.array([-1.0, 0.0, 1.0])
    res = flow.tabular_time_to_gain(theta0, r, r, gamma=0.1, t_max=50.0, record_times=[0.0, 1.0, 20.0])
    assert np.all(res.t_gamma < 1.0) and res.t_final >= 20.0
    assert res.times.tolist() == [0.0, 1.0, 20.0] and res.values.shape == (3, 2, 1)
