"""Data-parallel measurement: ``accelerate launch --num_processes N -m rmlab report|ches ...`` (or ``torchrun``).

The launcher starts N copies of the command with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and ``MASTER_ADDR`` /
``MASTER_PORT``) in their environment. Work is cut into fixed blocks of the input order whose size depends only on
the command's arguments (never on N or on what an earlier run finished), so every block is computed with the same
batches whatever N is: the numbers are bit-identical to a single-process run. Rank r computes every N-th block still
to do and appends its rows to its own resumable file (``PATH.rank<r>``; ``PATH`` itself with one process); every
rank reads every such file first (read-only), so a rerun after an interruption, with any N, computes only what is
missing. Rank 0 then waits for the others (a gloo barrier, which works on CPU and GPU alike), merges the rows and
writes the output; the other ranks write nothing else. On GPUs rank r uses ``cuda:<LOCAL_RANK>``.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

BARRIER_TIMEOUT = timedelta(hours=6)      # rank 0 waits this long for the slowest rank's share


@dataclass(frozen=True)
class Ranks:
    """This process's place among the launched ones (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, blocks: list) -> list:
        """This rank's blocks: every ``world_size``-th, starting at ``rank``."""
        return blocks[self.rank::self.world_size]

    def rows_path(self, path) -> Path:
        """This rank's resumable rows file: ``path`` itself with one process, else ``path.rank<r>``."""
        path = Path(path)
        return path if self.world_size == 1 else path.with_name(f"{path.name}.rank{self.rank}")

    def device(self, device):
        """``device`` as given; by default, ``cuda:<LOCAL_RANK>`` when several processes share a machine's GPUs."""
        if device is None and self.world_size > 1:
            import torch

            if torch.cuda.is_available():
                return f"cuda:{self.local_rank}"
        return device

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()


def launched_ranks() -> Ranks:
    """The ranks from the launcher's environment; with more than one process, joins the (gloo) process group."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    ranks = Ranks(int(os.environ.get("RANK", "0")), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if world_size > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
            atexit.register(dist.destroy_process_group)
    return ranks


def rows_files(path) -> list[Path]:
    """Every rows file of a measurement at ``path``: the single-process one and each rank's, those that exist."""
    path = Path(path)
    return [p for p in [path, *sorted(path.parent.glob(f"{path.name}.rank*"))] if p.is_file()]


def fixed_blocks(n: int, size: int) -> list[list[int]]:
    """``0..n-1`` cut into consecutive blocks of ``size`` (the last may be shorter).

    >>> fixed_blocks(5, 2)
    [[0, 1], [2, 3], [4]]
    """
    return [list(range(start, min(start + size, n))) for start in range(0, n, size)]


def blocks_to_do(n: int, size: int, kind: str, done) -> list[list[int]]:
    """The blocks of :func:`fixed_blocks` with a ``(kind, index)`` row missing from ``done``; a block with some rows
    done is recomputed whole (its batches, hence its numbers, stay those of an uninterrupted run)."""
    return [block for block in fixed_blocks(n, size) if any((kind, i) not in done for i in block)]
