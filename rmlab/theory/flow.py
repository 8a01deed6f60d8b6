"""Exact gradient flow (Eq. 4 of arXiv 2503.15477) and plain gradient ascent, with the time ``t_gamma`` to gain gamma.

``t_gamma`` is the first time at which the *evaluation* value (e.g. ``E_pi[r_gold]``) has risen by ``gamma`` above
its start, while the parameters follow the gradient of the *training* objective (e.g. ``phi_RLHF`` with ``r_rm``).
Both entry points are generic: they take a gradient function and a value function on a flat parameter vector, so
one call integrates many independent instances stacked into one vector (and the autoregressive toys reuse them):

* :func:`time_to_gain` -- adaptive ODE solver (scipy ``DOP853`` by default, ``rtol=1e-10``) stepped by hand; after
  each step, every instance whose value crossed its target is located by root finding on the solver's dense output.
* :func:`fixed_step_flow` -- fixed step size, ``"euler"`` (= gradient ascent with learning rate ``step``) or
  ``"rk4"``; ``t_gamma`` is ``k * step`` for the first step ``k`` whose value reaches the target (no interpolation).

A target that is never reached before ``t_max`` (or ``n_steps``) gives ``t_gamma = inf``. A target that can never be
reached (``gamma >= max_value - value0``) is an error. Deviation from the paper: a crossing that is entered and left
within one solver step is missed; the solver's steps are short compared with the flow's time scales at rtol 1e-10.

The tabular wrappers :func:`tabular_time_to_gain` and :func:`tabular_gradient_ascent` train on ``r_rm`` and measure
on ``r_gold`` for every (instance, prompt) at once; in the tabular model prompts only interact through the ``1/|S|``
factor, so ``t_gamma`` is reported per prompt.

>>> import numpy as np
>>> theta0 = np.zeros((1, 4))                         # one prompt, uniform over four outputs
>>> r = np.array([-1.0, -0.5, 0.5, 1.0])
>>> res = tabular_time_to_gain(theta0, r_rm=r, r_gold=r, gamma=0.5, t_max=100.0)
>>> res.t_gamma.shape, bool(res.reached.all())
((1,), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.integrate import DOP853, LSODA, RK45, Radau
from scipy.optimize import brentq
from scipy.special import log_softmax, softmax

from rmlab.theory.tabular import check_lam, _gradient, check_logits, check_rewards

SOLVERS = {"DOP853": DOP853, "RK45": RK45, "LSODA": LSODA, "Radau": Radau}
FIXED_STEP_METHODS = ("euler", "rk4")


@dataclass
class FlowResult:
    """Outcome of a flow; per-instance arrays have the instance shape (``[B]`` generic, ``[..., S]`` tabular)."""

    t_gamma: np.ndarray       # first time the value gained >= gamma; inf if not reached by t_final
    reached: np.ndarray       # bool, t_gamma < inf
    value0: np.ndarray        # value at t = 0
    target: np.ndarray        # value0 + gamma
    value_final: np.ndarray   # value at t_final
    theta_final: np.ndarray   # parameters at t_final (flat for the generic entry, theta-shaped for tabular)
    t_final: float            # where integration stopped: all targets reached, or t_max
    times: np.ndarray         # [K] recorded times (those of record_times that were passed, or every fixed step)
    values: np.ndarray        # [K, *instance shape] value at each recorded time
    n_grad_evals: int         # number of gradient evaluations
    method: str


# -------- generic API
def time_to_gain(grad_fn: Callable[[np.ndarray], np.ndarray], value_fn: Callable[[np.ndarray], np.ndarray],
                 theta0, gamma, t_max: float, *, rtol: float = 1e-10, atol: float = 1e-12, method: str = "DOP853",
                 max_value=None, record_times=None) -> FlowResult:
    """Integrate ``d theta/dt = grad_fn(theta)`` from ``theta0`` until every instance's value gained ``gamma``.

    Args:
        grad_fn: flat parameters ``[P]`` -> gradient ``[P]`` of the training objective.
        value_fn: flat parameters ``[P]`` -> evaluation values ``[B]`` (one per instance; a scalar means B = 1).
        theta0: initial parameters (any shape; flattened).
        gamma: gain to reach, scalar or ``[B]``, > 0.
        t_max: stop here if some target is still unreached (their ``t_gamma`` is ``inf``).
        rtol, atol: solver tolerances; method: one of ``SOLVERS``.
        max_value: optional ``[B]`` upper bound of each value (e.g. ``max_y r_gold``); ``gamma >= max_value - value0``
            then raises ``ValueError`` (the target is unreachable).
        record_times: optional increasing times in ``[0, t_max]`` at which to record the values (dense output);
            integration then goes on at least to the last of them.
    """
    if method not in SOLVERS:
        raise ValueError(f"method must be one of {sorted(SOLVERS)}; got {method!r}")
    theta0, value0, target = _start(value_fn, theta0, gamma, max_value)
    t_max = _positive("t_max", t_max)
    record = np.asarray([] if record_times is None else record_times, dtype=np.float64)
    if record.size and (np.any(np.diff(record) < 0) or record[0] < 0 or record[-1] > t_max):
        raise ValueError("record_times must be increasing and lie in [0, t_max]")

    n_evals = 0

    def rhs(t, y):
        nonlocal n_evals
        n_evals += 1
        return grad_fn(y)

    solver = SOLVERS[method](rhs, 0.0, theta0, t_max, rtol=rtol, atol=atol)
    t_gamma = np.where(value0 >= target, 0.0, np.inf)
    rec_times, rec_values = [], []
    if record.size and record[0] == 0.0:
        rec_times.append(0.0), rec_values.append(value0)
    prev_value = value0
    last_record = record[-1] if record.size else 0.0
    while (np.isinf(t_gamma).any() or solver.t < last_record) and solver.status == "running":
        t_old = solver.t
        message = solver.step()
        if solver.status == "failed":
            raise RuntimeError(f"ODE solver {method} failed at t={solver.t:.6g}: {message}")
        value = _values(value_fn, solver.y, target.shape)
        dense = None
        crossed = np.flatnonzero(np.isinf(t_gamma) & (prev_value < target) & (value >= target))
        if crossed.size or record.size:
            dense = solver.dense_output()
        for b in crossed:
            gap = lambda t, b=b: _values(value_fn, dense(t), target.shape)[b] - target[b]  # noqa: E731
            t_gamma[b] = brentq(gap, t_old, solver.t, xtol=1e-14, rtol=4 * np.finfo(float).eps)
        for t in record[(record > t_old) & (record <= solver.t)]:
            rec_times.append(float(t)), rec_values.append(_values(value_fn, dense(t), target.shape))
        prev_value = value
    return FlowResult(t_gamma=t_gamma, reached=np.isfinite(t_gamma), value0=value0, target=target,
                      value_final=prev_value, theta_final=solver.y.copy(), t_final=float(solver.t),
                      times=np.asarray(rec_times), values=_stack(rec_values, target.shape),
                      n_grad_evals=n_evals, method=method)


def fixed_step_flow(grad_fn: Callable[[np.ndarray], np.ndarray], value_fn: Callable[[np.ndarray], np.ndarray],
                    theta0, gamma, step: float, n_steps: int, *, method: str = "euler", max_value=None,
                    stop_when_reached: bool = True) -> FlowResult:
    """Fixed-step integration of ``d theta/dt = grad_fn(theta)``: ``"euler"`` is gradient ascent with learning rate
    ``step``; ``"rk4"`` is the classical Runge-Kutta scheme. Values are recorded after every step (``times`` =
    ``step * [0, 1, ..., K]``); ``t_gamma = k * step`` at the first step ``k`` whose value reaches the target.
    With ``stop_when_reached=False`` all ``n_steps`` are taken (to compare whole trajectories)."""
    if method not in FIXED_STEP_METHODS:
        raise ValueError(f"method must be one of {FIXED_STEP_METHODS}; got {method!r}")
    step = _positive("step", step)
    if int(n_steps) < 1:
        raise ValueError(f"n_steps must be >= 1; got {n_steps}")
    theta, value0, target = _start(value_fn, theta0, gamma, max_value)
    t_gamma = np.where(value0 >= target, 0.0, np.inf)
    values, n_evals, k = [value0], 0, 0
    for k in range(1, int(n_steps) + 1):
        if stop_when_reached and not np.isinf(t_gamma).any():
            k -= 1
            break
        if method == "euler":
            theta = theta + step * grad_fn(theta)
            n_evals += 1
        else:
            k1 = grad_fn(theta)
            k2 = grad_fn(theta + 0.5 * step * k1)
            k3 = grad_fn(theta + 0.5 * step * k2)
            k4 = grad_fn(theta + step * k3)
            theta = theta + step / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            n_evals += 4
        value = _values(value_fn, theta, target.shape)
        t_gamma = np.where(np.isinf(t_gamma) & (value >= target), k * step, t_gamma)
        values.append(value)
    return FlowResult(t_gamma=t_gamma, reached=np.isfinite(t_gamma), value0=value0, target=target,
                      value_final=values[-1], theta_final=theta, t_final=k * step,
                      times=step * np.arange(len(values)), values=np.stack(values), n_grad_evals=n_evals,
                      method=method)


# -------- tabular API
def tabular_time_to_gain(theta0, r_rm, r_gold, gamma, *, lam: float = 0.0, theta_ref=None, t_max: float = 1e5,
                         rtol: float = 1e-10, atol: float = 1e-12, method: str = "DOP853",
                         record_times=None) -> FlowResult:
    """Exact gradient flow of ``phi_RLHF`` (Eq. 1, reward ``r_rm``, KL coefficient ``lam``) for tabular policies.

    ``theta0``: ``[..., S, N]`` initial logits (also the reference policy unless ``theta_ref`` is given);
    ``r_rm``, ``r_gold``: rewards broadcastable to ``theta0``'s shape; ``gamma``: scalar or ``[..., S]``.
    Returns a :class:`FlowResult` whose per-instance arrays have shape ``[..., S]`` (``t_gamma`` of every prompt of
    every instance, measured on ``E_pi[r_gold]``) and whose ``theta_final`` has ``theta0``'s shape.
    """
    grad_fn, value_fn, theta0, max_value = _tabular_problem(theta0, r_rm, r_gold, lam, theta_ref)
    res = time_to_gain(grad_fn, value_fn, theta0.ravel(), _broadcast_gamma(gamma, theta0.shape[:-1]), t_max,
                       rtol=rtol, atol=atol, method=method, max_value=max_value.ravel(), record_times=record_times)
    return _reshape(res, theta0.shape)


def tabular_gradient_ascent(theta0, r_rm, r_gold, gamma, step: float, n_steps: int, *, lam: float = 0.0,
                            theta_ref=None, method: str = "euler", stop_when_reached: bool = True) -> FlowResult:
    """:func:`fixed_step_flow` on the tabular problem of :func:`tabular_time_to_gain` (``"euler"`` = gradient ascent
    with learning rate ``step``; ``t_gamma`` is in the same time units as the flow: steps times ``step``)."""
    grad_fn, value_fn, theta0, max_value = _tabular_problem(theta0, r_rm, r_gold, lam, theta_ref)
    res = fixed_step_flow(grad_fn, value_fn, theta0.ravel(), _broadcast_gamma(gamma, theta0.shape[:-1]), step,
                          n_steps, method=method, max_value=max_value.ravel(), stop_when_reached=stop_when_reached)
    return _reshape(res, theta0.shape)


# -------- helpers
def _tabular_problem(theta0, r_rm, r_gold, lam, theta_ref):
    """Flat gradient / value functions of the tabular problem (validated once, then no checks per call)."""
    theta0 = check_logits(theta0, "theta0", min_ndim=2)
    shape = theta0.shape
    r_rm = check_rewards(r_rm, shape, "r_rm")
    r_gold = check_rewards(r_gold, shape, "r_gold")
    lam = check_lam(lam)
    ref = theta0 if theta_ref is None else np.broadcast_to(check_logits(theta_ref, "theta_ref"), shape)
    logp_ref = log_softmax(ref, axis=-1)

    def grad_fn(flat):  # [P] -> [P]
        return _gradient(flat.reshape(shape), r_rm, lam, logp_ref).ravel()

    def value_fn(flat):  # [P] -> [B*S]
        return np.sum(softmax(flat.reshape(shape), axis=-1) * r_gold, -1).ravel()

    return grad_fn, value_fn, theta0, r_gold.max(-1)


def _broadcast_gamma(gamma, shape):
    g = np.asarray(gamma, dtype=np.float64)
    try:
        return np.broadcast_to(g, shape).ravel()
    except ValueError:
        raise ValueError(f"gamma of shape {g.shape} does not broadcast to the instance shape {shape}") from None


def _reshape(res: FlowResult, theta_shape) -> FlowResult:
    inst = theta_shape[:-1]
    for name in ("t_gamma", "reached", "value0", "target", "value_final"):
        setattr(res, name, getattr(res, name).reshape(inst))
    res.values = res.values.reshape((len(res.values), *inst))
    res.theta_final = res.theta_final.reshape(theta_shape)
    return res


def _start(value_fn, theta0, gamma, max_value):
    """Flat float64 ``theta0``, its values ``[B]`` and targets ``value0 + gamma``; check that targets are reachable."""
    theta0 = np.array(theta0, dtype=np.float64).ravel()
    if not np.all(np.isfinite(theta0)):
        raise ValueError("theta0 contains NaN or infinite parameters")
    value0 = np.atleast_1d(np.asarray(value_fn(theta0), dtype=np.float64))
    if value0.ndim != 1 or not np.all(np.isfinite(value0)):
        raise ValueError(f"value_fn must return finite values of shape [B]; got shape {value0.shape}")
    gamma = np.asarray(gamma, dtype=np.float64)
    if gamma.ndim > 1 or (gamma.ndim == 1 and gamma.shape != value0.shape):
        raise ValueError(f"gamma must be a scalar or have the values' shape {value0.shape}; got {gamma.shape}")
    if not np.all(np.isfinite(gamma)) or np.any(gamma <= 0):
        raise ValueError("gamma must be finite and > 0")
    gamma = np.broadcast_to(gamma, value0.shape)
    if max_value is not None:
        headroom = np.broadcast_to(np.asarray(max_value, dtype=np.float64), value0.shape) - value0
        bad = np.flatnonzero(gamma >= headroom)
        if bad.size:
            b = bad[0]
            raise ValueError(f"gamma is not reachable for {bad.size} instance(s): e.g. instance {b} starts at "
                             f"{value0[b]:.6g} and its value stays below max_value = {value0[b] + headroom[b]:.6g}, so "
                             f"start + gamma = {value0[b] + gamma[b]:.6g} is never reached")
    return theta0, value0, value0 + gamma


def _values(value_fn, theta, shape):
    return np.asarray(value_fn(theta), dtype=np.float64).reshape(shape)


def _stack(values, shape):
    return np.stack(values) if values else np.zeros((0, *shape))


def _positive(name, x) -> float:
    x = float(x)
    if not np.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be finite and > 0; got {x}")
    return x
