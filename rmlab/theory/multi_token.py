"""Thm 6 of arXiv 2410.08847 (multi-token responses, one pair) in the unconstrained-features model, and the premise
of CHES.

A pair ``(x, y+, y-)`` with ``y+_1 != y-_1``: one free hidden state per prefix that predicts a response token -- the
prompt's ``h_x`` (row 0 of both ``h_plus [L+, d]`` and ``h_minus [L-, d]``, the same vector) and one per later
prefix of each response -- and a free unembedding ``W [V, d]``, with ``pi(y | x) = prod_k softmax(W h_{y<k})_{y_k}``.
Under DPO's gradient flow (:func:`rate_preferred`, the paper's Thm 6 grouped as the chain rule gives it):

    d/dt ln pi(y+) = -l' [ sum_k ||g+_k||^2 - <g+_1, g-_1>
                           + sum_{k,k'} alpha+_{kk'} <h+_k, h+_k'> - sum_{k,k'} alpha-_{kk'} <h+_k, h-_k'> ],

``g_k = W_{y_k} - E_{pi(.|y<k)}[W]`` (the hidden-state gradients; the first two terms are the paper's ``m + S``) and
``alpha-_{kk'} = <e_{y+_k} - pi(.|y+<k), e_{y-_k'} - pi(.|y-<k')>`` (:func:`alpha_coefficients`; ``alpha+`` the same
with ``y+`` twice), from the unembedding's move. With every ``alpha`` set to 1 the hidden-state terms are
``||S+||^2 - <S+, S->`` = minus CHES (``S = sum_k h_k``): CHES is the rate's hidden-state part under the premise that
the alphas are mostly positive, and the paper finds over 69 % of them positive in real models.

>>> pair = random_pairs(1, seed=0)[0]
>>> rate = rate_preferred(pair, ell_prime=-0.05)
>>> bool(np.isclose(rate, -0.05 * -1 * (hidden_gradient_terms(pair) + hidden_state_terms(pair))))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax


@dataclass(frozen=True)
class PairInstance:
    """One pair of the model: ``h_plus [L+, d]``, ``h_minus [L-, d]`` (row 0 of both is ``h_x``), ``W [V, d]`` and
    the response tokens ``plus [L+]``, ``minus [L-]`` (``plus[0] != minus[0]``)."""

    h_plus: np.ndarray
    h_minus: np.ndarray
    W: np.ndarray
    plus: np.ndarray
    minus: np.ndarray

    def __post_init__(self):
        if not np.array_equal(self.h_plus[0], self.h_minus[0]):
            raise ValueError("h_plus[0] and h_minus[0] must both be the prompt's hidden state h_x")
        if self.plus[0] == self.minus[0]:
            raise ValueError("Thm 6 needs y+ and y- to differ in their first token (plus[0] != minus[0])")


def alpha_coefficients(probs_a, tokens_a, probs_b, tokens_b):
    """``alpha_{kk'} = <e_{a_k} - p_k, e_{b_k'} - q_k'>`` for next-token distributions ``probs_a [n_a, V]``,
    ``probs_b [n_b, V]`` and the tokens taken ``tokens_a [n_a]``, ``tokens_b [n_b]``: ``[n_a, n_b]``, each in
    [-2, 2]. Works on numpy arrays and torch tensors alike.

    >>> p = np.array([[0.5, 0.5, 0.0]]); q = np.array([[0.0, 0.5, 0.5]])
    >>> alpha_coefficients(p, np.array([0]), q, np.array([1])).tolist()    # 0 - 0 - 0.5 + 0.25
    [[-0.25]]
    """
    same = tokens_a[:, None] == tokens_b[None, :]
    return same * 1.0 - probs_b[:, tokens_a].T - probs_a[:, tokens_b] + probs_a @ probs_b.T


def next_token_probs(W: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """``softmax(W h_k)`` for every row of ``hidden [n, d]``: ``[n, V]``."""
    return softmax(hidden @ W.T, axis=-1)


def hidden_gradient_terms(pair: PairInstance) -> float:
    """``sum_k ||g+_k||^2 - <g+_1, g-_1>``: the part of the rate from the hidden states' moves (the paper's
    ``m + S``)."""
    probs_plus, probs_minus = next_token_probs(pair.W, pair.h_plus), next_token_probs(pair.W, pair.h_minus)
    g_plus = pair.W[pair.plus] - probs_plus @ pair.W
    g_minus_first = pair.W[pair.minus[0]] - probs_minus[0] @ pair.W
    return float(np.sum(g_plus ** 2) - g_plus[0] @ g_minus_first)


def hidden_state_terms(pair: PairInstance, *, alphas_one: bool = False) -> float:
    """``sum alpha+ <h+_k, h+_k'> - sum alpha- <h+_k, h-_k'>``: the part from the unembedding's move;
    ``alphas_one=True`` sets every alpha to 1, which gives minus CHES."""
    if alphas_one:
        total_plus, total_minus = pair.h_plus.sum(0), pair.h_minus.sum(0)
        return float(total_plus @ total_plus - total_plus @ total_minus)
    probs_plus, probs_minus = next_token_probs(pair.W, pair.h_plus), next_token_probs(pair.W, pair.h_minus)
    alpha_plus = alpha_coefficients(probs_plus, pair.plus, probs_plus, pair.plus)
    alpha_minus = alpha_coefficients(probs_plus, pair.plus, probs_minus, pair.minus)
    return float(np.sum(alpha_plus * (pair.h_plus @ pair.h_plus.T))
                 - np.sum(alpha_minus * (pair.h_plus @ pair.h_minus.T)))


def rate_preferred(pair: PairInstance, ell_prime: float) -> float:
    """Thm 6: ``d/dt ln pi(y+ | x)`` under DPO's gradient flow at ``l' = ell_prime`` (< 0 for DPO)."""
    return -ell_prime * (hidden_gradient_terms(pair) + hidden_state_terms(pair))


def ches(pair: PairInstance) -> float:
    """The paper's CHES of the pair, ``<S+, S-> - ||S+||^2`` with ``S = sum_k h_k`` (= minus the hidden-state
    terms with every alpha set to 1)."""
    return -hidden_state_terms(pair, alphas_one=True)


def random_pairs(n: int, *, vocab: int = 30, dim: int = 16, lengths: tuple[int, int] = (2, 6),
                 anisotropy: float = 0.0, overlap: float = 0.0, w_scale: float = 2.0, seed: int = 0):
    """``n`` random :class:`PairInstance` s with response lengths drawn from ``lengths`` (inclusive). Hidden
    states: ``anisotropy`` times a direction shared by all (real LMs' hidden states share one, which makes their inner
    products positive) plus unit-norm Gaussian noise. ``overlap``: the chance that a later position of ``y-`` repeats
    ``y+``'s token at that position, with a hidden state near ``y+``'s (the same token in a similar context)."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=dim)
    common /= np.linalg.norm(common)

    def states(count):
        return anisotropy * common + rng.normal(size=(count, dim)) / np.sqrt(dim)

    pairs = []
    for _ in range(n):
        n_plus, n_minus = rng.integers(lengths[0], lengths[1] + 1, size=2)
        plus, minus = rng.integers(0, vocab, size=n_plus), rng.integers(0, vocab, size=n_minus)
        minus[0] = (plus[0] + rng.integers(1, vocab)) % vocab
        h_plus, h_minus = states(n_plus), states(n_minus)
        h_minus[0] = h_plus[0]
        for k in range(1, min(n_plus, n_minus)):
            if rng.random() < overlap:
                minus[k] = plus[k]
                h_minus[k] = h_plus[k] + 0.3 * rng.normal(size=dim) / np.sqrt(dim)
        W = rng.normal(size=(vocab, dim)) * w_scale / np.sqrt(dim)
        pairs.append(PairInstance(h_plus, h_minus, W, plus, minus))
    return pairs
