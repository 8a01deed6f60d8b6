"""Export a built world's datasets into a folder (e.g. the repository's ``data/``) and check a later build against it.

The folder receives every ``data/*.jsonl`` of the world, ``config.json`` (the generating configuration, its key, the
format version and the torch/transformers versions it was built with) and ``manifest.json``: the sha256 of each
exported file and a *logit fingerprint* of each model (:func:`model_fingerprints`).

What a later build must reproduce (:func:`check_export`) depends on what the artefact depends on:

- datasets that no model touches (prompt lists, the demonstrator's off-policy pairs and their shifts): byte for byte,
  whatever the versions: they come from seeded Python and NumPy draws alone;
- models: their fingerprint within :data:`FINGERPRINT_ATOL`. Weights are byte-identical only for one (torch,
  transformers) pair on one CPU: another version or CPU sums floats in another order, and training carries the
  rounding differences along;
- ``prefs_on_policy`` and ``prefs_refusal`` (sampled from a model, tied / identical pairs dropped): at least
  :data:`MIN_SAME_ON_POLICY_ROWS` of the rows identical (as a multiset, over the larger file). A tiny logit difference
  flips a sampled token only when the uniform draw falls next to a boundary of the cumulative distribution, and the
  rest of that response then differs (and its pair may become a tie and drop out), so a few rows may change when the
  models differ by rounding.

Those tolerances hold for another torch thread count on the exporting CPU. On a CPU with other vector instructions
(another float platform: the base LM's fingerprint, trained on model-free data only, is not reproduced to within
:data:`SAME_PLATFORM_GAP`) the reward models and the sampled datasets are not compared: there the quick world's
``rm_accurate`` came out another model (its scores correlate 0.76 with the export's) and 82-86 % of the sampled rows
were identical (data/README.md). The base LM and the policies are still compared within :data:`FINGERPRINT_ATOL`.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from rmlab._io import atomic_write_json
from rmlab.world.build import World, quiet_transformers, sha256_file
from rmlab.lm.load import numeric_versions
from rmlab.world.config import FORMAT_VERSION, WorldConfig

MODEL_DEPENDENT = ("prefs_on_policy", "prefs_refusal")
PROBE_PAIRS = 16                 # the first pairs of prefs_off_policy (model-free) are the fingerprints' inputs
# Log-prob sums of ~20 tokens and RM scores. Measured on the quick world (data/README.md): rebuilding on two threads
# (another summation order, as on another CPU) moved them by at most 0.038; two different models of the world differ
# by at least 1.7.
FINGERPRINT_ATOL = 0.2
MIN_SAME_ON_POLICY_ROWS = 0.9
# The base LM's fingerprint on one CPU is reproduced exactly (one torch thread); on an AVX-512 CPU against the export's
# it moved by 0.017.
SAME_PLATFORM_GAP = 1e-4


def model_fingerprints(world: World) -> dict[str, list[float]]:
    """Per model, numbers that pin its function on fixed inputs: for a policy (or the base LM) ``log pi(y|x)`` of
    the chosen and the rejected response of the first :data:`PROBE_PAIRS` off-policy pairs; for a reward model its
    scores of the same responses."""
    from rmlab.lm.load import load_causal_lm
    from rmlab.lm.score import ExplicitRM, sequence_logprobs

    probe = world.preferences("prefs_off_policy").select(range(PROBE_PAIRS)).to_dict()
    prompts = probe["prompt"] * 2
    responses = probe["chosen"] + probe["rejected"]
    fingerprints = {}
    with quiet_transformers():
        for name, path in world.models.items():
            if name in world.reward_models:
                values = ExplicitRM(str(path))(prompts, responses)
            else:
                values = sequence_logprobs(*load_causal_lm(str(path)), prompts, responses)["logprob_sum"]
            fingerprints[name] = [float(v) for v in values]
    return fingerprints


def export_datasets(world: World, out_dir) -> Path:
    """Copy the world's datasets into ``out_dir`` with ``config.json`` and ``manifest.json``; return ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for path in world.datasets.values():
        shutil.copyfile(path, out / path.name)
    atomic_write_json(out / "config.json", {"key": world.config.key(), "format_version": FORMAT_VERSION,
                                            "versions": numeric_versions(), "config": world.config.to_dict()})
    atomic_write_json(out / "manifest.json", {
        "datasets": {p.name: sha256_file(out / p.name) for p in world.datasets.values()},
        "fingerprints": model_fingerprints(world)})
    return out


def check_export(world: World, out_dir) -> list[str]:
    """Differences between a built world and an export, by the rules of the module docstring (empty list: the build
    reproduces the export)."""
    out = Path(out_dir)
    exported = json.loads((out / "config.json").read_text())
    if WorldConfig.from_dict(exported["config"]) != world.config:
        return [f"{out} was exported from another configuration than the world at {world.path}"]
    manifest = json.loads((out / "manifest.json").read_text())
    built_prints = model_fingerprints(world)
    same_platform = same_float_platform(manifest["fingerprints"], built_prints)
    problems = []
    for name, digest in manifest["datasets"].items():
        built = world.path / "data" / name
        if not built.exists():
            problems.append(f"{name}: missing from the build")
        elif Path(name).stem in MODEL_DEPENDENT:
            problems += _compare_on_policy(name, out / name, built) if same_platform else []
        elif sha256_file(built) != digest:
            problems.append(f"{name}: exported sha256 {digest[:12]} != built {sha256_file(built)[:12]}")
    for name, values in manifest["fingerprints"].items():
        if name in world.reward_models and not same_platform:
            continue
        gap = _fingerprint_gap(values, built_prints[name]) if name in built_prints else np.inf
        if not gap <= FINGERPRINT_ATOL:
            problems.append(f"model {name}: fingerprint differs by {gap:.2e} > {FINGERPRINT_ATOL:g}")
    return problems


def same_float_platform(exported: dict[str, list[float]], built: dict[str, list[float]]) -> bool:
    """Whether the base LM's fingerprint is reproduced to within :data:`SAME_PLATFORM_GAP`: the build ran on a CPU
    that sums floats as the exporting one did (see the module docstring).

    >>> same_float_platform({"base": [-3.0, -4.5]}, {"base": [-3.0, -4.5 + 1e-6]})
    True
    >>> same_float_platform({"base": [-3.0, -4.5]}, {"base": [-3.0, -4.48]})
    False
    """
    return _fingerprint_gap(exported["base"], built["base"]) <= SAME_PLATFORM_GAP


def _fingerprint_gap(exported: list[float], built: list[float]) -> float:
    return float(np.max(np.abs(np.subtract(exported, built))))


def _compare_on_policy(name: str, exported: Path, built: Path) -> list[str]:
    old = Counter(exported.read_text().splitlines())
    new = Counter(built.read_text().splitlines())
    same = sum((old & new).values()) / max(old.total(), new.total(), 1)
    if same < MIN_SAME_ON_POLICY_ROWS:
        return [f"{name}: {same:.0%} of the rows equal the export's (< {MIN_SAME_ON_POLICY_ROWS:.0%})"]
    return []
