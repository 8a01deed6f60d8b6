"""Torch thread count, pinned for a block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def single_torch_thread() -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(1)``, restoring the caller's setting afterwards.

    Two uses: many tiny torch calls run several times faster on one intra-op thread, and a fixed thread count fixes
    the order of floating-point reductions, so training gives byte-identical weights on a given CPU.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
