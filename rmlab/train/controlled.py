"""The controlled experiment of arXiv 2310.20703 (§4.2, official ``sft_vs_rft`` code) on scikit-learn's
``load_digits`` (1,797 8x8 images, shipped with the package: no download).

1. **Pretrain** an MLP (hidden ``[250, 100]``) on ``n_train`` images with ``labels_per_class`` labels per image:
   each class owns a fixed random set of ``K - 1`` extra labels, and the loss is the cross-entropy to the uniform
   distribution over the K labels (the official ``soft_ce_loss``). The model then spreads its mass over the K labels
   of the class and puts almost none on the others.
2. **Relabel**: a fraction ``frac_modified`` of the images gets a label drawn uniformly from the labels *outside* its
   class's K-set, which the pretrained model almost never predicts; the others keep their own class as the label.
3. **Finetune** from the same pretrained weights with the reward ``+1`` for the label and ``-1`` otherwise (the
   official ``labels`` reward; its ``labels_with_custom`` variant, the appendix's "high initial reward", gives a wrong
   prediction on a modified image ``modified_incorrect_reward = 0.5`` instead), by **RFT** with exact expected
   gradients (the expectation over the 10 labels is enumerated: ``expected_reinforce``,
   :func:`rmlab.train.losses.expected_policy_gradient_loss`) or by **SFT** (cross-entropy on the label).

Per logged epoch, :func:`finetune` records for the modified and the unmodified images: train accuracy, mean expected
reward, mean exact reward std under the model ``sqrt(sum_y p(y) (r(y) - V)^2)`` and the norm of the gradient of the
method's own objective averaged over that subset alone (as the official code logs them). The paper's finding: RFT
leaves the modified images where they are, because their reward std, and with it their gradient (Thm 1), is near
zero; SFT fits them.

**§5.1's knobs** for RFT: ``lr``, ``temperature`` (the policy trained is ``softmax(logits / T)``) and
``entropy_coef`` (an exact entropy bonus). Evaluations always read the model itself (temperature 1), and the logged
gradient norm is that of the plain objective, so runs with and without a knob are measured alike.

Deviations: ``load_digits`` instead of MNIST (1,000 train images of 8x8 instead of 28x28); pretraining uses Adam at
``1e-3`` instead of ``1e-4`` (fewer epochs for the same fit); batches come from :class:`rmlab.train.loop.EpochBatches`
(full batches of ``batch_size`` that may straddle two epochs, so one "epoch" is ``ceil(n / batch_size)`` steps).
Training runs on one torch thread (byte-reproducible for a seed, and faster for matrices this small).

>>> config = ControlledConfig(n_train=60, hidden=(16,), pretrain_epochs=5, epochs=2, log_every=1)
>>> task = make_task(config)
>>> int(task.modified.sum()), tuple(task.label_sets.shape)
(6, (60, 5))
>>> history = finetune(pretrain(task, config), task, "rft", config)
>>> [row["epoch"] for row in history], sorted(history[0])[:3]
([0, 1, 2], ['acc_modified', 'acc_unmodified', 'epoch'])
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from rmlab._threads import single_torch_thread
from rmlab.errors import UserError, check_int_range, check_nonnegative_finite, check_positive_finite
from rmlab.train.loop import OPTIMIZERS, EpochBatches, OptimConfig, train_loop
from rmlab.train.losses import expected_policy_gradient_loss

METHODS = ("rft", "sft")
N_CLASSES = 10
SUBSETS = ("modified", "unmodified")


@dataclass(frozen=True)
class ControlledConfig:
    """One controlled run (defaults: the official MNIST plans, except the pretraining learning rate)."""

    n_train: int = field(default=1000, metadata={"help": "training images (official MNIST plan: 1000)"})
    labels_per_class: int = field(default=5, metadata={"help": "K: pretraining labels per class"})
    frac_modified: float = field(default=0.1, metadata={"help": "share of images relabelled outside their K-set"})
    hidden: tuple[int, ...] = field(default=(250, 100), metadata={"help": "MLP hidden sizes"})
    batch_size: int = field(default=512, metadata={"help": "images per step"})
    pretrain_epochs: int = field(default=1000, metadata={"help": "pretraining epochs (Adam)"})
    pretrain_lr: float = field(default=1e-3, metadata={"help": "pretraining learning rate (official: 1e-4)"})
    epochs: int = field(default=5000, metadata={"help": "finetuning epochs"})
    optimizer: str = field(default="adam", metadata={"help": "finetuning optimiser: adam (lr 1e-4) or sgd (the "
                                                              "paper's variant, lr 1e-2)"})
    lr: float = field(default=1e-4, metadata={"help": "finetuning learning rate"})
    temperature: float = field(default=1.0, metadata={"help": "RFT only: the policy trained is softmax(logits / T) "
                                                                "(2310.20703 §5.1's temperature knob)"})
    entropy_coef: float = field(default=0.0, metadata={"help": "RFT only: subtract this times the policy's exact "
                                                                "entropy (§5.1's entropy bonus)"})
    modified_incorrect_reward: float = field(
        default=-1.0, metadata={"help": "reward of a wrong prediction on a modified image (-1: the plain +-1 reward; "
                                        "0.5: the official high-initial-reward plans, reward_type labels_with_custom)"})
    log_every: int = field(default=10, metadata={"help": "epochs between logged evaluations"})
    seed: int = field(default=0, metadata={"help": "seed of the data split, relabelling, weights and batches"})

    def __post_init__(self):
        for name in ("n_train", "batch_size", "pretrain_epochs", "epochs", "log_every"):
            check_int_range(getattr(self, name), name, minimum=1)
        check_int_range(self.labels_per_class, "labels_per_class", minimum=1)
        check_int_range(self.seed, "seed", minimum=0)
        if self.labels_per_class >= N_CLASSES:
            raise UserError(f"labels_per_class must be < {N_CLASSES} (labels outside the K-set are needed), got "
                            f"{self.labels_per_class}")
        if not 0 < self.frac_modified < 1:
            raise UserError(f"frac_modified must be in (0, 1), got {self.frac_modified!r}")
        if self.n_train > 1797:
            raise UserError(f"n_train must be at most 1797 (load_digits has 1797 images), got {self.n_train}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        check_positive_finite(self.lr, "lr")
        check_positive_finite(self.pretrain_lr, "pretrain_lr")
        check_positive_finite(self.temperature, "temperature")
        check_nonnegative_finite(self.entropy_coef, "entropy_coef")
        if not -1.0 <= self.modified_incorrect_reward < 1.0:
            raise UserError("modified_incorrect_reward must be in [-1, 1) (below the reward 1 of the label), got "
                            f"{self.modified_incorrect_reward!r}")

    def replace(self, **changes) -> "ControlledConfig":
        return replace(self, **changes)


@dataclass
class DigitsTask:
    """The training images and both labellings: ``x [N, 64]`` in [0, 1], ``label_sets [N, K]`` (pretraining; column
    0 is the true class), ``labels [N]`` (finetuning) and ``modified [N]`` (relabelled outside the K-set)."""

    x: torch.Tensor
    label_sets: torch.Tensor
    labels: torch.Tensor
    modified: torch.Tensor


def make_task(config: ControlledConfig) -> DigitsTask:
    """Draw the ``n_train`` images, the classes' K-sets and the relabelling, all from ``config.seed``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(config.seed)
    chosen = rng.permutation(len(digits.target))[:config.n_train]
    x = torch.tensor(digits.data[chosen] / 16.0, dtype=torch.float32)
    classes = digits.target[chosen]
    extra = [rng.permutation([c for c in range(N_CLASSES) if c != own])[:config.labels_per_class - 1]
             for own in range(N_CLASSES)]
    sets = np.array([[own, *extra[own]] for own in range(N_CLASSES)])                  # [C, K]
    modified = np.zeros(config.n_train, dtype=bool)
    modified[rng.permutation(config.n_train)[:round(config.frac_modified * config.n_train)]] = True
    labels = classes.copy()
    for i in np.flatnonzero(modified):
        labels[i] = rng.choice([c for c in range(N_CLASSES) if c not in sets[classes[i]]])
    return DigitsTask(x=x, label_sets=torch.tensor(sets[classes]), labels=torch.tensor(labels),
                      modified=torch.tensor(modified))


def make_mlp(hidden: tuple[int, ...], seed: int, n_in: int = 64) -> torch.nn.Sequential:
    """A ReLU MLP ``n_in -> hidden... -> 10`` with PyTorch's default initialisation drawn from ``seed``."""
    sizes = (n_in, *hidden, N_CLASSES)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    return torch.nn.Sequential(*[m for layer in layers[:-1] for m in (layer, torch.nn.ReLU())], layers[-1])


def label_rewards(labels: torch.Tensor, modified: torch.Tensor | None = None,
                  modified_incorrect_reward: float = -1.0) -> torch.Tensor:
    """The reward of every possible prediction: ``+1`` for the label, ``-1`` otherwise, and
    ``modified_incorrect_reward`` for a wrong prediction on a ``modified`` image. ``[B]`` -> ``[B, 10]``.

    >>> label_rewards(torch.tensor([1, 1]), torch.tensor([False, True]), 0.5)[:, :3]
    tensor([[-1.0000,  1.0000, -1.0000],
            [ 0.5000,  1.0000,  0.5000]])
    """
    correct = F.one_hot(labels, N_CLASSES).bool()
    rewards = torch.where(correct, 1.0, -1.0)
    if modified is not None:
        rewards = torch.where(modified[:, None] & ~correct, modified_incorrect_reward, rewards)
    return rewards


def pretrain(task: DigitsTask, config: ControlledConfig, *, progress=False) -> torch.nn.Sequential:
    """A fresh MLP fitted to the K labels of each image: loss ``-mean_k log p(label_k | x)``."""
    model = make_mlp(config.hidden, config.seed)
    batches = EpochBatches(len(task.x), config.batch_size)

    def step_loss(step, generator):
        batch = batches.next(generator)
        logp = torch.log_softmax(model(task.x[batch]), dim=-1)
        return -logp.gather(1, task.label_sets[batch]).mean(), {}

    optim = OptimConfig(steps=batches.steps(epochs=config.pretrain_epochs), optimizer="adam",
                        lr=config.pretrain_lr, max_grad_norm=None, seed=config.seed)
    with single_torch_thread():
        train_loop(model, step_loss, optim, progress=progress, description="pretrain")
    return model


def method_loss(method: str, logits: torch.Tensor, labels: torch.Tensor, rewards: torch.Tensor | None = None, *,
                temperature: float = 1.0, entropy_coef: float = 0.0) -> torch.Tensor:
    """Per-image loss of a finetuning method: RFT's exact expected policy gradient (of the policy
    ``softmax(logits / temperature)``, minus ``entropy_coef`` times its entropy) for the reward of each prediction
    ``rewards [B, 10]`` (default: :func:`label_rewards` of ``labels``), or SFT's cross-entropy on ``labels``."""
    if method == "rft":
        scaled = logits / temperature
        rewards = label_rewards(labels) if rewards is None else rewards
        loss = expected_policy_gradient_loss(scaled, rewards)
        if entropy_coef:
            log_probs = torch.log_softmax(scaled, dim=-1)
            loss = loss + entropy_coef * (log_probs.exp() * log_probs).sum(dim=-1)
        return loss
    if method == "sft":
        return F.cross_entropy(logits, labels, reduction="none")
    raise UserError(f"method must be one of {METHODS}, got {method!r}")


def task_rewards(task: DigitsTask, modified_incorrect_reward: float = -1.0) -> torch.Tensor:
    """:func:`label_rewards` of every training image of ``task``: ``[N, 10]``."""
    return label_rewards(task.labels, task.modified, modified_incorrect_reward)


def evaluate(model: torch.nn.Module, task: DigitsTask, method: str, *,
             rewards: torch.Tensor | None = None) -> dict[str, float]:
    """Accuracy, mean expected reward, mean exact reward std and the gradient norm of ``method``'s objective
    averaged over each subset (modified / unmodified) of the training images, under ``rewards [N, 10]`` (default:
    :func:`task_rewards`, the plain +-1 reward)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    logits = model(task.x)
    probs = torch.softmax(logits.detach(), dim=-1)
    rewards = task_rewards(task) if rewards is None else rewards
    value = (probs * rewards).sum(dim=-1)
    std = ((probs * (rewards - value[:, None]) ** 2).sum(dim=-1)).sqrt()
    correct = (logits.detach().argmax(dim=-1) == task.labels).float()
    per_image = method_loss(method, logits, task.labels, rewards)
    row = {}
    for name, mask in zip(SUBSETS, (task.modified, ~task.modified)):
        grads = torch.autograd.grad(per_image[mask].mean(), parameters, retain_graph=True)
        row |= {f"acc_{name}": float(correct[mask].mean()), f"reward_{name}": float(value[mask].mean()),
                f"reward_std_{name}": float(std[mask].mean()),
                f"grad_norm_{name}": float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])))}
    return row


def finetune(pretrained: torch.nn.Module, task: DigitsTask, method: str, config: ControlledConfig, *,
             progress=False) -> list[dict]:
    """Finetune a copy of ``pretrained`` on ``task.labels`` by ``method`` ("rft" or "sft"); return the evaluations
    (:func:`evaluate`, plus ``epoch``) before training and every ``log_every`` epochs (and after the last)."""
    if method not in METHODS:
        raise UserError(f"method must be one of {METHODS}, got {method!r}")
    model = copy.deepcopy(pretrained)
    batches = EpochBatches(len(task.x), config.batch_size)
    steps_per_epoch = batches.steps(epochs=1)
    rewards = task_rewards(task, config.modified_incorrect_reward)
    history = [{"epoch": 0, **evaluate(model, task, method, rewards=rewards)}]

    def step_loss(step, generator):
        batch = batches.next(generator)
        return method_loss(method, model(task.x[batch]), task.labels[batch], rewards[batch],
                           temperature=config.temperature, entropy_coef=config.entropy_coef).mean(), {}

    def log(step, model, record):
        epoch, done = divmod(step, steps_per_epoch)
        if done == 0 and (epoch % config.log_every == 0 or epoch == config.epochs):
            history.append({"epoch": epoch, **evaluate(model, task, method, rewards=rewards)})

    optim = OptimConfig(steps=batches.steps(epochs=config.epochs), optimizer=config.optimizer, lr=config.lr,
                        max_grad_norm=None, seed=config.seed)
    with single_torch_thread():
        train_loop(model, step_loss, optim, callback=log, progress=progress, description=method.upper())
    return history


def summarize(histories: dict[str, list[dict]]) -> dict[str, float | None]:
    """The numbers the criteria of ``vg_controlled`` read from one panel's ``{"rft": history, "sft": history}``:
    each method's final accuracy on both subsets, the largest mean reward std of the modified images over the run,
    the mean (over logged epochs) and the largest gradient norm of the modified images, each divided by the
    unmodified images' gradient norm before finetuning (the same objective on inputs of ordinary reward std), and the
    first logged epoch at which the modified images' accuracy exceeds 0.9 (None if it never does)."""
    out = {}
    for method, history in histories.items():
        reference = history[0]["grad_norm_unmodified"]
        grads = [row["grad_norm_modified"] / reference for row in history]
        out |= {f"{method}_acc_modified": history[-1]["acc_modified"],
                f"{method}_first_epoch_acc_modified_above_0.9": next(
                    (row["epoch"] for row in history if row["acc_modified"] > 0.9), None),
                f"{method}_acc_unmodified": history[-1]["acc_unmodified"],
                f"{method}_max_reward_std_modified": max(row["reward_std_modified"] for row in history),
                f"{method}_mean_relative_grad_norm_modified": sum(grads) / len(grads),
                f"{method}_max_relative_grad_norm_modified": max(grads)}
    return out
