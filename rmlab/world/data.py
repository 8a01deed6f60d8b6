"""Text data of the toy world, generated from its configuration: corpus, SFT data, RM pairs, evaluation prompts.

Every generator takes its own ``random.Random`` seeded from ``(config.seed, purpose)`` so that adding a new kind of
data never changes the existing ones.
"""

from __future__ import annotations

import random

from rmlab.world.config import WorldConfig
from rmlab.world.gold import GoldReward
from rmlab.world.language import (HELD_OUT_TOPIC, Demonstrator, free_text, sample_prompt, to_language_b)

PROMPT_FAMILIES = ("tasks", "questions", "requests")


def rng_for(config: WorldConfig, purpose: str) -> random.Random:
    return random.Random(f"{config.seed}-{purpose}")


def sample_prompts(config: WorldConfig, n: int, purpose: str, *, families=PROMPT_FAMILIES,
                   topic: str | None = None) -> list[str]:
    """``n`` prompts cycling through ``families`` (tasks on the training topics unless ``topic`` is given)."""
    rng = rng_for(config, purpose)
    return [sample_prompt(rng, families[i % len(families)], topic=topic, min_items=config.min_items,
                          max_items=config.max_items).prompt for i in range(n)]


def make_corpus(config: WorldConfig, facts: dict) -> list[str]:
    """The pretraining documents: demonstrations of every family written by a noisy demonstrator (some on the
    held-out topic, some in language B) and free-text sentences, in the proportions of ``config.family_mix``."""
    rng = rng_for(config, "corpus")
    demo = Demonstrator(facts, noise=config.corpus_noise)
    names, weights = zip(*config.family_mix)
    docs = []
    for family in rng.choices(names, weights=weights, k=config.corpus_docs):
        if family == "free_text":
            docs.append(free_text(rng, facts))
            continue
        topic = HELD_OUT_TOPIC if family == "tasks" and rng.random() < config.held_out_topic_fraction else None
        prompt = sample_prompt(rng, family, topic=topic, min_items=config.min_items,
                               max_items=config.max_items).prompt
        text = f"{prompt} {demo.respond(prompt, rng)}"
        if family != "requests" and topic is None and rng.random() < config.language_b_fraction:
            text = to_language_b(text)
        docs.append(text)
    return docs


def demonstrations(config: WorldConfig, facts: dict, *, n_prompts: int, noise: float, canonical_answers: bool,
                   purpose: str) -> list[tuple[str, str]]:
    """(prompt, response) SFT pairs on in-domain prompts of the three families."""
    rng = rng_for(config, purpose)
    demo = Demonstrator(facts, noise=noise, canonical_answers=canonical_answers)
    prompts = sample_prompts(config, n_prompts, purpose + "-prompts")
    return [(p, demo.respond(p, rng)) for p in prompts]


def labelled_pairs(prompts: list[str], responses_a: list[str], responses_b: list[str], gold: GoldReward,
                   *, label_noise: float = 0.0, rng: random.Random | None = None) -> list[dict]:
    """Preference rows in TRL's format, chosen = higher gold reward; ties and empty responses dropped; with chance
    ``label_noise`` the two responses are swapped (then ``score_chosen < score_rejected``)."""
    ra, rb = gold(prompts, responses_a), gold(prompts, responses_b)
    rows = []
    for p, a, b, sa, sb in zip(prompts, responses_a, responses_b, ra, rb):
        if sa == sb or not a.strip() or not b.strip():
            continue
        (c, sc), (r, sr) = ((a, sa), (b, sb)) if sa > sb else ((b, sb), (a, sa))
        if label_noise and rng.random() < label_noise:
            (c, sc), (r, sr) = (r, sr), (c, sc)
        rows.append({"prompt": p, "chosen": c, "rejected": r, "score_chosen": float(sc), "score_rejected": float(sr)})
    return rows


def off_policy_pairs(config: WorldConfig, facts: dict, gold: GoldReward, *, n_prompts: int, purpose: str,
                     label_noise: float = 0.0) -> list[dict]:
    """Pairs from the off-policy generator: two independent responses of a demonstrator with
    ``config.off_policy_noise``, labelled by the gold reward."""
    rng = rng_for(config, purpose)
    demo = Demonstrator(facts, noise=config.off_policy_noise)
    prompts = sample_prompts(config, n_prompts, purpose + "-prompts")
    a = [demo.respond(p, rng) for p in prompts]
    b = [demo.respond(p, rng) for p in prompts]
    return labelled_pairs(prompts, a, b, gold, label_noise=label_noise, rng=rng)
