"""Atomic file and folder writes: a reader never sees a half-written file or folder, and a failed write leaves nothing
behind. Files and folders get the process umask."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it into place.

    The file gets the mode a plain ``open(path, "w")`` would give it (``0o666`` less the process umask, e.g. ``0o644``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary_sibling(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _create_temporary_sibling(path: Path) -> tuple[int, Path]:
    """Create ``.<name>.<random>.tmp`` next to ``path`` exclusively, like ``tempfile.mkstemp``, but with mode
    ``0o666`` so that the kernel applies the umask (mkstemp's ``0o600`` would survive the rename)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(tempfile.TMP_MAX):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name next to {path}")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def replace_dir(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Rename the complete folder ``tmp`` to ``final`` (a sibling), replacing an existing ``final`` only once ``tmp``
    is in place: a reader sees the old folder or the new one, never a mix."""
    tmp, final = Path(tmp), Path(final)
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def to_jsonable(value: Any) -> Any:
    """Convert numpy / torch values (arrays, scalars) and containers of them into plain JSON types.

    NaN and infinities become ``None`` so that the output is strict JSON.

    >>> import numpy as np
    >>> to_jsonable({"a": np.arange(3), "b": np.float32(0.5), "c": float("nan")})
    {'a': [0, 1, 2], 'b': 0.5, 'c': None}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist"):  # numpy array or numpy scalar
        return to_jsonable(value.tolist()) if hasattr(value, "ndim") and value.ndim > 0 else _scalar(value.item())
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot convert {type(value).__name__} to JSON: {value!r}")


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=indent, allow_nan=False) + "\n")


def temporary_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new folder ``parent/<prefix><random>`` with the mode ``mkdir`` would give it (``0o777`` less the umask;
    ``tempfile.mkdtemp`` makes ``0o700``), to fill and then move into place with :func:`replace_dir`."""
    folder = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    folder.chmod(0o777 & ~process_umask())
    return folder


def process_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
