"""The one exception type for user mistakes, and the shared validators that raise it (the bottom layer: every layer
may import this module; it imports nothing of rmlab and no heavy library at import time).

:class:`UserError` marks a problem with what the user asked for (a flag out of range, a missing or clashing file, a
model of the wrong kind, a reward function that raises). ``rmlab.cli.main`` catches it once and prints
``rmlab <command>: error: <message>`` without a traceback (exit code 2); anything else is a bug and keeps its
traceback. It subclasses ``ValueError`` so that library callers catching ``ValueError`` keep working;
:class:`MissingInputError` is also a ``FileNotFoundError``.

Validators take the value and the name to report (a CLI flag such as ``"--temperature"`` or a parameter name):

>>> check_positive_finite(0.7, "--temperature")
0.7
>>> check_int_range(0, "--bootstrap", minimum=1)
Traceback (most recent call last):
...
rmlab.errors.UserError: --bootstrap must be an integer >= 1, got 0
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path


class UserError(ValueError):
    """A mistake in the user's input: reported as one line naming the flag, file, line or spec; no traceback."""


class MissingInputError(UserError, FileNotFoundError):
    """An input file or folder that does not exist."""


# ------------------------------------------------------------------------------------------------- numbers
def check_int_range(value, name: str, *, minimum: int) -> int:
    """``value`` as an int ``>= minimum`` (bools and non-integral floats refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive_finite(value, name: str) -> float:
    """``value`` as a finite float > 0 (NaN, infinities, zero and negatives refused)."""
    return _check_finite(value, name, zero_allowed=False)


def check_nonnegative_finite(value, name: str) -> float:
    """``value`` as a finite float >= 0 (NaN, infinities and negatives refused).

    >>> check_nonnegative_finite(0, "kl_coef")
    0.0
    """
    return _check_finite(value, name, zero_allowed=True)


def _check_finite(value, name: str, *, zero_allowed: bool) -> float:
    bound = ">= 0" if zero_allowed else "> 0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a finite number {bound}, got {value!r}") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero_allowed):
        raise UserError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


# ------------------------------------------------------------------------------------------------- devices
def check_device(device, name: str = "--device"):
    """``None`` (automatic) or a torch device string that exists on this machine; returns it unchanged."""
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"{name} {device!r} is not a torch device (use cpu, cuda, cuda:N or mps)") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{name} {device!r}: CUDA is not available on this machine (use --device cpu)")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise UserError(f"{name} {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"{name} {device!r}: MPS is not available on this machine (use --device cpu)")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"{name} {device!r}: unsupported device type {parsed.type!r} (use cpu, cuda or mps)")
    return device


# --------------------------------------------------------------------------------------------------- paths
def check_input_file(path, name: str) -> Path:
    """An existing regular file (a folder or a missing path is an error naming ``name`` and the path)."""
    path = Path(os.fspath(path)).expanduser()
    if path.is_dir():
        raise UserError(f"{name} {str(path)!r} is a directory, not a file")
    if not path.is_file():
        raise MissingInputError(f"{name} {str(path)!r} does not exist")
    return path


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_dir(path, name: str) -> Path:
    """A folder that exists or can be created, and can be written: its nearest existing ancestor is a folder in
    which a file can be created (tried, then removed)."""
    path = Path(os.fspath(path)).expanduser()
    if path.exists() and not path.is_dir():
        raise UserError(f"{name} {str(path)!r} is a file, not a folder")
    ancestor = _nearest_existing(path.absolute())
    if not ancestor.is_dir():
        raise UserError(f"{name} {str(path)!r}: {str(ancestor)!r} is a file, so the folder cannot be created")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as err:
        raise UserError(f"{name} {str(path)!r}: cannot write in {str(ancestor)!r} ({err.strerror})") from None
    return path


def check_output_file(path, name: str, *, inputs: dict | None = None) -> Path:
    """An output file that can be written: not a folder, its folder writable, and not the same file as any of
    ``inputs`` (``{name: path}``; compared as resolved paths, so ``./a`` and ``a`` or a symlink clash too)."""
    path = Path(os.fspath(path)).expanduser()
    if path.is_dir():
        raise UserError(f"{name} {str(path)!r} is a directory; give a file name")
    check_writable_dir(path.parent, f"{name} {str(path)!r}: the folder")
    for input_name, input_path in (inputs or {}).items():
        if input_path is not None and same_path(path, input_path):
            raise UserError(f"{name} {str(path)!r} is the same file as {input_name}; refusing to overwrite an input")
    return path


def same_path(a, b) -> bool:
    """Whether two paths name the same file (resolved; neither needs to exist)."""
    return Path(os.fspath(a)).expanduser().resolve() == Path(os.fspath(b)).expanduser().resolve()
