"""Batched scoring of (prompt, response) pairs: sequence log-probabilities, explicit, implicit and callable rewards.

Pairs are tokenised by the convention of ``rmlab.lm.data`` (prompt ids + response ids + EOS). Batches are padded by
rmlab itself, on either side, with explicit ``position_ids`` (so a left-padded row sees the same positions as the
unpadded sequence), and results are read at each row's true positions: batched scores equal per-example scores up
to float rounding, whatever the padding side.

Log-probabilities: the forward pass runs in the model's dtype, token log-probs are taken in float32 (or the model's
dtype if wider) and summed in float64. Names say the reduction: ``logprob_sum`` is log pi(y|x) (a sum over the
response tokens and the EOS; TRL's ``logps/chosen`` is this sum, batch-averaged), ``logprob_mean_per_token`` =
``logprob_sum / n_tokens``.

A *reward function* is any callable ``f(prompts: list[str], responses: list[str]) -> np.ndarray[float64]`` (one
value per pair). ``ExplicitRM``, ``ImplicitRM`` and ``CallableReward`` are such callables.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from rmlab._headless import tqdm

from rmlab.errors import UserError
from rmlab.lm.batching import (last_hidden_state, length_sorted_batches, model_device, pad_batch,
                                pad_prompt_response_batch, padding_id)
from rmlab.lm.data import encode_pairs
from rmlab.lm.load import as_model_and_tokenizer, context_length, load_causal_lm, load_sequence_classifier


def response_logprobs(model, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int, *,
                      padding_side: str = "right", temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The log-prob core shared by measuring and training: one batched forward of ``(prompt_ids, response_ids)``
    pairs (response ids end with the EOS, the convention of :mod:`rmlab.lm.data`).

    Returns ``logps [B, R]`` and ``mask [B, R]`` (R: the longest response): ``logps[i, j] = log pi(y_j | x, y_<j)``
    for response token j of pair i, in float32 (or the model's dtype if wider), and ``mask`` true on real response
    tokens (entries past a response's end are finite filler). Differentiable when called with gradients enabled;
    padding-invariant on either side (explicit ``position_ids``); only the response positions are normalised.
    ``temperature``: the log-probs of the tempered policy ``softmax(logits / temperature)`` (what sampling at that
    temperature draws from; TRL's RL trainers score their samples the same way).
    """
    logits, targets, mask = _response_logits(model, pairs, pad_id, padding_side, temperature)
    return logits.gather(-1, targets[..., None]).squeeze(-1) - torch.logsumexp(logits, dim=-1), mask


def response_logprobs_and_entropy(model, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int, *,
                                  padding_side: str = "right",
                                  temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`response_logprobs` plus the exact entropy of each next-token distribution it scores: ``(logps [B, R],
    entropy [B, R], mask [B, R])``, from the same forward pass; ``entropy[i, j] = H(pi(. | x, y_<j))`` in nats,
    differentiable (an entropy bonus)."""
    logits, targets, mask = _response_logits(model, pairs, pad_id, padding_side, temperature)
    log_probs = torch.log_softmax(logits, dim=-1)                                     # [B, R, V]
    entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
    return log_probs.gather(-1, targets[..., None]).squeeze(-1), entropy, mask


def _response_logits(model, pairs, pad_id: int, padding_side: str, temperature: float):
    """The logits that predict each response token, divided by ``temperature`` (``[B, R, V]``, float32 or wider),
    the response tokens ``[B, R]`` and their mask ``[B, R]``."""
    if not temperature > 0:
        raise UserError(f"temperature must be > 0, got {temperature!r}")
    input_ids, mask, positions, columns, response_mask = pad_prompt_response_batch(
        pairs, pad_id, side=padding_side, device=model_device(model))
    logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
    rows = torch.arange(len(pairs), device=input_ids.device)[:, None]
    selected = logits[rows, columns]                                                  # [B, R, V]
    selected = selected.to(torch.promote_types(selected.dtype, torch.float32))
    if temperature != 1.0:
        selected = selected / temperature
    return selected, input_ids[rows, columns + 1], response_mask


@torch.no_grad()
def sequence_logprobs(model, tokenizer, prompts, responses, *, batch_size=16, chat_template=False,
                      padding_side="right", progress=False) -> dict[str, np.ndarray]:
    """log pi(response + EOS | prompt) per pair: ``logprob_sum``, ``n_tokens``, ``logprob_mean_per_token``.
    Token log-probs from :func:`response_logprobs`, summed in float64.

    >>> out = sequence_logprobs(model, tokenizer, ["2+2="], ["4"])  # doctest: +SKIP
    >>> out["logprob_sum"], out["n_tokens"]                          # doctest: +SKIP
    (array([-3.1...]), array([2]))   # "4" and the EOS
    """
    pairs = encode_pairs(tokenizer, list(prompts), list(responses), chat_template=chat_template,
                         context=context_length(model))
    logprob_sum = np.zeros(len(pairs), dtype=np.float64)
    n_tokens = np.array([len(r) for _, r in pairs], dtype=np.int64)
    batches = length_sorted_batches([len(p) + len(r) for p, r in pairs], batch_size)
    for batch in tqdm(batches, desc="log-probs", disable=not progress):
        logps, mask = response_logprobs(model, [pairs[i] for i in batch], padding_id(tokenizer),
                                        padding_side=padding_side)
        logprob_sum[batch] = torch.where(mask, logps.double(), 0.0).sum(dim=1).cpu().numpy()
    return {"logprob_sum": logprob_sum, "n_tokens": n_tokens, "logprob_mean_per_token": logprob_sum / n_tokens}


def _check_rewards(values, n: int, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n,):
        raise UserError(f"reward function {name!r} returned shape {values.shape}, expected ({n},)")
    if not np.all(np.isfinite(values)):
        bad = np.flatnonzero(~np.isfinite(values))
        raise UserError(f"reward function {name!r} returned non-finite rewards (NaN/inf) at pairs "
                         f"{bad[:10].tolist()}")
    return values


class CallableReward:
    """Wrap ``fn(prompts, responses)`` as a validated reward function (1-D, one per pair, finite -> float64).

    >>> CallableReward(lambda p, r: [len(x) for x in r], name="length")(["q"], ["abc"])
    array([3.])
    """

    def __init__(self, fn: Callable, name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, prompts, responses) -> np.ndarray:
        prompts, responses = list(prompts), list(responses)
        try:
            values = self.fn(prompts, responses)
        except Exception as err:  # the user's own code: its message, and its traceback under `rmlab --debug`
            raise UserError(f"reward function {self.name!r} raised {type(err).__name__}: {err}") from err
        return _check_rewards(values, len(prompts), self.name)

    def __repr__(self):
        return f"CallableReward({self.name!r})"


def explicit_scores(model, sequences: Sequence[Sequence[int]], pad_id: int, *,
                    padding_side: str = "right") -> torch.Tensor:
    """``[B]`` scores of a sequence classifier's linear ``score`` head at each sequence's last real token (the EOS
    of prompt + response + EOS), whatever the padding; differentiable when called with gradients enabled."""
    ids, mask, positions, starts = pad_batch(sequences, pad_id, side=padding_side, device=model_device(model))
    hidden = last_hidden_state(model, ids, mask, positions)                                   # [B, T, d]
    last = starts + torch.tensor([len(s) - 1 for s in sequences], device=ids.device)          # [B]
    return model.score(hidden[torch.arange(len(sequences), device=ids.device), last])[:, 0]


class ExplicitRM:
    """An ``AutoModelForSequenceClassification`` reward model (num_labels=1), read at each pair's last real token.

    The last real token is the appended EOS (see ``rmlab.lm.data``), located from the known lengths, so the score is
    the same under left or right padding, and also when pad == EOS (where HF's own pooling, which looks for the
    first pad token, would read the wrong position).
    """

    def __init__(self, model_or_path, tokenizer=None, *, batch_size=16, chat_template=False, device=None,
                 padding_side="right", name=None, progress=False):
        self.model, self.tokenizer = as_model_and_tokenizer(model_or_path, tokenizer,
                                                            loader=load_sequence_classifier, device=device)
        if getattr(self.model.config, "num_labels", 1) != 1:
            raise UserError(f"reward model {model_or_path!r:.80} has num_labels={self.model.config.num_labels}; "
                             "an explicit RM needs a single score")
        head = getattr(self.model, "score", None)
        if not isinstance(head, torch.nn.Linear):
            raise UserError(f"reward model {type(self.model).__name__} has no linear `score` head on a causal "
                             "backbone; only decoder sequence classifiers (GPT-2, Llama, Qwen2, GPT-NeoX, ...) "
                             "are supported")
        self.batch_size, self.chat_template, self.padding_side, self.progress = (batch_size, chat_template,
                                                                                padding_side, progress)
        self.name = name or str(model_or_path if isinstance(model_or_path, str) else type(self.model).__name__)

    def check_lengths(self, prompts, responses, **messages) -> None:
        """Raise (naming the pair) if a pair would not fit the model's context; ``messages``: ``what`` /
        ``too_long_hint`` of :func:`rmlab.lm.data.encode_pairs`."""
        encode_pairs(self.tokenizer, list(prompts), list(responses), chat_template=self.chat_template,
                     context=context_length(self.model), **messages)

    @torch.no_grad()
    def __call__(self, prompts, responses) -> np.ndarray:
        pairs = encode_pairs(self.tokenizer, list(prompts), list(responses), chat_template=self.chat_template,
                             context=context_length(self.model))
        rewards = np.zeros(len(pairs), dtype=np.float64)
        batches = length_sorted_batches([len(p) + len(r) for p, r in pairs], self.batch_size)
        for batch in tqdm(batches, desc=f"reward {self.name}", disable=not self.progress):
            scores = explicit_scores(self.model, [pairs[i][0] + pairs[i][1] for i in batch],
                                     padding_id(self.tokenizer), padding_side=self.padding_side)
            rewards[batch] = scores.double().cpu().numpy()
        return _check_rewards(rewards, len(pairs), self.name)

    def __repr__(self):
        return f"ExplicitRM({self.name!r})"


class ImplicitRM:
    """r(x, y) = beta * (log pi(y|x) - log pi_ref(y|x)), the DPO implicit reward (IM-RM of arXiv 2507.07981).

    ``reduction="sum"``: log-probs summed over response tokens + EOS (the paper and DPO); ``"mean"``: per-token
    means (each model's own token count). ``reference=None``: reference-free, r = beta * log pi(y|x).
    ``policy``/``reference``: a path / hub id or a ``(model, tokenizer)`` pair.
    """

    def __init__(self, policy, reference=None, *, beta: float, reduction: str = "sum", batch_size: int = 16,
                 chat_template: bool = False, device=None, name=None, progress=False):
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        self.policy = as_model_and_tokenizer(policy, loader=load_causal_lm, device=device)
        self.reference = None if reference is None else as_model_and_tokenizer(reference, loader=load_causal_lm,
                                                                                device=device)
        self.beta, self.reduction, self.batch_size = float(beta), reduction, batch_size
        self.chat_template, self.progress = chat_template, progress
        self.name = name or f"implicit(beta={self.beta:g}, {reduction})"

    def check_lengths(self, prompts, responses, **messages) -> None:
        """Raise (naming the pair) if a pair would not fit the policy's or the reference's context."""
        for model, tokenizer in filter(None, (self.policy, self.reference)):
            encode_pairs(tokenizer, list(prompts), list(responses), chat_template=self.chat_template,
                         context=context_length(model), **messages)

    def _logprob(self, model_and_tokenizer, prompts, responses) -> np.ndarray:
        out = sequence_logprobs(*model_and_tokenizer, prompts, responses, batch_size=self.batch_size,
                                chat_template=self.chat_template, progress=self.progress)
        return out["logprob_sum" if self.reduction == "sum" else "logprob_mean_per_token"]

    def __call__(self, prompts, responses) -> np.ndarray:
        prompts, responses = list(prompts), list(responses)
        log_ratio = self._logprob(self.policy, prompts, responses)
        if self.reference is not None:
            log_ratio = log_ratio - self._logprob(self.reference, prompts, responses)
        return _check_rewards(self.beta * log_ratio, len(prompts), self.name)

    def __repr__(self):
        return f"ImplicitRM({self.name!r})"
