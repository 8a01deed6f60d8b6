"""The output folder of a training run (``rmlab dpo``, ``rmlab rloo``): ``model/`` (a Hugging Face folder), one
JSON-lines file per record kind and ``config.json``, written into a temporary sibling that replaces the folder only
once complete -- never half-written, and an interrupted run leaves nothing behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rmlab._io import atomic_write_json, atomic_write_text, replace_dir, temporary_dir, to_jsonable
from rmlab.errors import UserError, check_writable_dir
from rmlab.lm.load import numeric_versions


def check_run_folder(out, *, overwrite: bool, inputs: dict[str, str | None]) -> Path:
    """``out`` as a folder a run may (re)place: writable, empty or ``overwrite``, and holding none of ``inputs``
    (``{flag: path}``), which the replacement would delete."""
    out = check_writable_dir(out, "--out")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"--out {str(out)!r} already holds files (a previous run?); pass --overwrite to replace it "
                        "or choose another folder")
    for flag, path in inputs.items():
        if path is not None and Path(path).exists() and out.exists() and \
                Path(path).resolve().is_relative_to(out.resolve()):
            raise UserError(f"{flag} {path!r} lies inside --out {str(out)!r}, which the run replaces")
    return out


def write_run(out: Path, model, tokenizer, records: dict[str, list[dict]], config: dict) -> None:
    """Save ``model`` + ``tokenizer`` to ``out/model``, each ``records[name]`` as ``out/name`` (JSON lines) and
    ``config`` (plus the torch/transformers versions) as ``out/config.json``, atomically as a whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_dir(out.parent, f".{out.name}.run-")
    try:
        model.save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "model")
        for name, rows in records.items():
            atomic_write_text(tmp / name, "".join(json.dumps(to_jsonable(r), allow_nan=False) + "\n" for r in rows))
        atomic_write_json(tmp / "config.json", {**config, "versions": numeric_versions()})
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
