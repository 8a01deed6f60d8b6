"""Explicit and implicit reward models trained with the same Bradley-Terry loss on the same pairs (arXiv 2507.07981),
and their evaluation: accuracy with ties counted ½ and the normalised absolute reward margin.

- **Explicit (EX-RM)**: a causal LM's backbone with a new linear head on the last hidden state at the response's
  last token (:func:`rmlab.lm.load.new_reward_model`), trained with ``-log sigmoid(r(x, y+) - r(x, y-))``. Saved as
  ``AutoModelForSequenceClassification``; scored by :class:`rmlab.lm.score.ExplicitRM`, which reads the same token.
- **Implicit (IM-RM)**: ``r = beta * ln pi(y|x) / pi_ref(y|x)`` with ``pi_ref`` a frozen copy of the initial LM. The BT
  loss on this reward *is* the DPO loss, so it is trained by :func:`rmlab.train.dpo.train_dpo`; scored by
  :class:`rmlab.lm.score.ImplicitRM`. 2507.07981 uses beta = 0.01, AdamW, lr 1e-6, no schedule.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from rmlab.errors import UserError, check_int_range, check_positive_finite
from rmlab.lm.ches import encode_preference_pairs
from rmlab.lm.load import context_length
from rmlab.lm.batching import padding_id
from rmlab.lm.score import ExplicitRM, ImplicitRM, explicit_scores
from rmlab.measure.accuracy import normalized_reward_margin, preference_accuracy
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.train.loop import EpochBatches, OPTIMIZERS, OptimConfig, disable_dropout, train_loop
from rmlab.train.losses import bradley_terry_loss

KINDS = ("explicit", "implicit")


@dataclass(frozen=True)
class RMConfig:
    """How to train a reward model (recorded with ``dataclasses.asdict`` next to its results)."""

    kind: str = field(default="explicit", metadata={"help": "explicit (linear head, EX-RM) | implicit (IM-RM)"})
    beta: float = field(default=0.01, metadata={"help": "implicit only: r = beta ln pi/pi_ref (2507.07981: 0.01)"})
    batch_size: int = field(default=8, metadata={"help": "pairs per step"})
    epochs: int = field(default=1, metadata={"help": "passes over the pairs (ignored when steps is set)"})
    steps: int | None = field(default=None, metadata={"help": "optimiser steps; default epochs * ceil(pairs / batch)"})
    optimizer: str = field(default="adamw", metadata={
        "help": "adamw, weight decay 0 (2507.07981) | adam | rmsprop | sgd"})
    lr: float = field(default=1e-6, metadata={"help": "learning rate (2507.07981: 1e-6, no schedule)"})
    seed: int = field(default=0, metadata={"help": "seed of the head's initialisation and of the batch order"})

    def __post_init__(self):
        if self.kind not in KINDS:
            raise UserError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        check_positive_finite(self.beta, "beta")
        check_positive_finite(self.lr, "lr")
        check_int_range(self.batch_size, "batch_size", minimum=1)
        check_int_range(self.epochs, "epochs", minimum=1)
        check_int_range(self.seed, "seed", minimum=0)
        if self.steps is not None:
            check_int_range(self.steps, "steps", minimum=1)


@dataclass
class TrainedRM:
    """A trained reward model: ``reward`` scores ``(prompts, responses)``; ``model`` is what to save (the classifier,
    or the implicit RM's policy, whose reference is ``reference``); ``metrics`` one dict per step."""

    reward: ExplicitRM | ImplicitRM
    model: torch.nn.Module
    tokenizer: object
    metrics: list[dict]
    config: dict
    reference: torch.nn.Module | None = None


def train_reward_model(model, tokenizer, preferences, config: RMConfig, *, chat_template: bool = False,
                       progress=True) -> TrainedRM:
    """Train an RM of ``config.kind`` from ``model``: a causal LM for an implicit RM, or the sequence classifier of
    :func:`rmlab.lm.load.new_reward_model` (built from the same causal LM) for an explicit one."""
    if config.kind == "implicit":
        reference = copy.deepcopy(disable_dropout(model)).eval()
        result = train_dpo(model, tokenizer, preferences, DPOConfig(
            loss="dpo", beta=config.beta, batch_size=config.batch_size, epochs=config.epochs, steps=config.steps,
            optimizer=config.optimizer, lr=config.lr, seed=config.seed, track=1), reference=reference,
            chat_template=chat_template, progress=progress)
        reward = ImplicitRM((model, tokenizer), (reference, tokenizer), beta=config.beta, chat_template=chat_template)
        return TrainedRM(reward, model, tokenizer, result.metrics, asdict(config), reference)
    if not isinstance(getattr(model, "score", None), torch.nn.Linear):
        raise UserError("an explicit RM trains a sequence classifier with a linear `score` head; build it from the "
                        "causal LM with rmlab.lm.load.new_reward_model")
    metrics = _train_explicit(model, tokenizer, preferences, config, chat_template, progress)
    reward = ExplicitRM(model, tokenizer, chat_template=chat_template)
    return TrainedRM(reward, model, tokenizer, metrics, asdict(config))


def _train_explicit(model, tokenizer, preferences, config: RMConfig, chat_template: bool, progress) -> list[dict]:
    pairs = encode_preference_pairs(tokenizer, preferences, chat_template=chat_template, context=context_length(model))
    pad_id = padding_id(tokenizer)
    disable_dropout(model)
    batches = EpochBatches(len(pairs), config.batch_size)
    steps = config.steps or batches.steps(epochs=config.epochs)

    def step_loss(step, generator):
        batch = batches.next(generator)
        scores = explicit_scores(model, [pairs[i][0] + pairs[i][1] for i in batch]
                                 + [pairs[i][0] + pairs[i][2] for i in batch], pad_id)
        chosen, rejected = scores[:len(batch)], scores[len(batch):]
        return bradley_terry_loss(chosen, rejected).mean(), {
            "accuracy": float((chosen > rejected).float().mean() + 0.5 * (chosen == rejected).float().mean())}

    optim = OptimConfig(steps=steps, optimizer=config.optimizer, lr=config.lr, max_grad_norm=None, seed=config.seed)
    return train_loop(model, step_loss, optim, progress=progress, description="explicit RM")


def evaluate_reward_model(reward, preferences) -> dict[str, float]:
    """On preference pairs: ``accuracy`` (ties count ½, chosen is the winner), ``normalized_margin``
    (:func:`rmlab.measure.accuracy.normalized_reward_margin`), ``loss`` (mean BT loss), ``reward_chosen`` and
    ``reward_rejected`` (means) -- the metrics of 2507.07981's evaluator."""
    columns = preferences.select_columns(["prompt", "chosen", "rejected"]).to_dict()
    chosen = np.asarray(reward(columns["prompt"], columns["chosen"]), dtype=np.float64)
    rejected = np.asarray(reward(columns["prompt"], columns["rejected"]), dtype=np.float64)
    loss = bradley_terry_loss(torch.from_numpy(chosen), torch.from_numpy(rejected)).mean()
    return {"accuracy": float(preference_accuracy(chosen, rejected, ties="half")),
            "normalized_margin": float(normalized_reward_margin(chosen, rejected)), "loss": float(loss),
            "reward_chosen": float(chosen.mean()), "reward_rejected": float(rejected.mean())}
