"""DPO / IPO (optionally + an SFT term) from a frozen reference, with per-example tracking of the preferred and
dispreferred log-probabilities (the measurements of arXiv 2410.08847, Tables 1 and 4-12).

Each step draws ``batch_size`` pairs (epochs are consecutive random permutations of the pairs, drawn from the loop's
seeded generator), runs chosen and rejected responses through the policy in one batched forward
(:func:`rmlab.lm.score.response_logprobs`), and minimises the mean per-pair loss of :mod:`rmlab.train.losses` on
summed sequence log-probs. The reference's log-probs are computed once, before training (the policy's initial
weights when no reference is given).

Tracking records, at step 0 (before any update), every ``track_every`` steps and after the last step, for each
tracked pair: ``ln pi(y+|x)``, ``ln pi(y-|x)`` (sums over response + EOS) and their token counts; for pairs whose
two responses are single tokens (plus EOS), also the ``top_k`` tokens whose next-token probability after the prompt
rose most since step 0 and since the previous record -- where the mass lost by ``y+`` goes (benign: a synonym;
catastrophic: an opposite) -- and the next-token probabilities of the two answer tokens (``prob_chosen``,
``prob_rejected``: Table 1's pi(y+), without the EOS factor).

Deviation from the official code: the official runs compute reference log-probs per batch in the same forward; here
they are precomputed once (equal up to float rounding, since scoring does not depend on padding).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import torch

from rmlab.errors import UserError, check_int_range, check_positive_finite
from rmlab.lm.ches import encode_preference_pairs
from rmlab.lm.load import context_length
from rmlab.lm.batching import length_sorted_batches, model_device, pad_batch, padding_id
from rmlab.lm.score import response_logprobs
from rmlab.train.loop import EpochBatches, OPTIMIZERS, OptimConfig, disable_dropout, train_loop
from rmlab.train.losses import dpo_loss, ipo_loss, log_ratio_margin

LOSSES = ("dpo", "ipo")


@dataclass(frozen=True)
class DPOConfig:
    """A DPO / IPO run (recorded with ``dataclasses.asdict`` next to its results)."""

    loss: str = field(default="dpo", metadata={
        "help": "dpo: -log sigmoid(beta * margin) (Rafailov et al. 2023, Eq. 7); ipo: (margin - 1/(2 beta))^2 on "
                "summed log-probs (Azar et al. 2023, Eq. 17)"})
    beta: float = field(default=0.1, metadata={"help": "DPO beta, or IPO tau (2410.08847: 0.1 for DPO, 0.01 for IPO)"})
    sft_coef: float = field(default=0.0, metadata={
        "help": "lambda of the SFT term -lambda * ln pi(y+|x), summed log-prob (2410.08847 §6: 0.01-1 for DPO)"})
    batch_size: int = field(default=8, metadata={"help": "pairs per step (2410.08847 §6: 32)"})
    epochs: int = field(default=1, metadata={"help": "passes over the pairs (ignored when steps is set)"})
    steps: int | None = field(default=None, metadata={"help": "optimiser steps; default epochs * ceil(pairs / batch)"})
    optimizer: str = field(default="rmsprop", metadata={"help": "rmsprop (2410.08847) | adam | adamw | sgd"})
    lr: float = field(default=1e-5, metadata={"help": "learning rate (2410.08847: 1e-7 to 5e-6 on 1-8B models)"})
    max_grad_norm: float | None = field(default=None, metadata={"help": "gradient clipping; None: off"})
    track_every: int = field(default=0, metadata={"help": "record tracked pairs every N steps (0: at step 0 and "
                                                          "after the last step only)"})
    track: int | None = field(default=None, metadata={"help": "track the first N pairs (None: all)"})
    top_k: int = field(default=5, metadata={"help": "top-gaining tokens recorded for single-token pairs"})
    seed: int = field(default=0, metadata={"help": "seed of the batch order"})
    disable_dropout: bool = field(default=True, metadata={
        "help": "train without dropout (TRL's default): with it, the policy differs from the reference at step 0"})

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise UserError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        check_positive_finite(self.beta, "beta")
        check_positive_finite(self.lr, "lr")
        if not (math.isfinite(self.sft_coef) and self.sft_coef >= 0):
            raise UserError(f"sft_coef must be a finite number >= 0, got {self.sft_coef!r}")
        check_int_range(self.batch_size, "batch_size", minimum=1)
        check_int_range(self.epochs, "epochs", minimum=1)
        check_int_range(self.track_every, "track_every", minimum=0)
        check_int_range(self.top_k, "top_k", minimum=1)
        check_int_range(self.seed, "seed", minimum=0)
        for name in ("steps", "track"):
            if getattr(self, name) is not None:
                check_int_range(getattr(self, name), name, minimum=1)


@dataclass
class DPOResult:
    """``metrics``: one dict per step (``step, loss, margin, logp_chosen, logp_rejected, grad_norm, lr``);
    ``tracking``: one dict per tracked pair per record (``step, index, logp_chosen, logp_rejected,
    n_tokens_chosen, n_tokens_rejected`` and ``top_gainers`` for single-token pairs); ``config``: the run's
    :class:`DPOConfig` as a dict."""

    metrics: list[dict]
    tracking: list[dict]
    config: dict


def train_dpo(policy, tokenizer, preferences, config: DPOConfig, *, reference=None, chat_template: bool = False,
              progress=True) -> DPOResult:
    """Train ``policy`` in place on ``preferences`` (a ``datasets.Dataset`` with prompt/chosen/rejected, as
    :func:`rmlab.lm.data.load_preferences` returns) and return its metrics and tracking records."""
    pairs = encode_preference_pairs(tokenizer, preferences, chat_template=chat_template,
                                    context=context_length(policy))
    if all(chosen == rejected for _, chosen, rejected in pairs):
        raise UserError("every pair has chosen == rejected (after tokenisation): nothing to prefer")
    pad_id = padding_id(tokenizer)
    if config.disable_dropout:
        disable_dropout(policy)
    reference = copy.deepcopy(policy) if reference is None else reference
    ref_chosen, ref_rejected = _sequence_sums(reference, pairs, pad_id)
    del reference
    batches = EpochBatches(len(pairs), config.batch_size)
    steps = config.steps or batches.steps(epochs=config.epochs)
    optim = OptimConfig(steps=steps, optimizer=config.optimizer, lr=config.lr, max_grad_norm=config.max_grad_norm,
                        seed=config.seed)
    tracker = PairTracker(tokenizer, pairs[:config.track], pad_id, top_k=config.top_k)
    tracker.record(0, policy)

    def step_loss(step, generator):
        batch = batches.next(generator)
        chosen, rejected = _policy_sums(policy, [pairs[i] for i in batch], pad_id)
        refs = ref_chosen[batch].to(chosen.device), ref_rejected[batch].to(chosen.device)
        if config.loss == "dpo":
            losses = dpo_loss(chosen, rejected, *refs, beta=config.beta)
        else:
            losses = ipo_loss(chosen, rejected, *refs, tau=config.beta)
        losses = losses - config.sft_coef * chosen
        margin = config.beta * log_ratio_margin(chosen, rejected, *refs)
        return losses.mean(), {"margin": margin.mean().item(), "logp_chosen": chosen.mean().item(),
                               "logp_rejected": rejected.mean().item()}

    def callback(step, model, metrics):
        if step == steps or (config.track_every and step % config.track_every == 0):
            tracker.record(step, model)

    metrics = train_loop(policy, step_loss, optim, callback=callback, progress=progress, description="DPO")
    return DPOResult(metrics=metrics, tracking=tracker.rows, config=asdict(config))


def _policy_sums(model, pairs, pad_id) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probs of the chosen and of the rejected responses, one forward for both."""
    logps, mask = response_logprobs(model, [(p, c) for p, c, _ in pairs] + [(p, r) for p, _, r in pairs], pad_id)
    sums = torch.where(mask, logps, 0.0).sum(dim=1)
    return sums[:len(pairs)], sums[len(pairs):]


@torch.no_grad()
def _sequence_sums(model, pairs, pad_id, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    was_training = model.training
    model.eval()
    chosen, rejected = torch.zeros(len(pairs)), torch.zeros(len(pairs))
    for batch in length_sorted_batches([len(p) + max(len(c), len(r)) for p, c, r in pairs], batch_size):
        c, r = _policy_sums(model, [pairs[i] for i in batch], pad_id)
        chosen[batch], rejected[batch] = c.float().cpu(), r.float().cpu()
    model.train(was_training)
    return chosen, rejected


@torch.no_grad()
def next_token_probs(model, prompts: list[list[int]], pad_id: int) -> torch.Tensor:
    """``[B, V]`` next-token probabilities after each prompt (float64)."""
    ids, mask, positions, starts = pad_batch(prompts, pad_id, device=model_device(model))
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
    last = starts + torch.tensor([len(p) for p in prompts], device=ids.device) - 1
    return torch.softmax(logits[torch.arange(len(prompts), device=ids.device), last].double(), dim=-1).cpu()


class PairTracker:
    """Per-example records of tracked, encoded pairs (see the module docstring): :meth:`record` appends one row per
    pair to ``rows`` (also used by :mod:`rmlab.integrations.trl`'s DPO callback)."""

    def __init__(self, tokenizer, pairs, pad_id, *, top_k: int = 5):
        self.tokenizer, self.pairs, self.pad_id, self.top_k = tokenizer, pairs, pad_id, top_k
        eos = tokenizer.eos_token_id
        self.single = [i for i, (_, c, r) in enumerate(pairs) if len(c) == len(r) == 2 and c[-1] == r[-1] == eos]
        self.first = self.previous = None
        self.rows: list[dict] = []

    def record(self, step: int, model) -> None:
        was_training = model.training
        model.eval()
        chosen, rejected = _sequence_sums(model, self.pairs, self.pad_id)
        gainers = self._top_gainers(model) if self.single else {}
        model.train(was_training)
        for i, (_, c, r) in enumerate(self.pairs):
            row = {"step": step, "index": i, "logp_chosen": float(chosen[i]), "logp_rejected": float(rejected[i]),
                   "n_tokens_chosen": len(c), "n_tokens_rejected": len(r)}
            if i in gainers:
                row["top_gainers"] = gainers[i]
            self.rows.append(row)

    def _top_gainers(self, model) -> dict[int, dict]:
        probs = next_token_probs(model, [self.pairs[i][0] for i in self.single], self.pad_id)      # [S, V]
        if self.first is None:
            self.first = self.previous = probs
        out = {i: {"since_start": self._top(probs[n] - self.first[n], probs[n]),
                   "since_previous": self._top(probs[n] - self.previous[n], probs[n]),
                   "prob_chosen": float(probs[n, self.pairs[i][1][0]]),
                   "prob_rejected": float(probs[n, self.pairs[i][2][0]])}
               for n, i in enumerate(self.single)}
        self.previous = probs
        return out

    def _top(self, gain: torch.Tensor, probs: torch.Tensor) -> list[dict]:
        top = torch.topk(gain, self.top_k)
        tokens = self.tokenizer.convert_ids_to_tokens(top.indices.tolist())
        return [{"token": t, "id": int(i), "gain": float(g), "prob": float(probs[i])}
                for t, i, g in zip(tokens, top.indices.tolist(), top.values.tolist())]
