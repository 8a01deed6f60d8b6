"""A log-linear bandit where the teacher experiment of arXiv 2503.15477 §4 runs in seconds: the reproduction
checklist's "L1" setting for Table 1, Figure 2 and Table 2 (``shared/papers/01_reward_variance_teacher.md`` §7).

**The world.** Every prompt ``x`` has ``n_candidates`` responses the policy can give, each a feature vector
``phi(x, y) = (u, v)``:

- ``u`` (``dim_u`` numbers) is what the policy's own responses differ in: ``N(0, I)`` per response;
- ``v`` (``dim_v`` numbers) is a prompt-level part ``vbar(x) ~ N(0, I)`` plus ``N(0, policy_v_spread^2 I)`` per
  response: the policy's responses to one prompt barely differ in it.

The policy is log-linear, ``pi_theta(y | x) ∝ exp(theta . phi(x, y))``, with one ``theta`` for every prompt: what
RL learns on one prompt carries to another as far as their features agree. The gold reward is
``r_G = tanh(w . phi + gold_noise * eps)`` with ``w = (w_u, w_v)`` (unit halves) and ``eps ~ N(0, 1)`` a per-response
quality the features do not show, so no linear RM is exactly right. *Off-policy* responses come from "another
generator" (the paper's UltraFeedback completions come from other LMs): two per prompt, with ``u ~ N(0,
off_u_spread^2 I)`` and ``v = vbar(x) + N(0, I)``. The on- and off-policy data thus differ in *which* features
separate their responses, the premise behind the paper's Table 1 (an RM learns what its pairs differ in). This is a
construction, not a finding: Table 1's ordering follows from it by design. What the experiment tests is the rest:
whether reward variance under the initial policy then orders the proxy and gold increase (Figure 2, Table 2).

**The initial policy** ``theta_0`` is fit by cross-entropy to one demonstration per demonstration prompt, drawn from
``softmax(r_G / demo_temperature)`` (the checklist's "theta_0 fit to noisy demos").

**The teachers** are those of :mod:`rmlab.world.teacher`: linear Bradley-Terry RMs ``r = psi . phi`` trained on
``n_pairs`` pairs of which 100/75/50/25/0 % are on-policy (two samples of ``pi_theta_0``, gold-labelled) and the
rest off-policy, with the centring term ``center * (r(y+) + r(y-))^2`` of the paper's RM code (the checklist's
"center 0.01"); the perfect-accuracy RM (r_G with half the prompts scaled by 0.001 towards the floor -1, as
:class:`rmlab.world.teacher.PerfectAccuracyRM` does); and r_G itself. Each RM is standardised by the mean and std of
its rewards under ``pi_theta_0`` on the RL prompts (exact expectations).

**RLOO** (k = 2, reward minus ``kl_coef`` times the sample's ``log pi - log pi_0`` as in TRL's ``RLOOTrainer``,
Adam) runs through :func:`rmlab.train.loop.train_loop`; after every epoch the expected gold reward, the expected
standardised proxy reward and KL(pi || pi_0) are computed exactly on the held-out evaluation prompts (a sum over the
candidates, no sampling noise). The properties (whitened reward variance, on-policy accuracy over all pairs of K
samples per prompt, off-policy accuracy on held-out off-policy pairs) use :mod:`rmlab.measure`, as the world's report.

**The appendix ablations** (Tables 3-9: another initial policy, similar on- and off-policy data, another gold
reward, per-prompt normalization): :func:`appendix_variants` builds each, :func:`appendix_correlations` gives each
one's Pearson and Spearman of variance with the increases, :func:`plot_appendix_correlations` draws them beside the
paper's (:data:`APPENDIX_PAPER`).

Differences from the paper: a bandit with 64 candidates per prompt and a 16-number policy instead of Pythia-2.8B;
gold-labelled pairs; exact evaluation instead of 500 x 10 samples.

>>> bandit = make_bandit(BanditConfig(n_prompts=200, splits=(40, 80, 60, 20)))
>>> tuple(bandit.features.shape), {name: len(idx) for name, idx in bandit.splits.items()}
((200, 64, 16), {'demo': 40, 'rm': 80, 'rl': 60, 'eval': 20})
>>> properties, runs = teacher_experiment(bandit, seeds=(0,), rl=BanditRLConfig(epochs=1))
>>> list(properties.index)[-2:], sorted(runs.columns)[:3]
(['perfect_acc', 'GT'], ['epoch', 'gold_increase', 'kl'])
"""

from __future__ import annotations

import textwrap

from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd
import torch

from rmlab._threads import single_torch_thread
from rmlab.errors import UserError, check_int_range, check_nonnegative_finite, check_positive_finite
from rmlab.measure.accuracy import on_policy_accuracy, preference_accuracy
from rmlab.measure.teacher import teacher_score
from rmlab.measure.variance import whitened_reward_variance
from rmlab.train.loop import EpochBatches, OptimConfig, train_loop
from rmlab.train.losses import GRPO_SCALES, bradley_terry_loss, grpo_advantages, rloo_advantages
from rmlab.world.teacher import GOLD, PAPER_FRACTIONS, PERFECT, table2_correlations, zoo_name

SPLITS = ("demo", "rm", "rl", "eval")
NORMALIZATIONS = ("global", "per_prompt")
ALGOS = ("rloo", "grpo")


@dataclass(frozen=True)
class BanditConfig:
    """The bandit world (every field but ``seed`` is part of the construction; see the module docstring)."""

    n_prompts: int = field(default=2000, metadata={"help": "prompts (the checklist's L1: 2,000)"})
    splits: tuple[int, int, int, int] = field(default=(300, 1000, 500, 200), metadata={
        "help": "prompts for the demonstrations, the RM pairs, RL training and evaluation (sums to n_prompts)"})
    n_candidates: int = field(default=64, metadata={"help": "responses per prompt (the checklist's L1: 64)"})
    dim_u: int = field(default=8, metadata={"help": "features the policy's responses differ in"})
    dim_v: int = field(default=8, metadata={"help": "features other generators' responses differ in"})
    policy_v_spread: float = field(default=0.25, metadata={"help": "std of v among the policy's responses"})
    off_u_spread: float = field(default=0.25, metadata={"help": "std of u among the off-policy responses"})
    gold_noise: float = field(default=0.5, metadata={"help": "weight of the quality the features do not show"})
    demo_temperature: float = field(default=0.5, metadata={"help": "demonstrations ~ softmax(r_G / this)"})
    seed: int = field(default=0, metadata={"help": "seed of everything drawn"})

    def __post_init__(self):
        for name in ("n_prompts", "n_candidates", "dim_u", "dim_v"):
            check_int_range(getattr(self, name), name, minimum=2)
        check_positive_finite(self.demo_temperature, "demo_temperature")
        for name in ("policy_v_spread", "off_u_spread", "gold_noise"):
            check_nonnegative_finite(getattr(self, name), name)
        if len(self.splits) != 4 or sum(self.splits) != self.n_prompts or min(self.splits) < 2:
            raise UserError(f"splits must be four sizes >= 2 summing to n_prompts={self.n_prompts}, got {self.splits}")


@dataclass(frozen=True)
class BanditRLConfig:
    """RLOO (or GRPO, the paper's Table 12) on the bandit (2503.15477 §4: k = 2, KL 0.05 to the initial policy,
    Adam)."""

    k: int = field(default=2, metadata={"help": "samples per prompt (the group)"})
    kl_coef: float = field(default=0.05, metadata={"help": "KL penalty in the reward (the paper: 0.05)"})
    lr: float = field(default=0.02, metadata={"help": "Adam learning rate on theta"})
    batch_prompts: int = field(default=32, metadata={"help": "prompts per step (the paper: batch 32)"})
    epochs: int = field(default=4, metadata={"help": "passes over the RL prompts (evaluated after each)"})
    normalization: str = field(default="global", metadata={
        "help": "what each reward is divided by for training, after its mean under pi_0 is subtracted: 'global', its "
                "std under pi_0 over the RL prompts and responses (§4); 'per_prompt', the root of its mean "
                "per-prompt variance under pi_0 (the paper's Table 9)"})
    algo: str = field(default="rloo", metadata={
        "help": "'rloo': leave-one-out advantages; 'grpo': the group mean as baseline, divided as grpo_scale says"})
    grpo_scale: str = field(default="group", metadata={
        "help": "GRPO's division (rmlab.train.losses.grpo_advantages): 'group' std, as TRL and the paper's Table 12 "
                "(at k = 2 every advantage is then +-1/sqrt(2): sign-only), 'batch' std, or 'none' (Dr. GRPO)"})

    def __post_init__(self):
        for name, allowed in (("normalization", NORMALIZATIONS), ("algo", ALGOS), ("grpo_scale", GRPO_SCALES)):
            if getattr(self, name) not in allowed:
                raise UserError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        check_int_range(self.k, "k", minimum=2)
        check_int_range(self.batch_prompts, "batch_prompts", minimum=1)
        check_int_range(self.epochs, "epochs", minimum=1)
        check_positive_finite(self.lr, "lr")
        check_nonnegative_finite(self.kl_coef, "kl_coef")


@dataclass(frozen=True)
class Bandit:
    """A drawn bandit world: policy responses ``features [P, M, D]`` with ``gold [P, M]``, off-policy responses
    ``off_features [P, 2, D]`` with ``off_gold [P, 2]``, the prompt ``splits``, the initial policy ``theta0`` and
    ``gold_weights`` (``w``: ``features @ gold_weights`` is the gold reward's noise-free score, the best linear RM)."""

    config: BanditConfig
    features: torch.Tensor
    gold: torch.Tensor
    off_features: torch.Tensor
    off_gold: torch.Tensor
    splits: dict
    theta0: torch.Tensor
    gold_weights: torch.Tensor


def make_bandit(config: BanditConfig = BanditConfig()) -> Bandit:
    """Draw the world of ``config`` (float64, reproducible from ``config.seed``) and fit its initial policy."""
    c = config
    gen = torch.Generator().manual_seed(c.seed)

    def normal(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    w = torch.cat([_unit(normal(c.dim_u)), _unit(normal(c.dim_v))])
    vbar = normal(c.n_prompts, 1, c.dim_v)
    features = torch.cat([normal(c.n_prompts, c.n_candidates, c.dim_u),
                          vbar + c.policy_v_spread * normal(c.n_prompts, c.n_candidates, c.dim_v)], dim=-1)
    gold = torch.tanh(features @ w + c.gold_noise * normal(c.n_prompts, c.n_candidates))
    off_features = torch.cat([c.off_u_spread * normal(c.n_prompts, 2, c.dim_u), vbar + normal(c.n_prompts, 2, c.dim_v)],
                             dim=-1)
    off_gold = torch.tanh(off_features @ w + c.gold_noise * normal(c.n_prompts, 2))
    order = torch.randperm(c.n_prompts, generator=gen)
    bounds = np.cumsum((0,) + tuple(c.splits))
    splits = {name: order[a:b] for name, a, b in zip(SPLITS, bounds[:-1], bounds[1:])}
    demo = splits["demo"]
    demonstrations = torch.multinomial(torch.softmax(gold[demo] / c.demo_temperature, -1), 1, generator=gen)[:, 0]
    theta0 = _fit_to_demonstrations(features[demo], demonstrations)
    return Bandit(c, features, gold, off_features, off_gold, splits, theta0, w)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm()


def _linear(weights: torch.Tensor) -> torch.nn.Linear:
    """A bias-free ``D -> 1`` linear map holding ``weights`` (float64): the policy's theta or an RM's psi."""
    module = torch.nn.Linear(len(weights), 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(weights[None])
    return module


def _fit_linear(dim: int, loss_of, *, steps: int, lr: float) -> torch.Tensor:
    """The weights of a bias-free linear map ``R^dim -> R`` (from 0) minimising ``loss_of(module)``: full batch, Adam,
    no clipping. Returns them as a ``[dim]`` tensor."""
    module = _linear(torch.zeros(dim, dtype=torch.float64))

    def step_loss(step, generator):
        return loss_of(module), {}

    with single_torch_thread():
        train_loop(module, step_loss, OptimConfig(steps=steps, optimizer="adam", lr=lr, max_grad_norm=None),
                   progress=False)
    return module.weight.detach()[0]


def _fit_to_demonstrations(features: torch.Tensor, chosen: torch.Tensor, *, steps: int = 200) -> torch.Tensor:
    """theta maximising the log-likelihood of the demonstrated responses (full batch, Adam 0.05, from 0)."""
    def loss(policy):
        log_probs = torch.log_softmax(policy(features)[..., 0], dim=-1)
        return -log_probs.gather(1, chosen[:, None]).mean()

    return _fit_linear(features.shape[-1], loss, steps=steps, lr=0.05)


def policy_probs(bandit: Bandit, theta: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
    """``pi_theta(. | x)`` for each prompt index in ``prompts``: ``[len(prompts), M]``."""
    return torch.softmax(bandit.features[prompts] @ theta, dim=-1)


# ------------------------------------------------------------------------------------------------ teachers
def preference_pairs(bandit: Bandit, *, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Gold-labelled pairs on the RM prompts: ``{"on": (chosen, rejected), "off": (chosen, rejected)}``, features
    ``[n, D]``; on-policy = two samples of ``pi_theta_0``, off-policy = the other generator's two responses. Gold
    ties (probability 0 here) are dropped."""
    prompts = bandit.splits["rm"]
    gen = torch.Generator().manual_seed(seed)
    drawn = torch.multinomial(policy_probs(bandit, bandit.theta0, prompts), 2, replacement=True, generator=gen)
    on = (_take(bandit.features[prompts], drawn), bandit.gold[prompts].gather(1, drawn))
    off = (bandit.off_features[prompts], bandit.off_gold[prompts])
    return {name: _ordered(*pair) for name, pair in (("on", on), ("off", off))}


def _take(features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return features.gather(1, index[..., None].expand(*index.shape, features.shape[-1]))


def _ordered(features: torch.Tensor, gold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    keep = gold[:, 0] != gold[:, 1]
    first = (gold[:, 0] > gold[:, 1])[keep, None]
    a, b = features[keep, 0], features[keep, 1]
    return torch.where(first, a, b), torch.where(first, b, a)


def train_linear_rm(chosen: torch.Tensor, rejected: torch.Tensor, *, center: float = 0.01, steps: int = 300,
                    lr: float = 0.05) -> torch.Tensor:
    """psi of a linear BT RM ``r = psi . phi`` fit to the pairs (full batch, Adam, from 0): loss
    ``-log sigmoid(r+ - r-) + center * (r+ + r-)^2`` (mean over pairs)."""
    def loss(rm):
        r_chosen, r_rejected = rm(chosen)[:, 0], rm(rejected)[:, 0]
        return bradley_terry_loss(r_chosen, r_rejected).mean() + center * (r_chosen + r_rejected).pow(2).mean()

    return _fit_linear(chosen.shape[-1], loss, steps=steps, lr=lr)


def teachers(bandit: Bandit, *, n_pairs: int | None = None, fractions=PAPER_FRACTIONS,
             seed: int = 0) -> dict[str, tuple]:
    """Table 1's seven teachers as reward tables ``(on the policy's responses [P, M], on the off-policy ones [P, 2])``:
    the BT RMs on ``n_pairs`` pairs each (default: 90 % of the RM prompts; a seeded draw of ``fraction * n_pairs``
    on-policy pairs and the rest off-policy), the perfect-accuracy RM and r_G."""
    n_pairs = n_pairs or int(0.9 * len(bandit.splits["rm"]))
    pairs = preference_pairs(bandit, seed=seed)
    available = min(len(pairs["on"][0]), len(pairs["off"][0]))
    if n_pairs > available:
        raise UserError(f"n_pairs={n_pairs} but the RM prompts give only {available} pairs of each kind")
    gen = torch.Generator().manual_seed(182 + seed)
    out = {}
    for fraction in fractions:
        n_on = round(fraction * n_pairs)
        picks = [torch.randperm(len(pairs[kind][0]), generator=gen)[:n] for kind, n in (("on", n_on),
                                                                                       ("off", n_pairs - n_on))]
        chosen, rejected = (torch.cat([pairs[kind][side][pick] for kind, pick in zip(("on", "off"), picks)])
                            for side in (0, 1))
        psi = train_linear_rm(chosen, rejected)
        out[zoo_name(fraction)] = (bandit.features @ psi, bandit.off_features @ psi)
    flat = torch.zeros(bandit.config.n_prompts, dtype=torch.bool)
    flat[torch.randperm(bandit.config.n_prompts, generator=gen)[:bandit.config.n_prompts // 2]] = True
    out[PERFECT] = tuple(torch.where(flat[:, None], -1.0 + 1e-3 * (g + 1.0), g) for g in (bandit.gold, bandit.off_gold))
    out[GOLD] = (bandit.gold, bandit.off_gold)
    return out


def _policy_samples(bandit: Bandit, prompts: torch.Tensor, k: int, *, seed: int) -> torch.Tensor:
    """``k`` responses of ``pi_theta_0`` per prompt (indices ``[len(prompts), k]``; seeded)."""
    gen = torch.Generator().manual_seed(10_000 + seed)
    return torch.multinomial(policy_probs(bandit, bandit.theta0, prompts), k, replacement=True, generator=gen)


def teacher_properties(bandit: Bandit, rms: dict, *, k: int = 10, seed: int = 0) -> pd.DataFrame:
    """Per teacher under ``pi_theta_0`` on the RL prompts (the §4.4 recipe): ``whitened_reward_variance``,
    ``on_policy_accuracy`` and :func:`rmlab.measure.teacher.teacher_score` over ``k`` samples per prompt,
    ``off_policy_accuracy`` on the off-policy pairs of the RL and evaluation prompts (no RM trained on them)."""
    prompts = bandit.splits["rl"]
    samples = _policy_samples(bandit, prompts, k, seed=seed)
    gold = bandit.gold[prompts].gather(1, samples).numpy()
    held_out = torch.cat([bandit.splits["rl"], bandit.splits["eval"]])
    off_gold = bandit.off_gold[held_out].numpy()
    rows = {}
    for name, (on_table, off_table) in rms.items():
        rewards = on_table[prompts].gather(1, samples).numpy()
        off = off_table[held_out].numpy()
        rows[name] = {"whitened_reward_variance": float(whitened_reward_variance(rewards)),
                      "on_policy_accuracy": float(on_policy_accuracy(rewards, gold)),
                      "off_policy_accuracy": float(preference_accuracy(off[:, 0], off[:, 1], off_gold[:, 0],
                                                                       off_gold[:, 1])),
                      "teacher_score": float(teacher_score(rewards, gold))}
    return pd.DataFrame.from_dict(rows, orient="index")


# ------------------------------------------------------------------------------------------------ RLOO
def pg_loss(log_probs: torch.Tensor, ref_log_probs: torch.Tensor, samples: torch.Tensor, rewards: torch.Tensor,
            kl_coef: float, advantages=rloo_advantages) -> torch.Tensor:
    """The policy-gradient surrogate for one batch: ``log_probs``/``ref_log_probs`` ``[B, M]`` (policy with grad,
    reference), ``samples [B, k]`` the drawn responses, ``rewards [B, M]`` the standardised reward of every response,
    ``advantages`` the group's baseline (``[B, k] -> [B, k]``; RLOO's by default). The sample's reward is
    ``r - kl_coef * (log pi - log pi_0)`` (detached); with RLOO's advantages its gradient in expectation is
    ``-grad (E_pi[r] - kl_coef * KL(pi || pi_0))``, mean over prompts (checked by enumeration in the tests)."""
    taken = log_probs.gather(1, samples)
    with torch.no_grad():
        reward = rewards.gather(1, samples) - kl_coef * (taken - ref_log_probs.gather(1, samples))
    return -(advantages(reward) * taken).mean(dim=1).mean()


def rl_run(bandit: Bandit, rewards: torch.Tensor, config: BanditRLConfig = BanditRLConfig(), *, seed: int = 0,
           train_prompts: torch.Tensor | None = None, steps: int | None = None,
           eval_every: int | None = None) -> list[dict]:
    """RLOO (or GRPO, as ``config.algo`` says) from ``theta_0`` with the reward table ``rewards [P, M]``, minus its
    exact mean under ``pi_theta_0`` on the RL prompts and divided as ``config.normalization`` says (always over all
    RL prompts). It samples its batches from ``train_prompts`` (prompt indices; default: the RL prompts) for
    ``steps`` steps (default: ``config.epochs`` passes over them), evaluating every ``eval_every`` steps (default:
    one pass). One row per evaluation (the first before training): ``step``, ``epoch`` (whole passes so far),
    ``proxy_increase`` (in units of the reward's std under ``pi_theta_0``, whatever the normalization),
    ``gold_increase``, ``kl`` (exact, on the evaluation prompts)."""
    rl, held_out = bandit.splits["rl"], bandit.splits["eval"]
    train_prompts = rl if train_prompts is None else torch.as_tensor(train_prompts)
    p0 = policy_probs(bandit, bandit.theta0, rl)
    mean = (p0 * rewards[rl]).sum(-1).mean()
    std = ((p0 * (rewards[rl] - mean) ** 2).sum(-1).mean()).sqrt()
    standardised = (rewards - mean) / std
    advantages = rloo_advantages if config.algo == "rloo" else partial(grpo_advantages, scale=config.grpo_scale)
    training = standardised
    if config.normalization == "per_prompt":
        training = (rewards - mean) / _per_prompt_scale(p0, rewards[rl])
    ref_log_probs = torch.log_softmax(bandit.features @ bandit.theta0, dim=-1)
    policy = _linear(bandit.theta0)
    batches = EpochBatches(len(train_prompts), config.batch_prompts)
    per_epoch = batches.steps(epochs=1)
    steps = config.epochs * per_epoch if steps is None else check_int_range(steps, "steps", minimum=1)
    eval_every = per_epoch if eval_every is None else check_int_range(eval_every, "eval_every", minimum=1)

    def evaluate(step: int) -> dict:
        with torch.no_grad():
            log_probs = torch.log_softmax(policy(bandit.features[held_out])[..., 0], dim=-1)
            probs = log_probs.exp()
            return {"step": step, "epoch": step // per_epoch,
                    "gold": float((probs * bandit.gold[held_out]).sum(-1).mean()),
                    "proxy": float((probs * standardised[held_out]).sum(-1).mean()),
                    "kl": float((probs * (log_probs - ref_log_probs[held_out])).sum(-1).mean())}

    def step_loss(step, generator):
        prompts = train_prompts[batches.next(generator)]
        log_probs = torch.log_softmax(policy(bandit.features[prompts])[..., 0], dim=-1)
        samples = torch.multinomial(log_probs.detach().exp(), config.k, replacement=True, generator=generator)
        return pg_loss(log_probs, ref_log_probs[prompts], samples, training[prompts], config.kl_coef,
                       advantages), {}

    evals = [evaluate(0)]

    def callback(step, model, record):
        if step % eval_every == 0:
            evals.append(evaluate(step))

    with single_torch_thread():
        train_loop(policy, step_loss, OptimConfig(steps=steps, optimizer="adam", lr=config.lr, max_grad_norm=None,
                                                  seed=seed), callback=callback, progress=False)
    return [{"step": e["step"], "epoch": e["epoch"], "proxy_increase": e["proxy"] - evals[0]["proxy"],
             "gold_increase": e["gold"] - evals[0]["gold"], "kl": e["kl"]} for e in evals]


def _per_prompt_scale(probs: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """The root of the mean over prompts of each prompt's reward variance under ``probs`` (both ``[P, M]``)."""
    prompt_means = (probs * rewards).sum(-1, keepdim=True)
    return (probs * (rewards - prompt_means) ** 2).sum(-1).mean().sqrt()


def teacher_experiment(bandit: Bandit, *, seeds=(0, 1, 2), rl: BanditRLConfig = BanditRLConfig(),
                       n_pairs: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1 and Figure 2 on the bandit: ``(properties, runs)``, the teachers' properties (one row per teacher)
    and one row per (rm, seed, epoch) with ``policy`` ("theta_0"), ``proxy_increase``, ``gold_increase`` and
    ``kl`` -- the shape of :func:`rmlab.world.teacher.run_grid`, so its analyses apply. ``n_pairs``: see
    :func:`teachers`."""
    properties, runs = policy_grid(bandit, {"theta_0": bandit.theta0}, teachers(bandit, n_pairs=n_pairs), seeds=seeds,
                                   rl=rl)
    return properties.droplevel("policy"), runs


def policy_grid(bandit: Bandit, policies: dict[str, torch.Tensor], rms: dict, *, seeds=(0, 1, 2),
                rl: BanditRLConfig = BanditRLConfig()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every teacher of ``rms`` (name -> reward tables, as :func:`teachers` gives) under every initial policy of
    ``policies`` (name -> theta): ``(properties, runs)``, :func:`teacher_properties` under each policy (index
    ``(policy, rm)``) and :func:`rl_run`'s rows for every (policy, rm, seed) -- the shape of
    :func:`rmlab.world.teacher.run_grid`, so :func:`rmlab.world.teacher.epoch_increases` and its other analyses
    apply. Each RM is standardised under the policy it trains."""
    properties, runs = {}, []
    for policy, theta in policies.items():
        start = replace(bandit, theta0=theta)
        properties[policy] = teacher_properties(start, rms)
        runs += [{"policy": policy, "rm": name, "seed": seed, **row} for name, (table, _) in rms.items()
                 for seed in seeds for row in rl_run(start, table, rl, seed=seed)]
    return pd.concat(properties, names=["policy", "rm"]), pd.DataFrame(runs)


# ------------------------------------------------------------------------------------------------ Figure 3
def initial_policies(bandit: Bandit, *, other_gold_seed: int = 1, sharpness: float = 3.0,
                     seed: int = 0) -> dict[str, torch.Tensor]:
    """Three initial policies on one bandit, as the paper's Figure 3 starts from three differently finetuned LMs
    (each a theta): ``theta_0``, the bandit's own; ``other demonstrations``, fit (as ``theta_0`` is) on the same
    demonstration prompts to the responses another judge (:func:`with_other_gold`) prefers, i.e. other SFT data;
    ``low entropy``, ``sharpness * theta_0``, a policy whose mass sits on fewer responses (as an instruct model's)."""
    check_positive_finite(sharpness, "sharpness")
    demo = bandit.splits["demo"]
    other_gold = with_other_gold(bandit, seed=other_gold_seed).gold[demo]
    gen = torch.Generator().manual_seed(bandit.config.seed + 104_729 * (seed + 1))
    chosen = torch.multinomial(torch.softmax(other_gold / bandit.config.demo_temperature, -1), 1, generator=gen)[:, 0]
    return {"theta_0": bandit.theta0, "other demonstrations": _fit_to_demonstrations(bandit.features[demo], chosen),
            "low entropy": sharpness * bandit.theta0}


def figure3_teachers(bandit: Bandit, *, noise: float = 1.0, n_pairs: int | None = None,
                     seed: int = 0) -> dict[str, tuple]:
    """Figure 3's teachers, the kinds notebook 08 gives the world: :func:`teachers`' 100 % and 0 % on-policy BT RMs
    (trained once, on ``theta_0``'s samples: fixed for every policy, as off-the-shelf RMs are; ``n_pairs`` as
    there), the accurate-but-flat RM, a noisy high-variance one (``noisy_gold``: r_G plus an ``N(0, noise^2)`` draw
    per response) and r_G."""
    check_nonnegative_finite(noise, "noise")
    zoo = teachers(bandit, n_pairs=n_pairs, seed=seed)
    gen = torch.Generator().manual_seed(bandit.config.seed + 15_485_863 * (seed + 1))
    noisy = tuple(g + noise * torch.randn(g.shape, generator=gen, dtype=g.dtype) for g in (bandit.gold,
                                                                                             bandit.off_gold))
    return {name: zoo[name] for name in (zoo_name(1.0), zoo_name(0.0), PERFECT)} | {"noisy_gold": noisy,
                                                                                     GOLD: zoo[GOLD]}


def selection_experiment(bandit: Bandit, rewards: torch.Tensor, *, fraction: float = 0.25, seeds=(0, 1, 2),
                         rl: BanditRLConfig = BanditRLConfig(epochs=2), k: int = 10,
                         evaluations: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    """The world's prompt-selection experiment (:func:`rmlab.world.teacher.selection_experiment`) on the bandit: rank
    the RL prompts by the within-prompt variance of ``rewards [P, M]`` over ``k`` samples of ``pi_theta_0`` each (the
    samples :func:`teacher_properties` draws), and run ``rl`` on the top ``fraction``, on a random subset of the same
    size (a new one per seed) and on all RL prompts, for the same number of steps (``rl.epochs`` passes over all RL
    prompts), evaluated ``evaluations`` times. Every condition keeps the standardisation over all RL prompts. Returns
    (one row per evaluation: ``condition, seed, step, gold_increase, proxy_increase``; the per-prompt variances)."""
    from rmlab.measure.selection import random_prompt_subset, select_prompts_by_variance
    from rmlab.measure.variance import per_prompt_variance

    prompts = bandit.splits["rl"]
    samples = _policy_samples(bandit, prompts, k, seed=0)
    sampled = rewards[prompts].gather(1, samples).numpy()
    top = select_prompts_by_variance(sampled, fraction=fraction)
    steps = rl.epochs * EpochBatches(len(prompts), rl.batch_prompts).steps(epochs=1)
    rows = []
    for seed in seeds:
        subsets = {"top variance": top, "random": random_prompt_subset(len(prompts), len(top), seed=seed),
                   "all prompts": np.arange(len(prompts))}
        for condition, index in subsets.items():
            run = rl_run(bandit, rewards, rl, seed=seed, train_prompts=prompts[torch.as_tensor(index)], steps=steps,
                         eval_every=max(1, steps // evaluations))
            rows += [{"condition": condition, "seed": seed, "step": row["step"], "gold_increase": row["gold_increase"],
                      "proxy_increase": row["proxy_increase"]} for row in run]
    return pd.DataFrame(rows), per_prompt_variance(sampled)


# ------------------------------------------------------------------------------------------------ the appendix
APPENDIX_PAPER = pd.DataFrame({   # arXiv 2503.15477: Pearson(reward variance, increase after epoch 1), Tables 2-9
    "table": ["Table 2", "Tables 3-4", "Tables 5-6", "Tables 7-8", "Table 9"],
    "proxy_increase": [0.982, 0.941, 0.662, 0.887, 0.936],
    "gold_increase": [0.834, 0.409, 0.259, 0.391, 0.279]},
    index=["main", "another initial policy", "similar on- and off-policy data", "another gold reward",
           "per-prompt normalization"])


def appendix_variants(config: BanditConfig = BanditConfig(), rl: BanditRLConfig = BanditRLConfig(), *,
                      other_gold_seed: int = 1) -> dict[str, tuple[Bandit, BanditRLConfig]]:
    """The bandit versions of the paper's appendix ablations (Tables 3-9), each a ``(bandit, rl)`` for
    :func:`teacher_experiment`, keyed as :data:`APPENDIX_PAPER`:

    - ``main``: ``config`` and ``rl`` as given (Tables 1-2);
    - ``another initial policy`` (Tables 3-4, where the policy's SFT data change): ``theta_0`` fit to demonstrations
      four times noisier (``demo_temperature`` x 4), a flatter start;
    - ``similar on- and off-policy data`` (Tables 5-6, SFT on the RM's own data): the policy's and the other
      generator's responses differ in all features alike (both spreads 1);
    - ``another gold reward`` (Tables 7-8): :func:`with_other_gold`; the initial policy is unchanged;
    - ``per-prompt normalization`` (Table 9): ``rl.normalization = "per_prompt"``; the properties are measured as in
      the main run.
    """
    base = make_bandit(config)
    noisier = replace(config, demo_temperature=4 * config.demo_temperature)
    similar = replace(config, policy_v_spread=1.0, off_u_spread=1.0)
    return {"main": (base, rl), "another initial policy": (make_bandit(noisier), rl),
            "similar on- and off-policy data": (make_bandit(similar), rl),
            "another gold reward": (with_other_gold(base, seed=other_gold_seed), rl),
            "per-prompt normalization": (base, replace(rl, normalization="per_prompt"))}


def with_other_gold(bandit: Bandit, *, seed: int = 1) -> Bandit:
    """``bandit`` judged by another gold reward that agrees with the first in part (the paper's Tables 7-8 swap one
    gold RM for another): ``w'`` is each half of ``w + z`` made unit, ``z`` a fresh draw of ``w``'s kind (so
    ``cos(w, w') ~ 0.7``), with a fresh unseen quality ``eps'``. Features, splits and ``theta_0`` stay; RMs trained
    on this bandit learn from pairs ``w'`` labels.

    >>> base = make_bandit(BanditConfig(n_prompts=200, splits=(40, 80, 60, 20)))
    >>> other = with_other_gold(base)
    >>> cos = torch.nn.functional.cosine_similarity(other.gold_weights, base.gold_weights, dim=0)
    >>> bool(torch.equal(other.theta0, base.theta0)), round(float(cos), 2)
    (True, 0.77)
    """
    c = bandit.config
    gen = torch.Generator().manual_seed(c.seed + 7919 * seed)

    def normal(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    u, v = bandit.gold_weights[:c.dim_u], bandit.gold_weights[c.dim_u:]
    w = torch.cat([_unit(u + _unit(normal(c.dim_u))), _unit(v + _unit(normal(c.dim_v)))])
    gold = torch.tanh(bandit.features @ w + c.gold_noise * normal(*bandit.gold.shape))
    off_gold = torch.tanh(bandit.off_features @ w + c.gold_noise * normal(*bandit.off_gold.shape))
    return replace(bandit, gold=gold, off_gold=off_gold, gold_weights=w)


def appendix_correlations(results: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """Per variant (``results``: name -> :func:`teacher_experiment`'s ``(properties, runs)``) the Pearson and Spearman
    correlation of the non-GT teachers' reward variance with their seed-mean proxy and gold increase after epoch 1
    (the first row of the paper's Tables 2, 4, 6, 8 and 9): columns ``(increase, pearson|spearman)``."""
    return pd.DataFrame({name: table2_correlations(properties, runs).loc["Reward variance"]
                         for name, (properties, runs) in results.items()}).T


def plot_appendix_correlations(table: pd.DataFrame, *, paper: pd.DataFrame = APPENDIX_PAPER):
    """:func:`appendix_correlations`' Pearson correlations as bars (proxy and gold increase, one group per variant),
    with ``paper``'s values (columns ``proxy_increase``, ``gold_increase``; same index) as black diamonds. Returns the
    figure."""
    from rmlab import plotting

    fig, ax = plotting.subplots(1, 1, width=8, height=3.8)
    x, width = np.arange(len(table)), 0.38
    for i, target in enumerate(("proxy_increase", "gold_increase")):
        offset = (i - 0.5) * width
        ax.bar(x + offset, table[(target, "pearson")], width, color=plotting.PALETTE[i],
               label=target.replace("_", " "))
        ax.scatter(x + offset, paper.loc[table.index, target], color="black", marker="D", s=14, zorder=5,
                   label="paper" if i == 0 else None)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [f"{textwrap.fill(name, 18)}\n({paper.loc[name, 'table']})" for name in table.index],
                  fontsize="small")
    ax.set_ylabel("Pearson(variance,\nincrease after epoch 1)")
    ax.set_ylim(min(0.0, float(table.xs("pearson", axis=1, level=1).min().min())) - 0.1, 1.3)
    ax.legend(fontsize="small", loc="upper center", ncol=3)
    ax.set_title("Tables 2-9 on the bandit: does reward variance still predict the increase?")
    return fig


def plot_teacher_experiment(properties: pd.DataFrame, runs: pd.DataFrame, *, paper: pd.DataFrame | None = None,
                            title: str = ""):
    """Table 1, Figure 2 and Table 2 of one :func:`teacher_experiment` in four panels: the teachers' variance and
    accuracies (with ``paper``'s values as black diamonds: the same three columns, same teachers), the proxy and gold
    increase per epoch (mean ± std over seeds), and the gold increase after epoch 1 against the variance. Returns
    the figure."""
    from rmlab import plotting

    summary = runs.groupby(["rm", "epoch"])[["proxy_increase", "gold_increase"]].agg(["mean", "std"])
    fig, axes = plotting.subplots(2, 2, width=5.5, height=3.8, squeeze=False)
    axes = axes.ravel()
    columns = {"whitened_reward_variance": "whitened variance", "on_policy_accuracy": "on-policy acc.",
               "off_policy_accuracy": "off-policy acc."}
    x, width = np.arange(len(properties)), 0.27
    for i, (column, label) in enumerate(columns.items()):
        axes[0].bar(x + (i - 1) * width, properties[column], width, color=plotting.PALETTE[i], label=label)
        if paper is not None:
            axes[0].scatter(x + (i - 1) * width, paper.loc[properties.index].iloc[:, i], color="black", marker="D",
                            s=12, zorder=5, label="paper" if i == 0 else None)
    axes[0].set_xticks(x, properties.index, rotation=45)
    axes[0].set_ylim(0, 1.4)
    axes[0].legend(fontsize="small", loc="upper center", ncol=2)
    axes[0].set_title(f"{title}Table 1: variance and accuracy")
    for ax, metric in zip(axes[1:3], ["proxy_increase", "gold_increase"]):
        for color, rm in zip(plotting.PALETTE * 2, properties.index):
            curve = summary.loc[rm, metric]
            ax.errorbar(curve.index, curve["mean"], yerr=curve["std"].fillna(0), marker="o", capsize=3, color=color,
                        label=rm)
        ax.set_xlabel("epoch")
        ax.set_title(metric.replace("_", " "))
    axes[2].legend(fontsize="small")
    after1 = summary.xs(1, level="epoch").loc[properties.index, ("gold_increase", "mean")]
    axes[3].scatter(properties["whitened_reward_variance"], after1, color=plotting.PALETTE[0])
    for rm in properties.index:
        axes[3].annotate(rm, (properties.loc[rm, "whitened_reward_variance"], after1[rm]), fontsize="small")
    axes[3].set_xlabel("whitened reward variance")
    axes[3].set_title("gold increase after epoch 1")
    return fig
