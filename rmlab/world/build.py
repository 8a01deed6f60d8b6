"""Build (or find in the cache) the toy world's model zoo and datasets.

A world lives in ``<cache>/<key>/`` where ``<cache>`` is ``cache_dir`` or ``$RMLAB_CACHE/world`` (default
``~/.cache/rmlab/world``) and ``<key>`` hashes the :class:`~rmlab.world.config.WorldConfig` (seed included), the
format version and the installed torch and transformers versions. Inside: one Hugging Face folder per model
(``base``, each policy, each reward model; every one holds the tokenizer), ``data/`` (JSONL prompt lists and
preference datasets) and ``world.json`` (configuration, versions and the sha256 of every file), written last. The
datasets (``World.datasets``; prompt lists are rows ``{"prompt", "family"}``; preference sets are TRL's standard
format + ``score_chosen`` / ``score_rejected`` from the gold reward, chosen = higher score, ties dropped; listed with
sizes in ``data/README.md``):

- ``rl_prompts`` / ``eval_prompts``: distinct task prompts (``reverse``/``sort`` of 7-8 items, 12 % the rare task
  ``count``), disjoint from each other and from ``sft_prompts`` (every prompt an SFT'd policy was trained on);
  ``heldout_prompts``: the same on the held-out topic;
- ``prefs_off_policy``: two responses of a noisy programmatic demonstrator (the off-policy generator) on pool prompts
  (tasks as the RL prompts, questions, requests); ``prefs_on_policy``: two samples of ``config.on_policy_from``;
- ``prefs_shift_synonyms`` / ``prefs_shift_language_b``: the off-policy pairs rewritten by the token-level shift
  (:func:`~rmlab.world.language.with_synonyms`) / in language B (same labels); ``prefs_domain_shift``: off-policy
  pairs on held-out-topic task prompts;
- ``prefs_similarity_pool``: pairs spanning chosen/rejected similarity (column ``pair_kind``);
- ``harmful_train`` / ``harmful_test``: every harmful request, split; ``prefs_refusal``: two ``instruct`` samples
  at ``config.refusal_temperature`` per ``harmful_train`` prompt, refusal preferred (column ``pair_type``);
- ``yes_no_questions``: every question of family (b) with its truth and single-token answers.

The build goes to a temporary sibling folder that is renamed into place, so an interrupted build leaves no
half-written entry; the temporary folders of builds that were killed are removed by the next build. A cache entry
is a hit only if every file of its manifest is there with its sha256; a damaged entry is rebuilt (with a warning).
Folders are created with the process umask.

Determinism: same configuration and versions => byte-identical files on one CPU. Training runs on one thread (see
:func:`~rmlab._threads.single_torch_thread`), every random draw is seeded from ``config.seed``.

Device: the models train on the CPU unless ``build_world(..., device="cuda")`` (larger worlds, e.g. ``d_model=256``,
build in minutes on a GPU). A world built on another device holds other numbers (GPU kernels reduce in another
order), so it is cached apart, in ``<key>-<device type>`` (:func:`entry_name`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from rmlab._headless import tqdm
from transformers import GPTNeoXForCausalLM

from rmlab._io import atomic_write_json, atomic_write_text, replace_dir, sha256_file, temporary_dir
from rmlab._threads import single_torch_thread
from rmlab.errors import check_device
from rmlab.lm.load import new_reward_model, numeric_versions, quiet_transformers
from rmlab.world import data as world_data
from rmlab.world.config import FORMAT_VERSION, WorldConfig
from rmlab.world.gold import GoldReward
from rmlab.world.language import (HELD_OUT_TOPIC, TASK_KINDS, Demonstrator, is_refusal, make_facts, parse_prompt,
                                  to_language_b, with_synonyms)
from rmlab.world.tokenizer import build_tokenizer
from rmlab.world.train import explicit_reward_model, pretrain, sft

MANIFEST = "world.json"


def default_cache_dir() -> Path:
    """``$RMLAB_CACHE/world`` if ``RMLAB_CACHE`` is set (and not empty), else ``~/.cache/rmlab/world``."""
    return Path(os.environ.get("RMLAB_CACHE") or Path.home() / ".cache" / "rmlab").expanduser() / "world"


@dataclass
class World:
    """A built world: where its models and datasets are, and its gold reward.

    ``models`` maps each model name (``base``, the policies, the reward models) to its Hugging Face folder (load with
    ``rmlab.lm.load.load_causal_lm`` / ``load_sequence_classifier`` or ``AutoModel*.from_pretrained``);
    ``datasets`` maps each dataset name to its JSONL file; ``gold(prompts, responses)`` is the exact reward.
    """

    config: WorldConfig
    path: Path
    cache_hit: bool = False
    gold: GoldReward = field(init=False, repr=False)

    def __post_init__(self):
        self.gold = GoldReward(make_facts(self.config.seed), count_reward=self.config.count_reward)

    @property
    def base(self) -> Path:
        return self.path / "base"

    @property
    def policies(self) -> dict[str, Path]:
        return {p.name: self.path / p.name for p in self.config.policies}

    @property
    def reward_models(self) -> dict[str, Path]:
        return {r.name: self.path / r.name for r in self.config.reward_models}

    @property
    def models(self) -> dict[str, Path]:
        return {"base": self.base, **self.policies, **self.reward_models}

    @property
    def tokenizer_path(self) -> Path:
        return self.base

    @property
    def datasets(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted((self.path / "data").glob("*.jsonl"))}

    def prompts(self, name: str = "eval_prompts") -> list[str]:
        """A prompt list of the world: ``eval_prompts`` (in-domain mix) or ``heldout_prompts`` (held-out topic)."""
        return [json.loads(line)["prompt"] for line in self._dataset_path(name).read_text().splitlines()]

    def preferences(self, name: str) -> datasets.Dataset:
        """A preference dataset of the world (TRL standard format + ``score_chosen``/``score_rejected``)."""
        return datasets.Dataset.from_json(str(self._dataset_path(name)))

    def _dataset_path(self, name: str) -> Path:
        if name not in self.datasets:
            raise KeyError(f"no dataset {name!r} in the world at {self.path}; available: {sorted(self.datasets)}")
        return self.datasets[name]


def entry_name(config: WorldConfig, device="cpu") -> str:
    """The cache folder of ``config`` built on ``device``: ``config.key()`` on the CPU, else
    ``<key>-<device type>`` (such a world holds other numbers).

    >>> from rmlab.world import quick_config
    >>> entry_name(quick_config()) == quick_config().key(), entry_name(quick_config(), "cuda:1")[-5:]
    (True, '-cuda')
    """
    kind = torch.device(device).type
    return config.key() if kind == "cpu" else f"{config.key()}-{kind}"


def build_world(config: WorldConfig | None = None, *, cache_dir=None, progress: bool = True,
                force: bool = False, device="cpu") -> World:
    """Return the world of ``config`` (default :class:`WorldConfig`), building it unless it is in the cache.

    ``force=True`` rebuilds even on a cache hit (the new entry replaces the old one only once complete).
    ``device``: where the models train (``"cpu"``: byte-identical files for the same configuration and versions;
    ``"cuda"``: faster for larger configurations, cached apart, see :func:`entry_name`).

    >>> from rmlab.world import quick_config
    >>> world = build_world(quick_config(), progress=False)   # doctest: +SKIP
    >>> world.gold(["copy : dog cat >"], ["dog cat"])          # doctest: +SKIP
    array([1.])
    """
    config = config or WorldConfig()
    if not isinstance(config, WorldConfig):
        raise TypeError(f"config must be a WorldConfig, got {type(config).__name__}")
    device = torch.device(check_device(device, "device") or "cpu")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = cache / entry_name(config, device)
    if (final / MANIFEST).exists() and not force:
        stored = json.loads((final / MANIFEST).read_text())["config"]
        if WorldConfig.from_dict(stored) != config:
            raise RuntimeError(f"cache entry {final} holds another configuration (hash collision?); delete it")
        problems = _validate_entry(final)
        if not problems:
            return World(config, final, cache_hit=True)
        warnings.warn(f"cache entry {final} is damaged ({'; '.join(problems[:3])}"
                      f"{'; ...' if len(problems) > 3 else ''}); rebuilding it", stacklevel=2)
        force = True
    cache.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(cache)
    tmp = temporary_dir(cache, f".{final.name}.building-{os.getpid()}@{socket.gethostname()}-")
    try:
        _build_into(config, tmp, progress=progress, device=device)
        if force or not (final / MANIFEST).exists():   # else another process finished the same entry first
            replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return World(config, final, cache_hit=False)


def _validate_entry(final: Path) -> list[str]:
    """What is wrong with a cache entry, checked against its manifest (empty: every file it lists is there with
    its sha256; world files are small, so hashing them all costs well under a second for the quick world)."""
    try:
        recorded = json.loads((final / MANIFEST).read_text())["sha256"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return [f"{MANIFEST} unreadable"]
    problems = []
    for name, digest in sorted(recorded.items()):
        path = final / name
        if not path.is_file():
            problems.append(f"{name} missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name} changed ({path.stat().st_size} bytes, sha256 differs)")
    return problems


STALE_BUILD_AGE_S = 24 * 3600   # a build takes minutes; past this age a folder is garbage whoever made it
_BUILDING = re.compile(r"\.building-(\d+)@(.*)-[^-]*$")


def _remove_stale_builds(cache: Path) -> None:
    """Remove what interrupted builds left in ``cache``: ``.KEY.building-PID@HOST-*`` folders whose process is dead
    (judged only for folders of this host), any such folder older than ``STALE_BUILD_AGE_S`` (other hosts sharing
    the cache, names without a PID), and ``.KEY.old-PID`` folders (replaced entries, garbage from the moment they
    are renamed). Builds still running, here or elsewhere, are left alone."""
    for path in cache.glob(".*.old-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in cache.glob(".*.building-*"):
        owner = _BUILDING.search(path.name)
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:      # its own build just finished or cleaned up
            continue
        dead = owner is not None and owner[2] == socket.gethostname() and not _process_alive(int(owner[1]))
        if dead or age > STALE_BUILD_AGE_S:
            shutil.rmtree(path, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # alive, owned by another user
        return True
    return True


def _build_into(config: WorldConfig, out: Path, *, progress: bool, device: torch.device) -> None:
    """Train the models on ``device`` and write the datasets into ``out`` (a progress bar per stage), then the
    manifest."""
    tokenizer = build_tokenizer(config.context_length)
    facts = make_facts(config.seed)
    gold = GoldReward(facts, count_reward=config.count_reward)
    harmful_train, harmful_test = world_data.harmful_split(config)
    with single_torch_thread(), quiet_transformers():
        base = pretrain(config, tokenizer, world_data.make_corpus(config, facts), progress=progress, device=device)
        _save(base, tokenizer, out / "base")
        sft_prompts: dict[str, None] = {}
        for i, spec in enumerate(config.policies):
            pairs = world_data.demonstrations(config, facts, n_prompts=spec.n_prompts, noise=spec.demo_noise,
                                              canonical_answers=spec.canonical_answers, purpose=f"sft-{spec.name}",
                                              harmful_compliance=spec.harmful_compliance,
                                              forbidden=frozenset(harmful_test))
            sft_prompts.update(dict.fromkeys(p for p, _ in pairs))
            policy = sft(GPTNeoXForCausalLM.from_pretrained(out / "base").to(device), tokenizer, pairs,
                         steps=spec.steps, lr=config.sft_lr, batch_size=config.batch_size, seed=config.seed + 1 + i,
                         progress=progress)
            _save(policy, tokenizer, out / spec.name)
        for i, spec in enumerate(config.reward_models):
            rows = world_data.off_policy_pairs(config, facts, gold, n_prompts=spec.n_pairs,
                                               purpose=f"rm-{spec.name}", label_noise=spec.label_noise)
            rm, _ = new_reward_model(str(out / "base"), seed=config.seed + 100 + i, device=device)
            explicit_reward_model(rm, tokenizer, rows, steps=spec.steps, lr=config.rm_lr,
                                  batch_size=config.batch_size, seed=config.seed + 100 + i, progress=progress)
            _save(rm, tokenizer, out / spec.name)
        prompt_lists = {"sft_prompts": list(sft_prompts), "harmful_train": harmful_train,
                        "harmful_test": harmful_test}
        _write_datasets(config, facts, gold, out, prompt_lists, progress=progress, device=device)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    atomic_write_json(out / MANIFEST, {
        "format_version": FORMAT_VERSION, "key": config.key(), "device": device.type, "versions": numeric_versions(),
        "config": config.to_dict(),
        "sha256": {str(p.relative_to(out)): sha256_file(p) for p in files}})


def _save(model, tokenizer, path: Path) -> None:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def _prompt_rows(prompts: list[str]) -> list[dict]:
    return [{"prompt": p, "family": parse_prompt(p)[0]} for p in prompts]


def _write_datasets(config: WorldConfig, facts: dict, gold: GoldReward, out: Path, prompt_lists: dict, *,
                    progress: bool, device: torch.device) -> None:
    """Prompt lists and preference datasets of the world (listed in the module docstring)."""
    data = out / "data"
    stages = tqdm(total=7, desc="world: datasets", unit="dataset", disable=not progress)
    sft_prompts = frozenset(prompt_lists["sft_prompts"])
    rl = world_data.distinct_task_prompts(config, config.rl_prompts, "rl-prompts", exclude=sft_prompts)
    evaluation = world_data.distinct_task_prompts(config, config.eval_prompts, "eval-prompts",
                                                  exclude=sft_prompts | set(rl))
    heldout = world_data.distinct_task_prompts(config, config.eval_prompts, "heldout", topic=HELD_OUT_TOPIC)
    for name, prompts in {**prompt_lists, "rl_prompts": rl, "eval_prompts": evaluation,
                          "heldout_prompts": heldout}.items():
        write_jsonl(data / f"{name}.jsonl", _prompt_rows(prompts))
    write_jsonl(data / "yes_no_questions.jsonl", world_data.yes_no_questions(facts))
    stages.update(1)
    forbidden = frozenset(evaluation)
    off = world_data.until_enough(lambda r: world_data.off_policy_pairs(
        config, facts, gold, n_prompts=config.pool_pairs, purpose=f"prefs-off-policy-{r}", forbidden=forbidden),
        config.pool_pairs, "prefs_off_policy")
    write_jsonl(data / "prefs_off_policy.jsonl", off)
    # token-level shifts of the in-distribution off-policy pairs (same gold labels by construction)
    write_jsonl(data / "prefs_shift_synonyms.jsonl",
                [{**r, "chosen": with_synonyms(r["chosen"]), "rejected": with_synonyms(r["rejected"])} for r in off])
    write_jsonl(data / "prefs_shift_language_b.jsonl",
                [{**r, **{k: to_language_b(r[k]) for k in ("prompt", "chosen", "rejected")}}
                 for r in off if not r["prompt"].startswith("request")])
    stages.update(1)
    rng = world_data.rng_for(config, "prefs-domain-shift")
    domain = world_data.sample_prompts(config, config.pool_pairs, "prefs-domain-shift-prompts", families=("tasks",),
                                       topic=HELD_OUT_TOPIC, tasks=TASK_KINDS)
    demo = Demonstrator(facts, noise=config.off_policy_noise)
    write_jsonl(data / "prefs_domain_shift.jsonl", world_data.labelled_pairs(
        domain, [demo.respond(p, rng) for p in domain], [demo.respond(p, rng) for p in domain], gold))
    stages.update(1)
    write_jsonl(data / "prefs_similarity_pool.jsonl", world_data.until_enough(
        lambda r: world_data.similarity_pool(config, facts, gold, config.pool_pairs, f"prefs-similarity-{r}"),
        config.pool_pairs, "prefs_similarity_pool"))
    stages.update(1)
    policy = GPTNeoXForCausalLM.from_pretrained(out / config.on_policy_from).to(device)
    tokenizer = build_tokenizer(config.context_length)
    write_jsonl(data / "prefs_on_policy.jsonl", world_data.until_enough(
        lambda r: _on_policy_pairs(config, policy, tokenizer, gold, r, forbidden), config.pool_pairs,
        "prefs_on_policy"))
    stages.update(1)
    instruct = GPTNeoXForCausalLM.from_pretrained(out / "instruct").to(device)
    write_jsonl(data / "prefs_refusal.jsonl", refusal_pairs(config, instruct, tokenizer, gold,
                                                             prompt_lists["harmful_train"]))
    stages.update(2)
    stages.close()


SAMPLING_BATCH = 256   # sequences per generate call (samples depend only on seed and prompt index, not on batching)


def _on_policy_pairs(config: WorldConfig, policy, tokenizer, gold: GoldReward, round_: int, forbidden) -> list[dict]:
    from rmlab.lm.sample import sample_responses  # the measurement layer's sampler (rows depend only on seed, prompt)

    prompts = world_data.pool_prompts(config, config.pool_pairs, f"prefs-on-policy-{round_}", forbidden=forbidden)
    samples = sample_responses(policy, tokenizer, prompts, 2, max_new_tokens=config.max_new_tokens,
                               seed=config.seed + round_, batch_size=SAMPLING_BATCH, progress=False)
    return world_data.labelled_pairs(prompts, [s[0] for s in samples], [s[1] for s in samples], gold)


def refusal_pairs(config: WorldConfig, policy, tokenizer, gold: GoldReward, prompts: list[str]) -> list[dict]:
    """The preference set of 2410.08847 §6: two samples of ``policy`` at ``config.refusal_temperature`` per harmful
    prompt, judged by :func:`~rmlab.world.language.is_refusal`, a refusal preferred over a compliance; two refusals
    or two compliances are ordered by a seeded coin (the paper breaks such ties with PairRM). Pairs of two identical
    responses are dropped (no preference to learn). Column ``pair_type``: ``two_refusals``, ``two_compliances`` or
    ``refusal_vs_compliance``."""
    from rmlab.lm.sample import sample_responses

    samples = sample_responses(policy, tokenizer, prompts, 2, max_new_tokens=config.max_new_tokens,
                               temperature=config.refusal_temperature, seed=config.seed,
                               batch_size=SAMPLING_BATCH, progress=False)
    coin = world_data.rng_for(config, "prefs-refusal-ties")
    rows = []
    for prompt, (a, b) in zip(prompts, samples):
        refusals = (is_refusal(a), is_refusal(b))
        if a == b:
            continue
        if refusals[0] == refusals[1]:
            first_wins = coin.random() < 0.5
            pair_type = "two_refusals" if refusals[0] else "two_compliances"
        else:
            first_wins, pair_type = refusals[0], "refusal_vs_compliance"
        chosen, rejected = (a, b) if first_wins else (b, a)
        sc, sr = gold([prompt, prompt], [chosen, rejected])
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "score_chosen": float(sc),
                     "score_rejected": float(sr), "pair_type": pair_type})
    return rows
