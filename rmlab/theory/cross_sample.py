"""Likelihood displacement across samples (arXiv 2410.08847, App. Thm 8/9): the unconstrained-features model of
:mod:`rmlab.theory.displacement` with several prompts.

``N`` prompts, each with its own free hidden vector ``h_i`` (rows of ``H [N, d]``), one shared unembedding
``W [V, d]``, single-token pairs ``(plus[i], minus[i])`` and the loss ``(1/N) sum_i l(<W+_i - W-_i, h_i>)``.
Sample ``j`` moves its own ``h_j`` and the rows ``W+_j``, ``W-_j`` (by ``-/+ l'_j h_j / N``), so it reaches prompt
``i`` through ``<h_i, h_j>``. Thm 8 splits ``d/dt ln pi(y+_i | x_i)`` into sample ``i``'s own term, Thm 4's rate
divided by ``N``, and one cross term per other sample,

    (-l'_j / N) alpha_ij <h_i, h_j>,   alpha_ij = 1[y+_i = y+_j] - 1[y+_i = y-_j] + pi(y-_j | x_i) - pi(y+_j | x_i),

so with ``<h_i, h_j> > 0`` (the paper finds prompt hidden states almost always so) a *contradicting* sample
(``y+_i = y-_j``) always pushes ``ln pi(y+_i)`` down, and so does a sample about other tokens whose ``y-_j`` is
less likely than its ``y+_j`` under ``x_i``. Thm 9: under ``x_i`` sample ``j`` moves every token's log-probability by
the same amount except ``y+_j`` (up by ``(-l'_j / N) <h_i, h_j>`` more) and ``y-_j`` (down by as much).

>>> H = np.array([[1.0, 0.2], [0.8, -0.1]])            # two prompts, <h_0, h_1> > 0
>>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5]])
>>> plus, minus = np.array([0, 1]), np.array([1, 0])    # the second sample contradicts the first
>>> terms = cross_terms(H, W, plus, minus, initial_ell_prime(H, W, plus, minus))
>>> bool(terms[0, 1] < 0), bool(np.isclose(terms[0].sum(), sample_rates(H, W, plus, minus,
...                                       initial_ell_prime(H, W, plus, minus)).sum(1)[0]))
(True, True)
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import log_softmax

from rmlab.theory.displacement import _rk4, loss_derivative, rate_preferred

CASES = ("same preferred", "contradicting", "other tokens, π(ỹ⁻) < π(ỹ⁺)", "other tokens, π(ỹ⁻) ≥ π(ỹ⁺)")
PREDICTED_SIGN = dict(zip(CASES, (1, -1, -1, 1)))   # of a cross term with <h_i, h_j> > 0 (Thm 8's cases)


def log_probs(H: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``ln softmax(W h_i)`` for every prompt: ``[N, d], [V, d] -> [N, V]``."""
    return log_softmax(H @ W.T, axis=-1)


def log_ratios(H, W, plus, minus) -> np.ndarray:
    """``<W+_i - W-_i, h_i>``: ``[N]``."""
    return np.sum((W[plus] - W[minus]) * H, -1)


def initial_ell_prime(H, W, plus, minus, *, loss: str = "dpo", beta: float = 0.1) -> np.ndarray:
    """``l'_i`` at the start of a run whose reference is the initial model: ``[N]``."""
    delta = log_ratios(H, W, plus, minus)
    return loss_derivative(delta, delta, loss=loss, beta=beta)


def sample_velocities(H, W, plus, minus, ell_prime) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's own part of ``-grad L``: ``(dH [N(sample), N, d], dW [N(sample), V, d])``; their sums over the
    first axis are the flow's velocity."""
    n = len(plus)
    scale = -ell_prime / n                                                            # -l'_j / N
    dH = np.zeros((n,) + H.shape)
    dW = np.zeros((n,) + W.shape)
    samples = np.arange(n)
    dH[samples, samples] = scale[:, None] * (W[plus] - W[minus])
    dW[samples, plus] += scale[:, None] * H
    dW[samples, minus] -= scale[:, None] * H
    return dH, dW


def sample_token_rates(H, W, plus, minus, ell_prime) -> np.ndarray:
    """``[j, i, z]``: the rate of ``ln pi(z | x_i)`` along sample ``j``'s part of the velocity, by the chain rule
    (``grad_{h_i} ln pi(z|x_i) = W_z - E[W]``, ``grad_{W_u} = (1[u = z] - pi_u) h_i``); Thm 9's terms. Summed over
    ``j``: the flow's rates."""
    pi = np.exp(log_probs(H, W))                                                      # [N, V]
    dH, dW = sample_velocities(H, W, plus, minus, ell_prime)
    via_h = np.einsum("vd,jnd->jnv", W, dH) - np.einsum("nd,jnd->jn", pi @ W, dH)[:, :, None]
    moved = np.einsum("jvd,nd->jnv", dW, H)                                           # <dW_u, h_i>
    return via_h + moved - np.einsum("nv,jnv->jn", pi, moved)[:, :, None]


def sample_rates(H, W, plus, minus, ell_prime) -> np.ndarray:
    """``[i, j]``: the rate of ``ln pi(y+_i | x_i)`` along sample ``j``'s part of the velocity (the chain rule of
    :func:`sample_token_rates`), laid out like :func:`cross_terms`."""
    return sample_token_rates(H, W, plus, minus, ell_prime)[:, np.arange(len(plus)), plus].T


def alpha(H, W, plus, minus) -> np.ndarray:
    """Thm 8's ``alpha_ij = 1[y+_i = y+_j] - 1[y+_i = y-_j] + pi(y-_j | x_i) - pi(y+_j | x_i)``: ``[N, N]``."""
    pi = np.exp(log_probs(H, W))
    same = (plus[:, None] == plus[None, :]).astype(float)
    contradicting = (plus[:, None] == minus[None, :]).astype(float)
    return same - contradicting + pi[:, minus] - pi[:, plus]


def cross_terms(H, W, plus, minus, ell_prime) -> np.ndarray:
    """Thm 8's decomposition of ``d/dt ln pi(y+_i | x_i)``, ``[N, N]``: the diagonal is sample ``i``'s own term (Thm 4's
    rate over ``N``), entry ``[i, j]`` sample ``j``'s cross term ``(-l'_j / N) alpha_ij <h_i, h_j>``."""
    n = len(plus)
    terms = -ell_prime[None, :] / n * alpha(H, W, plus, minus) * (H @ H.T)
    own = rate_preferred(H, np.broadcast_to(W, (n,) + W.shape), plus, minus, ell_prime) / n
    terms[np.arange(n), np.arange(n)] = own
    return terms


def case_of(plus, minus, pi_of_prompt, i: int, j: int) -> str:
    """Which of Thm 8's cases (:data:`CASES`) sample ``j`` is for prompt ``i``; ``pi_of_prompt``: ``pi(. | x_i)``. Its
    cross term's sign is :data:`PREDICTED_SIGN` times the sign of ``<h_i, h_j>`` (``alpha_ij`` >= 1 - pi(y+_i) > 0 for
    the same preferred token, <= pi(y+_i) - 1 < 0 for a contradicting sample, ``pi(y-_j) - pi(y+_j)`` otherwise)."""
    if plus[i] == plus[j]:
        return CASES[0]
    if plus[i] == minus[j]:
        return CASES[1]
    return CASES[2] if pi_of_prompt[minus[j]] < pi_of_prompt[plus[j]] else CASES[3]


def measured_cross_by_case(H, W, plus, minus, ell_prime) -> dict[str, np.ndarray]:
    """Every cross term (``i != j``) measured by the chain rule (:func:`sample_rates`) and divided by
    ``<h_i, h_j>``, grouped by Thm 8's case (:func:`case_of`): each should have the sign :data:`PREDICTED_SIGN`."""
    measured, inner = sample_rates(H, W, plus, minus, ell_prime), H @ H.T
    pi = np.exp(log_probs(H, W))
    grouped = {case: [] for case in CASES}
    for i, j in itertools.permutations(range(len(plus)), 2):
        grouped[case_of(plus, minus, pi[i], i, j)].append(measured[i, j] / inner[i, j])
    return {case: np.array(values) for case, values in grouped.items()}


def thm9_deviation(H, W, plus, minus, ell_prime) -> float:
    """Thm 9 as a check: for every ``i != j``, sample ``j``'s rates of ``ln pi(z | x_i)`` (:func:`sample_token_rates`)
    minus its predicted push ``(-l'_j / N) <h_i, h_j> (1[z = y+_j] - 1[z = y-_j])`` should be one value for all z.
    Returns the largest spread of that difference over z, relative to the rates' size (floored at 1)."""
    n, vocab = len(plus), W.shape[0]
    rates = sample_token_rates(H, W, plus, minus, ell_prime)                          # [j, i, z]
    push = np.eye(vocab)[plus] - np.eye(vocab)[minus]                                 # [j, z]
    predicted = (-ell_prime / n)[:, None, None] * (H @ H.T)[:, :, None] * push[:, None, :]   # [j, i, z]; symmetric
    spread = np.ptp(rates - predicted, axis=-1) / np.maximum(1.0, np.abs(rates).max(-1))
    return float(spread[~np.eye(n, dtype=bool)].max())


def finite_difference_rates(H, W, plus, minus, *, loss: str = "dpo", beta: float = 0.1,
                            dt: float = 1e-4) -> np.ndarray:
    """``d/dt ln pi(y+_i | x_i)`` at t = 0 from the dynamics alone: one RK4 step of the flow forward and one backward,
    central difference (the reference log-ratios fixed at their initial values): ``[N]``."""
    delta_ref = log_ratios(H, W, plus, minus)

    def field(state):
        ell = loss_derivative(log_ratios(*state, plus, minus), delta_ref, loss=loss, beta=beta)
        dH, dW = sample_velocities(*state, plus, minus, ell)
        return dH.sum(0), dW.sum(0)

    rows = np.arange(len(plus))
    ahead, behind = _rk4(field, (H, W), dt), _rk4(field, (H, W), -dt)
    return (log_probs(*ahead)[rows, plus] - log_probs(*behind)[rows, plus]) / (2 * dt)


def random_dataset(n: int, *, vocab: int = 12, dim: int = 16, shared: float = 1.0, w_scale: float = 1.0,
                   seed: int = 0):
    """``(H [n, d], W [V, d], plus [n], minus [n])``: hidden states with a common component of norm ``shared`` plus
    unit Gaussian noise (so ``<h_i, h_j> > 0`` mostly, as the paper measures in real models), Gaussian rows of norm
    about ``w_scale``, and pairs over a small vocabulary, so that samples share and contradict tokens."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=dim)
    H = shared * common / np.linalg.norm(common) + rng.normal(size=(n, dim)) / np.sqrt(dim)
    W = rng.normal(size=(vocab, dim)) * w_scale / np.sqrt(dim)
    plus = rng.integers(0, vocab, size=n)
    minus = (plus + rng.integers(1, vocab, size=n)) % vocab
    return H, W, plus, minus
