"""An exact autoregressive toy policy (Eq. 2 of arXiv 2503.15477; the setting of Thm 1 of arXiv 2310.20703).

Outputs are all ``N = V**L`` token sequences of length ``L`` over a vocabulary of ``V`` tokens (``N <= 256``),
enumerated in lexicographic order: sequence ``y = (y_0, ..., y_{L-1})`` has index ``sum_l y_l * V**(L-1-l)``.
The policy is

    pi(y) = prod_l softmax(f(y_{<l}))_{y_l},

with next-token logits ``f`` given either

* **per prefix** (one free logit vector per prefix, ``logits: [..., P, V]`` with ``P = (V**L - 1)/(V - 1)`` prefixes
  stored level by level: the empty prefix, then the ``V`` prefixes of length 1, ... , each level in lexicographic
  order). The logit Jacobian is a selection matrix, so ``J = 1`` exactly; or
* by a **tiny MLP** (:class:`TinyMLP`) over a one-hot encoding of (prompt, prefix), whose logit-Jacobian spectral norm
  ``J`` is computed with ``torch.func.jacrev`` (:func:`jacobian_norm`).

Everything is exact (enumeration, no sampling). Expected reward and population variance of sequence rewards come from
:mod:`rmlab.theory.tabular` applied to the sequence probabilities. The gradient of
``phi(theta) = E_pi[r] - lam * KL(pi || pi_ref)`` is computed in closed form per prefix
(:func:`logit_gradient`): with ``w(y) = pi(y) r_KL(y)`` and ``Q(p, v)`` the sum of ``w`` over sequences that start
with prefix ``p`` followed by token ``v``,

    d phi / d f(p)_v = Q(p, v) - pi(v | p) * sum_v' Q(p, v'),

the log-derivative trick summed over the sequences through ``p`` (``r_KL = r - lam ln(pi/pi_ref)``, App. D.1; the
``-lam E[grad ln pi]`` term is zero).

>>> import numpy as np
>>> space = SequenceSpace(vocab_size=2, length=2)          # 4 sequences: 00, 01, 10, 11; 3 prefixes: '', '0', '1'
>>> logits = np.zeros((space.num_prefixes, 2))
>>> sequence_probs(space, logits)
array([0.25, 0.25, 0.25, 0.25])
>>> r = np.array([-1.0, 0.0, 0.0, 1.0])
>>> logit_gradient(space, logits, r)                       # rows: prefix '', '0', '1'
array([[-0.25 ,  0.25 ],
       [-0.125,  0.125],
       [-0.125,  0.125]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import log_softmax

from rmlab._threads import single_torch_thread
from rmlab.theory import flow, tabular
from rmlab.theory.flow import FlowResult

MAX_OUTPUTS = 256  # |Y| = V**L is enumerated exactly; keep it small


# -------------------------------------------------------------------------------------------------------- the output sp
@dataclass(frozen=True)
class SequenceSpace:
    """All ``V**L`` sequences of length ``L`` over ``V`` tokens, and their ``P = sum_{l<L} V**l`` prefixes."""

    vocab_size: int  # V, tokens per position (>= 2)
    length: int      # L, output length (>= 1); the bounds of Prop. 2 / Thm 4 scale with it

    def __post_init__(self):
        v, length = self.vocab_size, self.length
        if not isinstance(v, (int, np.integer)) or v < 2:
            raise ValueError(f"vocab_size must be an integer >= 2; got {v!r}")
        if not isinstance(length, (int, np.integer)) or length < 1:
            raise ValueError(f"length must be an integer >= 1; got {length!r}")
        if v ** length > MAX_OUTPUTS:
            raise ValueError(f"V**L = {v}**{length} = {v ** length} outputs exceeds the exact-enumeration limit "
                             f"of {MAX_OUTPUTS}")

    @property
    def num_outputs(self) -> int:
        return self.vocab_size ** self.length

    @property
    def num_prefixes(self) -> int:
        return sum(self.vocab_size ** level for level in range(self.length))

    def level_offset(self, level: int) -> int:
        """Row of the first length-``level`` prefix in a ``[P, V]`` per-prefix logit table."""
        return sum(self.vocab_size ** k for k in range(level))

    def sequences(self) -> np.ndarray:
        """``[N, L]`` integer tokens of every output, in index order."""
        idx = np.arange(self.num_outputs)
        powers = self.vocab_size ** np.arange(self.length - 1, -1, -1)
        return (idx[:, None] // powers[None, :]) % self.vocab_size

    def prefixes(self) -> list[tuple[int, ...]]:
        """The ``P`` prefixes (tuples of tokens), in the row order of a per-prefix logit table."""
        out: list[tuple[int, ...]] = []
        for level in range(self.length):
            seqs = SequenceSpace(self.vocab_size, level).sequences() if level else np.zeros((1, 0), dtype=int)
            out.extend(tuple(int(t) for t in s) for s in seqs)
        return out


def _check_prefix_logits(space: SequenceSpace, logits, name: str = "logits") -> np.ndarray:
    a = np.asarray(logits, dtype=np.float64)
    want = (space.num_prefixes, space.vocab_size)
    if a.ndim < 2 or a.shape[-2:] != want:
        raise ValueError(f"{name} must have shape [..., P={want[0]}, V={want[1]}] (one logit vector per prefix); "
                         f"got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite logits")
    return a


# ------------------------------------------------------------------------------------------------- per-prefix policies
def sequence_log_probs(space: SequenceSpace, logits) -> np.ndarray:
    """``ln pi(y)`` of every sequence: per-prefix ``logits [..., P, V]`` -> ``[..., N]``."""
    logits = _check_prefix_logits(space, logits)
    return _sequence_log_probs(space, log_softmax(logits, axis=-1))


def sequence_probs(space: SequenceSpace, logits) -> np.ndarray:
    """``pi(y)`` of every sequence: ``[..., P, V] -> [..., N]`` (rows sum to one)."""
    return np.exp(sequence_log_probs(space, logits))


def logit_gradient(space: SequenceSpace, logits, r, lam: float = 0.0, logits_ref=None) -> np.ndarray:
    """Exact ``d phi / d logits`` for ``phi = E_pi[r] - lam KL(pi || pi_ref)``: ``[..., P, V]``.

    ``r`` broadcasts to ``[..., N]``; ``logits_ref=None`` means ``pi_ref = pi`` (the start of a flow), where the KL
    term has zero gradient. For per-prefix logits this is the parameter gradient; for other parameterisations it is
    the vector that :func:`mlp_gradient` pulls back through the logit Jacobian.
    """
    logits = _check_prefix_logits(space, logits)
    r_kl, logp = _kl_reward(space, logits, r, lam, logits_ref)
    return _logit_gradient(space, logits, np.exp(logp) * r_kl)


def kl_regularized_reward(space: SequenceSpace, logits, r, lam: float = 0.0, logits_ref=None) -> np.ndarray:
    """``r_KL(y) = r(y) - lam ln(pi(y)/pi_ref(y))`` (App. D.1) of every sequence, ``[..., N]``."""
    logits = _check_prefix_logits(space, logits)
    return _kl_reward(space, logits, r, lam, logits_ref)[0]


def objective(space: SequenceSpace, logits, r, lam: float = 0.0, logits_ref=None) -> np.ndarray:
    """``phi = E_pi[r] - lam KL(pi || pi_ref) = E_pi[r_KL]``, shape ``logits.shape[:-2]``."""
    logits = _check_prefix_logits(space, logits)
    r_kl, logp = _kl_reward(space, logits, r, lam, logits_ref)
    return np.sum(np.exp(logp) * r_kl, -1)


def _sequence_log_probs(space: SequenceSpace, logp_next: np.ndarray) -> np.ndarray:
    """Sum the next-token log-probabilities along every sequence: ``[..., P, V] -> [..., N]``."""
    v, length, n = space.vocab_size, space.length, space.num_outputs
    batch = logp_next.shape[:-2]
    out = np.zeros(batch + (n,))
    for level in range(length):
        start = space.level_offset(level)
        children = logp_next[..., start:start + v ** level, :].reshape(batch + (v ** (level + 1), 1))
        out += np.broadcast_to(children, batch + (v ** (level + 1), v ** (length - level - 1))).reshape(batch + (n,))
    return out


def _logit_gradient(space: SequenceSpace, logits: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``sum_y weight(y) grad_f ln pi(y)`` for per-prefix logits ``[..., P, V]`` and ``weight [..., N]``."""
    v, length = space.vocab_size, space.length
    batch = logits.shape[:-2]
    weight = np.broadcast_to(weight, batch + (space.num_outputs,))
    blocks = []
    for level in range(length):
        start, count = space.level_offset(level), v ** level
        q = weight.reshape(batch + (count * v, -1)).sum(-1).reshape(batch + (count, v))   # Q(p, v) [..., V^l, V]
        z = logits[..., start:start + count, :]
        p_next = np.exp(z - z.max(-1, keepdims=True))
        p_next /= p_next.sum(-1, keepdims=True)
        blocks.append(q - p_next * q.sum(-1, keepdims=True))
    return np.concatenate(blocks, axis=-2)


def _kl_reward(space, logits, r, lam, logits_ref):
    """Validated ``(r_KL [..., N], ln pi [..., N])``."""
    logp = _sequence_log_probs(space, log_softmax(logits, axis=-1))
    r = tabular.check_rewards(r, logp.shape)
    lam = tabular.check_lam(lam)
    if lam == 0.0 or logits_ref is None:
        return np.array(r), logp
    ref = _check_prefix_logits(space, logits_ref, "logits_ref")
    logp_ref = _sequence_log_probs(space, log_softmax(ref, axis=-1))
    return r - lam * (logp - logp_ref), logp


# --------------------------------------------------------------------------------------------------------- tiny MLP log
@dataclass(frozen=True)
class TinyMLP:
    """Next-token logits ``f(x, y_<l) = W2 tanh(W1 e(x, y_<l) + b1) + b2``: one hidden layer, shared by all prompts.

    ``e(x, y_<l)`` concatenates a one-hot of the prompt (``num_prompts`` entries) and a position-wise one-hot of the
    prefix tokens (``(L-1) * V`` entries, zero where the prefix has ended), so every (prompt, prefix) has its own
    input. Parameters are one flat float64 vector per instance, ``params: [..., num_params]`` (no ``nn.Module``:
    the theory layer is plain tensors). Logits come out as ``[..., S, P, V]`` in the prefix order of
    :class:`SequenceSpace`.
    """

    space: SequenceSpace
    hidden: int = 8        # width of the hidden layer
    num_prompts: int = 1   # S; the prompts share every parameter (the setting of Thm 4)

    def __post_init__(self):
        if self.hidden < 1 or self.num_prompts < 1:
            raise ValueError(f"hidden and num_prompts must be >= 1; got {self.hidden}, {self.num_prompts}")

    @property
    def input_dim(self) -> int:
        return self.num_prompts + (self.space.length - 1) * self.space.vocab_size

    @property
    def num_params(self) -> int:
        h, d, v = self.hidden, self.input_dim, self.space.vocab_size
        return h * d + h + v * h + v

    def inputs(self) -> torch.Tensor:
        """``[S, P, D]`` one-hot encodings of every (prompt, prefix)."""
        v, s = self.space.vocab_size, self.num_prompts
        x = torch.zeros(s, self.space.num_prefixes, self.input_dim, dtype=torch.float64)
        x[torch.arange(s), :, torch.arange(s)] = 1.0
        for row, prefix in enumerate(self.space.prefixes()):
            for pos, token in enumerate(prefix):
                x[:, row, s + pos * v + token] = 1.0
        return x

    def init(self, num_instances: int, scale: float = 1.0, seed: int = 0) -> np.ndarray:
        """``[num_instances, num_params]`` Gaussian parameters (std ``scale`` on every weight and bias)."""
        rng = np.random.default_rng(seed)
        return scale * rng.standard_normal((num_instances, self.num_params))

    def logits(self, params) -> torch.Tensor:
        """``params [..., num_params]`` -> next-token logits ``[..., S, P, V]`` (torch, float64, differentiable)."""
        _, hidden, w2, b2 = self._hidden_layer(params)
        return torch.einsum("...sph,...vh->...spv", hidden, w2) + b2[..., None, None, :]       # [..., S, P, V]

    def _hidden_layer(self, params):
        """``(x [S, P, D], tanh(W1 x + b1) [..., S, P, H], W2 [..., V, H], b2 [..., V])`` from ``params``."""
        params = torch.as_tensor(params, dtype=torch.float64)
        if params.shape[-1:] != (self.num_params,):
            raise ValueError(f"params must have shape [..., {self.num_params}]; got {tuple(params.shape)}")
        h, d, v = self.hidden, self.input_dim, self.space.vocab_size
        w1, b1, w2, b2 = torch.split(params, [h * d, h, v * h, v], dim=-1)
        batch = params.shape[:-1]
        w1, w2 = w1.reshape(batch + (h, d)), w2.reshape(batch + (v, h))
        x = self.inputs()                                                            # [S, P, D]
        hidden = torch.tanh(torch.einsum("spd,...hd->...sph", x, w1) + b1[..., None, None, :])  # [..., S, P, H]
        return x, hidden, w2, b2

    def jacobian_norms(self, params) -> np.ndarray:
        """``J = max_{x, prefix} ||d f(x, prefix) / d params||_2`` per instance, in closed form: ``params [..., D]
        -> [...]``. With ``h = tanh(W1 e + b1)`` and ``D_h = diag(1 - h^2)``, ``J J^T = (1 + |h|^2) I +
        (1 + |e|^2) W2 D_h^2 W2^T``; :func:`jacobian_norm` (``torch.func.jacrev``) checks it in the tests."""
        x, hid, w2, _ = self._hidden_layer(params)                                 # hid: [..., S, P, H]
        scaled = w2[..., None, None, :, :] * (1 - hid ** 2)[..., None, :]           # [..., S, P, V, H]
        gram = (1 + (x ** 2).sum(-1))[..., None, None] * scaled @ scaled.transpose(-1, -2)  # [..., S, P, V, V]
        top = torch.linalg.eigvalsh(gram)[..., -1] + 1 + (hid ** 2).sum(-1)         # [..., S, P]
        return top.sqrt().amax(dim=(-2, -1)).numpy()


def mlp_gradient(model: TinyMLP, params, r, lam: float = 0.0, params_ref=None) -> np.ndarray:
    """Exact gradient of ``phi = mean_x {E_pi(.|x)[r(x, .)] - lam KL(pi(.|x) || pi_ref(.|x))}`` w.r.t. ``params``.

    ``params: [..., num_params]``, ``r`` broadcasts to ``[..., S, N]``. The per-prefix logit gradient
    (:func:`logit_gradient`, exact) is pulled back through the MLP by one reverse-mode product, ``J^T g``.
    """
    params = torch.as_tensor(params, dtype=torch.float64).detach().requires_grad_(True)
    logits = model.logits(params)                                                        # [..., S, P, V]
    logits_ref = None if params_ref is None else model.logits(params_ref).detach().numpy()
    g = logit_gradient(model.space, logits.detach().numpy(), r, lam, logits_ref) / model.num_prompts
    (grad,) = torch.autograd.grad(logits, params, torch.from_numpy(np.ascontiguousarray(g)))
    return grad.numpy()


def jacobian_norm(logit_fn, params) -> float:
    """``J_x = max_prefix ||d f(prefix) / d params||_2`` (spectral norm of the logit Jacobian, Prop. 2 / Thm 4).

    ``logit_fn`` maps one flat parameter vector ``[D]`` to logits ``[..., V]`` (any leading prefix/prompt axes);
    the Jacobian ``[..., V, D]`` is computed with ``torch.func.jacrev`` and the largest ``matrix_norm(ord=2)`` over the
    leading axes is returned. Taking the max over prompts too gives ``sup_x J_x``, the constant of Thm 4.

    >>> space = SequenceSpace(3, 2)
    >>> jacobian_norm(lambda p: p.reshape(space.num_prefixes, 3), torch.zeros(space.num_prefixes * 3))  # per prefix
    1.0
    """
    params = torch.as_tensor(params, dtype=torch.float64)
    if params.ndim != 1:
        raise ValueError(f"jacobian_norm takes one flat parameter vector; got shape {tuple(params.shape)}")
    jac = torch.func.jacrev(logit_fn)(params)                                  # [..., V, D]
    return float(torch.linalg.matrix_norm(jac, ord=2).max())


def mlp_jacobian_norms(model: TinyMLP, params) -> np.ndarray:
    """:func:`jacobian_norm` of every instance: ``params [B, num_params] -> [B]`` (max over prompts and prefixes)."""
    params = torch.as_tensor(np.atleast_2d(params), dtype=torch.float64)
    return np.array([jacobian_norm(model.logits, p) for p in params])


# ------------------------------------------------------------------------------------------------------------------ bou
def prop2_gradient_bound(length: int, jacobian: float, variance_kl, m: float = 1.0) -> np.ndarray:
    """Prop. 2: ``||grad phi(theta; x)|| <= 6 M^{1/3} L J_x Var_pi[r_KL]^{1/3}`` for ``r_KL in [-M, M]``, ``M >= 1``
    (``m`` may be an array, one ``M`` per instance).

    With ``lam = 0`` and rewards in ``[-1, 1]`` (``M = 1``) this is Thm 1 of arXiv 2310.20703,
    ``6 L J STD^{2/3}``. (The paper states ``M > 1``; its proof holds for ``M = 1``, which is the ``lam = 0`` case.)
    """
    m = np.asarray(m, dtype=np.float64)
    if np.any(m < 1):
        raise ValueError(f"m (the bound on |r_KL|) must be >= 1; got {m.min()}")
    return 6.0 * m ** (1 / 3) * length * np.asarray(jacobian) * np.asarray(variance_kl, dtype=np.float64) ** (1 / 3)


def thm4_time_lower_bound(gamma: float, lam: float, length: int, jacobian: float, mean_variance) -> np.ndarray:
    """Thm 4: ``t_gamma >= min{1 - e^{-gamma/9}, 1 - e^{-7/(3 lam)}} / (8 L^2 J^2 E_x[Var_pi0[r_RM]]^{1/3})``.

    ``exp(-7/(3 lam)) := 0`` at ``lam = 0``; ``jacobian`` is ``J`` along the trajectory (1 for per-prefix logits).
    """
    if gamma <= 0 or lam < 0:
        raise ValueError(f"need gamma > 0 and lam >= 0; got gamma={gamma}, lam={lam}")
    kl_cap = 1.0 if lam == 0 else 1.0 - math.exp(-7.0 / (3.0 * lam))
    numerator = min(1.0 - math.exp(-gamma / 9.0), kl_cap)
    var = np.asarray(mean_variance, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return numerator / (8.0 * length ** 2 * np.asarray(jacobian) ** 2 * var ** (1 / 3))


# ---------------------------------------------------------------------------------------------------------- gradient fl
def time_to_gain(space: SequenceSpace, logits0, r_rm, r_gold, gamma, *, lam: float = 0.0, logits_ref=None,
                 t_max: float = 1e5, rtol: float = 1e-10, atol: float = 1e-12, method: str = "DOP853",
                 record_times=None) -> FlowResult:
    """Exact gradient flow (Eq. 4) of ``phi = E_pi[r_rm] - lam KL(pi || pi_ref)`` for per-prefix logits, stopped when
    ``E_pi[r_gold]`` has gained ``gamma`` (the ``t_gamma`` of Thm 4), for a batch of independent instances at once.

    ``logits0``: ``[..., P, V]`` (also ``pi_ref`` unless ``logits_ref`` is given); ``r_rm``, ``r_gold`` broadcast to
    ``[..., N]``; ``gamma`` scalar or ``[...]``. Runs :func:`rmlab.theory.flow.time_to_gain` on the stacked
    instances; the result's per-instance arrays have shape ``[...]`` and ``theta_final`` has ``logits0``'s shape.
    """
    logits0 = _check_prefix_logits(space, logits0, "logits0")
    shape, batch = logits0.shape, logits0.shape[:-2]
    n = (*batch, space.num_outputs)
    r_rm, r_gold = tabular.check_rewards(r_rm, n, "r_rm"), tabular.check_rewards(r_gold, n, "r_gold")
    lam = tabular.check_lam(lam)
    ref = logits0 if logits_ref is None else np.broadcast_to(_check_prefix_logits(space, logits_ref, "logits_ref"),
                                                             shape)
    logp_ref = _sequence_log_probs(space, log_softmax(ref, axis=-1))

    def grad_fn(flat):  # [B*P*V] -> [B*P*V]
        logits = flat.reshape(shape)
        logp = _sequence_log_probs(space, log_softmax(logits, axis=-1))
        r_kl = r_rm - lam * (logp - logp_ref) if lam else r_rm
        return _logit_gradient(space, logits, np.exp(logp) * r_kl).ravel()

    def value_fn(flat):  # [B*P*V] -> [B]
        logp = _sequence_log_probs(space, log_softmax(flat.reshape(shape), axis=-1))
        return np.sum(np.exp(logp) * r_gold, -1).ravel()

    g = np.broadcast_to(np.asarray(gamma, dtype=np.float64), batch).ravel()
    res = flow.time_to_gain(grad_fn, value_fn, logits0.ravel(), g, t_max, rtol=rtol, atol=atol, method=method,
                            max_value=r_gold.max(-1).ravel(), record_times=record_times)
    for name in ("t_gamma", "reached", "value0", "target", "value_final"):
        setattr(res, name, getattr(res, name).reshape(batch))
    res.values = res.values.reshape((len(res.values), *batch))
    res.theta_final = res.theta_final.reshape(shape)
    return res


def mlp_time_to_gain(model: TinyMLP, params0, r_rm, r_gold, gamma, *, eval_prompt: int = 0, lam: float = 0.0,
                     t_max: float = 1e5, rtol: float = 1e-10, atol: float = 1e-12,
                     method: str = "DOP853") -> tuple[FlowResult, np.ndarray]:
    """Exact gradient flow of ``phi = mean_x {E[r_rm(x, .)] - lam KL}`` for tiny-MLP logits (parameters shared by all
    prompts, the setting of Thm 4), stopped when ``E_{pi(.|x_eval)}[r_gold(x_eval, .)]`` has gained ``gamma``.

    ``params0: [B, D]``; ``r_rm, r_gold`` broadcast to ``[B, S, N]``. Returns the :class:`FlowResult` (per-instance
    arrays ``[B]``) and ``J_t [B]``: the largest logit-Jacobian norm seen at the solver's points in ``[0, t_gamma)``
    (a grid estimate of Thm 4's ``sup_t J``; it can only under-estimate the sup, which makes the bound larger).
    """
    params0 = np.array(np.atleast_2d(params0), dtype=np.float64)
    b, s, n = len(params0), model.num_prompts, model.space.num_outputs
    r_rm = tabular.check_rewards(r_rm, (b, s, n), "r_rm")
    r_gold = tabular.check_rewards(r_gold, (b, s, n), "r_gold")
    if not 0 <= eval_prompt < s:
        raise ValueError(f"eval_prompt must index one of the {s} prompts; got {eval_prompt}")
    ref = params0 if lam else None
    j_max = np.zeros(b)
    target = np.full(b, np.inf)
    done = np.zeros(b, dtype=bool)

    def grad_fn(flat):
        return mlp_gradient(model, flat.reshape(params0.shape), r_rm, lam, ref).ravel()

    def value_fn(flat):  # also records J at every point of the trajectory seen before each instance's crossing
        params = flat.reshape(params0.shape)
        logits = model.logits(params).detach().numpy()[:, eval_prompt]           # [B, P, V]
        value = np.sum(sequence_probs(model.space, logits) * r_gold[:, eval_prompt], -1)
        done[:] |= value >= target
        live = ~done
        if live.any():
            j_max[live] = np.maximum(j_max[live], model.jacobian_norms(params[live]))
        return value

    with single_torch_thread():
        value0 = value_fn(params0.ravel())
    target[:] = value0 + np.broadcast_to(np.asarray(gamma, dtype=np.float64), (b,))
    with single_torch_thread():
        res = flow.time_to_gain(grad_fn, value_fn, params0.ravel(), gamma, t_max, rtol=rtol, atol=atol,
                                method=method, max_value=r_gold[:, eval_prompt].max(-1))
    res.theta_final = res.theta_final.reshape(params0.shape)
    return res, j_max


