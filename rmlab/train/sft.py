"""Supervised finetuning of a causal LM on (prompt, response) pairs: the cross-entropy of the response tokens and the
EOS given the prompt (:func:`rmlab.train.losses.sft_nll` on :func:`rmlab.lm.score.response_logprobs`), minimised by
the one loop of :mod:`rmlab.train.loop`. Logged per step: ``loss`` (the batch mean of the chosen reduction),
``nll_per_token`` (mean per-token NLL of the batch), ``grad_norm``, ``lr``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rmlab.errors import UserError, check_int_range, check_positive_finite
from rmlab.lm.batching import padding_id
from rmlab.lm.data import encode_pairs
from rmlab.lm.load import context_length
from rmlab.lm.score import response_logprobs
from rmlab.train.loop import EpochBatches, OPTIMIZERS, OptimConfig, disable_dropout, train_loop
from rmlab.train.losses import sft_nll

REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class SFTConfig:
    """An SFT run (recorded with ``dataclasses.asdict`` next to its results)."""

    batch_size: int = field(default=16, metadata={"help": "pairs per step"})
    epochs: int = field(default=1, metadata={"help": "passes over the pairs (ignored when steps is set)"})
    steps: int | None = field(default=None, metadata={"help": "optimiser steps; default epochs * ceil(pairs / "
                                                               "batch_size)"})
    reduction: str = field(default="mean", metadata={"help": "per-pair NLL: mean per token (HF Trainer / TRL "
                                                              "SFTTrainer) or sum over the response"})
    optimizer: str = field(default="adamw", metadata={"help": "adam | adamw | rmsprop | sgd"})
    lr: float = field(default=1e-4, metadata={"help": "learning rate"})
    max_grad_norm: float | None = field(default=1.0, metadata={"help": "gradient clipping; None: off"})
    seed: int = field(default=0, metadata={"help": "seed of the batch order"})
    disable_dropout: bool = field(default=True, metadata={"help": "train without dropout"})

    def __post_init__(self):
        for name in ("batch_size", "epochs"):
            check_int_range(getattr(self, name), name, minimum=1)
        if self.steps is not None:
            check_int_range(self.steps, "steps", minimum=1)
        check_int_range(self.seed, "seed", minimum=0)
        check_positive_finite(self.lr, "lr")
        for name, allowed in (("reduction", REDUCTIONS), ("optimizer", tuple(OPTIMIZERS))):
            if getattr(self, name) not in allowed:
                raise UserError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")


@dataclass
class SFTResult:
    """``metrics``: one dict per step; ``config``: the run's :class:`SFTConfig` as a dict."""

    metrics: list[dict]
    config: dict


def train_sft(policy, tokenizer, prompts: list[str], responses: list[str], config: SFTConfig, *,
              chat_template: bool = False, progress=True, callback=None) -> SFTResult:
    """Train ``policy`` in place to maximise ``log pi(response + EOS | prompt)`` on the pairs."""
    pairs = encode_pairs(tokenizer, list(prompts), list(responses), chat_template=chat_template,
                         context=context_length(policy))
    if not pairs:
        raise UserError("no (prompt, response) pairs to train on")
    if config.disable_dropout:
        disable_dropout(policy)
    pad_id = padding_id(tokenizer)
    batches = EpochBatches(len(pairs), config.batch_size)
    optim = OptimConfig(steps=config.steps or batches.steps(epochs=config.epochs), optimizer=config.optimizer,
                        lr=config.lr, max_grad_norm=config.max_grad_norm, seed=config.seed)

    def step_loss(step, generator):
        logps, mask = response_logprobs(policy, [pairs[i] for i in batches.next(generator)], pad_id)
        per_token = sft_nll(logps, mask, reduction="mean")
        loss = per_token if config.reduction == "mean" else sft_nll(logps, mask, reduction="sum")
        return loss.mean(), {"nll_per_token": float(per_token.detach().mean())}

    metrics = train_loop(policy, step_loss, optim, callback=callback, progress=progress, description="SFT")
    return SFTResult(metrics=metrics, config=asdict(config))
