"""arXiv 2507.07981 §4: why an implicit reward model (IM-RM) leans on token identity and an explicit one (EX-RM) on
hidden states, in the fixed-representation (unconstrained-features) model where only the last linear map trains.

* **EX-RM** ``r(x, y) = <u, h_{x,y}>``: ``h_{x,y}`` is the hidden state after the whole response; ``u`` trains.
* **IM-RM** ``r(x, y) = beta * sum_k [ln pi_W(y_k | x, y_<k) - ln pi_W_ref(y_k | x, y_<k)]`` with
  ``pi_W(. | c) = softmax(W h_c)``: the contexts' hidden states ``h_c`` are fixed, the unembedding ``W`` trains.

Both minimise the same Bradley-Terry loss ``-ln sigmoid(r(x, y+) - r(x, y-))``. One gradient-descent step of size
``lr`` on a pair, with ``g = sigmoid(r(x, y-) - r(x, y+))``, changes the reward of any other ``(x', y')`` by

* EX-RM (exact, ``r`` is linear in ``u``): ``lr * g * <h_{x',y'}, h_{x,y+} - h_{x,y-}>``;
* IM-RM (first order in ``lr``; re-derived here, as the notes reconstruct the paper's Eq. 5 -- unchecked against
  its text, the ``beta**2`` prefactor included; the tests check it against actual gradient steps):
  ``lr * g * beta**2 * sum_k [sum_l rho_kl(y+) <h'_k, h+_l> - sum_l rho_kl(y-) <h'_k, h-_l>]`` with the token-level
  coefficients ``rho_kl(v) = <e_{y'_k} - pi(.|h'_k), e_{v_l} - pi(.|h_l)>`` in [-2, 2]: about 1 where the tokens
  match, small and often negative where they do not -- whatever the hidden states say.

Thm 2 (single-token responses): the log-normaliser cancels in ``r(x, a) - r(x, b)``, so the BT gradient touches only
the unembedding rows of tokens that occur in training pairs. Rows of unseen tokens never move, and an IM-RM's reward
difference between two unseen tokens stays exactly 0 (ties: accuracy ½), while the EX-RM's head moves along the
hidden-state directions and ranks unseen tokens correctly when their hidden states align with the seen ones.
:func:`single_token_dynamics` trains both on such an instance (full-batch Adam, the paper's optimiser family).

>>> run = single_token_dynamics(TokenCuesConfig(steps=50))
>>> float(run.accuracy["implicit"]["unseen"][-1]), float(run.max_unseen_difference["implicit"][-1])
(0.5, 0.0)
>>> float(run.accuracy["explicit"]["unseen"][-1])
1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEEN_CHOSEN = ("yes", "sure")
SEEN_REJECTED = ("no", "never")
UNSEEN_CHOSEN = ("certainly", "absolutely")
UNSEEN_REJECTED = ("nope", "notreally")
FILLER = ("maybe", "perhaps", "the", "dog", "cat", "pig")
VOCAB = SEEN_CHOSEN + SEEN_REJECTED + UNSEEN_CHOSEN + UNSEEN_REJECTED + FILLER
KINDS = ("explicit", "implicit")


# --- general (multi-token) rewards and one-step changes ----------------------------------------------------------

@dataclass(frozen=True)
class Response:
    """A response in the fixed-representation model: ``tokens`` [L] (ids into the unembedding's rows), ``states``
    [L, d] (hidden state of each context x, y_<k: the unembedding's input for token k) and ``last`` [d] (the hidden
    state after the whole response: the EX-RM's input)."""

    tokens: np.ndarray
    states: np.ndarray
    last: np.ndarray


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1)
    return top + np.log(np.exp(logits - top[..., None]).sum(axis=-1))


def implicit_reward(W: np.ndarray, W_ref: np.ndarray, beta: float, response: Response) -> float:
    """``beta * ln pi_W(y|x)/pi_W_ref(y|x)``, written as ``beta * [((W - W_ref) h_k)[y_k] - (lse(W h_k) -
    lse(W_ref h_k))]`` summed over k: mathematically the same, and exactly 0 in floating point for a token whose row
    did not move compared with another such token on the same context (Thm 2's ties are exact ties here)."""
    moved = np.einsum("kd,kd->k", (W - W_ref)[response.tokens], response.states)
    normalisers = _logsumexp(response.states @ W.T) - _logsumexp(response.states @ W_ref.T)
    return float(beta * (moved - normalisers).sum())


def explicit_reward(u: np.ndarray, response: Response) -> float:
    return float(u @ response.last)


def bt_weight(margin: float) -> float:
    """``g = sigmoid(-margin)`` with ``margin = r(x, y+) - r(x, y-)``: the BT loss's gradient weight."""
    return float(1.0 / (1.0 + np.exp(margin)))


def implicit_reward_gradient(W: np.ndarray, beta: float, response: Response) -> np.ndarray:
    """d r / d W = ``beta * sum_k (e_{y_k} - pi_W(.|h_k)) h_k^T`` ([V, d]; the reference does not depend on W)."""
    coeff = -np.exp(log_softmax(response.states @ W.T))                     # [L, V]
    coeff[np.arange(len(response.tokens)), response.tokens] += 1.0
    return beta * coeff.T @ response.states


def implicit_step(W, W_ref, beta: float, lr: float, chosen: Response, rejected: Response) -> np.ndarray:
    """The unembedding after one gradient-descent step of size ``lr`` on the BT loss of one pair."""
    g = bt_weight(implicit_reward(W, W_ref, beta, chosen) - implicit_reward(W, W_ref, beta, rejected))
    return W + lr * g * (implicit_reward_gradient(W, beta, chosen) - implicit_reward_gradient(W, beta, rejected))


def explicit_step(u: np.ndarray, lr: float, chosen: Response, rejected: Response) -> np.ndarray:
    """The head after one gradient-descent step of size ``lr`` on the BT loss of one pair."""
    g = bt_weight(explicit_reward(u, chosen) - explicit_reward(u, rejected))
    return u + lr * g * (chosen.last - rejected.last)


def rho_coefficients(W: np.ndarray, target: Response, response: Response) -> np.ndarray:
    """The token-level coefficients ``rho_kl = <e_{y'_k} - pi(.|h'_k), e_{v_l} - pi(.|h_l)>`` of ``target`` (y')
    against ``response`` (v): [K, L], each in [-2, 2].

    >>> W = np.zeros((3, 2)); one = lambda t: Response(np.array([t]), np.ones((1, 2)), np.ones(2))
    >>> [round(float(rho_coefficients(W, one(0), one(t))[0, 0]), 6) for t in (0, 1)]   # 1 - 1/3 and 0 - 1/3
    [0.666667, -0.333333]
    """
    def centred(r: Response) -> np.ndarray:
        out = -np.exp(log_softmax(r.states @ W.T))
        out[np.arange(len(r.tokens)), r.tokens] += 1.0
        return out
    return centred(target) @ centred(response).T


def implicit_first_order_change(W, W_ref, beta: float, lr: float, target: Response, chosen: Response,
                                rejected: Response) -> float:
    """First-order change of the IM-RM reward of ``target`` by one step on ``(chosen, rejected)``, through rho."""
    g = bt_weight(implicit_reward(W, W_ref, beta, chosen) - implicit_reward(W, W_ref, beta, rejected))
    push = sum(sign * (rho_coefficients(W, target, r) * (target.states @ r.states.T)).sum()
               for sign, r in ((1.0, chosen), (-1.0, rejected)))
    return float(lr * g * beta ** 2 * push)


def explicit_change(u: np.ndarray, lr: float, target: Response, chosen: Response, rejected: Response) -> float:
    """Exact change of the EX-RM reward of ``target`` by one step on ``(chosen, rejected)``."""
    g = bt_weight(explicit_reward(u, chosen) - explicit_reward(u, rejected))
    return float(lr * g * target.last @ (chosen.last - rejected.last))


# --- Thm 2: single-token responses ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenCuesConfig:
    """A single-token instance (see :func:`make_instance`) and its training (full-batch Adam, no weight decay)."""

    dim: int = 16
    train_prompts: int = 8
    test_prompts: int = 8
    alignment: float = 0.8          # cosine of an unseen answer's hidden state with its polarity direction
    unembedding_similarity: float = 0.5   # cosine of same-polarity rows of W_ref with a shared direction
    beta: float = 0.01              # 2507.07981's beta
    lr: float = 0.05
    steps: int = 300
    record_every: int = 5
    seed: int = 0

    def __post_init__(self):
        if not -1.0 <= self.alignment <= 1.0 or not -1.0 <= self.unembedding_similarity <= 1.0:
            raise ValueError("alignment and unembedding_similarity are cosines in [-1, 1]")
        if min(self.dim, self.train_prompts, self.test_prompts, self.steps, self.record_every) < 1:
            raise ValueError("dim, train_prompts, test_prompts, steps and record_every must be >= 1")
        if self.beta <= 0 or self.lr <= 0:
            raise ValueError("beta and lr must be > 0")


@dataclass(frozen=True)
class Instance:
    """Prompt states ``prompts`` [P, d] (train prompts first), the response states ``answers`` [P, V, d] (h_{x,y}
    after the single token y), the reference unembedding ``W_ref`` [V, d], and the pairs (prompt, chosen, rejected)
    ``train_pairs`` (seen tokens on train prompts) and ``unseen_pairs`` (unseen tokens on test prompts)."""

    prompts: np.ndarray
    answers: np.ndarray
    W_ref: np.ndarray
    train_pairs: np.ndarray
    unseen_pairs: np.ndarray

    def response(self, prompt: int, token: int) -> Response:
        return Response(np.array([token]), self.prompts[prompt][None], self.answers[prompt, token])


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def make_instance(config: TokenCuesConfig) -> Instance:
    """Random prompt states around a shared direction; answers' hidden states ``0.5 h_x + polarity * m + noise``
    where seen answers lie on the polarity direction ``m`` and unseen ones at cosine ``alignment`` with it (their
    token identity is all that differs); reference unembedding rows of each polarity at cosine
    ``unembedding_similarity`` with a shared row."""
    rng = np.random.default_rng(config.seed)
    d, n_prompts = config.dim, config.train_prompts + config.test_prompts
    polarity = np.array([+1.0 if w in SEEN_CHOSEN + UNSEEN_CHOSEN else -1.0 if w in SEEN_REJECTED + UNSEEN_REJECTED
                         else 0.0 for w in VOCAB])
    unseen = np.array([w in UNSEEN_CHOSEN + UNSEEN_REJECTED for w in VOCAB])
    direction, row_direction, shared = _unit(rng.normal(size=(3, d)))
    token_noise = _unit(rng.normal(size=(len(VOCAB), d)))
    cosine = np.where(unseen, config.alignment, 1.0)[:, None]
    token_part = np.where(polarity[:, None] != 0, polarity[:, None] * (cosine * direction
                                                                         + np.sqrt(1 - cosine ** 2) * token_noise),
                          token_noise)
    prompts = _unit(shared + _unit(rng.normal(size=(n_prompts, d))))     # anisotropic, as LM hidden states are
    answers = 0.5 * prompts[:, None, :] + token_part[None] + 0.05 * rng.normal(size=(n_prompts, len(VOCAB), d))
    s = config.unembedding_similarity
    W_ref = np.where(polarity[:, None] != 0, s * polarity[:, None] * row_direction + np.sqrt(1 - s ** 2)
                     * _unit(rng.normal(size=(len(VOCAB), d))), _unit(rng.normal(size=(len(VOCAB), d))))
    index = {w: i for i, w in enumerate(VOCAB)}
    train = [(p, index[c], index[r]) for p in range(config.train_prompts) for c in SEEN_CHOSEN for r in SEEN_REJECTED]
    test = [(p, index[c], index[r]) for p in range(config.train_prompts, n_prompts)
            for c in UNSEEN_CHOSEN for r in UNSEEN_REJECTED]
    return Instance(prompts, answers, W_ref, np.array(train), np.array(test))


@dataclass
class TokenCuesRun:
    """Trajectories of both RM kinds: ``accuracy[kind]["train"|"unseen"]`` and ``max_unseen_difference[kind]``
    (max |r(x, a) - r(x, b)| over unseen pairs) at ``steps``; ``moved_rows``: the tokens whose unembedding row
    changed (IM-RM); ``one_step``: per probe response of a test prompt, the EX-RM's exact and the IM-RM's first-order
    reward change from one GD step on a training pair, and the probe's rho against y+ and y-."""

    config: TokenCuesConfig
    steps: np.ndarray
    accuracy: dict[str, dict[str, np.ndarray]]
    max_unseen_difference: dict[str, np.ndarray]
    unseen_differences: dict[str, np.ndarray]
    moved_rows: list[str]
    one_step: dict[str, dict[str, float]]


def pair_differences(reward, instance: Instance, pairs: np.ndarray) -> np.ndarray:
    """``r(x, chosen) - r(x, rejected)`` for each (prompt, chosen, rejected) row of ``pairs``."""
    return np.array([reward(instance.response(p, c)) - reward(instance.response(p, r)) for p, c, r in pairs])


def half_tie_accuracy(differences: np.ndarray) -> float:
    """Accuracy with ties counted ½ (2507.07981's evaluator)."""
    return float(np.mean(np.where(differences == 0, 0.5, (differences > 0).astype(float))))


class _Adam:
    """Full-batch Adam (betas 0.9/0.999, eps 1e-8, no weight decay): a zero gradient leaves a parameter exactly where
    it is, which is what keeps unseen unembedding rows bitwise unchanged."""

    def __init__(self, shape, lr: float):
        self.lr, self.t = lr, 0
        self.m, self.v = np.zeros(shape), np.zeros(shape)

    def step(self, param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * grad
        self.v = 0.999 * self.v + 0.001 * grad ** 2
        m_hat, v_hat = self.m / (1 - 0.9 ** self.t), self.v / (1 - 0.999 ** self.t)
        return param - self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def _loss_gradient(kind: str, param: np.ndarray, instance: Instance, beta: float) -> np.ndarray:
    """Gradient of the mean BT loss over the training pairs, for the head u (explicit) or the unembedding W."""
    grad = np.zeros_like(param)
    for p, c, r in instance.train_pairs:
        chosen, rejected = instance.response(p, c), instance.response(p, r)
        if kind == "explicit":
            g = bt_weight(explicit_reward(param, chosen) - explicit_reward(param, rejected))
            grad -= g * (chosen.last - rejected.last)
        else:
            g = bt_weight(implicit_reward(param, instance.W_ref, beta, chosen)
                          - implicit_reward(param, instance.W_ref, beta, rejected))
            grad -= g * (implicit_reward_gradient(param, beta, chosen) - implicit_reward_gradient(param, beta,
                                                                                                 rejected))
    return grad / len(instance.train_pairs)


def _reward_fn(kind: str, param: np.ndarray, instance: Instance, beta: float):
    if kind == "explicit":
        return lambda response: explicit_reward(param, response)
    return lambda response: implicit_reward(param, instance.W_ref, beta, response)


def single_token_dynamics(config: TokenCuesConfig = TokenCuesConfig()) -> TokenCuesRun:
    """Train an EX-RM head (from 0) and an IM-RM unembedding (from ``W_ref``, so pi_0 = pi_ref) on the seen-token
    pairs of :func:`make_instance`; record accuracies and unseen-pair reward differences along the way."""
    instance = make_instance(config)
    params = {"explicit": np.zeros(config.dim), "implicit": instance.W_ref.copy()}
    optimisers = {kind: _Adam(p.shape, config.lr) for kind, p in params.items()}
    recorded = [s for s in range(config.steps + 1) if s % config.record_every == 0 or s == config.steps]
    accuracy = {kind: {"train": [], "unseen": []} for kind in KINDS}
    max_diff, diffs = {kind: [] for kind in KINDS}, {}
    for step in range(config.steps + 1):
        if step in recorded:
            for kind in KINDS:
                reward = _reward_fn(kind, params[kind], instance, config.beta)
                unseen = pair_differences(reward, instance, instance.unseen_pairs)
                accuracy[kind]["train"].append(half_tie_accuracy(pair_differences(reward, instance,
                                                                                  instance.train_pairs)))
                accuracy[kind]["unseen"].append(half_tie_accuracy(unseen))
                max_diff[kind].append(float(np.abs(unseen).max()))
                diffs[kind] = unseen
        if step < config.steps:
            for kind in KINDS:
                params[kind] = optimisers[kind].step(params[kind], _loss_gradient(kind, params[kind], instance,
                                                                                  config.beta))
    moved = [w for w, before, after in zip(VOCAB, instance.W_ref, params["implicit"]) if not np.array_equal(before,
                                                                                                            after)]
    return TokenCuesRun(config, np.array(recorded), {k: {s: np.array(v) for s, v in a.items()}
                                                     for k, a in accuracy.items()},
                        {k: np.array(v) for k, v in max_diff.items()}, diffs, moved, one_step_probe(instance, config))


def one_step_probe(instance: Instance, config: TokenCuesConfig, lr: float = 1.0) -> dict[str, dict[str, float]]:
    """From the initial parameters, one GD step on the first training pair (seen chosen vs seen rejected on train
    prompt 0): the reward change of each probe answer on the same prompt -- EX-RM exact, IM-RM first order (per unit
    step) -- and the probe's rho against y+ and y-. The IM-RM moves both unseen synonyms by the same amount."""
    p, c, r = instance.train_pairs[0]
    chosen, rejected = instance.response(p, c), instance.response(p, r)
    u, W = np.zeros(config.dim), instance.W_ref
    probes = {"seen y+": c, "unseen synonym of y+": VOCAB.index(UNSEEN_CHOSEN[0]), "seen y-": r,
              "unseen synonym of y-": VOCAB.index(UNSEEN_REJECTED[0])}
    out = {}
    for name, token in probes.items():
        target = instance.response(p, token)
        out[name] = {"explicit": explicit_change(u, lr, target, chosen, rejected),
                     "implicit": implicit_first_order_change(W, W, config.beta, lr, target, chosen, rejected),
                     "rho_chosen": float(rho_coefficients(W, target, chosen)[0, 0]),
                     "rho_rejected": float(rho_coefficients(W, target, rejected)[0, 0])}
    return out
