"""Vanishing gradients in reinforcement finetuning (Razin et al., arXiv 2310.20703), exactly, on toy policies.

Three experiments:

* **Gradient bound (Thm 1 of 2310.20703 = Prop. 2 of 2503.15477 at ``lam = 0``).** :func:`bound_instances` draws
  exact autoregressive instances of three kinds -- random, adversarial ("flat on likely outputs, +-1 on unlikely
  ones": far from optimal yet almost no gradient) and near-constant rewards -- and :func:`gradient_bound_ratios`
  measures ``||grad E_pi[r]||`` against ``6 L J STD^{2/3}``.
* **Minibatch reading of Thm 1.** :func:`low_std_gradient_share`: inputs whose reward std is small contribute a
  negligible share of a batch gradient, although their expected reward is far from optimal.
* **RFT vs SFT time separation (Sec. 4.3 / App. D.4, reconstructed).** A tabular softmax over ``K`` labels (a linear
  model on orthonormal inputs), reward ``1[y = y*]``, ``p0(y*) = p0`` and the other labels uniform. Gradient flow on
  the expected reward (RFT) needs time ``~ 1/STD^2`` to bring ``p(y*)`` to 1/2, gradient flow on ``ln p(y*)`` (SFT)
  only ``~ 2 ln(1/STD)`` (:func:`rft_sft_times`). By symmetry both flows reduce to one ODE for ``p = p(y*)``,

      RFT: dp/dt = c K/(K-1) p^2 (1-p)^2 (reward gap c: 1, or 2 for the +-1 reward),   SFT: dp/dt = K/(K-1) p (1-p)^2,

  which :func:`closed_form_times` integrates in closed form; the numerical flows (the generic solver of
  :mod:`rmlab.theory.flow` on the full K-dimensional logits) are checked against it.

Deviation from the paper: the paper's RFT/SFT statement was not available in full (see the shared notes); this is
the reconstructed tabular setting. The flows are exact gradient flows, not PPO or Adam.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from rmlab.theory import autoregressive as ar
from rmlab.theory import flow, tabular

REWARDS = ("indicator", "plus_minus")  # 1[y = y*] in {0, 1}, or 2 * 1[y = y*] - 1 in {-1, +1}


# ------------------------------------------------------------------------------------------------------ gradient bound
@dataclass
class BoundInstances:
    """A batch of exact autoregressive instances for the gradient bound; arrays are indexed by instance ``[B]``."""

    space: ar.SequenceSpace
    kind: np.ndarray     # [B] str: "random", "adversarial" or "near_constant"
    logits: np.ndarray   # [B, P, V] per-prefix logits
    r: np.ndarray        # [B, N] rewards in [-1, 1]


@dataclass
class BoundConfig:
    """How :func:`bound_instances` draws instances (the checklist row "Thm 1" of the 2310.20703 notes)."""

    n_random: int = 400
    n_adversarial: int = 300
    n_near_constant: int = 300
    logit_scale: tuple[float, float] = (0.1, 4.0)        # log-uniform std of random / near-constant logits
    adversarial_scale: tuple[float, float] = (5.0, 9.0)  # peaked policies, so "unlikely" outputs exist
    unlikely_mass: float = 1e-4   # adversarial: outputs outside the top set covering 1 - this mass are "unlikely"
    flat_level: tuple[float, float] = (-0.5, 0.3)         # adversarial: the reward on likely outputs
    noise_std: tuple[float, float] = (1e-4, 5e-2)         # near-constant: log-uniform std of r around a level


def bound_instances(space: ar.SequenceSpace, config: BoundConfig = BoundConfig(), seed: int = 0) -> BoundInstances:
    """Draw the random, adversarial and near-constant instances of :class:`BoundConfig` (reproducible by ``seed``).

    * random: logits ``s * N(0, 1)`` with ``s`` log-uniform in ``logit_scale``; ``r ~ U(-1, 1)``.
    * adversarial: peaked logits; ``r = level`` on the likely outputs (top set covering ``1 - unlikely_mass``),
      ``+-1`` at random on the others, with at least one ``+1``: ``max r - E r ~ 1 - level`` yet the gradient is tiny.
    * near-constant: ``r = clip(level + sigma N(0, 1), -1, 1)`` with ``sigma`` log-uniform in ``noise_std``.
    """
    rng = np.random.default_rng(seed)
    shape = (space.num_prefixes, space.vocab_size)

    def logits(n, scale_range):
        s = np.exp(rng.uniform(*np.log(scale_range), size=(n, 1, 1)))
        return s * rng.standard_normal((n, *shape))

    n_out = space.num_outputs
    lg_rand = logits(config.n_random, config.logit_scale)
    r_rand = rng.uniform(-1, 1, size=(config.n_random, n_out))

    lg_adv = logits(config.n_adversarial, config.adversarial_scale)
    r_adv = _flat_on_likely(ar.sequence_probs(space, lg_adv), config, rng)

    lg_flat = logits(config.n_near_constant, config.logit_scale)
    sigma = np.exp(rng.uniform(*np.log(config.noise_std), size=(config.n_near_constant, 1)))
    level = rng.uniform(-0.9, 0.9, size=(config.n_near_constant, 1))
    r_flat = np.clip(level + sigma * rng.standard_normal((config.n_near_constant, n_out)), -1, 1)

    kind = np.array(["random"] * config.n_random + ["adversarial"] * config.n_adversarial
                    + ["near_constant"] * config.n_near_constant)
    return BoundInstances(space, kind, np.concatenate([lg_rand, lg_adv, lg_flat]),
                          np.concatenate([r_rand, r_adv, r_flat]))


def _flat_on_likely(probs: np.ndarray, config: BoundConfig, rng) -> np.ndarray:
    """Rewards ``[B, N]``: a constant level on the top outputs covering ``1 - unlikely_mass``, +-1 on the rest."""
    order = np.argsort(-probs, axis=-1)
    mass_before = np.cumsum(np.take_along_axis(probs, order, -1), -1) - np.take_along_axis(probs, order, -1)
    unlikely_sorted = mass_before >= 1.0 - config.unlikely_mass                # [B, N] in sorted order
    unlikely = np.zeros_like(unlikely_sorted)
    np.put_along_axis(unlikely, order, unlikely_sorted, -1)
    if not unlikely.any(-1).all():
        raise ValueError("an adversarial policy has no unlikely outputs; raise adversarial_scale or unlikely_mass")
    level = rng.uniform(*config.flat_level, size=(len(probs), 1))
    signs = rng.choice([-1.0, 1.0], size=probs.shape)
    least_likely = np.argmin(probs, -1)
    signs[np.arange(len(probs)), least_likely] = 1.0                           # at least one +1 among the unlikely
    return np.where(unlikely, signs, level)


@dataclass
class BoundRatios:
    """Per-instance gradient norms against Thm 1 / Prop. 2 (arrays ``[B]``)."""

    grad_norm: np.ndarray    # ||grad_theta E_pi[r]||_2
    std: np.ndarray          # STD_pi[r] (population)
    value: np.ndarray        # E_pi[r]
    max_gap: np.ndarray      # max_y r(y) - E_pi[r]: how far from optimal
    jacobian: np.ndarray     # J_x used in the bound (1 for per-prefix logits)
    bound: np.ndarray        # 6 L J STD^{2/3}
    ratio: np.ndarray        # grad_norm / bound (0 where both are 0)


def gradient_bound_ratios(space: ar.SequenceSpace, logits, r) -> BoundRatios:
    """Exact ``||grad E_pi[r]||`` of per-prefix logits ``[B, P, V]`` against ``6 L J STD^{2/3}`` with ``J = 1``."""
    grad = ar.logit_gradient(space, logits, r)
    norm = np.sqrt(np.sum(grad ** 2, axis=(-2, -1)))
    return _ratios(space, ar.sequence_probs(space, logits), r, norm, np.ones_like(norm))


def kl_gradient_bound_ratios(space: ar.SequenceSpace, logits, r, lam: float, logits_ref) -> BoundRatios:
    """Prop. 2 of arXiv 2503.15477 with the KL term: the exact ``||grad phi||`` of per-prefix logits ``[B, P, V]``
    for ``phi = E_pi[r] - lam KL(pi || pi_ref)`` (``logits_ref`` of the same shape: pi_ref != pi), against
    ``6 M^{1/3} L Var_pi[r_KL]^{1/3}`` with ``J = 1`` and ``M = max(1, max_y |r_KL(y)|)`` per instance. ``std`` and
    ``value`` are those of ``r_KL``."""
    grad = ar.logit_gradient(space, logits, r, lam, logits_ref)
    norm = np.sqrt(np.sum(grad ** 2, axis=(-2, -1)))
    r_kl = ar.kl_regularized_reward(space, logits, r, lam, logits_ref)                   # [B, N]
    m = np.maximum(1.0, np.abs(r_kl).max(-1))
    return _ratios(space, ar.sequence_probs(space, logits), r_kl, norm, np.ones_like(norm), m=m)


def mlp_gradient_bound_ratios(model: ar.TinyMLP, params, r) -> BoundRatios:
    """Same for tiny-MLP logits (one prompt): ``params [B, D]``, ``r [B, N]``; ``J`` is computed per instance."""
    if model.num_prompts != 1:
        raise ValueError("mlp_gradient_bound_ratios takes a one-prompt TinyMLP (the bound is per prompt)")
    r = np.asarray(r, dtype=np.float64)[:, None, :]                              # [B, 1, N]
    norm = np.linalg.norm(ar.mlp_gradient(model, params, r), axis=-1)
    probs = ar.sequence_probs(model.space, model.logits(params).detach().numpy())[:, 0]   # [B, N]
    return _ratios(model.space, probs, r[:, 0], norm, ar.mlp_jacobian_norms(model, params))


def _ratios(space, probs, r, norm, jac, m=1.0) -> BoundRatios:
    value = tabular.expected_reward(probs, r)
    std = np.sqrt(tabular.reward_variance(probs, r))
    bound = ar.prop2_gradient_bound(space.length, jac, std ** 2, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, norm / bound, np.where(norm > 0, np.inf, 0.0))
    return BoundRatios(norm, std, value, np.max(np.broadcast_to(r, probs.shape), -1) - value, jac, bound, ratio)


# ------------------------------------------------------------------------------------------------------------ RFT vs SF
@dataclass
class SeparationResult:
    """Times for ``p(y*)`` to go from ``p0`` to ``target`` under RFT and SFT gradient flow (arrays ``[M]``)."""

    p0: np.ndarray
    std: np.ndarray              # initial reward std under pi_0
    t_rft: np.ndarray            # numerical flow
    t_sft: np.ndarray
    t_rft_closed: np.ndarray     # closed form (:func:`closed_form_times`)
    t_sft_closed: np.ndarray
    num_labels: int
    reward: str
    target: float


def initial_logits(p0, num_labels: int) -> np.ndarray:
    """``[M, K]`` logits with ``softmax = (p0, (1-p0)/(K-1), ...)``: label 0 is ``y*``."""
    p0 = _check_p0(p0)
    if num_labels < 2:
        raise ValueError(f"num_labels must be >= 2; got {num_labels}")
    theta = np.zeros((len(p0), num_labels))
    theta[:, 0] = np.log(p0) - np.log((1 - p0) / (num_labels - 1))
    return theta


def label_reward(num_labels: int, reward: str = "indicator") -> np.ndarray:
    """``[K]`` reward of each label: ``1[y = y*]`` or ``+-1``."""
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}; got {reward!r}")
    r = np.zeros(num_labels)
    r[0] = 1.0
    return r if reward == "indicator" else 2 * r - 1


def rft_sft_times(p0, num_labels: int = 10, reward: str = "indicator", target: float = 0.5, *,
                  t_max: float = 1e9, rtol: float = 1e-10, atol: float = 1e-12,
                  method: str = "DOP853") -> SeparationResult:
    """Numerical RFT and SFT gradient-flow times for every ``p0`` (one stacked ODE each), plus the closed forms.

    RFT follows ``grad_theta E_pi[r]`` (Lemma 7); SFT follows ``grad_theta ln pi(y*) = e_{y*} - pi``. Both stop when
    ``pi(y*) >= target``; ``p0`` must be below ``target`` (with the other labels uniform) for the time to be defined.
    """
    p0 = _check_p0(p0)
    if not 0 < target < 1 or np.any(p0 >= target):
        raise ValueError(f"need 0 < p0 < target < 1; got target={target}, max p0={p0.max()}")
    theta0 = initial_logits(p0, num_labels)                                      # [M, K]
    p_star, rft_grad, sft_grad = _race(theta0.shape, label_reward(num_labels, reward))
    gain = target - p0
    kw = dict(rtol=rtol, atol=atol, method=method, max_value=np.ones_like(p0))
    t_rft = flow.time_to_gain(rft_grad, p_star, theta0.ravel(), gain, t_max, **kw).t_gamma
    t_sft = flow.time_to_gain(sft_grad, p_star, theta0.ravel(), gain, t_max, **kw).t_gamma
    closed_rft, closed_sft = closed_form_times(p0, num_labels, reward, target)
    std = np.sqrt(tabular.reward_variance(softmax(theta0, axis=-1), label_reward(num_labels, reward)))
    return SeparationResult(p0, std, t_rft, t_sft, closed_rft, closed_sft, num_labels, reward, target)


def _race(shape, r):
    """Flat ``(p(y*), RFT gradient, SFT gradient)`` functions for logits of ``shape = [M, K]`` (label 0 is y*)."""

    def p_star(flat):  # [M*K] -> [M]
        return softmax(flat.reshape(shape), axis=-1)[:, 0]

    def rft_grad(flat):  # grad E_pi[r] (Lemma 7)
        return tabular.policy_gradient(flat.reshape(shape)[:, None, :], r)[:, 0].ravel()

    def sft_grad(flat):  # grad ln pi(y*) = e_{y*} - pi
        g = -softmax(flat.reshape(shape), axis=-1)
        g[:, 0] += 1.0
        return g.ravel()

    return p_star, rft_grad, sft_grad


def closed_form_times(p0, num_labels: int = 10, reward: str = "indicator", target: float = 0.5):
    """``(t_RFT, t_SFT)`` from integrating the reduced ODEs of the module docstring exactly.

    ``t_RFT = (K-1)/(K c) [F(target) - F(p0)]`` with ``F(p) = -1/p + 2 ln(p/(1-p)) + 1/(1-p)`` and ``c`` the reward
    gap (1 or 2); ``t_SFT = (K-1)/K [G(target) - G(p0)]`` with ``G(p) = ln(p/(1-p)) + 1/(1-p)``.
    """
    p0 = _check_p0(p0)
    k, c = num_labels, (1.0 if reward == "indicator" else 2.0)
    label_reward(k, reward)  # validates ``reward``

    def f(p):
        return -1 / p + 2 * np.log(p / (1 - p)) + 1 / (1 - p)

    def g(p):
        return np.log(p / (1 - p)) + 1 / (1 - p)

    scale = (k - 1) / k
    return scale * (f(target) - f(p0)) / c, scale * (g(target) - g(p0))


def _check_p0(p0) -> np.ndarray:
    p0 = np.atleast_1d(np.asarray(p0, dtype=np.float64))
    if p0.ndim != 1 or not np.all(np.isfinite(p0)) or np.any((p0 <= 0) | (p0 >= 1)):
        raise ValueError(f"p0 must be a 1-d array of probabilities in (0, 1); got {p0}")
    return p0


# ------------------------------------------------------------------------------------------------ minibatch reading
@dataclass
class BatchShare:
    """Thm 1 read on a batch of inputs; arrays are indexed by input ``[n]``."""

    std: np.ndarray          # reward std of each input under the policy
    value: np.ndarray        # E_pi[r] of each input
    grad_norm: np.ndarray    # norm of each input's block of the batch gradient (includes the 1/n of the mean)
    low: np.ndarray          # bool: the inputs built with p(y*) = p_low
    share: float             # ||gradient blocks of the low inputs|| / ||batch gradient||


def low_std_gradient_share(n_inputs: int = 100, frac_low: float = 0.1, num_labels: int = 10, p_low: float = 1e-4,
                           logit_std: float = 1.0, reward: str = "indicator", seed: int = 0) -> BatchShare:
    """How much of a batch gradient comes from the inputs whose reward std is small (the minibatch reading of Thm 1).

    ``n_inputs`` inputs, each with its own tabular softmax over ``num_labels`` labels (a linear model on orthonormal
    inputs), reward ``1[y = y*]`` (or +-1); the objective is the mean over inputs of ``E_pi[r]``. A fraction
    ``frac_low`` of the inputs starts with ``p(y*) = p_low`` (the other labels uniform), far from optimal and with
    reward std ``~ sqrt(p_low)``; the others have logits drawn from ``N(0, logit_std^2)``. Each input's gradient lives
    in its own block of parameters (Lemma 7), so ``share = ||g_low|| / ||g||`` is exact.

    >>> res = low_std_gradient_share(seed=0)
    >>> bool(res.share < 0.01), int(res.low.sum())
    (True, 10)
    """
    if not 0 < frac_low < 1 or not 0 < p_low < 1:
        raise ValueError(f"frac_low and p_low must lie in (0, 1); got {frac_low}, {p_low}")
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, logit_std, size=(n_inputs, num_labels))             # [n, K]; label 0 is y*
    low = np.zeros(n_inputs, dtype=bool)
    low[rng.choice(n_inputs, size=max(1, round(frac_low * n_inputs)), replace=False)] = True
    theta[low] = initial_logits(np.full(low.sum(), p_low), num_labels)
    r = label_reward(num_labels, reward)
    probs = tabular.probabilities(theta)                                         # [n, K]
    grad = tabular.policy_gradient(theta, r)                                     # [n, K], the 1/n of the mean included
    grad_norm = np.linalg.norm(grad, axis=-1)
    return BatchShare(std=np.sqrt(tabular.reward_variance(probs, r)), value=tabular.expected_reward(probs, r),
                      grad_norm=grad_norm, low=low,
                      share=float(np.linalg.norm(grad_norm[low]) / np.linalg.norm(grad_norm)))


# ------------------------------------------------------------------------------------------------------------------ fit
@dataclass
class LineFit:
    """Least-squares line ``y = slope * x + intercept`` and its coefficient of determination."""

    slope: float
    intercept: float
    r2: float


def fit_line(x, y) -> LineFit:
    """Ordinary least squares of ``y`` on ``x`` (1-d, >= 2 finite points)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"fit_line needs two 1-d finite arrays of equal length >= 2; got {x.shape}, {y.shape}")
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(residual ** 2) / total if total > 0 else 1.0
    return LineFit(float(slope), float(intercept), float(r2))


def fit_separation(res: SeparationResult) -> tuple[LineFit, LineFit]:
    """``(log t_RFT vs log STD, t_SFT vs ln(1/STD))``: the two fits of the checklist."""
    return fit_line(np.log(res.std), np.log(res.t_rft)), fit_line(np.log(1 / res.std), res.t_sft)


def trajectories(p0: float, num_labels: int = 10, reward: str = "indicator", t_end: float = 100.0,
                 n_steps: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times [T], p_rft [T], p_sft [T])``: ``p(y*)`` along RFT and SFT gradient flow from ``p0`` (fixed-step RK4
    with ``t_end / n_steps`` steps, for plotting; :func:`rft_sft_times` gives the exact crossing times)."""
    theta0 = initial_logits([p0], num_labels)
    p_star, rft_grad, sft_grad = _race(theta0.shape, label_reward(num_labels, reward))
    step = t_end / n_steps
    kw = dict(method="rk4", stop_when_reached=False)   # whole trajectories; the gain argument is then irrelevant
    rft = flow.fixed_step_flow(rft_grad, p_star, theta0.ravel(), 1e-12, step, n_steps, **kw)
    sft = flow.fixed_step_flow(sft_grad, p_star, theta0.ravel(), 1e-12, step, n_steps, **kw)
    return rft.times, rft.values[:, 0], sft.values[:, 0]
