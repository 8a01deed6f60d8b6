"""RLOO and GRPO against any reward function, with a KL penalty to the initial policy and the within-group reward
statistics that decide whether a step can move at all (arXiv 2503.15477 §4, 2310.20703).

One step: draw ``batch_prompts`` prompts (consecutive random permutations, from the loop's seeded generator), sample
``k`` responses each from the current policy as token ids (:func:`rmlab.lm.sample.sample_token_ids`; plain sampling
unless told otherwise), score the decoded texts with the reward function, normalise the rewards by the mean and std
of the same reward on the *initial* policy's samples (2503.15477 §4.4 / App. F: ``(r - mean) / sqrt(var + 1e-8)``),
subtract ``kl_coef`` times the sequence KL estimate to the initial policy (the KL-in-reward form of the official
RLOO code, k3 estimator), and take a REINFORCE step ``-mean(A * ln pi(y|x)) - entropy_coef * H`` with the RLOO or
GRPO advantages ``A`` of :mod:`rmlab.train.losses` and ``H`` the mean exact entropy of the policy's next-token
distributions over the sampled response tokens (an entropy bonus, the ``ent_coef`` of RL4LMs' PPO; 0 by default).

Temperature: with ``temperature = T`` the policy that is sampled *and* trained is ``softmax(logits / T)``: log-probs,
the entropy and both sides of the KL are scored at ``T`` (as TRL's RL trainers do), so the REINFORCE gradient is
unbiased for the tempered policy; ``T = 1`` is plain sampling. (``top_k`` / ``top_p`` filter the samples only.)

Logged per step (names stable; ``rmlab rloo`` writes them to ``metrics.jsonl``): ``reward`` (mean raw proxy
reward), ``gold_reward`` (when a gold function is given), ``kl`` (mean sequence KL estimate), ``entropy`` (mean
per-token entropy ``H`` above), ``response_length``,
and the within-group statistics of the raw proxy reward (:func:`rmlab.measure.variance.within_group_std_summary`:
``within_std_mean``, ``within_std_p10/p50/p90``, ``frac_zero_std``) -- TRL's ``frac_reward_zero_std`` on the task
reward, not on KL-shaped rewards.

Deviations from the official code: one REINFORCE update per batch of samples (no PPO epochs or clipping, as the
paper's RLOO with a single update per batch), and responses that hit ``max_new_tokens`` are scored as they are.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from rmlab.errors import UserError, check_int_range, check_nonnegative_finite, check_positive_finite
from rmlab.lm.data import encode_prompts
from rmlab.lm.reward_spec import RewardFn, score_rewards
from rmlab.lm.sample import decode_response, eos_token_ids, sample_token_ids
from rmlab.lm.batching import padding_id
from rmlab.lm.score import response_logprobs, response_logprobs_and_entropy
from rmlab.measure.variance import within_group_std_summary
from rmlab.train.loop import EpochBatches, OPTIMIZERS, OptimConfig, disable_dropout, train_loop
from rmlab.train.losses import GRPO_SCALES, grpo_advantages, kl_k1, kl_k3, rloo_advantages

ALGOS = ("rloo", "grpo")
KL_ESTIMATORS = {"k1": kl_k1, "k3": kl_k3}
NORMALIZATION_EPS = 1e-8           # 2503.15477's official code: scale = 1 / sqrt(var + 1e-8)

@dataclass(frozen=True)
class PGConfig:
    """An RLOO / GRPO run (recorded with ``dataclasses.asdict`` next to its results)."""

    algo: str = field(default="rloo", metadata={"help": "rloo (Ahmadian et al. 2024; 2503.15477) | grpo (Shao et al. "
                                                         "2024)"})
    k: int = field(default=2, metadata={"help": "samples per prompt (2503.15477: 2 for RLOO)"})
    scale: str = field(default="group", metadata={"help": "GRPO only: divide advantages by the group std (group), "
                                                           "the batch std (batch) or not at all (none, Dr. GRPO)"})
    kl_coef: float = field(default=0.05, metadata={"help": "KL penalty to the initial policy (2503.15477: 0.05)"})
    kl_estimator: str = field(default="k3", metadata={"help": "k3 (the official code's) or k1, summed over tokens"})
    normalize_rewards: bool = field(default=True, metadata={
        "help": "standardise rewards by their mean/std on the initial policy's samples (2503.15477 §4.4)"})
    normalization_prompts: int = field(default=64, metadata={"help": "prompts (x k samples) for that mean/std"})
    batch_prompts: int = field(default=8, metadata={"help": "prompts per step"})
    epochs: int = field(default=1, metadata={"help": "passes over the prompts (ignored when steps is set)"})
    steps: int | None = field(default=None, metadata={"help": "optimiser steps; default epochs * ceil(prompts / "
                                                               "batch_prompts)"})
    max_new_tokens: int = field(default=32, metadata={"help": "sampled tokens per response at most"})
    temperature: float = field(default=1.0, metadata={"help": "temperature of the policy that is sampled and "
                                                                "trained, softmax(logits / T) (plain sampling: 1)"})
    entropy_coef: float = field(default=0.0, metadata={"help": "entropy bonus: subtract this times the mean "
                                                                "per-token entropy of the policy (RL4LMs' ent_coef)"})
    top_k: int = field(default=0, metadata={"help": "top-k filter, 0 = off"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus filter, 1 = off"})
    optimizer: str = field(default="adam", metadata={"help": "adam (2503.15477) | adamw | rmsprop | sgd"})
    lr: float = field(default=1e-5, metadata={"help": "learning rate"})
    max_grad_norm: float | None = field(default=None, metadata={"help": "gradient clipping; None: off"})
    seed: int = field(default=0, metadata={"help": "seed of the prompt order and of the samples"})
    disable_dropout: bool = field(default=True, metadata={"help": "train without dropout (TRL's default)"})

    def __post_init__(self):
        for name, allowed in (("algo", ALGOS), ("scale", GRPO_SCALES), ("kl_estimator", tuple(KL_ESTIMATORS)),
                              ("optimizer", tuple(OPTIMIZERS))):
            if getattr(self, name) not in allowed:
                raise UserError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        check_int_range(self.k, "k", minimum=2)
        for name in ("normalization_prompts", "batch_prompts", "epochs", "max_new_tokens"):
            check_int_range(getattr(self, name), name, minimum=1)
        check_int_range(self.top_k, "top_k", minimum=0)
        check_int_range(self.seed, "seed", minimum=0)
        if self.steps is not None:
            check_int_range(self.steps, "steps", minimum=1)
        check_positive_finite(self.lr, "lr")
        check_positive_finite(self.temperature, "temperature")
        for name in ("kl_coef", "entropy_coef"):
            check_nonnegative_finite(getattr(self, name), name)
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p!r}")


@dataclass
class PGResult:
    """``metrics``: one dict per step (see the module docstring); ``normalization``: the ``shift``/``scale`` applied
    to the proxy reward; ``config``: the run's :class:`PGConfig` as a dict."""

    metrics: list[dict]
    normalization: dict
    config: dict


def train_pg(policy, tokenizer, prompts: list[str], reward_fn: RewardFn, config: PGConfig, *,
             gold_fn: RewardFn | None = None, chat_template: bool = False, progress=True, callback=None,
             sampler=None, normalization: tuple[float, float] | None = None) -> PGResult:
    """Train ``policy`` in place with RLOO or GRPO on ``prompts`` against ``reward_fn(prompts, responses)``.
    ``callback(step, model, metrics)`` runs after each update (e.g. an evaluation every epoch). ``sampler``: a
    function with :func:`rmlab.lm.sample.sample_token_ids`' signature (default: that one), e.g. a
    :mod:`rmlab.lm.backends` backend's ``sample_token_ids``. ``normalization``: the ``(shift, scale)`` of the reward,
    measured beforehand with :func:`reward_normalization` on :func:`normalization_samples` of this policy (runs
    that differ only in the reward function share those samples); None: measured here."""
    prompts = list(prompts)
    if not prompts:
        raise UserError("no prompts to train on")
    if normalization is not None and not config.normalize_rewards:
        raise ValueError("a normalization was given, but normalize_rewards is off")
    if config.disable_dropout:
        disable_dropout(policy)
    reference = copy.deepcopy(policy).eval()
    encoded = encode_prompts(tokenizer, prompts, chat_template=chat_template)
    pad_id, eos_ids = padding_id(tokenizer), eos_token_ids(policy, tokenizer)
    sampling = _sampling(config, chat_template)
    sample = sampler or sample_token_ids
    if normalization is None and config.normalize_rewards:
        samples = normalization_samples(policy, tokenizer, prompts, config, chat_template=chat_template,
                                        sampler=sampler)
        normalization = reward_normalization(reward_fn, *samples)
    shift, scale = normalization or (0.0, 1.0)
    batches = EpochBatches(len(prompts), config.batch_prompts)
    steps = config.steps or batches.steps(epochs=config.epochs)
    optim = OptimConfig(steps=steps, optimizer=config.optimizer, lr=config.lr, max_grad_norm=config.max_grad_norm,
                        seed=config.seed)
    estimator = KL_ESTIMATORS[config.kl_estimator]

    def step_loss(step, generator):
        batch = batches.next(generator)
        policy.eval()
        ids = sample(policy, tokenizer, [prompts[i] for i in batch], config.k, indices=batch,
                     seed=_step_seed(config.seed, step), batch_size=len(batch) * config.k, **sampling)
        policy.train()
        pairs = [(encoded[i], response) for i, group in zip(batch, ids) for response in group]     # P*K
        texts = [decode_response(tokenizer, response, eos_ids) for _, response in pairs]
        repeated = [prompts[i] for i in batch for _ in range(config.k)]
        raw = score_rewards("reward function", reward_fn, repeated, texts)
        logps, entropy, mask = response_logprobs_and_entropy(policy, pairs, pad_id,
                                                             temperature=config.temperature)        # [P*K, R]
        with torch.no_grad():
            ref_logps, _ = response_logprobs(reference, pairs, pad_id, temperature=config.temperature)
        kl = torch.where(mask, estimator(logps.detach(), ref_logps), 0.0).sum(dim=1)               # [P*K]
        shaped = torch.as_tensor((raw - shift) / scale, dtype=kl.dtype, device=kl.device) - config.kl_coef * kl
        grouped = shaped.view(len(batch), config.k)
        advantages = rloo_advantages(grouped) if config.algo == "rloo" else grpo_advantages(grouped,
                                                                                             scale=config.scale)
        sequence_logps = torch.where(mask, logps, 0.0).sum(dim=1)
        mean_entropy = entropy[mask].mean()
        loss = -(advantages.flatten().detach() * sequence_logps).mean()
        if config.entropy_coef > 0:                 # else the entropy stays out of the backward pass
            loss = loss - config.entropy_coef * mean_entropy
        metrics = {"reward": float(raw.mean()), "kl": float(kl.mean()), "entropy": float(mean_entropy.detach()),
                   "response_length": float(mask.sum(dim=1).float().mean()),
                   **within_group_std_summary(raw.reshape(len(batch), config.k))}
        if gold_fn is not None:
            metrics["gold_reward"] = float(score_rewards("gold reward", gold_fn, repeated, texts).mean())
        return loss, metrics

    metrics = train_loop(policy, step_loss, optim, callback=callback, progress=progress,
                         description=config.algo.upper())
    return PGResult(metrics=metrics, normalization={"shift": shift, "scale": scale}, config=asdict(config))


def _step_seed(seed: int, step: int) -> int:
    """The sampling seed of one step: distinct per (seed, step), independent of everything else."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


def _sampling(config: PGConfig, chat_template: bool) -> dict:
    return dict(max_new_tokens=config.max_new_tokens, temperature=config.temperature, top_k=config.top_k,
                top_p=config.top_p, chat_template=chat_template, progress=False)


def normalization_samples(policy, tokenizer, prompts, config: PGConfig, *, chat_template: bool = False,
                          sampler=None) -> tuple[list[str], list[str]]:
    """``(prompts, responses)``: the initial policy's ``k`` samples of each of the first ``normalization_prompts``
    prompts, on which :func:`train_pg` measures the reward normalisation. They depend on the policy, the prompts, the
    seed and the sampling settings only, not on the reward: runs that differ only in the reward function can draw
    them once and pass each reward's :func:`reward_normalization` to :func:`train_pg`."""
    subset = list(prompts)[:config.normalization_prompts]
    policy.eval()
    ids = (sampler or sample_token_ids)(policy, tokenizer, subset, config.k, seed=_step_seed(config.seed, 0),
                                        **_sampling(config, chat_template))
    eos_ids = eos_token_ids(policy, tokenizer)
    texts = [decode_response(tokenizer, response, eos_ids) for group in ids for response in group]
    return [p for p in subset for _ in range(config.k)], texts


def reward_normalization(reward_fn: RewardFn, prompts: list[str], responses: list[str]) -> tuple[float, float]:
    """``(shift, scale)``: the mean and ``sqrt(unbiased var + 1e-8)`` of ``reward_fn`` on these samples (those of
    :func:`normalization_samples`).

    >>> reward_normalization(lambda prompts, responses: [float(len(r)) for r in responses], ["p"] * 2, ["a", "abc"])
    (2.0, 1.414213565908629)
    """
    values = score_rewards("reward function", reward_fn, prompts, responses)
    return float(values.mean()), float(math.sqrt(values.var(ddof=1) + NORMALIZATION_EPS))
