"""Tabular softmax policies (Eq. 3 of Razin et al., arXiv 2503.15477), batched over independent instances.

Shapes used throughout (numpy, float64):

* logits ``theta``: ``[..., S, N]`` -- leading axes index independent instances, ``S`` prompts, ``N`` outputs;
  ``pi(y|x) = softmax(theta[..., x, :])_y``.
* rewards ``r``: anything that broadcasts to ``[..., S, N]`` (e.g. one reward vector ``[N]`` shared by every prompt
  and instance); the last axis must be the ``N`` outputs.
* probabilities ``probs``: ``[..., N]`` rows that sum to one.

The objective is Eq. 1, ``phi_RLHF(theta) = mean_x { E_pi[r(x, .)] - lam * KL(pi(.|x) || pi_ref(.|x)) }``, with ``x``
uniform over the ``S`` prompts; the reference policy is the initial one (``theta_ref`` defaults to ``theta``'s
starting value wherever a flow is run, see :mod:`rmlab.theory.flow`).

>>> import numpy as np
>>> theta = np.zeros((1, 3))                       # one prompt, three outputs, uniform policy
>>> r = np.array([-1.0, 0.0, 1.0])
>>> p = probabilities(theta)
>>> float(expected_reward(p, r)[0]), round(float(reward_variance(p, r)[0]), 6)
(0.0, 0.666667)
>>> policy_gradient(theta, r).round(4)             # Lemma 7: pi * (r - E r), here /|S| = 1
array([[-0.3333,  0.    ,  0.3333]])
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, softmax

PROB_ATOL = 1e-9  # tolerance on "probabilities sum to one"


# -------- checks
def check_logits(theta, name: str = "theta", min_ndim: int = 1) -> np.ndarray:
    """``theta`` as a finite float64 array with at least ``min_ndim`` axes and ``N >= 2`` outputs (last axis)."""
    a = np.asarray(theta, dtype=np.float64)
    if a.ndim < min_ndim:
        layout = "[..., S, N] (prompts, outputs)" if min_ndim >= 2 else "[..., N]"
        raise ValueError(f"{name} must have shape {layout}; got shape {a.shape}")
    if a.ndim == 0 or a.shape[-1] < 2:
        raise ValueError(f"{name} needs N >= 2 outputs on its last axis; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite logits")
    return a


def check_probs(probs, name: str = "probs") -> np.ndarray:
    """``probs`` as a float64 array of rows (last axis, ``N >= 2``) that are non-negative and sum to one."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] < 2:
        raise ValueError(f"{name} needs N >= 2 outputs on its last axis; got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    worst = float(np.max(np.abs(p.sum(-1) - 1.0)))
    if worst > PROB_ATOL:
        raise ValueError(f"{name} must sum to 1 over the last axis (outputs); worst row is off by {worst:.3g}")
    return p


def check_rewards(r, shape: tuple[int, ...], name: str = "r") -> np.ndarray:
    """``r`` broadcast to ``shape`` (its last axis must be the N outputs), finite."""
    a = np.asarray(r, dtype=np.float64)
    if a.ndim == 0 or a.shape[-1] != shape[-1]:
        raise ValueError(f"{name} must have the N={shape[-1]} outputs on its last axis; got shape {a.shape}")
    try:
        a = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {a.shape} does not broadcast to the policy shape {shape}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite rewards")
    return a


def check_lam(lam) -> float:
    """``lam`` (the KL coefficient of Eq. 1) as a float, checked finite and non-negative."""
    lam = float(lam)
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam (KL coefficient) must be finite and >= 0; got {lam}")
    return lam


# -------- quantities
def probabilities(theta) -> np.ndarray:
    """Softmax over the last axis: ``pi = softmax(theta)``, same shape as ``theta``."""
    return softmax(check_logits(theta), axis=-1)


def expected_reward(probs, r) -> np.ndarray:
    """``E_{y~pi}[r(y)]`` per row; ``probs`` and ``r`` broadcast together: shape ``broadcast(probs, r).shape[:-1]``."""
    p, r = _probs_and_rewards(probs, r)
    return np.sum(p * r, axis=-1)


def reward_variance(probs, r) -> np.ndarray:
    """Population variance ``Var_{y~pi}[r(y)] = E[(r - E r)^2]`` (Def. 2) per row (``probs``, ``r`` broadcast)."""
    return _variance(*_probs_and_rewards(probs, r))


def kl(probs, probs_ref) -> np.ndarray:
    """``KL(pi || pi_ref) = sum_y pi(y) ln(pi(y)/pi_ref(y))`` per row (``0 ln 0 = 0``; ``inf`` off the support)."""
    p, q = check_probs(probs), check_probs(probs_ref, "probs_ref")
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"probs and probs_ref have different numbers of outputs: {p.shape} vs {q.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(-1)


def kl_regularized_reward(probs, r, lam, probs_ref) -> np.ndarray:
    """``r_KL(y) = r(y) - lam * ln(pi(y)/pi_ref(y))`` (App. D.1), shape ``probs.shape``."""
    p, q = check_probs(probs), check_probs(probs_ref, "probs_ref")
    r, lam = check_rewards(r, p.shape), check_lam(lam)
    if lam == 0.0:
        return np.array(r)
    with np.errstate(divide="ignore"):
        return r - lam * (np.log(p) - np.log(np.broadcast_to(q, p.shape)))


def objective(theta, r, lam: float = 0.0, theta_ref=None) -> np.ndarray:
    """``phi_RLHF`` of Eq. 1, the mean over the S prompts (axis -2): shape ``theta.shape[:-2]``."""
    theta, r, lam, logp_ref = _policy_inputs(theta, r, lam, theta_ref)
    logp = log_softmax(theta, axis=-1)
    p = np.exp(logp)
    per_prompt = np.sum(p * r, -1) - lam * np.sum(p * (logp - logp_ref), -1)
    return per_prompt.mean(-1)


def policy_gradient(theta, r, lam: float = 0.0, theta_ref=None) -> np.ndarray:
    """Exact ``grad_theta phi_RLHF`` (Lemma 7), shape ``theta.shape``.

    Each prompt's block is ``(1/S) * pi ⊙ (r_KL - E_pi[r_KL])``: Lemma 7 states the per-prompt gradient, and the
    ``1/|S|`` comes from averaging Eq. 1 over the S prompts. ``theta_ref=None`` means ``pi_ref = pi_theta`` (the
    start of a flow), where the KL term has zero gradient.
    """
    theta, r, lam, logp_ref = _policy_inputs(theta, r, lam, theta_ref)
    return _gradient(theta, r, lam, logp_ref)


def probability_velocity(theta, r, lam: float = 0.0, theta_ref=None) -> np.ndarray:
    """``d pi(y|x)/dt`` under gradient flow (Lemma 9), shape ``theta.shape``.

    Computed as the softmax chain rule ``pi ⊙ (g - <pi, g>)`` with ``g`` the Lemma 7 gradient, which expands to
    Lemma 9's ``(1/|S|)[pi^2 (r_KL - V_KL) - pi <pi^2, r_KL - V_KL>]``.
    """
    theta, r, lam, logp_ref = _policy_inputs(theta, r, lam, theta_ref)
    p = softmax(theta, axis=-1)
    g = _gradient(theta, r, lam, logp_ref)
    return p * (g - np.sum(p * g, -1, keepdims=True))


# -------- internals
def _policy_inputs(theta, r, lam, theta_ref):
    """Validate (theta [..., S, N], r, lam, theta_ref) and return the reference log-probabilities."""
    theta = check_logits(theta, min_ndim=2)
    r = check_rewards(r, theta.shape)
    lam = check_lam(lam)
    if theta_ref is None:
        logp_ref = log_softmax(theta, axis=-1)
    else:
        ref = check_logits(theta_ref, "theta_ref")
        try:
            ref = np.broadcast_to(ref, theta.shape)
        except ValueError:
            raise ValueError(f"theta_ref of shape {ref.shape} does not broadcast to theta's shape "
                             f"{theta.shape}") from None
        logp_ref = log_softmax(ref, axis=-1)
    return theta, r, lam, logp_ref


def _probs_and_rewards(probs, r):
    p = check_probs(probs)
    r_arr = np.asarray(r, dtype=np.float64)
    try:
        shape = np.broadcast_shapes(p.shape, r_arr.shape)
    except ValueError:
        raise ValueError(f"r of shape {r_arr.shape} does not broadcast with probs of shape {p.shape}") from None
    return np.broadcast_to(p, shape), check_rewards(r_arr, shape)


def _variance(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    mean = np.sum(p * r, -1, keepdims=True)
    return np.sum(p * (r - mean) ** 2, -1)


def _gradient(theta: np.ndarray, r: np.ndarray, lam: float, logp_ref: np.ndarray) -> np.ndarray:
    """Lemma 7 on validated inputs; ``theta, r, logp_ref``: [..., S, N] -> [..., S, N]."""
    logp = log_softmax(theta, axis=-1)
    p = np.exp(logp)
    r_kl = r - lam * (logp - logp_ref) if lam else r
    advantage = r_kl - np.sum(p * r_kl, -1, keepdims=True)
    return p * advantage / theta.shape[-2]
