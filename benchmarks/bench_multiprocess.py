"""``rmlab ches`` on N processes (data parallel, ``accelerate launch``) vs one process, one thread per process.

Model: the embedded world's ``sft_full`` (the default world; ``--quick``: the quick world); data: the world's
``prefs_off_policy`` pairs, repeated to ``--pairs``. Both runs are the real command line in fresh processes:

* one process: ``OMP_NUM_THREADS=1 python -m rmlab ches ...``;
* N processes: ``accelerate launch --multi_gpu --num_processes N --num_cpu_threads_per_process 1 -m rmlab ches ...``
  (``--multi_gpu`` selects accelerate's torchrun launcher, which also runs on CPUs; without it, accelerate starts a
  single process on a machine without GPUs).

Printed: each run's end-to-end wall time (process start to exit: interpreter, imports, model load, launcher), its
measurement time (``rmlab ches`` reports it: from the first pair to the written output, rank 0 waiting for the
others included), pairs/s for both, and the ratios. Target: N=2 processes measure >= 1.6x the pairs/s of one
process (checked without --quick: the exit code is 1 when missed). Check: the two outputs are byte-identical.

Each is run ``--repeats`` times (default 3), alternating, and the medians are compared.

Usage: ``python benchmarks/bench_multiprocess.py [--quick] [--pairs N] [--processes N] [--batch-size B] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rmlab.world import WorldConfig, build_world, quick_config

TARGET = 1.6


def run(command: list[str], env: dict) -> tuple[float, float]:
    """(end-to-end seconds, measurement seconds as printed by rmlab ches) of one run."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    measured = re.search(r"in ([0-9.]+) s", done.stdout)
    if measured is None:
        sys.exit(f"no timing in the output of {' '.join(command)}:\n{done.stdout}")
    return wall, float(measured.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick world and 8,192 pairs")
    parser.add_argument("--pairs", type=int, default=None, help="pairs to score (default 65,536; 8,192 with --quick)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternated; the medians are compared")
    args = parser.parse_args()
    n_pairs = args.pairs or (8192 if args.quick else 65536)
    world = build_world(quick_config() if args.quick else WorldConfig())
    rows = [json.loads(line) for line in world.datasets["prefs_off_policy"].read_text().splitlines()]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "pairs.jsonl"
        data.write_text("".join(json.dumps({k: rows[i % len(rows)][k] for k in ("prompt", "chosen", "rejected")})
                                + "\n" for i in range(n_pairs)))
        common = ["ches", "--model", str(world.models["sft_full"]), "--data", str(data), "--quiet", "--batch-size",
                  str(args.batch_size), "--device", "cpu"]
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                    str(args.processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                    "--num_cpu_threads_per_process", "1", "-m", "rmlab"]
        timings = {"one": [], "many": []}
        for repeat in range(args.repeats):          # alternated, so that a slow spell of the machine hits both
            for name, command in (("one", [sys.executable, "-m", "rmlab"]), ("many", launcher)):
                Path(f"{tmp}/{name}.jsonl").unlink(missing_ok=True)
                timings[name].append(run([*command, *common, "--out", f"{tmp}/{name}.jsonl"], env))
        identical = Path(f"{tmp}/one.jsonl").read_bytes() == Path(f"{tmp}/many.jsonl").read_bytes()
    print(f"rmlab ches, world sft_full, {n_pairs} pairs, batch {args.batch_size}, 1 thread per process, "
          f"median of {args.repeats} alternated runs")
    one, many = (tuple(statistics.median(t[i] for t in timings[name]) for i in (0, 1)) for name in ("one", "many"))
    for label, name, (wall, measured) in (("1 process", "one", one), (f"{args.processes} processes", "many", many)):
        print(f"  {label:<12} end to end {wall:7.1f} s ({n_pairs / wall:7.1f} pairs/s)   measurement {measured:7.1f} s "
              f"({n_pairs / measured:7.1f} pairs/s)   runs: " + ", ".join(f"{m:.1f}" for _, m in timings[name]))
    ratio, ratio_wall = one[1] / many[1], one[0] / many[0]
    print(f"  speed-up: measurement {ratio:.2f}x (target >= {TARGET}x), end to end {ratio_wall:.2f}x")
    print(f"  outputs byte-identical: {identical}")
    if args.quick:                              # 8k pairs: start-up dominates; only the outputs are checked
        print("  --quick: the speed-up is printed, not checked")
    return 0 if identical and (args.quick or ratio >= TARGET) else 1


if __name__ == "__main__":
    sys.exit(main())
