"""The one optimisation loop of rmlab: an optimiser, an optional warmup + cosine schedule, gradient clipping, a seeded
batch generator, a progress bar and a per-step callback hook.

A trainer supplies ``step_loss(step, generator) -> (loss, metrics)``: it draws its batch with ``generator`` (the only
source of randomness the loop owns, seeded from ``OptimConfig.seed``) and returns a scalar loss to minimise plus any
numbers to log. The loop records, per step, ``step`` (1-based: updates done), ``loss``, ``grad_norm`` (before
clipping), ``lr`` and the trainer's metrics; it holds no global state, and the same seed, model and data give the
same weights on one CPU thread.

>>> import torch
>>> model = torch.nn.Linear(1, 1, bias=False)
>>> history = train_loop(model, lambda step, gen: ((model.weight - 3.0).pow(2).sum(), {}),
...                      OptimConfig(optimizer="sgd", lr=0.25, steps=20, max_grad_norm=None), progress=False)
>>> round(model.weight.item(), 4), len(history), history[-1]["step"]
(3.0, 20, 20)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from rmlab._headless import tqdm
from rmlab.errors import UserError, check_int_range, check_positive_finite

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop,
              "sgd": torch.optim.SGD}
SCHEDULES = ("constant", "warmup_cosine")

StepLoss = Callable[[int, torch.Generator], "tuple[torch.Tensor, dict]"]
Callback = Callable[[int, torch.nn.Module, dict], None]


@dataclass(frozen=True)
class OptimConfig:
    """How to optimise (recorded next to every result with ``dataclasses.asdict``)."""

    steps: int = field(metadata={"help": "number of optimiser updates"})
    optimizer: str = field(default="adamw", metadata={"help": "adam | adamw | rmsprop | sgd (2410.08847 uses "
                                                               "RMSprop, 2503.15477 Adam)"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "decoupled for adamw, L2 for the others"})
    max_grad_norm: float | None = field(default=1.0, metadata={"help": "clip the global gradient norm to this; "
                                                                        "None: no clipping"})
    schedule: str = field(default="constant", metadata={"help": "constant | warmup_cosine (linear warmup over "
                                                                 "warmup_fraction of the steps, then cosine to 0)"})
    warmup_fraction: float = field(default=0.1, metadata={"help": "share of the steps spent warming up "
                                                                   "(warmup_cosine only)"})
    seed: int = field(default=0, metadata={"help": "seed of the batch generator handed to the step function"})

    def __post_init__(self):
        check_int_range(self.steps, "steps", minimum=1)
        check_positive_finite(self.lr, "lr")
        if self.max_grad_norm is not None:
            check_positive_finite(self.max_grad_norm, "max_grad_norm")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")


class EpochBatches:
    """Batches of item indices drawn from consecutive random permutations of ``range(n_items)`` (epochs), with the
    loop's generator; a batch may straddle two epochs.

    >>> batches = EpochBatches(5, 2)
    >>> gen = torch.Generator().manual_seed(0)
    >>> sorted(batches.next(gen) + batches.next(gen) + batches.next(gen)[:1]), batches.steps(epochs=3)
    ([0, 1, 2, 3, 4], 9)
    """

    def __init__(self, n_items: int, batch_size: int):
        self.n_items, self.batch_size = n_items, batch_size
        self._queue: list[int] = []

    def steps(self, *, epochs: int) -> int:
        """Steps that cover ``epochs`` passes over the items."""
        return epochs * math.ceil(self.n_items / self.batch_size)

    def next(self, generator: torch.Generator) -> list[int]:
        while len(self._queue) < self.batch_size:
            self._queue.extend(torch.randperm(self.n_items, generator=generator).tolist())
        batch, self._queue = self._queue[:self.batch_size], self._queue[self.batch_size:]
        return batch


def disable_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """Set every dropout probability of ``model`` to 0, in place (TRL's ``disable_dropout=True`` default for DPO and
    RL): with dropout, a policy in train mode differs from its own frozen copy, and log-ratios are noisy."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd):
            module.p = 0.0
    return model


def make_optimizer(parameters, config: OptimConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS[config.optimizer](parameters, lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(step: int, config: OptimConfig) -> float:
    """Multiplier of the peak learning rate for the update after ``step`` updates."""
    if config.schedule == "constant":
        return 1.0
    warmup = max(1, int(config.steps * config.warmup_fraction))
    cosine = 0.5 * (1 + math.cos(math.pi * min(step, config.steps) / config.steps))
    return min(1.0, (step + 1) / warmup) * cosine


def train_loop(model: torch.nn.Module, step_loss: StepLoss, config: OptimConfig, *, callback: Callback | None = None,
               progress=True, description: str = "training") -> list[dict]:
    """Minimise ``step_loss`` over ``config.steps`` updates of ``model``'s trainable parameters; return one metrics
    dict per step. ``callback(step, model, metrics)`` runs after each update. ``progress``: True for a bar of its
    own, False for none, or an open tqdm bar to advance. The model is left in eval mode."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(parameters, config)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config))
    generator = torch.Generator().manual_seed(config.seed)
    bar = tqdm(total=config.steps, desc=description, unit="step", disable=not progress) \
        if isinstance(progress, bool) else progress
    history = []
    model.train()
    try:
        for step in range(1, config.steps + 1):
            loss, metrics = step_loss(step, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = _clip(parameters, config.max_grad_norm)
            lr = schedule.get_last_lr()[0]
            optimizer.step()
            schedule.step()
            record = {"step": step, "loss": loss.item(), "grad_norm": grad_norm, "lr": lr, **metrics}
            history.append(record)
            if callback is not None:
                callback(step, model, record)
            bar.update(1)
    finally:
        model.eval()
        if isinstance(progress, bool):
            bar.close()
    return history


def _clip(parameters: list[torch.nn.Parameter], max_norm: float | None) -> float:
    if max_norm is None:
        grads = [p.grad for p in parameters if p.grad is not None]
        return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))) \
            if grads else 0.0
    return float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))
