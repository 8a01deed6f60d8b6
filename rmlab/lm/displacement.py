"""Per-example displacement predictor: the first-order change of ln pi(y+_i|x_i) under one full-batch DPO/IPO
gradient step, ``<grad ln pi(y+_i), -grad L>``, restricted to the last hidden layer and the unembedding.

This is the unconstrained-features model of arXiv 2410.08847 (Sec. 4; :mod:`rmlab.theory.displacement`) put on a
real model's features: the parameters are the unembedding ``W`` ([V, d], the LM head) and one free feature vector
per distinct *prefix* -- the last-layer hidden state (after the final norm, the vector multiplied by ``W``) of
prompt + the first k response tokens, for each position that predicts a response token or the EOS. Prefixes shared
by chosen and rejected (the prompt, a common start) or by several pairs are one vector, as in the theory (Thm 6/8).
With ``L = mean_i l(ln pi(y+_i) - ln pi(y-_i))`` (DPO or IPO on summed sequence log-probs, the reference = the model
itself unless reference log-probs are given), the prediction is exact for that model:

    predicted_dlogp_chosen_i = d/dt ln pi(y+_i) along -grad_{features, W} L
        = sum over the pairs j of (-l'_j / N) <grad ln pi(y+_i), grad ln pi(y+_j) - grad ln pi(y-_j)>.

It contains the paper's CHES terms (hidden-state inner products, Thm 6) with their true coefficients, the
unembedding terms (Thm 4/5), and the cross-pair terms (Thm 8). It is a rate per unit learning rate: its sign
predicts displacement (negative: ln pi(y+_i) falls). Computed in float64 with two passes over the response tokens
in chunks of ``chunk`` positions (memory ``chunk x V``): one backward for ``grad L``, one forward-mode JVP.
Cost: one forward of the model per pair (no grad) plus ~3 (positions x V x d) flops.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call, jvp

from rmlab._headless import tqdm
from rmlab.errors import UserError
from rmlab.lm.batching import last_hidden_state, length_sorted_batches, model_device, pad_batch, padding_id
from rmlab.lm.ches import encode_preference_pairs
from rmlab.lm.data import load_preferences
from rmlab.lm.load import context_length
from rmlab.lm.score import response_logprobs

PREDICTOR_COLUMNS = ("index", "predicted_dlogp_chosen", "predicted_dlogp_rejected")
DIRECTIONS = ("gradient", "rmsprop")
SCOPES = ("features", "weights")


def rmsprop_step(grad: torch.Tensor, *, alpha: float = 0.99, eps: float = 1e-8) -> torch.Tensor:
    """RMSprop's first update direction per unit learning rate (``torch.optim.RMSprop``, square average from 0)."""
    return grad / (torch.sqrt((1 - alpha) * grad ** 2) + eps)


class FeatureProblem:
    """The unconstrained-features view of a set of pairs: ``features [U, d]`` (one row per distinct prefix),
    ``W [V, d]``, and per response position (entry) its feature row, target token and sequence (``2i``: the chosen
    response of pair i, ``2i + 1``: its rejected one). All float64 on CPU."""

    def __init__(self, features, unembedding, entry_row, entry_target, entry_sequence, n_pairs):
        self.features, self.W = features, unembedding
        self.entry_row, self.entry_target, self.entry_sequence = entry_row, entry_target, entry_sequence
        self.n_pairs = n_pairs

    def entry_logprobs(self, features, W, entries: slice) -> torch.Tensor:
        """``ln pi(target | prefix)`` of the entries ``entries`` as a differentiable function of (features, W)."""
        h = features[self.entry_row[entries]]                                          # [E, d]
        logits = h @ W.T                                                                # [E, V]
        target = self.entry_target[entries]
        return logits.gather(1, target[:, None]).squeeze(1) - torch.logsumexp(logits, dim=1)

    def sequence_sums(self, values: torch.Tensor) -> torch.Tensor:
        """Per-sequence sums of per-entry ``values``: ``[2N]`` (chosen, rejected interleaved)."""
        return torch.zeros(2 * self.n_pairs, dtype=values.dtype).index_add_(0, self.entry_sequence, values)


def first_order_rates(problem: FeatureProblem, *, loss: str = "dpo", beta: float = 0.1, reference=None,
                      chunk: int = 256, direction: str = "gradient") -> tuple[np.ndarray, np.ndarray]:
    """``(d/dt ln pi(y+_i), d/dt ln pi(y-_i))`` ``[N]`` each, along ``-grad L`` (see the module docstring).
    ``reference``: ``(ref_chosen [N], ref_rejected [N])`` summed log-probs; default: the features' own.
    ``direction="rmsprop"``: along RMSprop's first update per unit learning rate instead (torch defaults alpha 0.99,
    eps 1e-8): ``-g / (sqrt(1 - alpha) |g| + eps)``, about ``-10 sign(g)`` -- every coordinate moves by the same
    amount whatever the size of its gradient, as in the paper's optimiser."""
    if direction not in DIRECTIONS:
        raise UserError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    chunks = [slice(s, s + chunk) for s in range(0, len(problem.entry_row), chunk)]
    with torch.no_grad():
        sums = problem.sequence_sums(torch.cat([problem.entry_logprobs(problem.features, problem.W, c)
                                                for c in chunks]))
    delta = sums[0::2] - sums[1::2]
    delta_ref = delta if reference is None else (torch.as_tensor(reference[0], dtype=torch.float64)
                                                 - torch.as_tensor(reference[1], dtype=torch.float64))
    weight = _sequence_weights(delta, delta_ref, loss, beta)                           # dL/d ln pi(y_s), [2N]
    features = problem.features.clone().requires_grad_(True)
    W = problem.W.clone().requires_grad_(True)
    for c in chunks:
        surrogate = (weight[problem.entry_sequence[c]] * problem.entry_logprobs(features, W, c)).sum()
        surrogate.backward()                                                           # accumulates grad L
    tangent = (-features.grad, -W.grad) if direction == "gradient" else (-rmsprop_step(features.grad),
                                                                          -rmsprop_step(W.grad))
    rates = torch.zeros(len(problem.entry_row), dtype=torch.float64)
    for c in chunks:
        _, rates[c] = jvp(lambda f, w: problem.entry_logprobs(f, w, c), (problem.features, problem.W), tangent)
    per_sequence = problem.sequence_sums(rates)
    return per_sequence[0::2].numpy(), per_sequence[1::2].numpy()


def weight_space_rates(model, pairs, pad_id: int, *, loss: str = "dpo", beta: float = 0.1, batch_size: int = 16,
                       direction: str = "gradient") -> tuple[np.ndarray, np.ndarray]:
    """:func:`first_order_rates` with every trainable weight of ``model`` as the parameters instead of the
    unconstrained features: ``(d/dt ln pi(y+_i), d/dt ln pi(y-_i))`` ``[N]`` along ``-grad_theta L`` (or RMSprop's
    first update of it), the reference being ``model`` itself. It uses the model at its initial weights only: one
    backward pass over the pairs for ``grad L`` (the full-batch gradient, the sum of any epoch's batch gradients at
    the start), then the directional derivative of every pair's log-probs by forward-mode AD (``torch.func.jvp``, one
    pass about the cost of two forwards), on a float32-or-wider copy of the model with eager attention (PyTorch has no
    forward-mode rule for the fused attention kernels). On SmolLM2 the float32 rates are within 0.12 % of a float64
    central difference."""
    return weight_space_rates_by_direction(model, pairs, pad_id, loss=loss, beta=beta, batch_size=batch_size,
                                           directions=(direction,))[direction]


def weight_space_rates_by_direction(model, pairs, pad_id: int, *, loss: str = "dpo", beta: float = 0.1,
                                    batch_size: int = 16, directions=DIRECTIONS) -> dict[str, tuple[np.ndarray,
                                                                                                    np.ndarray]]:
    """:func:`weight_space_rates` along each of ``directions``, sharing one full-batch gradient:
    ``{direction: (chosen rates, rejected rates)}``."""
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown or not directions:
        raise UserError(f"direction must be one of {DIRECTIONS}, got {list(directions)!r}")
    model = _forward_ad_copy(model)
    weights = {name: w for name, w in model.named_parameters() if w.requires_grad}
    sequences = [(p, y) for p, c, r in pairs for y in (c, r)]                      # chosen, rejected interleaved
    batches = length_sorted_batches([len(p) + len(y) for p, y in sequences], batch_size)
    with torch.no_grad():
        sums = _sequence_sums(model, sequences, batches, pad_id)
    delta = sums[0::2] - sums[1::2]
    weight = _sequence_weights(delta, delta, loss, beta)                              # dL/d ln pi(y_s), [2N]
    for batch in batches:
        (weight[batch] * _sequence_sums(model, sequences, [batch], pad_id)[batch]).sum().backward()
    rates = {}
    for direction in directions:
        tangent = {name: -w.grad if direction == "gradient" else -rmsprop_step(w.grad) for name, w in weights.items()}
        change = _directional_sums(model, weights, tangent, sequences, batches, pad_id)
        rates[direction] = (change[0::2].numpy(), change[1::2].numpy())
    return rates


def _forward_ad_copy(model):
    """A copy of ``model`` for :func:`weight_space_rates`: eval mode, no gradient left from the caller, float32 or
    wider (a bf16 model's rates would be noise), eager attention (forward-mode AD needs it)."""
    model = copy.deepcopy(model).eval()
    model.zero_grad(set_to_none=True)
    dtype = next(model.parameters()).dtype
    model.to(torch.promote_types(dtype, torch.float32))
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    return model


def _directional_sums(model, weights: dict, tangent: dict, sequences, batches, pad_id) -> torch.Tensor:
    """``d/de`` at ``e = 0`` of every sequence's summed response log-prob with the ``weights`` moved to
    ``weights + e * tangent`` (forward-mode AD), ``[len(sequences)]`` float64."""
    primals = {name: w.detach() for name, w in weights.items()}
    change = torch.zeros(len(sequences), dtype=torch.float64)
    for batch in batches:
        def batch_sums(params, batch=batch):
            logps, mask = response_logprobs(_AtWeights(model, params), [sequences[b] for b in batch], pad_id)
            return torch.where(mask, logps, 0.0).sum(dim=1)

        with torch.no_grad():
            _, derivative = jvp(batch_sums, (primals,), (tangent,))
        change[batch] = derivative.double()
    return change


class _AtWeights:
    """``model`` called with ``params`` in place of its weights (``torch.func.functional_call``), in the form
    :func:`response_logprobs` calls a model."""

    def __init__(self, model, params: dict):
        self.model, self.params = model, params

    def __call__(self, **inputs):
        return functional_call(self.model, self.params, args=(), kwargs=inputs)

    def parameters(self):
        return self.model.parameters()


def _sequence_sums(model, sequences, batches, pad_id) -> torch.Tensor:
    """Summed response log-probs ``[len(sequences)]`` of the sequences in ``batches`` (zero elsewhere)."""
    sums = torch.zeros(len(sequences), dtype=torch.float64)
    for batch in batches:
        logps, mask = response_logprobs(model, [sequences[b] for b in batch], pad_id)
        sums = sums.index_put((torch.tensor(batch),), torch.where(mask, logps.double(), 0.0).sum(dim=1))
    return sums


def _sequence_weights(delta, delta_ref, loss, beta) -> torch.Tensor:
    """``dL/d ln pi(y+_i) = l'_i / N`` and ``dL/d ln pi(y-_i) = -l'_i / N``, interleaved ``[2N]``."""
    if loss == "dpo":
        ell = -beta * torch.sigmoid(-beta * (delta - delta_ref))
    elif loss == "ipo":
        ell = 2.0 * (delta - delta_ref - 1.0 / (2.0 * beta))
    else:
        raise UserError(f"loss must be 'dpo' or 'ipo', got {loss!r}")
    return torch.stack([ell, -ell], dim=1).reshape(-1) / len(delta)


@torch.no_grad()
def feature_problem(model, pairs, pad_id: int, *, batch_size: int = 16, progress=False) -> FeatureProblem:
    """Run ``model`` over prompt + chosen and prompt + rejected of every pair (``encode_preference_pairs``) and
    collect the distinct prefixes' last hidden states and the unembedding (see :class:`FeatureProblem`)."""
    head = model.get_output_embeddings()
    if head is None or getattr(head, "bias", None) is not None:
        raise UserError("the displacement predictor needs a causal LM whose output layer is a bias-free linear "
                        "unembedding (model.get_output_embeddings())")
    rows: dict[tuple, int] = {}
    states: list[torch.Tensor] = []
    entry_row, entry_target, entry_sequence = [], [], []
    sequences = [(2 * i + k, p, r) for i, (p, c, rj) in enumerate(pairs) for k, r in enumerate((c, rj))]
    device = model_device(model)
    for batch in tqdm(length_sorted_batches([len(p) + len(r) for _, p, r in sequences], batch_size),
                      desc="features", disable=not progress):
        ids, mask, positions, starts = pad_batch([sequences[b][1] + sequences[b][2] for b in batch], pad_id,
                                                 device=device)
        hidden = last_hidden_state(model, ids, mask, positions).double().cpu()
        for row, b in enumerate(batch):
            sequence, prompt, response = sequences[b]
            first = int(starts[row]) + len(prompt) - 1
            for k, target in enumerate(response):
                key = tuple(prompt) + tuple(response[:k])
                if key not in rows:
                    rows[key] = len(states)
                    states.append(hidden[row, first + k])
                entry_row.append(rows[key])
                entry_target.append(target)
                entry_sequence.append(sequence)
    as_long = lambda values: torch.tensor(values, dtype=torch.long)  # noqa: E731
    return FeatureProblem(torch.stack(states), head.weight.detach().double().cpu(), as_long(entry_row),
                          as_long(entry_target), as_long(entry_sequence), len(pairs))


def predict_displacement(model, tokenizer, preferences, *, loss: str = "dpo", beta: float = 0.1,
                         chat_template: bool = False, max_length=None, batch_size: int = 16, chunk: int = 256,
                         direction: str = "gradient", scope: str = "features", progress=False) -> pd.DataFrame:
    """First-order change of ln pi(y+) and ln pi(y-) per pair under one full-batch DPO/IPO step on all of
    ``preferences`` (anything ``load_preferences`` accepts), per unit learning rate; columns
    ``PREDICTOR_COLUMNS``. Negative ``predicted_dlogp_chosen``: the pair is predicted to be displaced.
    ``scope="features"``: the unconstrained-features model (last hidden states + unembedding,
    :func:`first_order_rates`); ``scope="weights"``: every trainable weight (:func:`weight_space_rates`).

    >>> predict_displacement(model, tokenizer, "pairs.jsonl").head()     # doctest: +SKIP
    """
    if scope not in SCOPES:
        raise UserError(f"scope must be one of {SCOPES}, got {scope!r}")
    preferences = load_preferences(preferences)
    pairs = encode_preference_pairs(tokenizer, preferences, chat_template=chat_template, max_length=max_length,
                                    context=context_length(model))
    if scope == "weights":
        chosen, rejected = weight_space_rates(model, pairs, padding_id(tokenizer), loss=loss, beta=beta,
                                              batch_size=batch_size, direction=direction)
    else:
        problem = feature_problem(model, pairs, padding_id(tokenizer), batch_size=batch_size, progress=progress)
        chosen, rejected = first_order_rates(problem, loss=loss, beta=beta, chunk=chunk, direction=direction)
    return pd.DataFrame({"index": np.arange(len(pairs)), "predicted_dlogp_chosen": chosen,
                         "predicted_dlogp_rejected": rejected}, columns=list(PREDICTOR_COLUMNS))
