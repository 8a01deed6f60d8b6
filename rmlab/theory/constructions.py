"""The constructions and bounds of "What Makes a Reward Model a Good Teacher?" (arXiv 2503.15477), tabular case.

* Theorem 2 / 5 (App. B.2, proof D.8): for a given initial policy, a perfectly accurate reward model with tiny
  variance (slow, ``t_gamma >= 2|S|(1 - e^{-gamma/2}) T``) and an almost always wrong one that puts reward 1 on a
  good output ``y_gamma`` (fast, ``t_gamma <= 4|S|/(1-rho)^4 (1/pi0(y_gamma) - 1/rho)``) -- :func:`thm5_instance`.
* Theorem 3 / 6: two policy families and two +-1 indicator reward models; each reward model is fast on one family and
  slow on the other -- :func:`thm6_instance`.
* Proposition 1: exact Best-of-N value, which depends on the reward model only through its ranking
  (:func:`best_of_n_value`), so every perfectly accurate RM is Best-of-N optimal (:func:`expected_max_of_draws`).
* The bounds as functions: Prop. 3 (:func:`prop3_lower_bound`), Prop. 4 (:func:`prop4_bound`), Thm 5
  (:func:`thm5_slow_lower_bound`, :func:`thm5_fast_upper_bound`, :func:`thm5_lambda_max`), Thm 6
  (:func:`thm6_slow_lower_bound`, :func:`thm6_fast_upper_bound`).

Concrete numbers (N = 50, sorted uniform r_G, ``pi0 = softmax(N(0, 1.5^2))``, ``b_y = linspace(0.1, 0.9)/T``,
``c_y = linspace(0.9, 0.1) pi0(y_gamma)`` reversed; N = 20, ``c = 0.2``, ``T^-2`` on the other good output) follow
the checklist of the project notes (``shared/papers/01_reward_variance_teacher.md``, §6-7); the paper proves existence
and leaves these choices free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import softmax

from rmlab.theory.accuracy import pairwise_accuracy
from rmlab.theory.flow import tabular_time_to_gain
from rmlab.theory.tabular import check_probs, check_rewards


# -------- bounds
def prop3_lower_bound(variance, gamma: float, n_prompts: int = 1) -> np.ndarray:
    """Prop. 3: ``t_gamma >= 2|S| (1 - e^{-gamma/2}) / sqrt(Var_{pi0}[r_RM])`` (tabular, any reward measured)."""
    with np.errstate(divide="ignore"):
        return 2.0 * n_prompts * (1.0 - np.exp(-gamma / 2.0)) / np.sqrt(np.asarray(variance, dtype=np.float64))


def thm5_slow_lower_bound(T, gamma: float, n_prompts: int = 1) -> np.ndarray:
    """Thm 5 (slow RM, rewards in ``(0, 1/T)`` so ``Var <= 1/T^2``): ``t_gamma >= 2|S| (1 - e^{-gamma/2}) T``."""
    return 2.0 * n_prompts * (1.0 - np.exp(-gamma / 2.0)) * np.asarray(T, dtype=np.float64)


def thm5_fast_upper_bound(pi0_y_gamma: float, rho: float, n_prompts: int = 1) -> float:
    """Thm 5 (fast RM, ``lam <= thm5_lambda_max``): ``t_gamma <= 4|S|/(1-rho)^4 (1/pi0(y_gamma) - 1/rho)``."""
    return 4.0 * n_prompts / (1.0 - rho) ** 4 * (1.0 / pi0_y_gamma - 1.0 / rho)


def thm5_lambda_max(pi0_y_gamma: float, rho: float, pi0_min: float) -> float:
    """Largest KL coefficient covered by Thm 5's fast bound: ``pi0(y_gamma)(1-rho)^4 / (8(1/(2e) - 2 ln min pi0))``."""
    return pi0_y_gamma * (1.0 - rho) ** 4 / (8.0 * (1.0 / (2.0 * np.e) - 2.0 * np.log(pi0_min)))


def thm6_slow_lower_bound(T, gamma: float, n_prompts: int = 1) -> np.ndarray:
    """Thm 6 (off-diagonal: RM rewarding an output of probability ``T^-2``): ``t >= (|S|/sqrt 2)(1-e^{-gamma/2}) T``."""
    return n_prompts / np.sqrt(2.0) * (1.0 - np.exp(-gamma / 2.0)) * np.asarray(T, dtype=np.float64)


def thm6_fast_upper_bound(c: float, rho: float, n_prompts: int = 1) -> float:
    """Thm 6 (diagonal: RM rewarding an output of probability ``c``): ``t <= 2|S|/(1-rho)^3 (1/c - 1/rho)``."""
    return 2.0 * n_prompts / (1.0 - rho) ** 3 * (1.0 / c - 1.0 / rho)


def rho(probs0, r_gold, gamma: float, y) -> float:
    """``rho = (E_{pi0}[r_G] + gamma + 1) / (r_G(y) + 1)``: the mass on ``y`` that guarantees the gain (Thm 5)."""
    p, r = check_probs(probs0, "probs0"), np.asarray(r_gold, dtype=np.float64)
    return float((p @ r + gamma + 1.0) / (r[y] + 1.0))


@dataclass
class Prop4Bound:
    """Prop. 4 for one prompt: ``rho``, ``delta``, whether conditions (i)-(iii) hold, and the bound on ``t_gamma``."""

    rho: float
    delta: float
    lam_max: float           # condition (ii): largest lam allowed
    bad_mass: float          # pi0(Y_bad)
    bad_mass_max: float      # condition (iii): largest pi0(Y_bad) allowed
    conditions_hold: bool    # Y+ qualifies, rho in (0, 1), (i), (ii) and (iii)
    upper_bound: float       # 4|S||Y+| / ((1-rho) delta) (1/pi0(Y+) - 1/rho)


def prop4_bound(probs0, r_rm, r_gold, y_plus, gamma: float, lam: float = 0.0, n_prompts: int = 1) -> Prop4Bound:
    """Prop. 4 (fast ground-truth increase, tabular): conditions and bound for the good set ``Y+ = y_plus``.

    ``probs0, r_rm, r_gold``: ``[N]`` for one prompt; rewards in ``[-1, 1]`` as in the paper.
    """
    p = check_probs(probs0, "probs0")
    if p.ndim != 1:
        raise ValueError(f"probs0 must be one prompt's distribution [N]; got shape {p.shape}")
    r_rm, r_gold = check_rewards(r_rm, p.shape, "r_rm"), check_rewards(r_gold, p.shape, "r_gold")
    plus = np.unique(np.asarray(y_plus, dtype=int))
    if plus.size == 0:
        raise ValueError("y_plus must name at least one output")
    v_rm, v_g, p_plus = p @ r_rm, p @ r_gold, p[plus].sum()
    rho_ = (v_g + gamma + 1.0) / (r_gold[plus].min() + 1.0)
    delta = (1.0 - rho_) * (r_rm[plus].max() - v_rm) - np.ptp(r_rm[plus])
    scale = (1.0 - rho_) * delta
    lam_max = p_plus * scale / (8 * plus.size * (2 * np.log(1 / p.min()) + 1 / (2 * np.e)))
    bad = np.setdiff1d(np.flatnonzero(r_rm > v_rm), plus)
    bad_mass = float(p[bad].sum())
    bound = 4.0 * n_prompts * plus.size / scale * (1.0 / p_plus - 1.0 / rho_) if scale > 0 else np.inf
    with np.errstate(over="ignore"):
        bad_mass_max = (p_plus ** 2 * scale / (16 * plus.size)
                        * np.exp(-(20 * plus.size / scale) * (1 / p_plus - 1 / rho_))) if scale > 0 else 0.0
    qualifies = bool(np.all(r_gold[plus] > v_g + gamma) and np.all(r_rm[plus] > v_rm) and 0 < rho_ < 1)
    holds = qualifies and delta > 0 and lam <= lam_max and bad_mass <= bad_mass_max
    return Prop4Bound(float(rho_), float(delta), float(lam_max), bad_mass, float(bad_mass_max), bool(holds),
                      float(bound))


# -------- Theorem 2 / 5
@dataclass
class Thm5Instance:
    """One prompt, N outputs: initial policy, ground truth, and the slow (accurate) and fast (inaccurate) RMs."""

    theta0: np.ndarray      # [1, N] initial logits (one prompt); also the reference policy
    probs0: np.ndarray      # [N]
    r_gold: np.ndarray      # [N] ground-truth reward, distinct values in [-1, 1]
    gamma: float
    y_gamma: int            # most likely output with r_G > E_{pi0}[r_G] + gamma
    rho: float
    T: np.ndarray           # [K] slowness parameters (T >= 1)
    r_slow: np.ndarray      # [K, N] accurate RM per T: b_y in (0, 1/T), increasing with r_G  (acc = 1)
    r_fast: np.ndarray      # [N] inaccurate RM: 1 on y_gamma, c_y in (0, pi0(y_gamma)) decreasing with r_G
    acc_slow: np.ndarray    # [K] uniform-pair accuracy of each slow RM (= 1)
    acc_fast: float         # uniform-pair accuracy of the fast RM (<= 2/N)
    var_slow: np.ndarray    # [K] Var_{pi0}[r_slow]
    var_fast: float         # Var_{pi0}[r_fast]
    lam_max: float          # Thm 5: largest KL coefficient with the fast guarantee
    slow_lower_bound: np.ndarray   # [K] 2|S|(1 - e^{-gamma/2}) T
    prop3_lower_bound: np.ndarray  # [K] Prop. 3 with the slow RMs' own variance (tighter)
    fast_upper_bound: float        # 4|S|/(1-rho)^4 (1/pi0(y_gamma) - 1/rho)


def most_likely_good_output(probs0, r_gold, gamma: float) -> int:
    """``y_gamma``: the most likely output under ``probs0`` with ``r_G(y) > E_{pi0}[r_G] + gamma``."""
    p = check_probs(probs0, "probs0")
    r = check_rewards(r_gold, p.shape, "r_gold")
    good = np.flatnonzero(r > p @ r + gamma)
    if good.size == 0:
        raise ValueError(f"no output has r_gold > E_pi0[r_gold] + gamma = {p @ r + gamma:.4g}: gamma is not reachable")
    return int(good[np.argmax(p[good])])


def ranks_with_inversions(n: int, k: int) -> np.ndarray:
    """A permutation ``rank`` of ``0..n-1`` with exactly ``k`` inversions (pairs ``i < j`` with ``rank[i] > rank[j]``),
    built greedily from its Lehmer code. Giving output ``i`` (in ``r_G`` order) the ``rank[i]``-th score makes an RM of
    uniform-pair accuracy ``1 - k / (n(n-1)/2)``."""
    pairs = n * (n - 1) // 2
    if not 0 <= k <= pairs:
        raise ValueError(f"k (number of inversions) must lie in [0, {pairs}] for n = {n}; got {k}")
    remaining, rank = list(range(n)), []
    for i in range(n):
        d = min(k, n - 1 - i)
        rank.append(remaining.pop(d))
        k -= d
    return np.array(rank)


def accurate_slow_rm(r_gold, T: float, accuracy: float = 1.0, low: float = 0.1, high: float = 0.9) -> np.ndarray:
    """Thm 5's slow RM: the scores ``linspace(low, high)/T`` in ``(0, 1/T)``, in the order of ``r_gold`` for
    ``accuracy = 1``; a lower ``accuracy`` permutes them (:func:`ranks_with_inversions`, rounded to the nearest
    attainable value). ``Var_pi <= 1/T^2`` for every policy, so Prop. 3 makes it slow at any accuracy.
    Needs distinct ``r_gold`` values (ties would need equal rewards to stay perfectly accurate)."""
    r = np.asarray(r_gold, dtype=np.float64)
    if np.unique(r).size != r.size:
        raise ValueError("r_gold must have distinct values for the accurate slow RM")
    if not T >= 1:
        raise ValueError(f"T must be >= 1; got {T}")
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must lie in [0, 1]; got {accuracy}")
    n = r.size
    ranks = ranks_with_inversions(n, round((1 - accuracy) * n * (n - 1) / 2))
    out = np.empty_like(r)
    out[np.argsort(r)] = (np.linspace(low, high, n) / T)[ranks]
    return out


def fast_accuracy_range(r_gold, y_gamma: int) -> tuple[float, float]:
    """Accuracies attainable by an RM that ranks ``y_gamma`` first: pairs ``{y_gamma, y}`` are right iff
    ``r_G(y) < r_G(y_gamma)``; the other pairs can be all wrong (lowest, Remark 2) or all right (highest)."""
    r = np.asarray(r_gold, dtype=np.float64)
    n, below = r.size, int(np.sum(r < r[y_gamma]))
    pairs, other_pairs = n * (n - 1) / 2, (n - 1) * (n - 2) / 2
    return below / pairs, (below + other_pairs) / pairs


def inaccurate_fast_rm(r_gold, probs0, y_gamma: int, accuracy: float | None = None, low: float = 0.1,
                       high: float = 0.9) -> np.ndarray:
    """Thm 5's fast RM: 1 on ``y_gamma``; the others get the scores ``linspace(low, high) pi0(y_gamma)`` (all below
    ``pi0(y_gamma)``, so no other output beats the initial mean, Y_bad = ∅). ``accuracy=None`` orders them in
    *reverse* ``r_gold`` order, misordering every pair not involving ``y_gamma`` (the lowest accuracy, <= 2/N,
    Remark 2); a value in :func:`fast_accuracy_range` permutes them to reach it (rounded to the nearest attainable
    value)."""
    r = np.asarray(r_gold, dtype=np.float64)
    p = check_probs(probs0, "probs0")
    others = np.array([y for y in np.argsort(r) if y != y_gamma])
    m = others.size
    other_pairs = m * (m - 1) // 2
    if accuracy is None:
        k = other_pairs
    else:
        lo, hi = fast_accuracy_range(r, y_gamma)
        if not lo - 1e-12 <= accuracy <= hi + 1e-12:
            raise ValueError(f"accuracy {accuracy} is not attainable with y_gamma ranked first: "
                             f"range [{lo:.4f}, {hi:.4f}]")
        k = round(other_pairs - (accuracy - lo) * r.size * (r.size - 1) / 2)
    out = np.empty_like(r)
    out[y_gamma] = 1.0
    out[others] = (np.linspace(low, high, m) * p[y_gamma])[ranks_with_inversions(m, k)]
    return out


def thm5_instance(n_outputs: int = 50, T=(1, 10, 100, 1000), gamma: float = 0.2, logit_std: float = 1.5,
                  seed: int = 0) -> Thm5Instance:
    """Theorem 5 on a random instance: ``r_G`` = sorted ``U(-1, 1)`` draws, ``pi0 = softmax(N(0, logit_std^2))``
    (drawn in that order from ``numpy.random.default_rng(seed)``), one prompt (|S| = 1)."""
    rng = np.random.default_rng(seed)
    r_gold = np.sort(rng.uniform(-1.0, 1.0, n_outputs))
    theta0 = rng.normal(0.0, logit_std, n_outputs)
    return thm5_from_policy(theta0, r_gold, T, gamma)


def thm5_from_policy(theta0, r_gold, T=(1, 10, 100, 1000), gamma: float = 0.2) -> Thm5Instance:
    """Theorem 5's two reward models for a given initial policy (logits ``theta0`` [N]) and ground truth [N]."""
    theta0 = np.asarray(theta0, dtype=np.float64).reshape(1, -1)
    probs0 = softmax(theta0[0])
    r_gold = check_rewards(r_gold, probs0.shape, "r_gold").copy()
    T = np.atleast_1d(np.asarray(T, dtype=np.float64))
    y_gamma = most_likely_good_output(probs0, r_gold, gamma)
    rho_ = rho(probs0, r_gold, gamma, y_gamma)
    r_slow = np.stack([accurate_slow_rm(r_gold, t) for t in T])
    r_fast = inaccurate_fast_rm(r_gold, probs0, y_gamma)
    var = lambda r: probs0 @ (r - probs0 @ r) ** 2  # noqa: E731
    var_slow = np.array([var(r) for r in r_slow])
    return Thm5Instance(
        theta0=theta0, probs0=probs0, r_gold=r_gold, gamma=gamma, y_gamma=y_gamma, rho=rho_, T=T,
        r_slow=r_slow, r_fast=r_fast, acc_slow=pairwise_accuracy(r_slow, np.broadcast_to(r_gold, r_slow.shape)),
        acc_fast=float(pairwise_accuracy(r_fast, r_gold)), var_slow=var_slow, var_fast=float(var(r_fast)),
        lam_max=thm5_lambda_max(probs0[y_gamma], rho_, probs0.min()),
        slow_lower_bound=thm5_slow_lower_bound(T, gamma), prop3_lower_bound=prop3_lower_bound(var_slow, gamma),
        fast_upper_bound=thm5_fast_upper_bound(probs0[y_gamma], rho_))


def thm5_times(inst: Thm5Instance, lam: float = 0.0, t_max: float = 1e7, rtol: float = 1e-10):
    """``t_gamma`` of the slow RMs ``[K]`` and the fast RM (scalar), by exact gradient flow in one batched solve."""
    rewards = np.concatenate([inst.r_slow, inst.r_fast[None]])[:, None, :]   # [K+1, 1, N]
    theta0 = np.broadcast_to(inst.theta0, rewards.shape)
    res = tabular_time_to_gain(theta0, rewards, inst.r_gold, inst.gamma, lam=lam, t_max=t_max, rtol=rtol)
    t = res.t_gamma[:, 0]
    return t[:-1], float(t[-1])


@dataclass
class AccuracySweep:
    """Thm 5 at every accuracy level: slow RMs (scores in ``(0, 1/T)``) and fast RMs (``y_gamma`` first)."""

    T: float
    acc_slow: np.ndarray    # [A] accuracies reached by the slow RMs
    t_slow: np.ndarray      # [A]
    acc_fast: np.ndarray    # [A'] accuracies reached by the fast RMs
    t_fast: np.ndarray      # [A']
    fast_range: tuple[float, float]   # accuracies attainable with y_gamma ranked first


def thm5_accuracy_sweep(inst: Thm5Instance, slow_accuracies, n_fast: int = 5, T: float = 100.0, lam: float = 0.0,
                        t_max: float = 1e7) -> AccuracySweep:
    """Thm 5 "for any attainable α and α'": ``t_gamma`` of slow RMs at ``slow_accuracies`` (at slowness ``T``) and of
    ``n_fast`` fast RMs spread over :func:`fast_accuracy_range`, in one batched exact flow."""
    fast_range = fast_accuracy_range(inst.r_gold, inst.y_gamma)
    r_slow = np.stack([accurate_slow_rm(inst.r_gold, T, a) for a in slow_accuracies])
    r_fast = np.stack([inaccurate_fast_rm(inst.r_gold, inst.probs0, inst.y_gamma, a)
                       for a in np.linspace(*fast_range, n_fast)])
    rewards = np.concatenate([r_slow, r_fast])[:, None, :]                  # [A + A', 1, N]
    theta0 = np.broadcast_to(inst.theta0, rewards.shape)
    t = tabular_time_to_gain(theta0, rewards, inst.r_gold, inst.gamma, lam=lam, t_max=t_max).t_gamma[:, 0]
    gold = np.broadcast_to(inst.r_gold, rewards[:, 0].shape)
    acc = pairwise_accuracy(rewards[:, 0], gold)
    a = len(r_slow)
    return AccuracySweep(T=T, acc_slow=acc[:a], t_slow=t[:a], acc_fast=acc[a:], t_fast=t[a:], fast_range=fast_range)


def value_curves(inst: Thm5Instance, rewards: dict, times):
    """``E_pi(t)[r_G]`` at ``times`` along the exact flow of each reward model in ``rewards`` (label -> [N])."""
    r = np.stack(list(rewards.values()))[:, None, :]                 # [R, 1, N]
    theta0 = np.broadcast_to(inst.theta0, r.shape)
    res = tabular_time_to_gain(theta0, r, inst.r_gold, inst.gamma, t_max=float(times[-1]), record_times=times)
    return {label: res.values[:, k, 0] for k, label in enumerate(rewards)}


# -------- Theorem 3 / 6
@dataclass
class Thm6Instance:
    """Two policy families and two indicator RMs; index 0 = (Π, r), index 1 = (Π', r')."""

    r_gold: np.ndarray      # [N] linspace(-1, 1)
    gamma: float
    c: float                # mass on the output rewarded by the matching RM
    T: np.ndarray           # [K]
    y_gamma: np.ndarray     # [2] output rewarded by r (index 0, the best) and r' (index 1, the second best)
    probs0: np.ndarray      # [K, 2, N] member of Π (index 0) and Π' (index 1) for each T
    theta0: np.ndarray      # [K, 2, N] log-probabilities of probs0
    r_rm: np.ndarray        # [2, N] r = +1 on y_gamma[0], -1 elsewhere; r' = +1 on y_gamma[1]
    rho: np.ndarray         # [2] rho of y_gamma[0], y_gamma[1]
    slow_lower_bound: np.ndarray  # [K] (|S|/sqrt 2)(1 - e^{-gamma/2}) T   (off-diagonal)
    fast_upper_bound: np.ndarray  # [2] 2|S|/(1-rho)^3 (1/c - 1/rho)       (diagonal)


def _tilted_policy(r_gold, fixed: dict[int, float], mean: float) -> np.ndarray:
    """Probabilities with the given masses on ``fixed`` outputs, the rest ``∝ exp(beta r_G)`` with ``beta`` chosen
    so that ``E[r_G] = mean``."""
    rest = np.array([y for y in range(r_gold.size) if y not in fixed])
    mass_rest = 1.0 - sum(fixed.values())

    def probs(beta):
        p = np.zeros_like(r_gold)
        p[list(fixed)] = list(fixed.values())
        p[rest] = mass_rest * softmax(beta * r_gold[rest])
        return p

    beta = brentq(lambda b: probs(b) @ r_gold - mean, -200.0, 200.0, xtol=1e-14)
    return probs(beta)


def thm6_instance(n_outputs: int = 20, T=(3, 10, 30), gamma: float = 0.2, c: float = 0.2) -> Thm6Instance:
    """Theorem 6 (deterministic): ``r_G = linspace(-1, 1)``; ``y_gamma`` / ``y'_gamma`` are the best / second-best
    outputs. A member of Π puts ``c`` on ``y_gamma`` and ``T^-2`` on ``y'_gamma``, the rest tilted so that
    ``E[r_G] = 0``; Π' swaps the two. ``r`` (``r'``) is +1 on ``y_gamma`` (``y'_gamma``) and -1 elsewhere.
    Each RM has variance ``4c(1-c)`` on its own family but ``~4/T^2`` on the other one."""
    r_gold = np.linspace(-1.0, 1.0, n_outputs)
    T = np.atleast_1d(np.asarray(T, dtype=np.float64))
    if np.any(T ** -2 + c >= 1) or not 0 < c < 1:
        raise ValueError("need 0 < c < 1 and c + T^-2 < 1 for every T")
    y = np.array([n_outputs - 1, n_outputs - 2])
    probs0 = np.stack([np.stack([_tilted_policy(r_gold, {y[k]: c, y[1 - k]: t ** -2.0}, 0.0) for k in (0, 1)])
                       for t in T])                                                   # [K, 2, N]
    r_rm = np.where(np.arange(n_outputs)[None, :] == y[:, None], 1.0, -1.0)           # [2, N]
    rho_ = np.array([(gamma + 1.0) / (r_gold[yk] + 1.0) for yk in y])                 # E[r_G] = 0
    return Thm6Instance(r_gold=r_gold, gamma=gamma, c=c, T=T, y_gamma=y, probs0=probs0, theta0=np.log(probs0),
                        r_rm=r_rm, rho=rho_, slow_lower_bound=thm6_slow_lower_bound(T, gamma),
                        fast_upper_bound=np.array([thm6_fast_upper_bound(c, rk) for rk in rho_]))


def thm6_times(inst: Thm6Instance, lam: float = 0.0, t_max: float = 1e7, rtol: float = 1e-10) -> np.ndarray:
    """``t_gamma`` matrix ``[K, 2 policies, 2 RMs]`` by exact gradient flow (all cells in one batched solve)."""
    K, _, N = inst.probs0.shape
    theta0 = np.broadcast_to(inst.theta0[:, :, None, None, :], (K, 2, 2, 1, N))
    rewards = np.broadcast_to(inst.r_rm[None, None, :, None, :], theta0.shape)
    res = tabular_time_to_gain(theta0, rewards, inst.r_gold, inst.gamma, lam=lam, t_max=t_max, rtol=rtol)
    return res.t_gamma[..., 0]


# -------- Best-of-N
def best_of_n_value(probs, r_rm, r_gold, n) -> np.ndarray:
    """Exact expected ``r_G`` of Best-of-N under ``r_rm`` (Prop. 1): ``sum_g E[r_G | g] (F(g)^n - F(g^-)^n)``.

    The outputs are grouped by equal ``r_rm`` and sorted; ``F`` is the policy CDF in that order, and a draw tied at
    the top is picked uniformly at random among the tied draws (so a group contributes its policy-weighted mean
    ``r_G``). ``probs, r_rm, r_gold``: ``[N]``; ``n``: int or array of draw counts -> array of ``n``'s shape.
    """
    p = check_probs(probs)
    if p.ndim != 1:
        raise ValueError(f"probs must be one distribution [N]; got shape {p.shape}")
    r_rm, r_gold = check_rewards(r_rm, p.shape, "r_rm"), check_rewards(r_gold, p.shape, "r_gold")
    n = np.asarray(n)
    if np.any(n < 1) or not np.all(n == np.round(n)):
        raise ValueError(f"n (number of draws) must be integers >= 1; got {n}")
    levels, group = np.unique(r_rm, return_inverse=True)                 # groups in increasing r_rm
    mass = np.bincount(group, weights=p, minlength=levels.size)          # [G]
    gold_mass = np.bincount(group, weights=p * r_gold, minlength=levels.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        group_gold = np.where(mass > 0, gold_mass / np.where(mass > 0, mass, 1.0), 0.0)
    cdf = np.minimum(np.cumsum(mass), 1.0)
    cdf_before = np.concatenate([[0.0], cdf[:-1]])
    nn = n.astype(np.float64)[..., None]
    return np.sum(group_gold * (cdf ** nn - cdf_before ** nn), -1)


def expected_max_of_draws(probs, r, n) -> np.ndarray:
    """``E[max of n iid draws of r(y), y ~ probs]`` by the tail-sum formula
    ``v_1 + sum_k (v_{k+1} - v_k) (1 - P(r <= v_k)^n)`` over the sorted distinct values ``v_k`` (an independent
    route to the value that :func:`best_of_n_value` gives for a perfectly accurate RM)."""
    p = check_probs(probs)
    if p.ndim != 1:
        raise ValueError(f"probs must be one distribution [N]; got shape {p.shape}")
    r = check_rewards(r, p.shape)
    n = np.asarray(n, dtype=np.float64)[..., None]
    support = p > 0
    values, group = np.unique(r[support], return_inverse=True)
    cdf = np.minimum(np.cumsum(np.bincount(group, weights=p[support], minlength=values.size)), 1.0)
    return values[0] + np.sum(np.diff(values) * (1.0 - cdf[:-1] ** n), -1)
