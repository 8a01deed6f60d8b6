"""The teacher experiments of arXiv 2503.15477 §4 on the embedded world: an RM zoo, RLOO/GRPO runs with a per-epoch
evaluation, and the analyses of Table 1/2, Figures 2-4, Figure 3 / Tables 10 and 12, prompt selection by reward
variance and the teacher score (:mod:`rmlab.measure.teacher`).

Everything trains with :mod:`rmlab.train` (``train_reward_model`` for the Bradley-Terry RMs, ``train_pg`` for RLOO /
GRPO: k samples per prompt, KL to the initial policy, Adam, each RM standardised on the initial policy's samples) and
measures with :func:`rmlab.lm.report.reward_report` (the §4.4 recipe: K samples per prompt, whitened variance,
on-policy accuracy over all sample pairs, off-policy accuracy on gold-labelled pairs, bootstrap CIs).

Datasets are named, never assumed (:class:`TeacherData`): today's world trains RL on one part of ``eval_prompts`` and
evaluates on the rest; World v2's ``rl_prompts`` replaces the first name and nothing else changes.

Trained RMs and RL runs are cached under ``<cache>/teacher/`` (``$RMLAB_CACHE``, see
:func:`rmlab.world.build.default_cache_dir`), keyed by a hash of the world and of every setting that changes them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
from scipy import stats

from rmlab._io import atomic_write_json, replace_dir, temporary_dir
from rmlab._threads import single_torch_thread
from rmlab.lm.load import load_causal_lm, new_reward_model, quiet_transformers
from rmlab.lm.report import reward_report
from rmlab.lm.reward_spec import score_rewards
from rmlab.lm.sample import sample_responses
from rmlab.lm.score import ExplicitRM
from rmlab.measure.accuracy import nanmean_last, on_policy_accuracy_bounds, on_policy_accuracy_per_prompt
from rmlab.measure.bootstrap import bootstrap_ci
from rmlab.train.pg import PGConfig, normalization_samples, reward_normalization, train_pg
from rmlab.train.reward_model import RMConfig, train_reward_model
from rmlab.world.build import World, build_world
from rmlab.world.config import WorldConfig, quick_config
from rmlab.world.language import prompt_kind

PAPER_FRACTIONS = (1.0, 0.75, 0.5, 0.25, 0.0)
PERFECT = "perfect_acc"
GOLD = "GT"


def zoo_name(fraction: float) -> str:
    """``100%`` ... ``0%``: the name of the BT RM trained on that fraction of on-policy pairs."""
    return f"{round(100 * fraction)}%"


TRAINED = [zoo_name(f) for f in PAPER_FRACTIONS]     # Table 1's BT RMs, 100 % to 0 % on-policy pairs
# teacher_score_validation's predictors (rows of teacher_validation) -> the property each one reads
VALIDATION_MEASURES = {"teacher score": "teacher_score", "variance alone": "whitened_reward_variance",
                       "on-policy accuracy alone": "on_policy_accuracy",
                       "off-policy accuracy alone": "off_policy_accuracy"}


# ------------------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class TeacherData:
    """Which world datasets the experiments use. When ``rl_prompts == eval_prompts`` (today's world has no RL prompt
    set) the list is split: the last ``n_eval`` prompts evaluate, the ones before them train."""

    rl_prompts: str = "eval_prompts"
    eval_prompts: str = "eval_prompts"
    on_policy: str = "prefs_on_policy"
    off_policy: str = "prefs_off_policy"
    n_rl: int | None = None        # None: all (after the split)
    n_eval: int = 64
    off_policy_heldout: float = 0.4   # share of the off-policy pool kept out of RM training, for off-policy accuracy

    def prompts(self, world: World) -> tuple[list[str], list[str]]:
        """``(rl_prompts, eval_prompts)``: distinct prompts (first occurrences), the two lists disjoint."""
        evaluation = list(dict.fromkeys(world.prompts(self.eval_prompts)))
        if self.rl_prompts == self.eval_prompts:
            if len(evaluation) < self.n_eval + 2:
                raise ValueError(f"{self.eval_prompts} has {len(evaluation)} prompts: too few to keep {self.n_eval} "
                                 "for evaluation and train on the rest")
            rl, evaluation = evaluation[:-self.n_eval], evaluation[-self.n_eval:]
        else:
            rl, evaluation = list(dict.fromkeys(world.prompts(self.rl_prompts))), evaluation[:self.n_eval]
        overlap = set(rl) & set(evaluation)
        rl = [p for p in rl if p not in overlap]
        return rl[:self.n_rl], evaluation

    def pools(self, world: World) -> tuple[datasets.Dataset, datasets.Dataset, datasets.Dataset]:
        """``(on_policy, off_policy_train, off_policy_heldout)``: the RMs train on the first two; off-policy
        accuracy is measured on the third (pairs no RM saw; seeded split)."""
        off = world.preferences(self.off_policy)
        order = np.random.default_rng(237).permutation(len(off))
        n_heldout = round(self.off_policy_heldout * len(off))
        return world.preferences(self.on_policy), off.select(order[n_heldout:]), off.select(order[:n_heldout])


def mixed_preferences(on_policy: datasets.Dataset, off_policy: datasets.Dataset, fraction: float, n_pairs: int, *,
                      seed: int = 182) -> datasets.Dataset:
    """``n_pairs`` pairs of which ``round(fraction * n_pairs)`` are drawn from the on-policy pool and the rest from
    the off-policy pool (seeded, without replacement; 2503.15477 App. F: same pair count for every mix).

    >>> on = datasets.Dataset.from_dict({"prompt": ["a"] * 4, "chosen": ["on"] * 4, "rejected": ["x"] * 4})
    >>> off = datasets.Dataset.from_dict({"prompt": ["b"] * 4, "chosen": ["off"] * 4, "rejected": ["y"] * 4})
    >>> sorted(mixed_preferences(on, off, 0.25, 4)["chosen"])
    ['off', 'off', 'off', 'on']
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    n_on = round(fraction * n_pairs)
    if n_on > len(on_policy) or n_pairs - n_on > len(off_policy):
        raise ValueError(f"{n_pairs} pairs at {fraction:.0%} on-policy need {n_on} on- and {n_pairs - n_on} "
                         f"off-policy pairs; the pools hold {len(on_policy)} and {len(off_policy)}")
    rng = np.random.default_rng(seed)
    columns = ["prompt", "chosen", "rejected", "score_chosen", "score_rejected"]
    parts = [pool.select(rng.permutation(len(pool))[:n]).select_columns([c for c in columns if c in pool.features])
             for pool, n in ((on_policy, n_on), (off_policy, n_pairs - n_on))]
    mixed = datasets.concatenate_datasets([p for p in parts if len(p)])
    return mixed.select(rng.permutation(len(mixed)))


# ------------------------------------------------------------------------------------------------ reward models
class PerfectAccuracyRM:
    """The "perfectly accurate, low variance" RM of 2503.15477 §4.1: the gold reward with the rewards of half the
    prompts multiplied by ``factor`` (0.001). Which prompts is a fixed function of the prompt text (a seeded hash
    below ``fraction``), so the RM is defined on every prompt -- training, evaluation and preference pairs alike --
    and scales about ``fraction`` of any prompt set (:meth:`scaled_fraction` says how many exactly).

    The multiplication shrinks those prompts' rewards towards the point ``floor`` (the gold reward measured from
    ``floor`` is scaled: ``floor + factor * (r - floor)``). It lowers the *whitened* variance (within-prompt variance
    over total variance, what the paper's Table 1 reports) only when that point lies away from the rewards' mean:
    collapsing half the prompts onto it adds between-prompt spread. The paper's gold RM (ArmoRM) is such a reward: by
    the law of total variance, its Table 1 (GT 0.256, this RM 0.111) implies a mean about 1.6 standard deviations from
    zero. The world's gold reward lies in [-1, 1] with a mean near 0 under its policies, so scaling around 0 would
    leave the whitened variance where it was (measured: 0.278 against r_G's 0.264 under ``sft_full``); the default
    ``floor=-1`` (the worst score, i.e. the gold reward read on a non-negative scale) puts it 1.4 standard deviations
    below the mean, close to the paper's 1.6 (0.131 against 0.264). The official code multiplies the already
    standardised reward in the trainer instead; that differs from this by a shift per prompt, which RLOO's
    leave-one-out baseline removes."""

    def __init__(self, gold, *, fraction: float = 0.5, factor: float = 1e-3, seed: int = 8122, floor: float = -1.0):
        self.gold, self.fraction, self.factor, self.seed, self.floor = gold, fraction, factor, seed, floor
        self.__name__ = PERFECT

    def __repr__(self):
        return (f"PerfectAccuracyRM(fraction={self.fraction}, factor={self.factor}, seed={self.seed}, "
                f"floor={self.floor})")

    def is_scaled(self, prompt: str) -> bool:
        return _unit_hash(self.seed, prompt) < self.fraction

    def scaled_fraction(self, prompts) -> float:
        distinct = set(prompts)
        return sum(map(self.is_scaled, distinct)) / len(distinct)

    def __call__(self, prompts, responses) -> np.ndarray:
        scaled = np.array([self.is_scaled(p) for p in prompts], dtype=bool)
        gold = np.asarray(self.gold(prompts, responses), dtype=np.float64)
        return np.where(scaled, self.floor + self.factor * (gold - self.floor), gold)


def _unit_hash(seed: int, *texts: str) -> float:
    """A number in [0, 1) that is a fixed function of ``seed`` and the texts."""
    digest = hashlib.sha256("\x00".join([str(seed), *texts]).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


class NoisyReward:
    """A noisy, high-variance teacher: the gold reward plus Gaussian noise of std ``noise``, a fixed function of
    (prompt, response) (seeded hash), so that the same sample always gets the same reward."""

    def __init__(self, gold, *, noise: float = 1.0, seed: int = 0, name: str = "noisy_gold"):
        self.gold, self.noise, self.seed, self.__name__ = gold, noise, seed, name

    def _noise(self, prompt: str, response: str) -> float:
        return float(stats.norm.ppf(np.clip(_unit_hash(self.seed, prompt, response), 1e-12, 1 - 1e-12)))

    def __repr__(self):
        return f"NoisyReward(noise={self.noise}, seed={self.seed})"

    def __call__(self, prompts, responses) -> np.ndarray:
        noise = np.array([self._noise(p, r) for p, r in zip(prompts, responses)])
        return np.asarray(self.gold(prompts, responses), dtype=np.float64) + self.noise * noise


class Standardized:
    """``(reward - shift) / scale``: a reward standardised once, outside the trainer."""

    def __init__(self, reward_fn, shift: float, scale: float):
        self.reward_fn, self.shift, self.scale = reward_fn, shift, scale

    def __repr__(self):
        return f"Standardized({_describe(self.reward_fn)}, {self.shift!r}, {self.scale!r})"

    def __call__(self, prompts, responses) -> np.ndarray:
        return (np.asarray(self.reward_fn(prompts, responses), dtype=np.float64) - self.shift) / self.scale


def _describe(reward_fn) -> str:
    """A stable description of a reward function for cache keys (its repr when its class defines one)."""
    if type(reward_fn).__repr__ is not object.__repr__:
        return repr(reward_fn)
    return f"{type(reward_fn).__module__}.{type(reward_fn).__qualname__}:{getattr(reward_fn, '__name__', '')}"


def _digest(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cache_root(world: World) -> Path:
    """Where trained RMs and runs of this world are cached: ``<world cache>/teacher/<world key>``."""
    return world.path.parent / "teacher" / world.path.name


# lr 1e-3 for 8 epochs underfits (train accuracy 0.64) and lr >= 3e-3 collapses towards chance; at 1e-4 for 24 epochs
# the 100 % RM reaches train accuracy 0.92 and on-policy accuracy 0.597 / 0.574 (seeds 0 / 1) instead of 0.539, with
# off-policy accuracy 0.71 instead of 0.61; 48 epochs overfit (default world, sft_full, 1200 pairs; probe of issue 12)
ZOO_RM_CONFIG = RMConfig(lr=1e-4, epochs=24, batch_size=16)


def train_zoo(world: World, data: TeacherData, *, policy: str | None = None, fractions=PAPER_FRACTIONS,
              n_pairs: int | None = None, config: RMConfig = ZOO_RM_CONFIG, seed: int = 0) -> dict[str, Path]:
    """Bradley-Terry RMs on ``fractions`` of on-policy pairs (same pair count each: ``n_pairs``, default the
    smaller pool), each initialised from ``policy`` (default: the world's ``on_policy_from``, whose samples made the
    on-policy pairs, as the paper initialises its RMs from the SFT policy), trained with ``config``. Returns
    ``{name: folder}``; cached (the key holds every field of ``config``)."""
    policy = policy or world.config.on_policy_from
    on, off, _ = data.pools(world)
    n_pairs = n_pairs or min(len(on), len(off))
    key = _digest({"policy": policy, "fractions": list(fractions), "n_pairs": n_pairs, "config": asdict(config),
                   "seed": seed, "pools": [data.on_policy, data.off_policy, data.off_policy_heldout]})
    folder = cache_root(world) / f"zoo-{key}"
    names = [zoo_name(f) for f in fractions]
    if not all((folder / name / "model.safetensors").exists() for name in names):
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_dir(folder.parent, f".zoo-{key}-")
        with single_torch_thread(), quiet_transformers():
            for fraction, name in zip(fractions, names):
                model, tokenizer = new_reward_model(str(world.models[policy]), seed=seed)
                pairs = mixed_preferences(on, off, fraction, n_pairs, seed=182 + seed)
                trained = train_reward_model(model, tokenizer, pairs, config, progress=False)
                trained.model.save_pretrained(tmp / name)
                tokenizer.save_pretrained(tmp / name)
        atomic_write_json(tmp / "zoo.json", {"policy": policy, "n_pairs": n_pairs, "config": asdict(config),
                                             "fractions": list(fractions), "seed": seed})
        replace_dir(tmp, folder)
    return {name: folder / name for name in names}


def zoo_rewards(world: World, zoo: dict[str, Path]) -> dict:
    """Table 1's seven teachers as reward functions: the zoo's BT RMs, the perfect-accuracy RM and r_G (``GT``)."""
    rms = {name: ExplicitRM(str(path)) for name, path in zoo.items()}
    rms[PERFECT] = PerfectAccuracyRM(world.gold)
    rms[GOLD] = world.gold
    return rms


# ------------------------------------------------------------------------------------------------ properties
def rm_properties(policy, rms: dict, prompts, gold, *, preferences=None, k: int = 8, seed: int = 0,
                  max_new_tokens: int = 16, n_bootstrap: int = 200) -> pd.DataFrame:
    """Per RM under ``policy`` (the §4.4 recipe, one set of samples for all): the report's metrics with 95 % CIs
    (``whitened_reward_variance``, ``on_policy_accuracy`` under the paper's tie rule, ``off_policy_accuracy``, ...),
    ``teacher_score``, ``on_policy_accuracy_half`` (ties="half": gold-tied pairs left out, RM ties ½) with its CI, and
    the on-policy accuracy's ``ceiling`` and ``chance`` on these samples under each rule
    (:func:`rmlab.measure.accuracy.on_policy_accuracy_bounds`; the same on every row)."""
    report = reward_report(policy, rms, prompts, k=k, gold=gold, preferences=preferences, seed=seed,
                           max_new_tokens=max_new_tokens, progress=False, n_bootstrap=n_bootstrap)
    table = report.summary.copy()
    for name, rewards in report.rewards.items():
        half = on_policy_accuracy_per_prompt(rewards, report.gold_rewards, ties="half")
        table.loc[name, "on_policy_accuracy_half"] = float(nanmean_last(half))
        (table.loc[name, "on_policy_accuracy_half_ci_low"],
         table.loc[name, "on_policy_accuracy_half_ci_high"]) = bootstrap_ci(nanmean_last, half,
                                                                            n_resamples=n_bootstrap, seed=seed)
    for rule, suffix in (("paper", ""), ("half", "_half")):
        for bound, value in on_policy_accuracy_bounds(report.gold_rewards, report.responses, ties=rule).items():
            table[f"on_policy_accuracy{suffix}_{bound}"] = value
    return table


# ------------------------------------------------------------------------------------------------ RL runs
@dataclass(frozen=True)
class RunSettings:
    """One RL run besides its RM, policy and seed: the trainer's settings and the per-epoch evaluation.

    The defaults are the setting of notebooks 07 and 08: the paper's RLOO (k = 2, KL 0.05, Adam) at 16 prompts per
    step and lr 1e-4. Measured with RLOO on r_G itself from ``sft_full`` (gold on 64 x 8 held-out samples), World
    v2's default world: 16 prompts per step climbs steadily where 8 are noise-dominated, and 32 or 64 prompts, or
    k = 4, climb at about the same rate per step at a higher cost per step; in the quick world lr 1e-3 and 3e-3 do not
    climb (KL 8 / 11 after 60 steps). At 3e-4 r_G gains the most (+0.047, +0.099, +0.103 after epochs 1-3 of 20 steps,
    3 seeds), but the policy moves 1.3-2 nats of KL in the first epoch, out of the region the zoo's BT RMs were trained
    on, and every one of them lowers the gold reward (-0.06 to -0.08 after epoch 1). At 1e-4 the KL after epoch 1 is
    0.24-0.39, the trained RMs change the gold reward by -0.004 to +0.023, and r_G still gains +0.050, +0.074, +0.102
    (3 seeds; KL 0.28 / 0.99 / 1.33). An epoch is one pass over the RL
    prompts, so its length in steps is ``ceil(n_rl / batch_prompts)`` (:class:`Scale`)."""

    algo: str = "rloo"
    k: int = 2
    kl_coef: float = 0.05
    lr: float = 1e-4
    batch_prompts: int = 16
    epochs: int = 2
    grpo_scale: str = "none"       # Table 12: advantages not divided by the group std
    eval_k: int = 8                # §4.4: K samples per evaluation prompt
    max_new_tokens: int = 16
    kl_window: int = 20            # Fig. 4: KL of an epoch = mean over its last (at most) 20 steps
    normalize: bool = True         # standardise the RM on the initial policy's samples of the training prompts

    def pg_config(self, seed: int, n_prompts: int, steps: int | None = None) -> PGConfig:
        return PGConfig(algo=self.algo, k=self.k, scale=self.grpo_scale, kl_coef=self.kl_coef, lr=self.lr,
                        batch_prompts=self.batch_prompts, epochs=self.epochs, steps=steps,
                        max_new_tokens=self.max_new_tokens, normalization_prompts=n_prompts, seed=seed,
                        normalize_rewards=self.normalize)


@dataclass(frozen=True)
class Scale:
    """How large notebooks 07 and 08 run, in one place: 08 validates the teacher score on 07's runs too (when
    ``validate_on_zoo``), which it finds in the cache only when both use the same prompts, epochs, evaluation and
    seeds (:meth:`zoo_settings`)."""

    n_rl: int | None       # RL training prompts (None: all); an epoch is one pass over them
    n_eval: int            # held-out evaluation prompts
    eval_k: int            # 2503.15477 §4.4: samples per evaluation prompt
    zoo_seeds: tuple       # notebook 07's RL seeds (the paper: 3)
    zoo_epochs: int        # notebook 07's epochs (evaluation after each)
    grid_seeds: tuple      # notebook 08's RLOO and GRPO seeds
    selection_seeds: tuple
    grpo_policies: int | None = None   # GRPO on the first this many of 08's policies (None: all)
    validate_on_zoo: bool = True   # 08 validates the teacher score on 07's runs too (False: on its own grid only)
    report_k: int = 8      # samples per prompt for the RM properties (the paper: 10)
    rm_config: RMConfig = ZOO_RM_CONFIG   # how notebook 07's BT RMs train (:func:`train_zoo`)

    def zoo_settings(self, max_new_tokens: int) -> RunSettings:
        """Notebook 07's RLOO settings (the :class:`RunSettings` defaults, this scale's epochs and evaluation)."""
        return RunSettings(epochs=self.zoo_epochs, eval_k=self.eval_k, max_new_tokens=max_new_tokens)


# 320 RL prompts = 20 steps per epoch at 16 prompts per step. RLOO (lr 1e-4) on r_G from sft_full then gains, after
# epochs 1 and 2: full (default world, 64 x 8 evaluation samples) +0.046 / +0.057 / +0.048 and +0.081 / +0.080 /
# +0.061 (seeds 0-2); quick (the quick world, 32 x 4 samples; fewer seeds, GRPO on one policy, <= 3 min per notebook)
# +0.051 / +0.029 and +0.053 / +0.031 (seeds 0-1).
# Quick mode, notebook 08 validates the teacher score on its own grid only (validate_on_zoo=False): run alone on a
# fresh cache it would otherwise train and run 07's zoo itself (92 s CPU of 205 s). Each alone on a fresh cache,
# World build included, on 2 cores: 08 then takes 113 s with the other core about idle, 138 s with it busy; 07 146 s
# with it busy.
# The quick world's pools hold as many pairs as the default world's (1200 per RM), so ZOO_RM_CONFIG's 24 epochs would
# cost about 33 s CPU per RM there (+115 s for the zoo, past 3 min per notebook). At 8 epochs (about 11 s per RM) the
# quick world's 100 % RM has on-policy accuracy 0.426 / 0.428 / 0.425 at lr 1e-3 / 3e-4 / 1e-4 (ties="half": 0.600 /
# 0.609 / 0.606; 24 epochs at 1e-4: 0.435 / 0.616; ceiling 0.699, chance 0.350): 3e-4, the best of them here and in the
# default world (0.554 against 0.539 at 1e-3)
QUICK_ZOO_RM_CONFIG = RMConfig(lr=3e-4, epochs=8, batch_size=16)
SCALES = {"full": Scale(n_rl=320, n_eval=64, eval_k=8, zoo_seeds=(0, 1, 2), zoo_epochs=3, grid_seeds=(0, 1, 2),
                        selection_seeds=(0, 1, 2)),
          "quick": Scale(n_rl=320, n_eval=32, eval_k=4, zoo_seeds=(0, 1), zoo_epochs=2, grid_seeds=(0,),
                         selection_seeds=(0, 1), grpo_policies=1, validate_on_zoo=False, rm_config=QUICK_ZOO_RM_CONFIG)}


def notebook_setup(quick: bool, seed: int, *, world_options: dict | None = None,
                   **datasets: str) -> tuple[World, Scale, TeacherData]:
    """Notebooks 07 and 08's start: the world (the quick one in quick mode; ``world_options``: :class:`WorldConfig`
    fields to change, e.g. ``{"pool_pairs": 10000}``), their :data:`SCALES` entry and the :class:`TeacherData` of
    that scale (``datasets``: its dataset-name fields, e.g. ``rl_prompts="rl_prompts"``)."""
    scale = SCALES["quick" if quick else "full"]
    world = build_world((quick_config(seed) if quick else WorldConfig(seed=seed)).replace(**(world_options or {})))
    return world, scale, TeacherData(n_rl=scale.n_rl, n_eval=scale.n_eval, **datasets)


def _evaluation_samples(model, tokenizer, prompts, settings: RunSettings, seed: int) -> tuple[list[str], list[str]]:
    """``(prompts, responses)``: ``settings.eval_k`` samples of ``model`` per evaluation prompt, flat."""
    model.eval()
    responses = sample_responses(model, tokenizer, prompts, settings.eval_k, max_new_tokens=settings.max_new_tokens,
                                 seed=seed, progress=False)
    return [p for p in prompts for _ in range(settings.eval_k)], [r for group in responses for r in group]


def _evaluate(reward_fn, gold, prompts, responses) -> dict:
    """Mean proxy and gold reward over the samples, and the mean gold reward of each distinct prompt (in order of
    first occurrence: ``gold_per_prompt``, for :func:`gold_increase_by_group`)."""
    gold_rewards = score_rewards("gold", gold, prompts, responses)
    per_prompt = pd.Series(gold_rewards).groupby(pd.Series(prompts), sort=False).mean()
    return {"proxy": float(score_rewards("reward model", reward_fn, prompts, responses).mean()),
            "gold": float(gold_rewards.mean()), "gold_per_prompt": per_prompt.tolist()}


def _initial_samples(cache: Path | None, key: list, draw) -> tuple[list[str], list[str]]:
    """``draw()``'s ``(prompts, responses)`` of an untrained policy, cached as JSON under ``cache`` by ``key`` (which
    must name the policy and every setting the samples depend on; no cache: drawn). Every RM's run from the same
    policy and seed draws the very same initial samples -- for the reward normalisation and for the evaluation
    before training -- so a grid draws them once per (policy, seed) instead of once per run."""
    if cache is None:
        return draw()
    path = cache / f"initial-samples-{_digest(key)}.json"
    if path.exists():
        stored = json.loads(path.read_text())
        return stored["prompts"], stored["responses"]
    prompts, responses = draw()
    atomic_write_json(path, {"prompts": prompts, "responses": responses})
    return prompts, responses


RUN_FORMAT = 2   # bump when run_rl's output changes (2: evaluations carry gold_per_prompt)


def run_rl(policy_path, reward_fn, gold, rl_prompts, eval_prompts, settings: RunSettings, *, seed: int,
           steps: int | None = None, eval_every: int | None = None, cache: Path | None = None,
           cache_key=None) -> dict:
    """Train the policy at ``policy_path`` against ``reward_fn`` and evaluate proxy and gold reward on
    ``eval_prompts`` before training and after every epoch (or every ``eval_every`` steps).

    Returns ``{"evals": [{"step", "proxy", "gold", "gold_per_prompt", "kl"}...], "proxy_increase": [...],
    "gold_increase": [...], "normalization": {...}, "metrics": [per-step train metrics]}``; the proxy increase is in
    the RM's training units (divided by its initial-policy std), the gold increase in gold units; ``gold_per_prompt``
    is the mean gold reward of each evaluation prompt (in their order); ``kl`` is the mean training KL over the last
    ``kl_window`` steps before the evaluation. Cached as JSON when ``cache`` and ``cache_key`` are given;
    with a ``cache``, the initial policy's samples (reward normalisation, evaluation before training) are drawn once
    for every run that shares them (:func:`_initial_samples`).
    """
    key = _digest([RUN_FORMAT, cache_key, _describe(reward_fn), str(policy_path), asdict(settings), seed, steps,
                   eval_every])
    path = None if cache is None else cache / f"run-{key}.json"
    if path is not None and path.exists():
        return json.loads(path.read_text())
    n_rl = len(rl_prompts)
    per_epoch = math.ceil(n_rl / settings.batch_prompts)
    every = eval_every or per_epoch
    eval_seed = 10_000 + seed
    config = settings.pg_config(seed, n_rl, steps)
    with single_torch_thread(), quiet_transformers():
        model, tokenizer = load_causal_lm(str(policy_path))
        initial = _initial_samples(cache, ["evaluation", str(policy_path), list(eval_prompts), settings.eval_k,
                                           settings.max_new_tokens, eval_seed],
                                   lambda: _evaluation_samples(model, tokenizer, eval_prompts, settings, eval_seed))
        evals = [{"step": 0, **_evaluate(reward_fn, gold, *initial), "kl": 0.0}]
        normalization = None
        if config.normalize_rewards:
            samples = _initial_samples(cache, ["normalization", str(policy_path),
                                               list(rl_prompts)[:config.normalization_prompts], config.k, config.seed,
                                               config.max_new_tokens, config.temperature, config.top_k, config.top_p],
                                       lambda: normalization_samples(model, tokenizer, rl_prompts, config))
            normalization = reward_normalization(reward_fn, *samples)
        history = []

        def callback(step, trained, record):
            history.append(record)
            if step % every == 0:
                window = [m["kl"] for m in history[-min(every, settings.kl_window):]]
                drawn = _evaluation_samples(trained, tokenizer, eval_prompts, settings, eval_seed)
                evals.append({"step": step, **_evaluate(reward_fn, gold, *drawn), "kl": float(np.mean(window))})
                trained.train()

        result = train_pg(model, tokenizer, rl_prompts, reward_fn, config, gold_fn=gold, progress=False,
                          callback=callback, normalization=normalization)
    scale = result.normalization["scale"]
    out = {"evals": evals, "normalization": result.normalization, "metrics": result.metrics,
           "proxy_increase": [(e["proxy"] - evals[0]["proxy"]) / scale for e in evals],
           "gold_increase": [e["gold"] - evals[0]["gold"] for e in evals], "seed": seed}
    if path is not None:
        atomic_write_json(path, out)
    return out


def run_grid(world: World, policies: dict, rms: dict, rl_prompts, eval_prompts, settings: RunSettings, seeds,
             *, progress=None, tag: str = "") -> pd.DataFrame:
    """RL for every (policy, RM, seed): one row per evaluation with ``policy, rm, seed, step, epoch,
    proxy_increase, gold_increase, kl, gold, gold_per_prompt`` (the mean gold reward of each evaluation prompt, in
    the order of ``eval_prompts``). Cached per run."""
    rows = []
    for policy_name, policy_path in policies.items():
        for rm_name, reward_fn in rms.items():
            for seed in seeds:
                run = run_rl(policy_path, reward_fn, world.gold, rl_prompts, eval_prompts, settings, seed=seed,
                             cache=cache_root(world), cache_key=[tag, policy_name, rm_name, rl_prompts, eval_prompts])
                for epoch, (e, proxy, gold) in enumerate(zip(run["evals"], run["proxy_increase"],
                                                             run["gold_increase"])):
                    rows.append({"policy": policy_name, "rm": rm_name, "seed": seed, "step": e["step"],
                                 "epoch": epoch, "proxy_increase": proxy, "gold_increase": gold, "kl": e["kl"],
                                 "gold": e["gold"], "gold_per_prompt": e["gold_per_prompt"]})
                if progress is not None:
                    progress.update(1)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ analyses
PROPERTY_COLUMNS = {"Reward variance": "whitened_reward_variance", "On-policy acc.": "on_policy_accuracy",
                    "Off-policy acc.": "off_policy_accuracy"}


def property_measures(properties: pd.DataFrame) -> pd.DataFrame:
    """Table 2's five measures per RM: variance, on-policy, off-policy accuracy, their mean ("On- & off-policy
    acc.") and the mean of variance and that ("Reward variance & acc."), as in 2503.15477 Table 2."""
    out = pd.DataFrame({label: properties[column] for label, column in PROPERTY_COLUMNS.items()})
    out["On- & off-policy acc."] = (out["On-policy acc."] + out["Off-policy acc."]) / 2
    out["Reward variance & acc."] = (out["Reward variance"] + out["On- & off-policy acc."]) / 2
    return out


def correlations(measures: pd.DataFrame, increases: pd.DataFrame) -> pd.DataFrame:
    """Pearson and Spearman of every measure (columns of ``measures``) with every increase (columns of
    ``increases``, same index): one row per measure, columns ``(increase, pearson|spearman)``."""
    data = {}
    for target in increases.columns:
        y = increases[target].loc[measures.index].to_numpy(dtype=float)
        for method, fn in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
            data[(target, method)] = [float(fn(measures[m].to_numpy(dtype=float), y)[0]) for m in measures.columns]
    return pd.DataFrame(data, index=measures.columns)


def kl_at_gold(kl: np.ndarray, gold: np.ndarray, target: float) -> float:
    """KL at which the piecewise-linear curve through ``(0, 0), (kl_i, gold_i)`` first reaches gold increase
    ``target`` (inf if it never does).

    >>> kl_at_gold(np.array([1.0, 2.0]), np.array([0.1, 0.3]), 0.2)
    1.5
    """
    xs, ys = np.concatenate([[0.0], kl]), np.concatenate([[0.0], gold])
    for i in range(1, len(xs)):
        if ys[i] >= target:
            if ys[i] == ys[i - 1]:
                return float(xs[i])
            t = (target - ys[i - 1]) / (ys[i] - ys[i - 1])
            return float(xs[i - 1] + max(0.0, t) * (xs[i] - xs[i - 1]))
    return math.inf


def kl_efficiency(summary: pd.DataFrame, off_policy_accuracy: pd.Series) -> dict:
    """Fig. 4: at a matched gold increase (the median over RMs of their final seed-mean gold increase), the KL each
    RM needs (inf: never reached), and for each RM whether it "follows" the paper's claim: in the majority of its
    comparisons with the other RMs, the more off-policy-accurate RM of the pair needs less KL. ``summary``: one row
    per (rm, epoch) with ``kl`` and ``gold_increase`` (seed means). When the target is not a gain (<= 0), no RM
    follows: every curve starts at (KL 0, gain 0), so such a target is "reached" at KL 0 and the comparison says
    nothing about KL efficiency."""
    names = list(off_policy_accuracy.index)
    curves = {rm: summary.loc[rm].sort_index() for rm in names}
    target = float(np.median([curves[rm]["gold_increase"].iloc[-1] for rm in names]))
    kl = {rm: kl_at_gold(curves[rm]["kl"].to_numpy()[1:], curves[rm]["gold_increase"].to_numpy()[1:], target)
          for rm in names}
    follows = {rm: False for rm in names}
    for rm in names if target > 0 else []:
        others = [o for o in names if o != rm and off_policy_accuracy[o] != off_policy_accuracy[rm] and kl[o] != kl[rm]]
        agree = sum((off_policy_accuracy[rm] > off_policy_accuracy[o]) == (kl[rm] < kl[o]) for o in others)
        follows[rm] = bool(others) and agree > len(others) / 2
    return {"target_gold_increase": target, "kl_at_target": kl, "follows": follows,
            "n_follow": int(sum(follows.values()))}


def spearman_with_order(values) -> float:
    """Spearman correlation of ``values`` with their position (0, 1, ...), rounded to 12 decimals. Over five untied
    values it takes only multiples of 0.05, which scipy's float arithmetic can miss by one ulp (an exact -0.8 came
    back as -0.7999999999999999 and failed a "<= -0.8" criterion it meets).

    >>> spearman_with_order([0.483, 0.49, 0.30, 0.334, 0.236])
    -0.8
    """
    return round(float(stats.spearmanr(range(len(values)), values)[0]), 12)


def check_table1(record, properties: pd.DataFrame, *, quick_relaxed: dict[str, str] | None = None) -> None:
    """Issue 12's Table 1 criteria on ``properties`` (one row per teacher: :data:`PAPER_FRACTIONS`' BT RMs,
    :data:`PERFECT` and :data:`GOLD`), recorded on ``record`` (a :class:`rmlab.figures.FigureRecord`).
    ``quick_relaxed``: criterion name -> why quick mode may miss it (see :meth:`FigureRecord.check`)."""
    relaxed = quick_relaxed or {}
    var, on_acc, off_acc = (properties[c] for c in ("whitened_reward_variance", "on_policy_accuracy",
                                                    "off_policy_accuracy"))
    criteria = [("perfect-acc on-policy accuracy", on_acc[PERFECT], "==", 1.0),
                ("perfect-acc variance minus lowest other RM's", var[PERFECT] - var.drop(PERFECT).min(), "<", 0),
                ("Spearman(100->0% on-policy, variance)", spearman_with_order(var[TRAINED]), "<=", -0.8),
                ("Spearman(100->0% on-policy, off-policy acc.)", spearman_with_order(off_acc[TRAINED]), ">=", 0.8)]
    unknown = set(relaxed) - {name for name, *_ in criteria}
    if unknown:
        raise ValueError(f"quick_relaxed names no Table 1 criterion: {sorted(unknown)}")
    for name, value, op, threshold in criteria:
        record.check(name, value, op, threshold, quick_relaxed=relaxed.get(name))


def check_fig2(record, runs: pd.DataFrame) -> None:
    """Issue 12's Figure 2 criterion on ``runs`` (one row per (rm, seed, epoch) of a single policy, with
    ``gold_increase``): after epochs 1 and 2 the perfect-accuracy RM's seed-mean gold increase is below every trained
    RM's."""
    gold = runs.groupby(["rm", "epoch"])["gold_increase"].mean().unstack("epoch")
    for epoch in (1, 2):
        record.check(f"epoch {epoch} gold: lowest trained RM minus perfect-acc",
                     gold[epoch][TRAINED].min() - gold.loc[PERFECT, epoch], ">", 0)


def check_table2(record, table2: pd.DataFrame) -> None:
    """Issue 12's Table 2 criteria on ``table2`` (:func:`correlations` of the non-GT teachers' measures with their
    increases after epoch 1): Pearson(variance, proxy increase) > 0.8 and Pearson(variance, gold increase) > 0."""
    record.check("Pearson(variance, proxy increase @1)", table2.loc["Reward variance", ("proxy_increase", "pearson")],
                 ">", 0.8)
    record.check("Pearson(variance, gold increase @1)", table2.loc["Reward variance", ("gold_increase", "pearson")],
                 ">", 0)


def check_fig4(record, efficiency: dict) -> None:
    """Issue 12's Figure 4 criterion on ``efficiency`` (:func:`kl_efficiency`): >= 4 RMs follow the claim."""
    record.check("RMs whose KL follows off-policy accuracy", efficiency["n_follow"], ">=", 4)


def table2_correlations(properties: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Table 2 of one zoo experiment (``properties``: one row per teacher; ``runs``: one row per (rm, seed, epoch)):
    :func:`correlations` of the non-GT teachers' :func:`property_measures` with their seed-mean proxy and gold
    increase after epoch 1."""
    non_gt = [rm for rm in properties.index if rm != GOLD]
    after1 = runs[runs.epoch == 1].groupby("rm")[["proxy_increase", "gold_increase"]].mean()
    return correlations(property_measures(properties.loc[non_gt]), after1.loc[non_gt])


def check_zoo_criteria(record, properties: pd.DataFrame, runs: pd.DataFrame) -> dict:
    """Check issue 12's criteria of Table 1, Figure 2, Table 2 and Figure 4 on one zoo experiment (``properties``: one
    row per teacher, :data:`PAPER_FRACTIONS`' BT RMs, :data:`PERFECT` and :data:`GOLD`; ``runs``: one row per
    (rm, seed, epoch) with ``proxy_increase``, ``gold_increase`` and ``kl``, of a single policy) on one ``record``
    (a :class:`rmlab.figures.FigureRecord`), under the names notebook 07's world figures use (:func:`check_table1`,
    :func:`check_fig2`, :func:`check_table2`, :func:`check_fig4`). Returns the Table 2 correlations and the Figure 4
    efficiency."""
    non_gt = [rm for rm in properties.index if rm != GOLD]
    table2 = table2_correlations(properties, runs)
    curve = runs.groupby(["rm", "epoch"])[["kl", "gold_increase"]].mean()
    efficiency = kl_efficiency(curve.loc[non_gt], properties.loc[non_gt, "off_policy_accuracy"])
    check_table1(record, properties)
    check_fig2(record, runs)
    check_table2(record, table2)
    check_fig4(record, efficiency)
    return {"table2": table2, "efficiency": efficiency}


def properties_cached(world: World, policy: str, rms: dict, prompts, *, preferences=None, k: int, seed: int = 0,
                      max_new_tokens: int = 16, tag: str = "") -> pd.DataFrame:
    """:func:`rm_properties` of the world policy ``policy``, cached as JSON (keyed by ``tag``, the RM names, the
    prompts, k and the seed: give RMs that differ a different ``tag``)."""
    key = _digest([tag, policy, {name: _describe(fn) for name, fn in rms.items()}, list(prompts), k, seed,
                   max_new_tokens, preferences is not None, "ties-half-and-bounds",   # (older tables lack them)
                   "teacher-score-per-unit-spread"])                                 # (older ones: global whitening)
    path = cache_root(world) / f"properties-{key}.json"
    if path.exists():
        return pd.read_json(path, orient="split")
    with single_torch_thread(), quiet_transformers():
        table = rm_properties(str(world.models[policy]), rms, prompts, world.gold, preferences=preferences, k=k,
                              seed=seed, max_new_tokens=max_new_tokens)
    atomic_write_json(path, json.loads(table.to_json(orient="split", double_precision=15)))
    return table


def epoch_increases(grid: pd.DataFrame, epoch: int = 1) -> pd.DataFrame:
    """Seed-mean proxy and gold increase after ``epoch`` per (policy, rm): columns ``proxy_increase``,
    ``gold_increase`` (and their std over seeds, ``*_std``)."""
    at = grid[grid.epoch == epoch].groupby(["policy", "rm"])[["proxy_increase", "gold_increase"]]
    mean, std = at.mean(), at.std(ddof=1)
    return mean.join(std.add_suffix("_std"))


def gold_increase_by_group(grid: pd.DataFrame, eval_prompts, group_of) -> pd.DataFrame:
    """The gold increase of :func:`run_grid`'s rows split by a grouping of the evaluation prompts: ``group_of(prompt)``
    names each prompt's group (e.g. whether :class:`PerfectAccuracyRM` flattens it, or its task). One row per
    (policy, rm, epoch), one column per group: the seed mean of the group's mean gold reward minus its value before
    training.

    >>> grid = pd.DataFrame({"policy": ["p"] * 2, "rm": ["r"] * 2, "seed": [0, 0], "epoch": [0, 1],
    ...                      "gold_per_prompt": [[0.0, 0.0, 0.0], [0.5, 0.1, 0.3]]})
    >>> gold_increase_by_group(grid, ["a1", "b1", "a2"], lambda prompt: prompt[0]).loc[("p", "r", 1)].to_dict()
    {'a': 0.4, 'b': 0.1}
    """
    groups = pd.Series([group_of(p) for p in eval_prompts])
    keys = pd.MultiIndex.from_frame(grid[["policy", "rm", "seed", "epoch"]])
    per_group = pd.DataFrame([pd.Series(values).groupby(groups).mean() for values in grid["gold_per_prompt"]],
                             index=keys)
    start = per_group.xs(0, level="epoch").reindex(keys.droplevel("epoch"))
    return (per_group - start.to_numpy()).groupby(["policy", "rm", "epoch"]).mean()


def best_rm_per_policy(increases: pd.DataFrame) -> pd.Series:
    """The RM with the largest mean gold increase, per policy, from an :func:`epoch_increases` table."""
    return increases["gold_increase"].unstack("rm").idxmax(axis=1)


def plot_increases(increases: pd.DataFrame, title: str):
    """Bar charts of the proxy and gold increase per policy (groups) and RM (bars, ± std over seeds) from an
    :func:`epoch_increases` table; returns the figure."""
    from rmlab import plotting

    fig, axes = plotting.subplots(1, 2, width=6.0, height=3.8)
    for ax, metric in zip(axes, ["proxy_increase", "gold_increase"]):
        table = increases[metric].unstack("rm")
        err = increases.get(f"{metric}_std", increases[metric] * 0).unstack("rm").fillna(0)
        table.plot.bar(ax=ax, yerr=err, capsize=2, legend=False, color=plotting.PALETTE[:table.shape[1]])
        ax.set_title(f"{title}: {metric.replace('_', ' ')}")
        ax.tick_params(axis="x", rotation=0)
    axes[-1].legend(fontsize="small")
    return fig


def teacher_validation(pairs: pd.DataFrame) -> pd.DataFrame:
    """Spearman and Pearson, over (policy, RM) pairs, between the gold increase after the first epoch and each
    pre-training measure: ``teacher_score``, variance, on-policy accuracy, off-policy accuracy (rows)."""
    y = pairs["gold_increase"].to_numpy(dtype=float)
    rows = {}
    for label, column in VALIDATION_MEASURES.items():
        x = pairs[column].to_numpy(dtype=float)
        ok = np.isfinite(x)
        rows[label] = {"spearman": float(stats.spearmanr(x[ok], y[ok])[0]),
                       "pearson": float(stats.pearsonr(x[ok], y[ok])[0]), "n_pairs": int(ok.sum())}
    return pd.DataFrame(rows).T


def teacher_validation_by_policy(pairs: pd.DataFrame) -> pd.DataFrame:
    """:func:`teacher_validation`'s Spearman within each policy of ``pairs``: does a measure rank one policy's RMs,
    apart from ranking the policies? One row per policy, one column per measure."""
    return pd.DataFrame({policy: teacher_validation(group)["spearman"]
                         for policy, group in pairs.groupby("policy", sort=False)}).T


def plot_selection_curves(curves: dict[str, pd.DataFrame], *, xlabel: str = "RLOO step"):
    """One panel per entry of ``curves`` (title -> :func:`selection_experiment`'s rows): the gold increase per step of
    each condition, mean and std over seeds. Returns the figure."""
    from rmlab import plotting

    fig, axes = plotting.subplots(1, len(curves), width=6 if len(curves) == 1 else 3.6, height=4, sharey=True,
                                  squeeze=False)
    for ax, (title, rows) in zip(axes[0], curves.items()):
        for color, (condition, group) in zip(plotting.PALETTE, rows.groupby("condition")):
            s = group.groupby("step")["gold_increase"].agg(["mean", "std"])
            ax.errorbar(s.index, s["mean"], yerr=s["std"].fillna(0), marker="o", capsize=3, color=color,
                        label=condition)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
    axes[0, 0].set_ylabel("gold reward increase")
    axes[0, 0].legend(fontsize="small")
    return fig


def plot_teacher_validation(pairs: pd.DataFrame, validation: pd.DataFrame, *, title: str = ""):
    """One panel per pre-training measure of :data:`VALIDATION_MEASURES`: the gold increase after epoch 1 of every
    (policy, RM) pair of ``pairs`` against that measure, coloured by policy, titled with ``validation``'s
    (:func:`teacher_validation`) Spearman and Pearson; ``title`` above them all. Returns the figure."""
    from rmlab import plotting

    fig, axes = plotting.subplots(1, 4, width=3.8, height=3.4, sharey=True)
    for ax, (row, column) in zip(axes, VALIDATION_MEASURES.items()):
        for color, (policy, group) in zip(plotting.PALETTE, pairs.groupby("policy")):
            ax.scatter(group[column], group["gold_increase"], color=color, label=policy)
        ax.set_xlabel(row.removesuffix(" alone"))
        ax.set_title(f"Spearman {validation.loc[row, 'spearman']:+.2f}, Pearson {validation.loc[row, 'pearson']:+.2f}")
    axes[0].set_ylabel("gold increase after epoch 1")
    axes[-1].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def selection_experiment(world: World, policy: str, reward_fn, rm_name: str, rl_prompts, eval_prompts,
                         settings: RunSettings, seeds, *, fraction: float = 0.25, k: int = 8, steps: int,
                         eval_every: int) -> tuple[pd.DataFrame, np.ndarray]:
    """RLOO on the top-variance ``fraction`` of ``rl_prompts`` (ranked by ``reward_fn``'s within-prompt variance
    under ``policy``, :func:`rmlab.measure.selection.select_prompts_by_variance`), on a random subset of the same
    size (a new one per seed) and on all prompts, ``steps`` steps each. Returns (one row per evaluation:
    ``condition, seed, step, gold_increase, proxy_increase``; the per-prompt variances used for the ranking)."""
    from rmlab.measure.selection import random_prompt_subset, select_prompts_by_variance
    from rmlab.measure.variance import per_prompt_variance

    with single_torch_thread(), quiet_transformers():
        report = reward_report(str(world.models[policy]), {rm_name: reward_fn}, rl_prompts, k=k, seed=0,
                               max_new_tokens=settings.max_new_tokens, progress=False, n_bootstrap=1)
    rewards = report.rewards[rm_name]
    top = select_prompts_by_variance(rewards, fraction=fraction)
    # one standardisation for every condition (the initial policy's samples of all prompts), so that a subset's own
    # statistics do not rescale its rewards
    standardized = Standardized(reward_fn, float(rewards.mean()), float(rewards.std(ddof=1)))
    settings = replace(settings, normalize=False)
    rows = []
    for seed in seeds:
        subsets = {"top variance": top, "random": random_prompt_subset(len(rl_prompts), len(top), seed=seed),
                   "all prompts": np.arange(len(rl_prompts))}
        for condition, index in subsets.items():
            chosen = [rl_prompts[i] for i in index]
            run = run_rl(world.models[policy], standardized, world.gold, chosen, eval_prompts, settings, seed=seed,
                         steps=steps, eval_every=eval_every, cache=cache_root(world),
                         cache_key=["selection", policy, rm_name, chosen, eval_prompts])
            rows += [{"condition": condition, "seed": seed, "step": e["step"], "gold_increase": g,
                      "proxy_increase": p} for e, g, p in zip(run["evals"], run["gold_increase"],
                                                              run["proxy_increase"])]
    return pd.DataFrame(rows), per_prompt_variance(rewards)


@dataclass
class ZooExperiment:
    """Table 1 / Figure 2's experiment on one policy: the teachers, their properties under the policy (on all RL
    prompts, and on the prompts of each task), and the runs."""

    policy: str
    rms: dict
    properties: pd.DataFrame
    grid: pd.DataFrame
    properties_by_task: dict


def zoo_experiment(world: World, data: TeacherData, settings: RunSettings, seeds, *, report_k: int = 8,
                   seed: int = 0, rm_config: RMConfig = ZOO_RM_CONFIG) -> ZooExperiment:
    """Train (or load) the RM zoo from the world's on-policy policy (with ``rm_config``), measure the seven teachers
    under it on the RL prompts (off-policy accuracy on the held-out off-policy pairs) and on each task's RL prompts
    (:func:`rmlab.world.language.prompt_kind`), and run RL with each for every seed (cached)."""
    policy = world.config.on_policy_from
    rl_prompts, eval_prompts = data.prompts(world)
    zoo = train_zoo(world, data, policy=policy, config=rm_config)
    rms = zoo_rewards(world, zoo)
    tag = f"zoo:{sorted(str(path) for path in zoo.values())}"
    properties = properties_cached(world, policy, rms, rl_prompts, preferences=data.pools(world)[2], k=report_k,
                                   seed=seed, max_new_tokens=settings.max_new_tokens, tag=tag)
    tasks = pd.Series(rl_prompts).groupby([prompt_kind(p) for p in rl_prompts], sort=False)
    by_task = {kind: properties_cached(world, policy, rms, prompts.tolist(), k=report_k, seed=seed,
                                       max_new_tokens=settings.max_new_tokens, tag=tag)
               for kind, prompts in tasks}
    grid = run_grid(world, {policy: world.models[policy]}, rms, rl_prompts, eval_prompts, settings, seeds, tag=tag)
    return ZooExperiment(policy, rms, properties, grid, by_task)
