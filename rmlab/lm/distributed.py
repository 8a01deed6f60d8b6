"""Data-parallel measurement: ``accelerate launch --num_processes N -m rmlab report|ches ...`` (or ``torchrun``).

The launcher starts N copies of the command with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and ``MASTER_ADDR`` /
``MASTER_PORT``) in their environment. Work is cut into fixed blocks of the input order whose size depends only on
the command's arguments (never on N or on what an earlier run finished), so every block is computed with the same
batches whatever N is: the numbers are bit-identical to a single-process run. A free rank takes the next block still
to do (a counter shared through a TCP store that rank 0 hosts, so a rank slowed by other load simply takes fewer
blocks) and appends its rows to its own resumable file (``PATH.rank<r>``; ``PATH`` itself with one process); every
rank reads every such file first (read-only), so a rerun after an interruption, with any N, computes only what is
missing. Rank 0 then waits for the others (a gloo barrier, which works on CPU and GPU alike), merges the rows and
writes the output; the other ranks write nothing else. On GPUs rank r uses ``cuda:<LOCAL_RANK>``.
"""

from __future__ import annotations

import atexit
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

BARRIER_TIMEOUT = timedelta(hours=6)      # rank 0 waits this long for the slowest rank's share


@dataclass(frozen=True)
class Ranks:
    """This process's place among the launched ones (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    store: object = field(default=None, compare=False, repr=False)    # shared counters (several processes)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def claim(self, blocks: list, progress=None) -> Iterator:
        """Yield the blocks this rank computes: each is the next one no rank has taken yet (with one process, all of
        them in order). Every rank must call this with the same ``blocks``, the same number of times.
        ``progress``: a tqdm bar over all blocks' items, advanced by every rank's finished items.

        >>> list(Ranks().claim([[0, 1], [2]]))
        [[0, 1], [2]]
        """
        counters = self.store if self.store is not None else _LocalCounters()
        key = f"claim{counters.add(f'calls{self.rank}', 1)}"
        while (taken := counters.add(f"{key}/taken", 1)) <= len(blocks):
            block = blocks[taken - 1]
            yield block
            finished = counters.add(f"{key}/finished", len(block))
            if progress is not None:
                progress.update(finished - progress.n)

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
    rank = int(os.environ.get("RANK", "0"))
    if world_size == 1:
        return Ranks(rank, world_size, int(os.environ.get("LOCAL_RANK", "0")))
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
        atexit.register(dist.destroy_process_group)
    return Ranks(rank, world_size, int(os.environ.get("LOCAL_RANK", "0")), store=_counter_store(rank, world_size))


def _counter_store(rank: int, world_size: int):
    """A TCP store hosted by rank 0 on a free port (sent to the others over the process group) for the block
    counters of :meth:`Ranks.claim`."""
    import torch.distributed as dist

    host = os.environ.get("MASTER_ADDR", "127.0.0.1")
    if rank == 0:
        store = dist.TCPStore(host, 0, world_size, is_master=True, wait_for_workers=False, timeout=BARRIER_TIMEOUT)
        dist.broadcast_object_list([store.port], src=0)
        return store
    port = [None]
    dist.broadcast_object_list(port, src=0)
    return dist.TCPStore(host, port[0], world_size, is_master=False, timeout=BARRIER_TIMEOUT)


class _LocalCounters(Counter):
    """The one-process stand-in for the TCP store's ``add``: adds to a counter and returns its new value."""

    def add(self, key: str, amount: int) -> int:
        self[key] += amount
        return self[key]


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
