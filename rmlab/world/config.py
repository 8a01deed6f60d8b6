"""Configuration of the toy world: what is generated, how big the models are, how long each is trained.

The cache key of a world is a hash of this configuration (seed included), of :data:`FORMAT_VERSION` and of the
installed torch and transformers versions (:func:`rmlab.lm.load.numeric_versions`); change any of them and the world
is rebuilt into a new folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from rmlab.errors import UserError
from rmlab.lm.load import numeric_versions
from rmlab.world.language import TOPICS

FORMAT_VERSION = 3  # bump when the build code changes what a given configuration produces
COUNT_REWARDS = ("graded", "exact")
MAX_TOPIC_ITEMS = min(len(items) for items in TOPICS.values())   # a task prompt holds at most this many items
KEYED_WHEN_SET = {"rare_task_items": None, "count_reward": "graded",  # options newer than FORMAT_VERSION 3
                  "answer_word_contexts": 0.0}


@dataclass(frozen=True)
class PolicySpec:
    """One SFT'd initial policy (the three-policies design of arXiv 2503.15477 §4.3 / Fig. 3)."""

    name: str
    demo_noise: float       # mistake rate of the demonstrator that writes its SFT responses (0 = gold-best)
    n_prompts: int          # number of SFT prompts (different amounts of data)
    steps: int              # optimizer steps of SFT from the base LM
    canonical_answers: bool = False  # always "Yes"/"No": the low-entropy "instruct" data
    harmful_compliance: float | None = None  # share of harmful requests its demonstrations comply with (None: noise)


@dataclass(frozen=True)
class RewardModelSpec:
    """One explicit RM: Bradley-Terry on gold-labelled off-policy pairs, on the base LM's backbone."""

    name: str
    n_pairs: int            # training pairs (chosen = higher gold reward; ties dropped)
    label_noise: float      # chance that a pair's labels are swapped (a noisier RM)
    steps: int              # optimizer steps


@dataclass(frozen=True)
class WorldConfig:
    """Everything that determines a built world (same config => byte-identical models and data on CPU)."""

    seed: int = 0
    # language and corpus
    min_items: int = 3                   # task prompts hold min_items..max_items items
    max_items: int = 7
    corpus_docs: int = 24_000            # documents of the pretraining corpus
    family_mix: tuple[tuple[str, float], ...] = (("tasks", 0.45), ("questions", 0.2), ("requests", 0.15),
                                                 ("free_text", 0.2))
    rare_task_fraction: float = 0.0      # share of corpus task documents of the rare task "count" (never SFT'd)
    held_out_topic_fraction: float = 0.1  # share of corpus task prompts on the held-out topic (LM knows it; RMs don't)
    language_b_fraction: float = 0.15    # share of task/question documents written in language B
    corpus_noise: float = 0.35           # demonstrator mistake rate in the pretraining corpus (a broad base LM)
    answer_word_contexts: float = 0.0    # share of corpus documents using one answer word in a context of its own
    # model (GPT-NeoX, Pythia's architecture, untied unembedding)
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_mlp: int = 256
    max_length: int = 32                 # training documents are cut to this many tokens
    context_length: int = 128            # the model's max_position_embeddings (rotary: room for long generations)
    # training (AdamW, warmup + cosine, batch of documents, 1 CPU thread for bitwise reproducibility)
    batch_size: int = 64
    pretrain_steps: int = 2500
    lr: float = 3e-3
    sft_lr: float = 1e-3
    rm_lr: float = 1e-3
    policies: tuple[PolicySpec, ...] = (
        PolicySpec("sft_small", demo_noise=0.0, n_prompts=150, steps=50),
        PolicySpec("sft_noisy", demo_noise=0.2, n_prompts=2000, steps=200),
        PolicySpec("sft_full", demo_noise=0.0, n_prompts=2000, steps=60),
        PolicySpec("instruct", demo_noise=0.0, n_prompts=300, steps=100, canonical_answers=True,
                   harmful_compliance=0.25),
    )
    reward_models: tuple[RewardModelSpec, ...] = (
        RewardModelSpec("rm_accurate", n_pairs=4000, label_noise=0.0, steps=800),
        RewardModelSpec("rm_noisy", n_pairs=600, label_noise=0.3, steps=150),
    )
    # prompt lists and preference datasets
    rl_prompts: int = 600                # distinct RL training prompts (tasks, the rare one included)
    rare_task_share: float = 0.12        # share of the rare task among the RL, evaluation and pool task prompts
    rl_min_items: int = 7                # RL, evaluation and pool task prompts hold rl_min_items..rl_max_items items
    rl_max_items: int = 8
    rare_task_items: tuple[int, int] | None = None  # item range of the rare task's RL/eval/pool prompts (None: above)
    count_reward: str = "graded"         # gold of the rare task: "graded" (partial credit) or "exact" (right or not)
    eval_prompts: int = 200              # distinct evaluation prompts, same distribution, disjoint from RL and SFT
    pool_mix: tuple[tuple[str, float], ...] = (("tasks", 0.6), ("questions", 0.2), ("requests", 0.2))
    pool_pairs: int = 2000               # pairs of each preference pool (on-/off-policy, similarity)
    on_policy_from: str = "sft_full"     # policy whose samples make the on-policy pairs
    off_policy_noise: float = 0.5        # demonstrator noise of the off-policy generator
    harmful_test_fraction: float = 0.25  # share of the harmful requests held out of SFT and prefs_refusal
    refusal_temperature: float = 0.7     # sampling temperature of prefs_refusal (2410.08847 §6)
    max_new_tokens: int = 16

    def __post_init__(self):
        if self.count_reward not in COUNT_REWARDS:
            raise UserError(f"count_reward must be one of {COUNT_REWARDS}, got {self.count_reward!r}")
        if not 0.0 <= self.answer_word_contexts < 1.0:
            raise UserError(f"answer_word_contexts must be in [0, 1), got {self.answer_word_contexts!r}")
        if self.rare_task_items is not None:
            low, high = self.rare_task_items
            if not 1 <= low <= high <= MAX_TOPIC_ITEMS:
                raise UserError(f"rare_task_items must be (low, high) with 1 <= low <= high <= {MAX_TOPIC_ITEMS}, "
                                f"got {self.rare_task_items!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Cache key: ``world-<12 hex digits>`` of sha256 over the configuration, :data:`FORMAT_VERSION` and the
        installed :func:`numeric_versions`. Options added after format version 3 enter it only when they differ
        from their defaults (:data:`KEYED_WHEN_SET`), so the worlds built before them keep their keys."""
        config = {name: value for name, value in self.to_dict().items()
                  if name not in KEYED_WHEN_SET or value != KEYED_WHEN_SET[name]}
        payload = json.dumps({"format_version": FORMAT_VERSION, "versions": numeric_versions(),
                              "config": config}, sort_keys=True)
        return "world-" + hashlib.sha256(payload.encode()).hexdigest()[:12]

    def replace(self, **changes) -> "WorldConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict) -> "WorldConfig":
        d = dict(d)
        d["family_mix"] = tuple(tuple(x) for x in d["family_mix"])
        d["pool_mix"] = tuple(tuple(x) for x in d["pool_mix"])
        d["policies"] = tuple(PolicySpec(**p) for p in d["policies"])
        d["reward_models"] = tuple(RewardModelSpec(**r) for r in d["reward_models"])
        if d.get("rare_task_items") is not None:
            d["rare_task_items"] = tuple(d["rare_task_items"])
        return cls(**d)


def quick_config(seed: int = 0) -> WorldConfig:
    """The small world of tests and ``RMLAB_QUICK=1`` notebooks: same language and datasets, fewer training steps."""
    return WorldConfig(
        seed=seed, corpus_docs=6000, pretrain_steps=600, batch_size=32,
        policies=(PolicySpec("sft_small", 0.0, 100, 40), PolicySpec("sft_noisy", 0.2, 500, 80),
                  PolicySpec("sft_full", 0.0, 500, 80), PolicySpec("instruct", 0.0, 200, 120, True, 0.25)),
        reward_models=(RewardModelSpec("rm_accurate", 800, 0.0, 100), RewardModelSpec("rm_noisy", 200, 0.3, 40)),
        eval_prompts=200)
