"""Build (or find in the cache) the toy world's model zoo and datasets.

A world lives in ``<cache>/<key>/`` where ``<cache>`` is ``cache_dir`` or ``$RMLAB_CACHE/world`` (default
``~/.cache/rmlab/world``) and ``<key>`` hashes the :class:`~rmlab.world.config.WorldConfig` (seed included), the
format version and the installed torch and transformers versions. Inside: one Hugging Face folder per model
(``base``, each policy, each reward model; every one holds the tokenizer), ``data/`` (JSONL prompt lists and
preference datasets) and ``world.json`` (configuration, versions and the sha256 of every file), written last. The
datasets (``World.datasets``; TRL standard format + ``score_chosen`` / ``score_rejected`` from the gold reward, chosen =
higher score, ties dropped):

- ``eval_prompts`` / ``heldout_prompts``: in-domain prompts (equal mix of the three families) / held-out-topic tasks;
- ``prefs_off_policy``: two responses of a noisy programmatic demonstrator (the off-policy generator);
- ``prefs_on_policy``: two samples of the policy ``config.on_policy_from`` (``rmlab.lm.sample.sample_responses``);
- ``prefs_shift_synonyms`` / ``prefs_shift_language_b``: the off-policy pairs of tasks and questions with responses
  rewritten by the synonym map / everything rewritten in language B (token-level shifts, same labels);
- ``prefs_domain_shift``: off-policy pairs on held-out-topic task prompts.

The build goes to a temporary sibling folder that is renamed into place, so an interrupted build leaves no
half-written entry; the temporary folders of builds that were killed are removed by the next build. A cache entry
is a hit only if every file of its manifest is there with its sha256; a damaged entry is rebuilt (with a warning).
Folders are created with the process umask.

Determinism: same configuration and versions => byte-identical files on one CPU. Training runs on one thread (see
:func:`~rmlab._threads.single_torch_thread`), every random draw is seeded from ``config.seed``.
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
from transformers import GPTNeoXForCausalLM, GPTNeoXForSequenceClassification

from rmlab._io import atomic_write_json, atomic_write_text, replace_dir, sha256_file, temporary_dir
from rmlab._threads import single_torch_thread
from rmlab.lm.load import numeric_versions, quiet_transformers
from rmlab.world import data as world_data
from rmlab.world.config import FORMAT_VERSION, WorldConfig
from rmlab.world.gold import GoldReward
from rmlab.world.language import HELD_OUT_TOPIC, Demonstrator, make_facts, to_language_b, with_synonyms
from rmlab.world.tokenizer import build_tokenizer
from rmlab.world.train import pretrain, sft, train_reward_model

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
        self.gold = GoldReward(make_facts(self.config.seed))

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


def build_world(config: WorldConfig | None = None, *, cache_dir=None, progress: bool = True,
                force: bool = False) -> World:
    """Return the world of ``config`` (default :class:`WorldConfig`), building it unless it is in the cache.

    ``force=True`` rebuilds even on a cache hit (the new entry replaces the old one only once complete).

    >>> from rmlab.world import quick_config
    >>> world = build_world(quick_config(), progress=False)   # doctest: +SKIP
    >>> world.gold(["copy : dog cat >"], ["dog cat"])          # doctest: +SKIP
    array([1.])
    """
    config = config or WorldConfig()
    if not isinstance(config, WorldConfig):
        raise TypeError(f"config must be a WorldConfig, got {type(config).__name__}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = cache / config.key()
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
    tmp = temporary_dir(cache, f".{config.key()}.building-{os.getpid()}@{socket.gethostname()}-")
    try:
        _build_into(config, tmp, progress=progress)
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


def _total_steps(config: WorldConfig) -> int:
    return (config.pretrain_steps + sum(p.steps for p in config.policies)
            + sum(r.steps for r in config.reward_models) + 1)


def _build_into(config: WorldConfig, out: Path, *, progress: bool) -> None:
    tokenizer = build_tokenizer(config.context_length)
    facts = make_facts(config.seed)
    gold = GoldReward(facts)
    bar = tqdm(total=_total_steps(config), desc=f"building toy world {config.key()}", disable=not progress,
               unit="step")
    with single_torch_thread(), quiet_transformers():
        bar.set_postfix_str("base LM")
        base = pretrain(config, tokenizer, world_data.make_corpus(config, facts), progress=bar)
        _save(base, tokenizer, out / "base")
        for i, spec in enumerate(config.policies):
            bar.set_postfix_str(spec.name)
            pairs = world_data.demonstrations(config, facts, n_prompts=spec.n_prompts, noise=spec.demo_noise,
                                              canonical_answers=spec.canonical_answers, purpose=f"sft-{spec.name}")
            policy = sft(GPTNeoXForCausalLM.from_pretrained(out / "base"), tokenizer, pairs, steps=spec.steps,
                         lr=config.sft_lr, batch_size=config.batch_size, seed=config.seed + 1 + i, progress=bar)
            _save(policy, tokenizer, out / spec.name)
        for i, spec in enumerate(config.reward_models):
            bar.set_postfix_str(spec.name)
            rows = world_data.off_policy_pairs(config, facts, gold, n_prompts=spec.n_pairs,
                                               purpose=f"rm-{spec.name}", label_noise=spec.label_noise)
            torch.manual_seed(config.seed + 100 + i)  # the score head's initialisation
            rm = GPTNeoXForSequenceClassification.from_pretrained(out / "base", num_labels=1)
            rm = train_reward_model(rm, tokenizer, rows, steps=spec.steps, lr=config.rm_lr,
                                    batch_size=config.batch_size, seed=config.seed + 100 + i, progress=bar)
            _save(rm, tokenizer, out / spec.name)
        bar.set_postfix_str("datasets")
        _write_datasets(config, facts, gold, out)
        bar.update(1)
    bar.close()
    files = sorted(p for p in out.rglob("*") if p.is_file())
    atomic_write_json(out / MANIFEST, {
        "format_version": FORMAT_VERSION, "key": config.key(), "versions": numeric_versions(),
        "config": config.to_dict(),
        "sha256": {str(p.relative_to(out)): sha256_file(p) for p in files}})


def _save(model, tokenizer, path: Path) -> None:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def _write_datasets(config: WorldConfig, facts: dict, gold: GoldReward, out: Path) -> None:
    """Prompt lists and preference datasets of the world (listed in the module docstring)."""
    from rmlab.lm.sample import sample_responses  # the measurement layer's sampler (rows depend only on seed, prompt)

    data = out / "data"
    n = config.preference_prompts
    write_jsonl(data / "eval_prompts.jsonl",
                [{"prompt": p} for p in world_data.sample_prompts(config, config.eval_prompts, "eval")])
    write_jsonl(data / "heldout_prompts.jsonl",
                [{"prompt": p} for p in world_data.sample_prompts(config, config.eval_prompts, "heldout",
                                                                  families=("tasks",), topic=HELD_OUT_TOPIC)])
    off = world_data.off_policy_pairs(config, facts, gold, n_prompts=n, purpose="prefs-off-policy")
    write_jsonl(data / "prefs_off_policy.jsonl", off)
    # token-level shifts of the off-policy pairs restricted to families (a)-(b) (same gold labels by construction)
    shiftable = [r for r in off if not r["prompt"].startswith("request")]
    write_jsonl(data / "prefs_shift_synonyms.jsonl",
                [{**r, "chosen": with_synonyms(r["chosen"]), "rejected": with_synonyms(r["rejected"])}
                 for r in shiftable])
    write_jsonl(data / "prefs_shift_language_b.jsonl",
                [{**r, **{k: to_language_b(r[k]) for k in ("prompt", "chosen", "rejected")}} for r in shiftable])
    rng = world_data.rng_for(config, "prefs-domain-shift")
    heldout = world_data.sample_prompts(config, n, "prefs-domain-shift-prompts", families=("tasks",),
                                        topic=HELD_OUT_TOPIC)
    demo = Demonstrator(facts, noise=config.off_policy_noise)
    write_jsonl(data / "prefs_domain_shift.jsonl", world_data.labelled_pairs(
        heldout, [demo.respond(p, rng) for p in heldout], [demo.respond(p, rng) for p in heldout], gold))
    policy = GPTNeoXForCausalLM.from_pretrained(out / config.on_policy_from)
    prompts = world_data.sample_prompts(config, n, "prefs-on-policy")
    samples = sample_responses(policy, build_tokenizer(config.context_length), prompts, 2,
                               max_new_tokens=config.max_new_tokens, seed=config.seed, progress=False)
    write_jsonl(data / "prefs_on_policy.jsonl", world_data.labelled_pairs(
        prompts, [s[0] for s in samples], [s[1] for s in samples], gold))
