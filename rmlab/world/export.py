"""Export a built world's datasets into a folder (e.g. the repository's ``data/``) with a sha256 manifest.

The folder receives every ``data/*.jsonl`` of the world, ``config.json`` (the generating configuration, its key and
format version) and ``manifest.json`` (sha256 of each exported file and of each model file of the world), so that a
later build from the same configuration can be checked against it (:func:`check_export`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rmlab._io import atomic_write_json
from rmlab.world.build import MANIFEST, World, sha256_file
from rmlab.world.config import FORMAT_VERSION


def export_datasets(world: World, out_dir) -> Path:
    """Copy the world's datasets into ``out_dir`` with ``config.json`` and ``manifest.json``; return ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for path in world.datasets.values():
        shutil.copyfile(path, out / path.name)
    atomic_write_json(out / "config.json", {"key": world.config.key(), "format_version": FORMAT_VERSION,
                                            "config": world.config.to_dict()})
    world_files = json.loads((world.path / MANIFEST).read_text())["sha256"]
    atomic_write_json(out / "manifest.json", {
        "datasets": {p.name: sha256_file(out / p.name) for p in world.datasets.values()},
        "world_files": world_files})
    return out


def check_export(world: World, out_dir) -> list[str]:
    """Differences between a built world and an export (empty list: the build reproduces the exported files)."""
    out = Path(out_dir)
    manifest = json.loads((out / "manifest.json").read_text())
    built = json.loads((world.path / MANIFEST).read_text())["sha256"]
    problems = [f"{name}: exported sha256 {digest[:12]} != built {built.get('data/' + name, 'missing')[:12]}"
                for name, digest in manifest["datasets"].items() if built.get("data/" + name) != digest]
    problems += [f"{name}: manifest sha256 {digest[:12]} != built {built.get(name, 'missing')[:12]}"
                 for name, digest in manifest["world_files"].items() if built.get(name) != digest]
    return problems
