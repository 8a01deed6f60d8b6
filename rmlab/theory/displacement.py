"""Likelihood displacement in the unconstrained-features model (arXiv 2410.08847, Sec. 4, Thm 4/5 = Thm 1/2).

The model: one prompt with a free hidden vector ``h`` in R^d, a free unembedding ``W`` in R^{V x d}, and
``pi(.|x) = softmax(W h)``. A preference pair is two single tokens (y+, y-); the loss is
``l(ln pi(y+) - ln pi(y-))`` with DPO's ``l(D) = -ln sigmoid(beta (D - D_ref))`` or IPO's
``l(D) = (D - D_ref - 1/(2 tau))^2``. The log-ratio is ``<W+ - W-, h>`` (the normaliser cancels), so gradient flow
``d theta/dt = -grad L`` moves only ``h`` and the two rows ``W+``, ``W-``:

    dh/dt = -l' (W+ - W-),   dW+/dt = -l' h,   dW-/dt = +l' h.

Thm 4 (closed form, :func:`rate_preferred`):
``d/dt ln pi(y+) = -l' [ m - (1 - pi+ + pi-) <W+, W-> - sum_{z != y+-} pi_z <W_z, W+ - W-> ]`` with
``m = (1 - pi+) ||W+||^2 + pi- ||W-||^2 + (1 - pi+ + pi-) ||h||^2``. Thm 5 (:func:`rate_other_tokens`): every other
token moves at ``-l' [<W_z, W+ - W-> + c]`` with ``c`` independent of z, so the tokens that gain are those aligned
with ``W+ - W-``; its part orthogonal to ``W+`` (:func:`projections`, the paper's Table 13) is what ``W-`` adds.

Everything is float64 numpy and batched over independent instances: ``h [B, d]``, ``W [B, V, d]``,
``plus``/``minus`` ``[B]`` token ids. :func:`simulate_flow` integrates the flow (RK4 or Euler = gradient descent) to
check the closed forms against the dynamics themselves.

>>> rng = np.random.default_rng(0)
>>> h, W = rng.normal(size=(1, 4)), rng.normal(size=(1, 6, 4))
>>> plus, minus = np.array([0]), np.array([1])
>>> closed = rate_preferred(h, W, plus, minus, ell_prime=np.array([-0.05]))
>>> bool(np.allclose(closed, exact_rates(h, W, plus, minus, ell_prime=np.array([-0.05]))[:, 0]))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_softmax

LOSSES = ("dpo", "ipo")


def log_probs(h: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``ln softmax(W h)``: ``[B, d], [B, V, d] -> [B, V]``."""
    return log_softmax(np.einsum("bvd,bd->bv", W, h), axis=-1)


def _rows(W: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    return W[np.arange(W.shape[0]), tokens]                                           # [B, d]


def weighted_log_ratio(h, W, plus, minus, plus_weight: float = 1.0, minus_weight: float = 1.0) -> np.ndarray:
    """``lambda+ ln pi(y+) - lambda- ln pi(y-)``, Prop. 2's loss argument (with weights 1: :func:`log_ratio`, where
    the normaliser cancels): ``[B]``."""
    if (plus_weight, minus_weight) == (1.0, 1.0):
        return log_ratio(h, W, plus, minus)
    logp = log_probs(h, W)
    rows = np.arange(W.shape[0])
    return plus_weight * logp[rows, plus] - minus_weight * logp[rows, minus]


def log_ratio(h, W, plus, minus) -> np.ndarray:
    """``ln pi(y+) - ln pi(y-) = <W+ - W-, h>``: ``[B]``."""
    return np.einsum("bd,bd->b", _rows(W, plus) - _rows(W, minus), h)


def loss_derivative(delta: np.ndarray, delta_ref: np.ndarray, *, loss: str = "dpo", beta: float = 0.1) -> np.ndarray:
    """``l'(delta)``: DPO ``-beta sigmoid(-beta (delta - delta_ref))`` (always < 0, Lemma 1), IPO
    ``2 (delta - delta_ref - 1/(2 beta))`` (``beta`` is IPO's tau)."""
    if loss == "dpo":
        return -beta * expit(-beta * (delta - delta_ref))
    if loss == "ipo":
        return 2.0 * (delta - delta_ref - 1.0 / (2.0 * beta))
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def loss_value(delta, delta_ref, *, loss: str = "dpo", beta: float = 0.1) -> np.ndarray:
    """``l(delta)`` per instance (see :func:`loss_derivative`)."""
    if loss == "dpo":
        return np.logaddexp(0.0, -beta * (delta - delta_ref))
    if loss == "ipo":
        return (delta - delta_ref - 1.0 / (2.0 * beta)) ** 2
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def velocity(h, W, plus, minus, ell_prime, *, sft_coef: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(dh/dt, dW/dt) = -grad L`` at ``l' = ell_prime [B]``; with ``sft_coef`` = lambda, of the SFT-regularised
    ``L_S = L - lambda ln pi(y+)`` (the paper's Prop. 1), which adds ``lambda grad ln pi(y+)``."""
    diff = _rows(W, plus) - _rows(W, minus)
    dW = np.zeros_like(W)
    rows = np.arange(W.shape[0])
    dW[rows, plus] -= ell_prime[:, None] * h
    dW[rows, minus] += ell_prime[:, None] * h
    dh = -ell_prime[:, None] * diff
    if sft_coef:
        grad_h, row_weights = _grad_log_prob(h, W, plus)
        dh = dh + sft_coef * grad_h
        dW = dW + sft_coef * row_weights[:, :, None] * h[:, None, :]
    return dh, dW


def _grad_log_prob(h, W, tokens) -> tuple[np.ndarray, np.ndarray]:
    """``grad ln pi(y)`` for the token ``y = tokens [B]``: ``(grad_h [B, d], weights [B, V])`` with
    ``grad_{W_u} = weights_u h``; ``grad_h = W_y - E_pi[W]`` and ``weights_u = 1[u = y] - pi_u``."""
    pi = np.exp(log_probs(h, W))
    weights = -pi
    weights[np.arange(W.shape[0]), tokens] += 1.0
    return _rows(W, tokens) - np.einsum("bv,bvd->bd", pi, W), weights


def exact_rates(h, W, plus, minus, ell_prime, *, sft_coef: float = 0.0) -> np.ndarray:
    """``d/dt ln pi(z)`` for every token by the chain rule, ``<grad ln pi(z), -grad L>`` (``sft_coef``: of
    :func:`velocity`'s ``L_S``): ``[B, V]``.

    ``grad_h ln pi(z) = W_z - E_pi[W]`` and ``grad_{W_u} ln pi(z) = (1[u = z] - pi_u) h``.
    """
    return _rates_along(h, W, *velocity(h, W, plus, minus, ell_prime, sft_coef=sft_coef))


def _rates_along(h, W, dh, dW) -> np.ndarray:
    """``d/dt ln pi(z)`` for every token when ``h`` and ``W`` move at ``(dh, dW)``, by the chain rule: ``[B, V]``."""
    pi = np.exp(log_probs(h, W))
    mean_row = np.einsum("bv,bvd->bd", pi, W)
    via_h = np.einsum("bvd,bd->bv", W, dh) - np.einsum("bd,bd->b", mean_row, dh)[:, None]
    moved = np.einsum("bvd,bd->bv", dW, h)                                           # <dW_u/dt, h> (0 off y+-)
    via_W = moved - np.einsum("bv,bv->b", pi, moved)[:, None]
    return via_h + via_W


def rate_preferred(h, W, plus, minus, ell_prime) -> np.ndarray:
    """Thm 4's closed form of ``d/dt ln pi(y+)``: ``[B]``."""
    pi = np.exp(log_probs(h, W))
    rows = np.arange(W.shape[0])
    w_plus, w_minus = _rows(W, plus), _rows(W, minus)
    p_plus, p_minus = pi[rows, plus], pi[rows, minus]
    weight = 1.0 - p_plus + p_minus
    m = ((1.0 - p_plus) * np.sum(w_plus ** 2, -1) + p_minus * np.sum(w_minus ** 2, -1)
         + weight * np.sum(h ** 2, -1))
    others = _others_alignment(W, pi, plus, minus)
    return -ell_prime * (m - weight * np.sum(w_plus * w_minus, -1) - others)


def sft_term_rate(h, W, plus) -> np.ndarray:
    """Prop. 1: the SFT term ``-lambda ln pi(y+)`` adds ``lambda ||grad ln pi(y+)||^2`` (never negative) to
    ``d/dt ln pi(y+)``; this is ``||grad ln pi(y+)||^2 = ||W+ - E_pi[W]||^2 + ||h||^2 ((1 - pi+)^2 + sum_{u != y+}
    pi_u^2)``: ``[B]``."""
    grad_h, row_weights = _grad_log_prob(h, W, plus)
    return np.sum(grad_h ** 2, -1) + np.sum(h ** 2, -1) * np.sum(row_weights ** 2, -1)


def relative_error(estimate, reference) -> np.ndarray:
    """``|estimate - reference| / max(1, |reference|)`` elementwise: the error measure of this module's checks
    (absolute near 0, relative elsewhere)."""
    reference = np.asarray(reference, dtype=np.float64)
    return np.abs(np.asarray(estimate, dtype=np.float64) - reference) / np.maximum(1.0, np.abs(reference))


def weighted_velocity(h, W, plus, minus, mu_prime, plus_weight: float, minus_weight: float):
    """``(dh/dt, dW/dt) = -grad L_w`` for the weighted loss ``L_w = l(lambda+ ln pi(y+) - lambda- ln pi(y-))`` of the
    paper's Prop. 2 (SimPO- and DPOP-like losses), at ``l' = mu_prime [B]`` taken at the weighted argument:
    ``-mu' (lambda+ grad ln pi(y+) - lambda- grad ln pi(y-))``."""
    (h_plus, w_plus), (h_minus, w_minus) = _grad_log_prob(h, W, plus), _grad_log_prob(h, W, minus)
    a, b = (-mu_prime * plus_weight)[:, None], (mu_prime * minus_weight)[:, None]
    return a * h_plus + b * h_minus, (a * w_plus + b * w_minus)[:, :, None] * h[:, None, :]


def weighted_exact_rates(h, W, plus, minus, mu_prime, plus_weight: float, minus_weight: float) -> np.ndarray:
    """``d/dt ln pi(z)`` for every token under :func:`weighted_velocity`, by the chain rule: ``[B, V]``."""
    return _rates_along(h, W, *weighted_velocity(h, W, plus, minus, mu_prime, plus_weight, minus_weight))


def weighted_rate_preferred(h, W, plus, minus, mu_prime, plus_weight: float, minus_weight: float) -> np.ndarray:
    """Prop. 2's closed form of ``d/dt ln pi(y+)`` under the weighted loss: ``rho E + gamma ||grad ln pi(y+)||^2``,
    where ``rho E = -lambda- mu' <grad ln pi(y+), grad ln pi(y+) - grad ln pi(y-)>`` is Thm 4's rate at
    ``l' = lambda- mu'`` and ``gamma = (lambda+ - lambda-)(-mu')``, positive iff ``lambda+ > lambda-`` (``mu' < 0``
    for DPO): ``[B]``."""
    gamma = (plus_weight - minus_weight) * (-mu_prime)
    return rate_preferred(h, W, plus, minus, minus_weight * mu_prime) + gamma * sft_term_rate(h, W, plus)


def alignment(W, plus, minus) -> np.ndarray:
    """``<W_z, W+ - W->`` for every token: ``[B, V]``."""
    return np.einsum("bvd,bd->bv", W, _rows(W, plus) - _rows(W, minus))


def _others_alignment(W, pi, plus, minus) -> np.ndarray:
    """``sum_{z not in {y+, y-}} pi_z <W_z, W+ - W->``: ``[B]``."""
    weighted = pi * alignment(W, plus, minus)
    rows = np.arange(W.shape[0])
    return weighted.sum(-1) - weighted[rows, plus] - weighted[rows, minus]


def rate_other_tokens(h, W, plus, minus, ell_prime) -> np.ndarray:
    """Thm 5's closed form ``-l' [<W_z, W+ - W-> + c]`` for every token (meaningful off ``{y+, y-}``): ``[B, V]``."""
    pi = np.exp(log_probs(h, W))
    rows = np.arange(W.shape[0])
    c = ((pi[rows, minus] - pi[rows, plus]) * np.sum(h ** 2, -1)
         - np.einsum("bv,bv->b", pi, alignment(W, plus, minus)))
    return -ell_prime[:, None] * (alignment(W, plus, minus) + c[:, None])


@dataclass
class Flow:
    """A simulated flow: ``times [K]``, ``log_probs [K, B, V]``, ``loss [K, B]`` at each recorded step, and the
    final ``h``, ``W``."""

    times: np.ndarray
    log_probs: np.ndarray
    loss: np.ndarray
    h: np.ndarray
    W: np.ndarray


def simulate_flow(h, W, plus, minus, *, dt: float, steps: int, loss: str = "dpo", beta: float = 0.1,
                  method: str = "rk4", delta_ref: np.ndarray | None = None,
                  weights: tuple[float, float] = (1.0, 1.0)) -> Flow:
    """Integrate ``d theta/dt = -grad L`` for ``steps`` steps of size ``dt`` (``"euler"`` = gradient descent with
    learning rate ``dt``; ``"rk4"``: classical Runge-Kutta). ``delta_ref``: the reference log-ratio (default: the
    initial one, as when the reference is the starting model). Negative ``dt`` runs the flow backwards.
    ``weights = (lambda+, lambda-)``: the weighted loss of Prop. 2, ``l(lambda+ ln pi(y+) - lambda- ln pi(y-))``
    (``(1, 1)``: the plain loss)."""
    if method not in ("euler", "rk4"):
        raise ValueError(f"method must be 'euler' or 'rk4', got {method!r}")
    h, W = np.array(h, dtype=np.float64), np.array(W, dtype=np.float64)

    def argument(state):
        return weighted_log_ratio(*state, plus, minus, *weights)

    delta_ref = argument((h, W)) if delta_ref is None else np.asarray(delta_ref, dtype=np.float64)

    def field(state):
        ell = loss_derivative(argument(state), delta_ref, loss=loss, beta=beta)
        if weights == (1.0, 1.0):
            return velocity(*state, plus, minus, ell)
        return weighted_velocity(*state, plus, minus, ell, *weights)

    def record(state):
        logps.append(log_probs(*state))
        losses.append(loss_value(argument(state), delta_ref, loss=loss, beta=beta))

    state, logps, losses = (h, W), [], []
    record(state)
    for _ in range(steps):
        state = _euler(field, state, dt) if method == "euler" else _rk4(field, state, dt)
        record(state)
    return Flow(np.arange(steps + 1) * dt, np.stack(logps), np.stack(losses), *state)


def _euler(field, state, dt):
    return tuple(s + dt * v for s, v in zip(state, field(state)))


def _rk4(field, state, dt):
    def shifted(velocity_, scale):
        return tuple(s + scale * v for s, v in zip(state, velocity_))
    k1 = field(state)
    k2 = field(shifted(k1, dt / 2))
    k3 = field(shifted(k2, dt / 2))
    k4 = field(shifted(k3, dt))
    return tuple(s + dt / 6 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4))


def simulated_rates(h, W, plus, minus, *, loss: str = "dpo", beta: float = 0.1, dt: float | None = None,
                    weights: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """``d/dt ln pi(z)`` at t = 0 from the dynamics alone: one RK4 step forward and one backward, central
    difference (error O(dt^2)): ``[B, V]``. Default ``dt``: 1e-4 over the flow's speed scale (the velocity's norm
    times the largest of ``‖h‖`` and the rows' norms), so that log-probs move by ~1e-4 per step. ``weights``: see
    :func:`simulate_flow`."""
    delta_ref = weighted_log_ratio(h, W, plus, minus, *weights)
    if dt is None:
        dh, dW = velocity(h, W, plus, minus, loss_derivative(delta_ref, delta_ref, loss=loss, beta=beta))
        speed = np.sqrt(np.sum(dh ** 2, -1) + np.sum(dW ** 2, (-2, -1)))
        size = np.maximum(np.linalg.norm(h, axis=-1), np.linalg.norm(W, axis=-1).max(-1))
        dt = 1e-4 / max(1.0, float(np.max(speed * size)))
    ahead, behind = (simulate_flow(h, W, plus, minus, dt=step, steps=1, loss=loss, beta=beta, delta_ref=delta_ref,
                                   weights=weights) for step in (dt, -dt))
    return (ahead.log_probs[-1] - behind.log_probs[-1]) / (2 * dt)


def initial_ell_prime(h, W, plus, minus, *, loss: str = "dpo", beta: float = 0.1) -> np.ndarray:
    """``l'`` at the start of a run whose reference is the initial model (``delta = delta_ref``)."""
    delta = log_ratio(h, W, plus, minus)
    return loss_derivative(delta, delta, loss=loss, beta=beta)


def projections(w_plus: np.ndarray, w_minus: np.ndarray) -> dict[str, np.ndarray]:
    """Table 13's geometry of ``W+ - W-`` (rows ``[..., d]``, any float dtype; computed in float64).

    ``proj``: the norm of its projection on ``W+``, ``|‖W+‖ - <W+, W->/‖W+‖|``; ``orth``: the norm of the rest (= the
    part of ``W-`` orthogonal to ``W+``). Also ``norm_plus``, ``norm_minus``, ``inner`` ``<W+, W->`` and
    ``kappa = <W+, W->/‖W+‖^2`` (W-'s projection on W+ in units of ‖W+‖; displacement needs roughly kappa >~ 1).

    >>> p = projections(np.array([2.0, 0.0]), np.array([1.0, 1.0]))
    >>> float(p["proj"]), float(p["orth"]), float(p["kappa"])
    (1.0, 1.0, 0.5)
    """
    w_plus, w_minus = np.asarray(w_plus, np.float64), np.asarray(w_minus, np.float64)
    norm_plus = np.linalg.norm(w_plus, axis=-1)
    inner = np.sum(w_plus * w_minus, -1)
    coefficient = inner / norm_plus ** 2
    orth = np.linalg.norm(w_minus - coefficient[..., None] * w_plus, axis=-1)
    return {"proj": np.abs(norm_plus - inner / norm_plus), "orth": orth, "norm_plus": norm_plus,
            "norm_minus": np.linalg.norm(w_minus, axis=-1), "inner": inner, "kappa": coefficient}


def peak_to_trough(values) -> tuple[float, int, int]:
    """Table 1's statistic: ``max_{t < t'} values[t] - values[t']`` (0 if ``values`` never decreases) and the steps
    ``(t, t')`` where it is attained.

    >>> peak_to_trough([0.2, 0.9, 0.5, 0.7, 0.3])
    (0.6000000000000001, 1, 4)
    """
    values = np.asarray(values, dtype=np.float64)
    best, peak, at = 0.0, 0, (0, 0)
    for t in range(1, len(values)):
        if values[t - 1] > values[peak]:
            peak = t - 1
        if values[peak] - values[t] > best:
            best, at = values[peak] - values[t], (peak, t)
    return float(best), int(at[0]), int(at[1])


def random_instances(n: int, *, vocab: int = 40, dim: int = 16, w_scale: float = 1.0, h_scale: float = 1.0,
                     seed: int = 0):
    """``n`` random instances ``(h [n, d], W [n, V, d], plus [n], minus [n])`` with Gaussian entries scaled so that
    ``‖W_z‖ ~ w_scale`` and ``‖h‖ ~ h_scale``, and two distinct random tokens as y+ and y-."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, dim)) * h_scale / np.sqrt(dim)
    W = rng.normal(size=(n, vocab, dim)) * w_scale / np.sqrt(dim)
    plus = rng.integers(0, vocab, size=n)
    minus = (plus + rng.integers(1, vocab, size=n)) % vocab
    return h, W, plus, minus


# The hand-built Table-13-like vocabulary (RECONSTRUCTED in the paper notes, §9): W+ - W- orthogonal to W+ = W(No),
# so everything aligned with -v (the opposite family) gains when "No" is preferred to "Never".
HANDBUILT_TOKENS = ("No", "Never", "Yes", "yes", "_No") + tuple(f"filler{i}" for i in range(6))


def handbuilt_geometry(*, scale: float = 4.0, kappa: float = 1.0, orth: float = 0.8, dim: int = 16,
                       target: float = 0.55) -> tuple[np.ndarray, np.ndarray]:
    """``(h [1, d], W [1, 11, d])`` over :data:`HANDBUILT_TOKENS`: ``W(No) = c u``, ``W(Never) = c (kappa u + orth v)``,
    ``W(Yes) = c (-0.5 u - v)``, ``W(yes) = c (-0.45 u - 0.9 v)``, ``W(_No) = c (0.9 u + 0.1 w)``, six fillers of
    norm 0.3 c on further axes; ``h = a (u - v/2)`` with ``a`` set by bisection so that ``pi(No) = target`` (or as
    close as the geometry allows). With ``kappa = 1`` the difference ``W(No) - W(Never)`` is orthogonal to ``W(No)``
    and points at the opposite family."""
    basis = np.eye(dim)
    u, v, w = basis[0], basis[1], basis[2]
    rows = [u, kappa * u + orth * v, -0.5 * u - v, -0.45 * u - 0.9 * v, 0.9 * u + 0.1 * w]
    W = scale * np.stack(rows + [0.3 * basis[3 + i] for i in range(6)])[None]
    direction = (u - 0.5 * v)[None]
    lo, hi = 0.0, 50.0
    for _ in range(200):
        a = (lo + hi) / 2
        lo, hi = (a, hi) if np.exp(log_probs(a * direction, W))[0, 0] < target else (lo, a)
    return (lo + hi) / 2 * direction, W


def run_drops(h, W, plus, minus, *, dt: float = 0.2, steps: int = 100, loss: str = "dpo", beta: float = 0.1,
              weights: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Table 1's statistic for each instance: the peak-to-trough drop of ``pi(y+)`` along ``steps`` steps of gradient
    descent at learning rate ``dt`` (:func:`simulate_flow` with ``method="euler"``; ``weights`` as there), ``[B]``."""
    flow = simulate_flow(h, W, plus, minus, dt=dt, steps=steps, loss=loss, beta=beta, method="euler",
                         weights=weights)
    prob_plus = np.exp(flow.log_probs[:, np.arange(len(plus)), plus])                 # [steps + 1, B]
    return np.array([peak_to_trough(prob_plus[:, b])[0] for b in range(len(plus))])


def outgrown(W, plus, minus) -> np.ndarray:
    """Whether some other token is more aligned with ``W+ - W-`` than ``W+`` itself, ``[B]`` bool: by Thm 5 such a
    token gains faster than y+ from the hidden state's move (``y+``'s own row also moves, so this is the reading
    of Thm 5, not a sufficient condition for displacement)."""
    align = alignment(W, plus, minus)
    rows = np.arange(len(plus))
    others = align.copy()
    others[rows, plus] = others[rows, minus] = -np.inf
    return others.max(-1) > align[rows, plus]


def phase_diagram(kappas, orths, scales, *, dt: float = 0.2, steps: int = 100, loss: str = "dpo",
                  beta: float = 0.1, weights: tuple[float, float] = (1.0, 1.0)) -> dict[str, np.ndarray]:
    """The checklist's Thm 4 phase diagram on :func:`handbuilt_geometry` (DPO(No > Never), ``pi(No) = 0.55`` at the
    start where the geometry allows): for each scale ``c`` of the unembedding (``W(No) = c u``; ``h`` shrinks as
    ``c`` grows, to keep ``pi(No)``), each ``kappa`` and each ``orth`` (``W(Never) = c (kappa u + orth v)``).

    Returns arrays ``[len(scales), len(kappas), len(orths)]``: ``drop`` (:func:`run_drops`), ``initial_rate`` (Thm 4
    at t = 0; with ``weights``, the weighted loss of Prop. 2 and its rate), ``prob_start`` (``pi(No)`` at t = 0) and
    ``outgrown`` (:func:`outgrown` at t = 0), plus the axes. ``weights``: see :func:`simulate_flow`.

    >>> d = phase_diagram([0.0, 1.0], [0.8], [1.0, 8.0], steps=60)
    >>> d["drop"][:, :, 0].round(2).tolist()   # displacement needs both kappa near 1 and a large scale
    [[0.0, 0.0], [0.0, 0.57]]
    """
    kappas, orths, scales = (np.asarray(a, dtype=np.float64) for a in (kappas, orths, scales))
    shape = (len(scales), len(kappas), len(orths))
    instances = [handbuilt_geometry(scale=c, kappa=k, orth=o) for c in scales for k in kappas for o in orths]
    h, W = np.concatenate([i[0] for i in instances]), np.concatenate([i[1] for i in instances])
    plus, minus = np.zeros(len(h), dtype=int), np.ones(len(h), dtype=int)
    ell = initial_ell_prime(h, W, plus, minus, loss=loss, beta=beta)
    return {"kappas": kappas, "orths": orths, "scales": scales,
            "drop": run_drops(h, W, plus, minus, dt=dt, steps=steps, loss=loss, beta=beta,
                              weights=weights).reshape(shape),
            "initial_rate": weighted_rate_preferred(h, W, plus, minus, ell, *weights).reshape(shape),
            "prob_start": np.exp(log_probs(h, W)[:, 0]).reshape(shape),
            "outgrown": outgrown(W, plus, minus).reshape(shape)}
