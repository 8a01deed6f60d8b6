"""Text data of the toy world, generated from its configuration: corpus, SFT data, prompt lists, preference pairs.

Every generator takes its own ``random.Random`` seeded from ``(config.seed, purpose)`` so that adding a new kind of
data never changes the existing ones.
"""

from __future__ import annotations

import random

from rmlab.world.config import WorldConfig
from rmlab.world.gold import GoldReward
from rmlab.world.language import (AFFIRM, HARMFUL_VERBS, HELD_OUT_TOPIC, NEGATE, OBJECTS, RARE_TASK, TASKS,
                                  Demonstrator, answer_word_sentence, free_text, parse_prompt, request_prompt,
                                  sample_prompt, to_language_b, words)

PROMPT_FAMILIES = ("tasks", "questions", "requests")
RL_TASKS = ("reverse", "sort")
SIMILARITY_KINDS = ("near_duplicate", "same_family", "cross_family", "unrelated_long")
MAX_DRAWS_PER_PROMPT = 200


def rng_for(config: WorldConfig, purpose: str) -> random.Random:
    return random.Random(f"{config.seed}-{purpose}")


def sample_prompts(config: WorldConfig, n: int, purpose: str, *, families=PROMPT_FAMILIES, topic: str | None = None,
                   tasks=TASKS, forbidden=frozenset()) -> list[str]:
    """``n`` prompts cycling through ``families`` (tasks of ``tasks`` on the training topics unless ``topic`` is
    given); prompts in ``forbidden`` are redrawn."""
    rng = rng_for(config, purpose)
    out = []
    for i in range(n):
        for _ in range(MAX_DRAWS_PER_PROMPT):
            prompt = sample_prompt(rng, families[i % len(families)], topic=topic, min_items=config.min_items,
                                   max_items=config.max_items, tasks=tasks).prompt
            if prompt not in forbidden:
                break
        else:
            raise RuntimeError(f"{purpose}: could not draw an allowed {families[i % len(families)]} prompt")
        out.append(prompt)
    return out


def distinct_task_prompts(config: WorldConfig, n: int, purpose: str, *, exclude=frozenset(),
                          topic: str | None = None) -> list[str]:
    """``n`` distinct task prompts of ``config.rl_min_items``..``config.rl_max_items`` items, none of which is in
    ``exclude``: exactly ``floor(n * config.rare_task_share)`` of the rare task, evenly spread, the others ``reverse``
    or ``sort``."""
    rng = rng_for(config, purpose)
    out: dict[str, None] = {}
    for _ in range(n * MAX_DRAWS_PER_PROMPT):
        if len(out) == n:
            return list(out)
        j = len(out)
        rare = int((j + 1) * config.rare_task_share) > int(j * config.rare_task_share)
        prompt = _rl_task_prompt(config, rng, (RARE_TASK,) if rare else RL_TASKS, topic)
        if prompt not in exclude:
            out[prompt] = None
    raise RuntimeError(f"{purpose}: only {len(out)} distinct task prompts outside the excluded ones; asked for {n}")


def _rl_task_prompt(config: WorldConfig, rng: random.Random, tasks: tuple[str, ...], topic: str | None = None) -> str:
    """A task prompt as the RL prompts are (``copy``, solved by the SFT'd policies, would leave no room to climb);
    the rare task's hold ``config.rare_task_items`` items when that is set."""
    low, high = (config.rare_task_items if tasks == (RARE_TASK,) and config.rare_task_items
                 else (config.rl_min_items, config.rl_max_items))
    return sample_prompt(rng, "tasks", topic=topic, min_items=low, max_items=high, tasks=tasks).prompt


def pool_prompts(config: WorldConfig, n: int, purpose: str, *, forbidden=frozenset()) -> list[str]:
    """``n`` prompts of the preference pools, families drawn by ``config.pool_mix`` (tasks as the RL prompts, the
    rare one with chance ``config.rare_task_share``)."""
    rng = rng_for(config, purpose)
    names, weights = zip(*config.pool_mix)
    out = []
    while len(out) < n:
        family = rng.choices(names, weights=weights)[0]
        if family == "tasks":
            prompt = _rl_task_prompt(config, rng, (RARE_TASK,) if rng.random() < config.rare_task_share else RL_TASKS)
        else:
            prompt = sample_prompt(rng, family).prompt
        if prompt not in forbidden:
            out.append(prompt)
    return out


def harmful_split(config: WorldConfig) -> tuple[list[str], list[str]]:
    """Every harmful request (verb x object), shuffled by the seed and split into (train, test)."""
    prompts = [request_prompt(v, o) for v in HARMFUL_VERBS for o in OBJECTS]
    rng_for(config, "harmful-split").shuffle(prompts)
    n_test = round(config.harmful_test_fraction * len(prompts))
    return sorted(prompts[n_test:]), sorted(prompts[:n_test])


def yes_no_questions(facts: dict) -> list[dict]:
    """Every question of family (b) with its truth and its canonical right and wrong single-token answers."""
    return [{"prompt": f"question : is the {animal} {prop} ? >", "truth": truth,
             "answer": "Yes" if truth else "No", "opposite": "No" if truth else "Yes"}
            for (animal, prop), truth in sorted(facts.items())]


def make_corpus(config: WorldConfig, facts: dict) -> list[str]:
    """The pretraining documents: demonstrations of every family written by a noisy demonstrator (some on the
    held-out topic, some in language B, a few of the rare task) and free-text sentences, in the proportions of
    ``config.family_mix``; with ``config.answer_word_contexts`` > 0, that share of the documents replaced by
    :func:`answer_word_sentence`."""
    rng = rng_for(config, "corpus")
    demo = Demonstrator(facts, noise=config.corpus_noise)
    names, weights = zip(*config.family_mix)
    docs = []
    for family in rng.choices(names, weights=weights, k=config.corpus_docs):
        if config.answer_word_contexts and rng.random() < config.answer_word_contexts:
            docs.append(answer_word_sentence(rng))
            continue
        if family == "free_text":
            docs.append(free_text(rng, facts))
            continue
        topic = HELD_OUT_TOPIC if family == "tasks" and rng.random() < config.held_out_topic_fraction else None
        tasks = (RARE_TASK,) if rng.random() < config.rare_task_fraction else TASKS
        prompt = sample_prompt(rng, family, topic=topic, min_items=config.min_items,
                               max_items=config.max_items, tasks=tasks).prompt
        text = f"{prompt} {demo.respond(prompt, rng)}"
        if family != "requests" and topic is None and rng.random() < config.language_b_fraction:
            text = to_language_b(text)
        docs.append(text)
    return docs


def demonstrations(config: WorldConfig, facts: dict, *, n_prompts: int, noise: float, canonical_answers: bool,
                   purpose: str, harmful_compliance: float | None = None,
                   forbidden=frozenset()) -> list[tuple[str, str]]:
    """(prompt, response) SFT pairs on prompts of the three families (tasks of the three SFT tasks; prompts in
    ``forbidden``, e.g. the held-out harmful requests, are never used)."""
    rng = rng_for(config, purpose)
    demo = Demonstrator(facts, noise=noise, canonical_answers=canonical_answers,
                        harmful_compliance=harmful_compliance)
    prompts = sample_prompts(config, n_prompts, purpose + "-prompts", forbidden=forbidden)
    return [(p, demo.respond(p, rng)) for p in prompts]


def labelled_pairs(prompts: list[str], responses_a: list[str], responses_b: list[str], gold: GoldReward,
                   *, label_noise: float = 0.0, rng: random.Random | None = None, extra=None) -> list[dict]:
    """Preference rows in TRL's format, chosen = higher gold reward; ties and empty responses dropped; with chance
    ``label_noise`` the two responses are swapped (then ``score_chosen < score_rejected``). ``extra``: one dict of
    additional columns per prompt."""
    ra, rb = gold(prompts, responses_a), gold(prompts, responses_b)
    extra = extra or [{}] * len(prompts)
    rows = []
    for p, a, b, sa, sb, more in zip(prompts, responses_a, responses_b, ra, rb, extra):
        if sa == sb or not a.strip() or not b.strip():
            continue
        (c, sc), (r, sr) = ((a, sa), (b, sb)) if sa > sb else ((b, sb), (a, sa))
        if label_noise and rng.random() < label_noise:
            (c, sc), (r, sr) = (r, sr), (c, sc)
        rows.append({"prompt": p, "chosen": c, "rejected": r, "score_chosen": float(sc), "score_rejected": float(sr),
                     **more})
    return rows


def off_policy_pairs(config: WorldConfig, facts: dict, gold: GoldReward, *, n_prompts: int, purpose: str,
                     label_noise: float = 0.0, forbidden=frozenset()) -> list[dict]:
    """Pairs from the off-policy generator on ``n_prompts`` pool prompts: two independent responses of a
    demonstrator with ``config.off_policy_noise``, labelled by the gold reward (ties dropped)."""
    rng = rng_for(config, purpose)
    demo = Demonstrator(facts, noise=config.off_policy_noise)
    prompts = pool_prompts(config, n_prompts, purpose + "-prompts", forbidden=forbidden)
    a = [demo.respond(p, rng) for p in prompts]
    b = [demo.respond(p, rng) for p in prompts]
    return labelled_pairs(prompts, a, b, gold, label_noise=label_noise, rng=rng)


def until_enough(make_rows, n: int, what: str, *, max_rounds: int = 20) -> list[dict]:
    """Call ``make_rows(round)`` for rounds 0, 1, ... until ``n`` rows are collected; return the first ``n``."""
    rows: list[dict] = []
    for round_ in range(max_rounds):
        rows += make_rows(round_)
        if len(rows) >= n:
            return rows[:n]
    raise RuntimeError(f"{what}: only {len(rows)} of {n} pairs after {max_rounds} rounds")


def similarity_pool(config: WorldConfig, facts: dict, gold: GoldReward, n_prompts: int, purpose: str) -> list[dict]:
    """Pairs whose chosen/rejected similarity spans a wide range (column ``pair_kind``): ``near_duplicate`` (one
    word changed), ``same_family`` (two noisy responses), ``cross_family`` (the rejected response answers a prompt of
    another family) and ``unrelated_long`` (a long string of unrelated words); gold-labelled, ties dropped."""
    rng = rng_for(config, purpose)
    best, noisy = Demonstrator(facts, noise=0.0), Demonstrator(facts, noise=config.off_policy_noise)
    prompts = pool_prompts(config, n_prompts, purpose + "-prompts")
    vocabulary = sorted({w for p in prompts for w in words(p)} | set(AFFIRM + NEGATE))
    a, b, kinds = [], [], []
    for i, prompt in enumerate(prompts):
        kind = SIMILARITY_KINDS[i % len(SIMILARITY_KINDS)]
        first = (best if kind == "near_duplicate" else noisy).respond(prompt, rng)
        if kind == "near_duplicate":
            second = _one_word_changed(first, rng, vocabulary)
        elif kind == "same_family":
            second = noisy.respond(prompt, rng)
        elif kind == "cross_family":
            second = noisy.respond(_other_family_prompt(config, prompt, rng), rng)
        else:
            second = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(8, config.max_new_tokens - 2)))
        a.append(first)
        b.append(second)
        kinds.append({"pair_kind": kind})
    return labelled_pairs(prompts, a, b, gold, extra=kinds)


def _one_word_changed(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    ws = words(text)
    i = rng.randrange(len(ws))
    ws[i] = rng.choice([w for w in vocabulary if w != ws[i]])
    return " ".join(ws)


def _other_family_prompt(config: WorldConfig, prompt: str, rng: random.Random) -> str:
    family = parse_prompt(prompt)[0]
    other = rng.choice([f for f in PROMPT_FAMILIES if f != family])
    return sample_prompt(rng, other, min_items=config.min_items, max_items=config.max_items).prompt
