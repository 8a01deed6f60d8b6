"""``accelerate launch`` with 2 CPU processes: ``rmlab report`` and ``rmlab ches`` write byte-identical outputs to a
single-process run (here, in this process with one torch thread, as each launched process has), and a multi-process
run interrupted part-way (every rank stopped by a Ctrl-C after some rows) resumes to the same outputs, with each
process's rows in its own file until rank 0 merges them."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rmlab._threads import single_torch_thread
from rmlab.cli import main
from tiny_models import random_pairs, tiny, write_jsonl  # noqa: F401  (tiny is a fixture)

TESTS = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_this_process(argv) -> int:
    with single_torch_thread():
        return main([str(a) for a in argv])


def rmlab(argv, *, processes, module="rmlab", extra_env=None, torchrun=False) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGV`` under ``accelerate launch`` with ``processes`` CPU processes (``--multi_gpu`` picks
    accelerate's torchrun launcher, which runs on CPUs too), or under ``torchrun`` itself (the same environment for
    the processes, 10 s less start-up)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS), **(extra_env or {})}
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                "--num_cpu_threads_per_process", "1", "--main_process_port", str(free_port())]
    if torchrun:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                    "--master_port", str(free_port())]
    command = [*launcher, "-m", module] + [str(a) for a in argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=TESTS)


@pytest.fixture(scope="module")
def inputs(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mp")
    pairs = random_pairs(40, seed=5)
    return {"policy": tiny.causal_lm("gpt2"), "rm": tiny.reward_model("gpt2"), "folder": folder,
            "prompts": write_jsonl(folder / "prompts.jsonl", [{"prompt": p["prompt"]} for p in pairs]),
            "pairs": write_jsonl(folder / "pairs.jsonl", pairs[:12]),
            "ches_pairs": write_jsonl(folder / "ches_pairs.jsonl", random_pairs(72, seed=6))}


def report_args(inputs, out):
    return ["report", "--policy", inputs["policy"], "--rm", f"rm={inputs['rm']}", "--rm",
            "length=py:mp_interrupt:flaky_length", "--gold", "py:tiny_models:count_yes", "--prompts",
            inputs["prompts"], "--preferences", inputs["pairs"], "--samples", 2, "--batch-size", 2,
            "--max-new-tokens", 5, "--bootstrap", 50, "--quiet", "--device", "cpu", "--out", out]


def test_report_on_two_processes_equals_one_and_an_interrupted_run_resumes(inputs):
    folder = inputs["folder"]
    assert in_this_process(report_args(inputs, folder / "one.json")) == 0
    two = rmlab(report_args(inputs, folder / "two.json"), processes=2)
    assert two.returncode == 0, two.stderr[-3000:]
    assert (folder / "two.json").read_bytes() == (folder / "one.json").read_bytes()
    assert (folder / "two.rows.jsonl").read_bytes() == (folder / "one.rows.jsonl").read_bytes()
    assert not list(folder.glob("two.rows.jsonl.rank*"))
    assert json.loads((folder / "one.json").read_text())["reward_models"]["length"]["reward_variance"] > 0

    # every process stopped by a Ctrl-C at its 4th call of the reward (after its first block of prompts)
    killed = rmlab(report_args(inputs, folder / "killed.json"), processes=2,
                   extra_env={"RMLAB_TEST_INTERRUPT_AT": "4"}, torchrun=True)
    assert killed.returncode != 0 and not (folder / "killed.json").exists()
    rank_files = sorted(folder.glob("killed.rows.jsonl.rank*"))
    assert [p.name[-5:] for p in rank_files] == ["rank0", "rank1"]
    written = [len(p.read_text().splitlines()) - 1 for p in rank_files]
    assert all(n > 0 for n in written) and sum(written) < 40
    resumed = rmlab(report_args(inputs, folder / "killed.json"), processes=2, torchrun=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (folder / "killed.json").read_bytes() == (folder / "one.json").read_bytes()
    assert (folder / "killed.rows.jsonl").read_bytes() == (folder / "one.rows.jsonl").read_bytes()
    assert not list(folder.glob("killed.rows.jsonl.rank*"))


def ches_args(inputs, out):
    return ["ches", "--model", inputs["policy"], "--data", inputs["ches_pairs"], "--batch-size", 2, "--quiet",
            "--device", "cpu", "--out", out]


def test_ches_on_two_processes_equals_one_and_an_interrupted_run_resumes(inputs):
    folder = inputs["folder"]
    assert in_this_process(ches_args(inputs, folder / "one.jsonl")) == 0
    two = rmlab(ches_args(inputs, folder / "two.jsonl"), processes=2)
    assert two.returncode == 0, two.stderr[-3000:]
    assert (folder / "two.jsonl").read_bytes() == (folder / "one.jsonl").read_bytes()
    assert len((folder / "one.jsonl").read_text().splitlines()) == 72
    meta = {name: json.loads((folder / f"{name}.jsonl.meta.json").read_text()) for name in ("one", "two")}
    assert meta["one"]["sha256"] == meta["two"]["sha256"]
    assert not list(folder.glob("two.jsonl.partial*"))

    killed = rmlab(ches_args(inputs, folder / "killed.jsonl"), processes=2, module="mp_interrupt", torchrun=True)
    assert killed.returncode != 0 and not (folder / "killed.jsonl").exists()
    rank_files = sorted(folder.glob("killed.jsonl.partial.rank*"))
    assert [len(p.read_text().splitlines()) - 1 for p in rank_files] == [32, 32]   # one block of 32 pairs each
    resumed = rmlab(ches_args(inputs, folder / "killed.jsonl"), processes=2, torchrun=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (folder / "killed.jsonl").read_bytes() == (folder / "one.jsonl").read_bytes()
    assert not list(folder.glob("killed.jsonl.partial*"))
