"""Flat landscapes: Fig. 1 of Razin et al. (arXiv 2503.15477) and the time-vs-variance law of its Thm 1/4 and Prop. 3.

**Fig. 1 (the landscape of a two-parameter policy family).**

Outputs ``y = 0..N-1`` sit at positions ``x_y`` on ``[-1, 1]``. The policy family is

    pi_theta(y) = softmax(theta_1 u_y + theta_2 v_y),   u_y = x_y,  v_y = -x_y^2,

so for ``theta_2 > 0`` the policy is a discretised Gaussian with mean ``theta_1 / (2 theta_2)`` and variance
``1 / (2 theta_2)``: ``theta_1`` moves it, ``theta_2`` sharpens it. The objective ``phi(theta) = E_pi[r]`` has the
exact gradient ``(Cov_pi(u, r), Cov_pi(v, r))`` (log-derivative trick), computed by :func:`objective_gradient`.

Rewards (:func:`bump_reward`, :func:`compress_below`) are built so that Fig. 1's two axes appear:

* **accuracy**: moving the bump of an RM away from the ground truth's bump lowers its pairwise accuracy and moves the
  peak of the landscape away from the ground-truth peak;
* **variance**: ``compress_below`` is a strictly increasing map (accuracy stays exactly 1) that shrinks the spread of
  the rewards of poor outputs; the initial policy, which sits on poor outputs, then sees a lower reward variance and
  the landscape around it flattens (smaller ``||grad phi(theta_0)||``) while the peak stays put.

Fig. 1 of the paper is an illustration without data; this module computes such surfaces exactly for a concrete
family (the choice of ``u, v``, rewards and initial policy is ours).

**Thm 1/4 and Prop. 3 (time to gain gamma vs the initial reward variance).** :func:`time_vs_variance` trains exact
autoregressive toys (per-prefix logits, ``J = 1``; Thm 4 bound) and tabular policies (Prop. 3 bound) on reward models
of shrinking variance under ``pi_0`` -- ``c * r_G`` (global scaling) and r_G compressed on the outputs likely under
``pi_0`` (still perfectly accurate) -- and records ``t_gamma`` on r_G for every run.

>>> fam = TwoParamFamily.on_line(5)
>>> fam.probs(np.array([0.0, 0.0]))                     # theta = 0: uniform
array([0.2, 0.2, 0.2, 0.2, 0.2])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from rmlab.theory import accuracy, flow, tabular
from rmlab.theory import autoregressive as ar
from rmlab.theory.constructions import prop3_lower_bound


@dataclass(frozen=True)
class TwoParamFamily:
    """Logits ``theta_1 u_y + theta_2 v_y`` over N outputs (features ``u, v: [N]``)."""

    u: np.ndarray
    v: np.ndarray

    def __post_init__(self):
        u, v = np.asarray(self.u, dtype=np.float64), np.asarray(self.v, dtype=np.float64)
        if u.ndim != 1 or u.shape != v.shape or len(u) < 2:
            raise ValueError(f"u and v must be 1-d feature vectors of the same length N >= 2; got {u.shape}, {v.shape}")
        if not (np.all(np.isfinite(u)) and np.all(np.isfinite(v))):
            raise ValueError("u and v must be finite")

    @classmethod
    def on_line(cls, num_outputs: int = 41) -> "TwoParamFamily":
        """Outputs at ``x = linspace(-1, 1, N)`` with ``u = x``, ``v = -x^2`` (Gaussian-shaped policies)."""
        x = np.linspace(-1.0, 1.0, num_outputs)
        return cls(x, -x ** 2)

    @property
    def positions(self) -> np.ndarray:
        return np.asarray(self.u, dtype=np.float64)

    def logits(self, theta) -> np.ndarray:
        """``theta [..., 2] -> [..., N]``."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.ndim == 0 or theta.shape[-1] != 2:
            raise ValueError(f"theta must have shape [..., 2]; got {theta.shape}")
        return theta[..., :1] * np.asarray(self.u) + theta[..., 1:] * np.asarray(self.v)

    def probs(self, theta) -> np.ndarray:
        return softmax(self.logits(theta), axis=-1)


def objective(family: TwoParamFamily, theta, r) -> np.ndarray:
    """``phi(theta) = E_{pi_theta}[r]``: ``theta [..., 2] -> [...]``."""
    return tabular.expected_reward(family.probs(theta), r)


def objective_gradient(family: TwoParamFamily, theta, r) -> np.ndarray:
    """Exact ``grad phi = (Cov_pi(u, r), Cov_pi(v, r))``: ``theta [..., 2] -> [..., 2]``."""
    p = family.probs(theta)                                                      # [..., N]
    r = tabular.check_rewards(r, p.shape)
    advantage = r - np.sum(p * r, -1, keepdims=True)
    features = np.stack([np.broadcast_to(family.u, p.shape), np.broadcast_to(family.v, p.shape)], -1)  # [..., N, 2]
    return np.einsum("...n,...nk->...k", p * advantage, features)


def grid(theta1_range=(-8.0, 8.0), theta2_range=(-2.0, 14.0), size: int = 81) -> np.ndarray:
    """``[size, size, 2]`` grid of parameters (axis 0 = theta_1, axis 1 = theta_2)."""
    t1 = np.linspace(*theta1_range, size)
    t2 = np.linspace(*theta2_range, size)
    return np.stack(np.meshgrid(t1, t2, indexing="ij"), -1)


# ----------------------------------------------------------------------------------------------------------------- rewa
def bump_reward(positions, center: float, width: float) -> np.ndarray:
    """``r(x) = 2 exp(-(x - center)^2 / (2 width^2)) - 1`` in ``(-1, 1]``: best output at ``center``."""
    if width <= 0:
        raise ValueError(f"width must be > 0; got {width}")
    x = np.asarray(positions, dtype=np.float64)
    return 2.0 * np.exp(-((x - center) ** 2) / (2.0 * width ** 2)) - 1.0


def compress_below(r, threshold: float, factor: float) -> np.ndarray:
    """``r`` above ``threshold``, ``threshold + factor (r - threshold)`` below it: strictly increasing for
    ``factor > 0`` (same ranking, accuracy 1), so it shrinks the spread of poor outputs by ``factor``."""
    if not 0 < factor <= 1:
        raise ValueError(f"factor must be in (0, 1]; got {factor}")
    r = np.asarray(r, dtype=np.float64)
    if not np.all(np.isfinite(r)):
        raise ValueError("compress_below needs finite rewards")
    return np.where(r >= threshold, r, threshold + factor * (r - threshold))


# -------------------------------------------------------------------------------------------------------------- panels
@dataclass
class LandscapeConfig:
    """The concrete Fig. 1 setting: family, ground truth, RMs along each axis, initial policy and grid."""

    num_outputs: int = 41
    gold_center: float = 0.52                     # r_G peaks at x = 0.52 (off-grid: no exactly tied pairs)
    width: float = 0.35                           # bump width of r_G and of the shifted RMs
    rm_centers: tuple[float, ...] = (0.2, -0.1, -0.4)   # accuracy axis: RM bumps moved away from the gold peak
    compress_threshold: float = 0.8               # variance axis: rewards of r_G below this are compressed ...
    compress_factors: tuple[float, ...] = (0.3, 0.1, 0.03)  # ... by these factors (compress_below)
    theta_init: tuple[float, float] = (-2.4, 3.0)  # pi_init: mean -0.4, std 0.41 (sits on poor outputs)
    theta1_range: tuple[float, float] = (-12.0, 12.0)  # the sup of phi is at infinity (a point mass), so the grid
    theta2_range: tuple[float, float] = (-2.0, 20.0)   # argmax may sit on its edge; peak_position is what moves
    grid_size: int = 81


@dataclass
class Panel:
    """One reward's landscape."""

    name: str
    axis: str                   # "gold", "accuracy" or "variance"
    reward: np.ndarray          # [N]
    surface: np.ndarray         # [G1, G2] phi on the grid
    accuracy: float             # pairwise accuracy w.r.t. r_G (uniform pairs, Def. 1)
    variance_init: float        # Var_{pi_init}[r]
    grad_norm_init: float       # ||grad phi(theta_init)||
    argmax_theta: np.ndarray    # [2] grid argmax of phi
    peak_position: float        # E_pi[x] at the argmax: where the optimal policy of the grid puts its mass


@dataclass
class Landscape:
    config: LandscapeConfig
    family: TwoParamFamily
    theta_grid: np.ndarray      # [G1, G2, 2]
    theta_init: np.ndarray      # [2]
    gold: np.ndarray            # [N] r_G
    panels: list[Panel]         # gold, then the accuracy axis, then the variance axis


def landscape_panels(config: LandscapeConfig = LandscapeConfig()) -> Landscape:
    """Exact surfaces, accuracies, initial variances and gradient norms for r_G and every RM of ``config``."""
    family = TwoParamFamily.on_line(config.num_outputs)
    thetas = grid(config.theta1_range, config.theta2_range, config.grid_size)
    theta0 = np.asarray(config.theta_init, dtype=np.float64)
    x = family.positions
    gold = bump_reward(x, config.gold_center, config.width)
    rewards = [("r_G", "gold", gold)]
    rewards += [(f"bump at {c:+.1f}", "accuracy", bump_reward(x, c, config.width)) for c in config.rm_centers]
    rewards += [(f"compressed x{k:g}", "variance", compress_below(gold, config.compress_threshold, k))
                for k in config.compress_factors]
    p0 = family.probs(theta0)
    panels = []
    for name, axis, r in rewards:
        surface = objective(family, thetas, r)
        best = np.unravel_index(np.argmax(surface), surface.shape)
        best_theta = thetas[best]
        panels.append(Panel(
            name=name, axis=axis, reward=r, surface=surface,
            accuracy=float(accuracy.pairwise_accuracy(r, gold)),
            variance_init=float(tabular.reward_variance(p0, r)),
            grad_norm_init=float(np.linalg.norm(objective_gradient(family, theta0, r))),
            argmax_theta=best_theta,
            peak_position=float(np.sum(family.probs(best_theta) * x)),
        ))
    return Landscape(config, family, thetas, theta0, gold, panels)


# --------------------------------------------------------------------------------------- Thm 1/4, Prop. 3: time vs vari
@dataclass
class TimeVsVarianceConfig:
    """Sweep of :func:`time_vs_variance` (checklist rows "Thm 1/4" and "Prop. 3" of the 2503.15477 notes)."""

    vocab_size: int = 3                 # autoregressive toy: V
    length: int = 3                     # ... and L (|Y| = V^L)
    num_instances: int = 12             # random (pi_0, r_G) draws per model
    logit_scale: float = 1.0            # pi_0 logits ~ logit_scale * N(0, 1)
    gamma: float = 0.1                  # gain in E[r_G] that defines t_gamma
    lam: float = 0.0                    # KL coefficient (the reference policy is pi_0)
    scales: tuple[float, ...] = (1.0, 1e-1, 1e-2, 1e-3)          # RM = c * r_G
    compress_factors: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03)  # RM = r_G compressed on likely outputs
    likely_mass: float = 0.9            # outputs with the lowest r_G holding this pi_0 mass are "likely" (compressed)
    tabular_outputs: int = 27           # tabular policies: N ...
    tabular_prompts: tuple[int, ...] = (1, 4)  # ... and |S| (prompts only interact through the 1/|S| factor)
    t_max: float = 1e7                  # runs not reached by then get t_gamma = inf (bounds hold trivially)
    mlp_instances: int = 0              # AR toys with tiny-MLP logits shared by several prompts (Thm 4 with J > 1)
    mlp_prompts: int = 2                # ... |S| (t_gamma measured on prompt 0, variance averaged over S)
    mlp_hidden: int = 8
    mlp_init_scale: float = 0.5         # std of the MLP's initial weights and biases


@dataclass
class TimeRuns:
    """One row per (model, RM family, instance, prompt, knob); all arrays ``[R]``."""

    model: np.ndarray        # "autoregressive" (per-prefix logits), "autoregressive_mlp" or "tabular"
    family: np.ndarray       # "scaled" or "compressed"
    prompts: np.ndarray      # |S|
    instance: np.ndarray     # instance id within (model, |S|)
    prompt: np.ndarray       # prompt index within the instance
    knob: np.ndarray         # c (scaled) or compression factor (compressed)
    accuracy: np.ndarray     # pairwise accuracy of r_RM w.r.t. r_G (uniform pairs): 1 for every RM here
    variance0: np.ndarray    # Var_{pi_0}[r_RM] (E_x over prompts for the AR toy, own prompt for tabular)
    t_gamma: np.ndarray      # time for E[r_G] to gain gamma (inf if not reached by t_max)
    jacobian: np.ndarray     # J in the Thm 4 bound: 1 (per prefix), max over the trajectory (MLP), nan (tabular)
    bound: np.ndarray        # Thm 4 (AR, with J) or Prop. 3 (tabular) lower bound on t_gamma
    config: TimeVsVarianceConfig

    @property
    def respects_bound(self) -> np.ndarray:
        return self.t_gamma >= self.bound


def compress_likely(r_gold, probs0, factor: float, likely_mass: float = 0.9) -> np.ndarray:
    """r_G compressed (by ``factor``, :func:`compress_below`) below the threshold ``tau`` = the smallest r_G value
    with ``pi_0(r_G <= tau) >= likely_mass``: the likely outputs lose spread, the ranking is unchanged.
    ``r_gold, probs0: [..., N]``."""
    r, p = np.asarray(r_gold, dtype=np.float64), tabular.check_probs(probs0, "probs0")
    order = np.argsort(r, axis=-1)
    cum = np.cumsum(np.take_along_axis(p, order, -1), -1)
    first = np.argmax(cum >= likely_mass - 1e-12, axis=-1)[..., None]               # [..., 1]
    tau = np.take_along_axis(np.take_along_axis(r, order, -1), first, -1)           # [..., 1]
    return compress_below(r, tau, factor)


def time_vs_variance(config: TimeVsVarianceConfig = TimeVsVarianceConfig(), seed: int = 0) -> TimeRuns:
    """Exact ``t_gamma`` (measured on r_G) for every RM of ``config`` on AR toys and tabular policies."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    space = ar.SequenceSpace(config.vocab_size, config.length)
    logits0 = config.logit_scale * rng.standard_normal((config.num_instances, space.num_prefixes, space.vocab_size))
    r_gold = rng.uniform(-1, 1, size=(config.num_instances, space.num_outputs))
    probs0 = ar.sequence_probs(space, logits0)
    for family, knobs, r_rm in _rm_families(config, r_gold, probs0):              # r_rm: [K, I, N]
        k, i = len(knobs), config.num_instances
        res = ar.time_to_gain(space, np.broadcast_to(logits0, (k,) + logits0.shape), r_rm, r_gold, config.gamma,
                              lam=config.lam, t_max=config.t_max)
        var = tabular.reward_variance(np.broadcast_to(probs0, r_rm.shape), r_rm)      # [K, I]
        rows.append(dict(model="autoregressive", family=family, prompts=1, instance=np.tile(np.arange(i), k), prompt=0,
                         knob=np.repeat(knobs, i), accuracy=_accuracy(r_rm, r_gold).ravel(),
                         variance0=var.ravel(), t_gamma=res.t_gamma.ravel(), jacobian=1.0,
                         bound=ar.thm4_time_lower_bound(config.gamma, config.lam, config.length, 1.0, var).ravel()))
    if config.mlp_instances:
        rows.extend(_mlp_rows(config, space, rng))
    for s in config.tabular_prompts:
        theta0 = config.logit_scale * rng.standard_normal((config.num_instances, s, config.tabular_outputs))
        r_gold = rng.uniform(-1, 1, size=theta0.shape)
        probs0 = tabular.probabilities(theta0)
        for family, knobs, r_rm in _rm_families(config, r_gold, probs0):          # r_rm: [K, I, S, N]
            k, i = len(knobs), config.num_instances
            res = flow.tabular_time_to_gain(np.broadcast_to(theta0, (k,) + theta0.shape), r_rm, r_gold, config.gamma,
                                            lam=config.lam, t_max=config.t_max)
            var = tabular.reward_variance(np.broadcast_to(probs0, r_rm.shape), r_rm)  # [K, I, S]
            rows.append(dict(model="tabular", family=family, prompts=s,
                             instance=np.tile(np.repeat(np.arange(i), s), k), prompt=np.tile(np.arange(s), k * i),
                             knob=np.repeat(knobs, i * s),
                             accuracy=_accuracy(r_rm, r_gold).ravel(), variance0=var.ravel(),
                             t_gamma=res.t_gamma.ravel(), jacobian=np.nan,
                             bound=prop3_lower_bound(var, config.gamma, n_prompts=s).ravel()))
    n = [len(r["t_gamma"]) for r in rows]
    cols = {name: np.concatenate([np.broadcast_to(np.asarray(r[name]), (m,)) for r, m in zip(rows, n)])
            for name in rows[0]}
    return TimeRuns(config=config, **cols)


def _mlp_rows(config: TimeVsVarianceConfig, space: ar.SequenceSpace, rng) -> list[dict]:
    """Thm 4 with shared tiny-MLP logits: ``E_x[Var_0]`` over the S prompts, ``J`` = max along each trajectory."""
    model = ar.TinyMLP(space, hidden=config.mlp_hidden, num_prompts=config.mlp_prompts)
    i = config.mlp_instances
    params0 = config.mlp_init_scale * rng.standard_normal((i, model.num_params))
    r_gold = rng.uniform(-1, 1, size=(i, config.mlp_prompts, space.num_outputs))
    probs0 = ar.sequence_probs(space, model.logits(params0).detach().numpy())     # [I, S, N]
    rows = []
    for family, knobs, r_rm in _rm_families(config, r_gold, probs0):              # r_rm: [K, I, S, N]
        k = len(knobs)
        res, jac = ar.mlp_time_to_gain(model, np.tile(params0, (k, 1)), r_rm.reshape(k * i, *r_gold.shape[1:]),
                                       np.tile(r_gold, (k, 1, 1)), config.gamma, lam=config.lam, t_max=config.t_max)
        var = tabular.reward_variance(np.broadcast_to(probs0, r_rm.shape), r_rm).mean(-1).ravel()   # E_x Var, [K*I]
        rows.append(dict(model="autoregressive_mlp", family=family, prompts=config.mlp_prompts,
                         instance=np.tile(np.arange(i), k), prompt=0, knob=np.repeat(knobs, i),
                         accuracy=_accuracy(r_rm, r_gold).min(-1).ravel(),
                         variance0=var, t_gamma=res.t_gamma, jacobian=jac,
                         bound=ar.thm4_time_lower_bound(config.gamma, config.lam, config.length, jac, var)))
    return rows


def _accuracy(r_rm: np.ndarray, r_gold: np.ndarray) -> np.ndarray:
    """Pairwise accuracy (uniform pairs) of every RM ``[K, ..., N]`` against the shared ``r_gold [..., N]``."""
    return accuracy.pairwise_accuracy(r_rm, np.broadcast_to(r_gold, r_rm.shape))


def _rm_families(config: TimeVsVarianceConfig, r_gold: np.ndarray, probs0: np.ndarray):
    """``(family, knobs [K], r_rm [K, *r_gold.shape])`` for the scaled and the compressed reward models."""
    scales = np.asarray(config.scales, dtype=np.float64)
    factors = np.asarray(config.compress_factors, dtype=np.float64)
    yield "scaled", scales, scales.reshape((-1,) + (1,) * r_gold.ndim) * r_gold
    yield "compressed", factors, np.stack([compress_likely(r_gold, probs0, f, config.likely_mass) for f in factors])


def within_instance_slope(runs: TimeRuns, mask) -> float:
    """Slope of ``log t_gamma`` on ``log Var_0`` after removing each (model, |S|, instance, prompt)'s means: how
    ``t_gamma`` scales when the same problem gets a lower-variance RM (finite ``t_gamma`` only)."""
    mask = np.asarray(mask) & np.isfinite(runs.t_gamma) & (runs.variance0 > 0)
    keys = np.array([f"{m}|{s}|{i}|{x}" for m, s, i, x in
                     zip(runs.model, runs.prompts, runs.instance, runs.prompt)])[mask]
    x, y = np.log(runs.variance0[mask]), np.log(runs.t_gamma[mask])
    _, group = np.unique(keys, return_inverse=True)
    x = x - (np.bincount(group, x) / np.bincount(group))[group]
    y = y - (np.bincount(group, y) / np.bincount(group))[group]
    if np.sum(x ** 2) == 0:
        raise ValueError("within_instance_slope needs at least two variances per instance")
    return float(np.sum(x * y) / np.sum(x ** 2))
