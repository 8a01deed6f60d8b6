"""Bad input, table-driven (issue 18): every user mistake in ``rmlab report``, ``rmlab ches``, ``rmlab world build``
and ``rmlab reproduce`` is a clear, early error that loses nothing -- and the good cases stay good.

Each case runs the real command line (``rmlab.cli.main``, in process: an uncaught exception would fail the test just
as a traceback would fail a user) and asserts the exit code, words of the message, no "Traceback", and what is (not)
left on disk. The item numbers are those of the issue. Models are the tiny ones of ``tiny_models`` (built once per
session); the world cases use a world configuration that builds in about a second.

The ``py:test_bad_input:...`` specs import reward callables from this module (pytest puts ``tests/`` on sys.path).
"""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from rmlab.cli import main
from rmlab.errors import UserError
from rmlab.lm.rows import ResumableRows
from rmlab.world import PolicySpec, RewardModelSpec, build_world, quick_config
from rmlab.world import build as world_build
from tiny_models import PAIRS, random_pairs, tiny, write_jsonl  # noqa: F401  (tiny is a fixture)

PROMPTS = [p for p, _, _ in PAIRS] + ["the dog ran", "a robot wrote", "one fish swam"]
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------- reward callables
def length_reward(prompts, responses):
    """A 'gold' reward with many exact ties (the response length in words): ties make accuracy sensitive to noise."""
    return np.array([len(r.split()) for r in responses], dtype=np.float64)


def raises(prompts, responses):
    raise RuntimeError("my scorer broke on purpose")


def one_argument(responses):
    return [0.0] * len(responses)


def interrupt(prompts, responses):
    raise KeyboardInterrupt


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def files(tiny, tmp_path_factory):
    """Model folders (good and broken) and input files, built once; tests copy what they modify."""
    root = tmp_path_factory.mktemp("bad_input")
    policy, rm = tiny.causal_lm("gpt2"), tiny.reward_model("gpt2")
    no_tokenizer = shutil.copytree(policy, root / "no_tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    truncated = shutil.copytree(policy, root / "truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    prompts = write_jsonl(root / "prompts.jsonl", [{"prompt": p} for p in PROMPTS])
    prefs = write_jsonl(root / "prefs.jsonl", [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS])
    return {"policy": str(policy), "rm": str(rm), "rm_llama": str(tiny.reward_model("llama")),
            "no_tokenizer": str(no_tokenizer), "truncated": str(truncated),
            "prompts": prompts, "prefs": prefs}


def run(capsys, *argv):
    """``rmlab ARGV`` in process: (exit code, stdout, stderr); stderr never holds a traceback."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return rc, out, err


def report_argv(files, tmp_path, *extra, rms=("rm={rm}",), out="report.json"):
    argv = ["report", "--policy", files["policy"], "--prompts", files["prompts"], "--samples", "2",
            "--max-new-tokens", "4", "--bootstrap", "20", "--quiet", "--out", tmp_path / out]
    for spec in rms:
        argv += ["--rm", spec.format(**files)]
    return argv + list(extra)


def listing(folder) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir())


# --------------------------------------------------------------------------------------------- report
# (name, item, extra arguments or a function of files, expected words of the message)
REPORT_ERRORS = [
    ("temperature_nan", 4, ["--temperature", "nan"], "--temperature must be a finite number > 0"),
    ("temperature_zero", 6, ["--temperature", "0"], "--temperature must be a finite number > 0"),
    ("max_new_tokens_zero", 6, ["--max-new-tokens", "0"], "--max-new-tokens must be an integer >= 1"),
    ("bootstrap_zero", 6, ["--bootstrap", "0"], "--bootstrap must be an integer >= 1"),
    ("batch_size_zero", 6, ["--batch-size", "0"], "--batch-size must be an integer >= 1"),
    ("seed_negative", 9, ["--seed", "-1"], "--seed must be an integer >= 0"),
    ("device_malformed", 7, ["--device", "gpu0"], "--device 'gpu0' is not a torch device"),
    ("rm_is_a_policy", 9, {"rms": ["r={policy}"]}, "is a causal LM .* a sequence classifier with one score"),
    ("beta_nan", 6, {"rms": ["r=implicit:{policy}:none:nan"]}, "BETA must be a finite number > 0"),
    ("beta_negative", 13, {"rms": ["r=implicit:{policy}:none:-0.1"]}, "BETA must be a finite number > 0"),
    ("reward_wrong_signature", 7, {"rms": ["r=py:test_bad_input:one_argument"]},
     "py:test_bad_input:one_argument.*cannot be called as f\\(prompts, responses\\)"),
]


@pytest.mark.parametrize("name, item, extra, expected", REPORT_ERRORS, ids=[c[0] for c in REPORT_ERRORS])
def test_report_refuses_before_loading_anything(files, tmp_path, capsys, name, item, extra, expected):
    kwargs = extra if isinstance(extra, dict) else {}
    rc, _, err = run(capsys, *report_argv(files, tmp_path, *([] if kwargs else extra), **kwargs))
    assert rc == 2 and "rmlab report: error:" in err
    assert re.search(expected, err), err
    assert listing(tmp_path) == []                      # no report, no rows file: nothing to block the fix


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_report_device_cuda_without_cuda(files, tmp_path, capsys):
    rc, _, err = run(capsys, *report_argv(files, tmp_path, "--device", "cuda"))
    assert rc == 2 and "CUDA is not available" in err and listing(tmp_path) == []


@pytest.mark.parametrize("flag", ["--prompts", "--preferences", "--per-prompt"])
def test_report_never_overwrites_its_input(files, tmp_path, capsys, flag):      # item 2
    prompts = shutil.copy(files["prompts"], tmp_path / "p.jsonl")
    prefs = shutil.copy(files["prefs"], tmp_path / "pr.jsonl")
    before = {p: Path(p).read_bytes() for p in (prompts, prefs)}
    argv = report_argv({**files, "prompts": prompts}, tmp_path, "--preferences", prefs)
    target = {"--prompts": prompts, "--preferences": prefs, "--per-prompt": prompts}[flag]
    if flag == "--per-prompt":
        argv += ["--per-prompt", target]
    else:
        argv[argv.index("--out") + 1] = target
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "same file as" in err and flag in err
    assert {p: Path(p).read_bytes() for p in before} == before and listing(tmp_path) == ["p.jsonl", "pr.jsonl"]


def test_report_policy_that_is_a_reward_model(files, tmp_path, capsys):          # item 3
    argv = report_argv(files, tmp_path)
    argv[argv.index("--policy") + 1] = files["rm"]
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "--policy" in err and "is a sequence classifier with one score" in err
    assert "a causal LM" in err and listing(tmp_path) == []


@pytest.mark.parametrize("case", ["out_is_a_directory", "out_under_a_file"])
def test_report_unwritable_output_is_refused_first(files, tmp_path, capsys, case):   # item 6
    (tmp_path / "d.json").mkdir()
    (tmp_path / "plain").write_text("a file")
    out = {"out_is_a_directory": "d.json", "out_under_a_file": "plain/report.json"}[case]
    rc, _, err = run(capsys, *report_argv(files, tmp_path, out=out))
    assert rc == 2 and "--out" in err
    assert ("is a directory" if case == "out_is_a_directory" else "is a file") in err
    assert listing(tmp_path) == ["d.json", "plain"] and listing(tmp_path / "d.json") == []


def test_report_bad_preference_gold_and_long_pairs_refused_before_sampling(files, tmp_path, capsys):   # item 6
    good = [{"prompt": p, "chosen": c, "rejected": r, "score_chosen": 1.0, "score_rejected": 0.0}
            for p, c, r in PAIRS]
    nan_gold = write_jsonl(tmp_path / "nan_gold.jsonl", good[:2] + [{**good[2], "score_chosen": float("nan")}])
    rc, _, err = run(capsys, *report_argv(files, tmp_path, "--preferences", nan_gold))
    assert rc == 2 and "preference pair 2: column 'score_chosen'" in err
    long_pair = write_jsonl(tmp_path / "long.jsonl", good[:1] + [{**good[1], "chosen": "the cat sat " * 60}])
    rc, _, err = run(capsys, *report_argv(files, tmp_path, "--preferences", long_pair))
    assert rc == 2 and "preference pair (chosen) 1" in err and "context of 128" in err
    assert "max_length" not in err and "shorten or drop" in err                 # no option report does not have
    assert listing(tmp_path) == ["long.jsonl", "nan_gold.jsonl"]               # nothing sampled, nothing written


def test_report_user_reward_that_raises_names_the_spec(files, tmp_path, capsys):    # item 7
    argv = report_argv(files, tmp_path, rms=["mine=py:test_bad_input:raises"])
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "py:test_bad_input:raises" in err and "my scorer broke on purpose" in err
    assert "RuntimeError" in err and not (tmp_path / "report.json").exists()
    with pytest.raises(UserError) as raised:                                    # --debug: the traceback
        main(["--debug"] + [str(a) for a in argv])
    causes = [raised.value]
    while causes[-1].__cause__ is not None:
        causes.append(causes[-1].__cause__)
    assert isinstance(causes[-1], RuntimeError) and str(causes[-1]) == "my scorer broke on purpose"


@pytest.mark.parametrize("case", ["truncated_weights", "no_tokenizer"])
def test_report_broken_model_folders(files, tmp_path, capsys, case):              # items 7, 8
    argv = report_argv(files, tmp_path)
    argv[argv.index("--policy") + 1] = files["truncated" if case == "truncated_weights" else "no_tokenizer"]
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "--policy" in err
    assert ("model.safetensors' are truncated" if case == "truncated_weights" else "has no tokenizer files") in err
    assert listing(tmp_path) == []


def test_report_unclear_inputs_get_clear_messages(files, tmp_path, capsys):          # item 9
    (tmp_path / "folder.jsonl").mkdir()
    rc, _, err = run(capsys, *report_argv({**files, "prompts": tmp_path / "folder.jsonl"}, tmp_path))
    assert rc == 2 and "--prompts" in err and "is a directory" in err and "does not exist" not in err
    bad_json = tmp_path / "prompts.json"
    bad_json.write_text('["one", "two",')
    rc, _, err = run(capsys, *report_argv({**files, "prompts": bad_json}, tmp_path))
    assert rc == 2 and "prompts.json: not valid JSON" in err
    assert listing(tmp_path) == ["folder.jsonl", "prompts.json"]


def test_report_ctrl_c_exits_130_and_resumes(files, tmp_path, capsys):              # item 7
    rc, _, err = run(capsys, *report_argv(files, tmp_path, rms=["x=py:test_bad_input:interrupt"]))
    assert rc == 130 and "interrupted; rerun the same command to resume" in err
    assert not (tmp_path / "report.json").exists()
    rc, _, _ = run(capsys, *report_argv(files, tmp_path))                          # the header-only rows: no loss
    assert rc == 0 and (tmp_path / "report.json").exists()


def test_report_resumed_from_a_torn_rows_file_is_identical(files, tmp_path, capsys):   # item 11
    """Prompts are sampled and scored in fixed blocks, so a resumed run recomputes the torn row with the same batch
    companions: rows (and so ties under --ties paper) equal the uninterrupted run's bit for bit. (This tiny Llama
    RM scores a pair differently, by ~5e-7, in a batch of 8 and alone: the test fails when only the torn row is
    rescored.)"""
    common = ["--gold", "py:test_bad_input:length_reward", "--batch-size", "8", "--max-new-tokens", "8"]
    rms = ["rm={rm_llama}"]
    assert run(capsys, *report_argv(files, tmp_path, *common, rms=rms, out="full.json"))[0] == 0
    full_rows = (tmp_path / "full.rows.jsonl").read_text()
    assert run(capsys, *report_argv(files, tmp_path, *common, rms=rms, out="torn.json"))[0] == 0
    torn = tmp_path / "torn.rows.jsonl"
    torn.write_bytes(torn.read_bytes()[:-30])                                      # the last row torn
    (tmp_path / "torn.json").unlink()
    assert run(capsys, *report_argv(files, tmp_path, *common, rms=rms, out="torn.json"))[0] == 0
    assert torn.read_text() == full_rows
    full, resumed = (json.loads((tmp_path / f"{n}.json").read_text())["reward_models"] for n in ("full", "torn"))
    assert resumed == full


def test_report_good_inputs_stay_good_bom_and_warnings(files, tmp_path, capsys):     # item 13 + the good case
    text = "".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS + PROMPTS[:2] + ["<unk><unk>"])
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    rc, out, err = run(capsys, *report_argv({**files, "prompts": bom}, tmp_path))
    assert rc == 0 and "wrote" in out
    assert len(re.findall("warning: 2 of 11 prompts repeat an earlier prompt", err)) == 1
    assert len(re.findall("warning: 1 of 11 prompts tokenise to nothing but the unknown token '<unk>'", err)) == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_prompts"] == 11 and listing(tmp_path) == ["bom.jsonl", "report.json", "report.rows.jsonl"]


def test_rows_file_with_only_a_header_is_started_over(tmp_path):                     # item 6
    path = tmp_path / "rows.jsonl"
    ResumableRows(path, {"temperature": 0.0}).load()                              # a run that stopped at once
    assert ResumableRows(path, {"temperature": 1.0}).load() == {}
    assert json.loads(path.read_text())["arguments"] == {"temperature": 1.0}
    store = ResumableRows(path, {"temperature": 1.0})
    store.append([{"kind": "prompt", "index": 0}])
    with pytest.raises(UserError, match="different arguments \\(differing: temperature\\)"):
        ResumableRows(path, {"temperature": 2.0}).load()                          # real rows are never dropped


# ----------------------------------------------------------------------------------------------- ches
def ches_argv(model, data, out, *extra):
    return ["ches", "--model", model, "--data", data, "--out", out, "--quiet", *extra]


def test_ches_never_serves_stale_results(files, tmp, capsys):                         # item 1
    data = tmp / "pairs.jsonl"
    out = tmp / "out.jsonl"
    assert run(capsys, *ches_argv(files["policy"], data, out))[0] == 0
    content = out.read_bytes()
    rc, stdout, _ = run(capsys, *ches_argv(files["policy"], data, out, "--batch-size", "3"))
    assert rc == 0 and "nothing to do" in stdout                                   # same arguments: complete
    other = shutil.copytree(files["policy"], tmp / "other_model")
    rc, _, err = run(capsys, *ches_argv(other, data, out))
    assert rc == 2 and "different arguments (differing: model)" in err and out.read_bytes() == content
    out.write_bytes(content.replace(b"\"index\": 0,", b"\"index\": 5,", 1))          # edited by hand
    rc, _, err = run(capsys, *ches_argv(files["policy"], data, out))
    assert rc == 2 and "was modified since it was written" in err
    (tmp / "out.jsonl.meta.json").unlink()                                        # provenance unknown
    rc, _, err = run(capsys, *ches_argv(files["policy"], data, out))
    assert rc == 2 and "out.jsonl.meta.json" in err and "missing" in err
    assert not (tmp / "out.jsonl.partial").exists()


@pytest.fixture
def tmp(tmp_path):
    write_jsonl(tmp_path / "pairs.jsonl", random_pairs(6, seed=1))
    return tmp_path


CHES_ERRORS = [
    ("data_is_out", 1, {"out": "pairs.jsonl"}, "--out .* is the same file as --data"),
    ("model_is_a_reward_model", 3, {"model": "rm"}, "--model .* is a sequence classifier with one score"),
    ("batch_size_negative", 7, ["--batch-size", "-2"], "--batch-size must be an integer >= 1, got -2"),
    ("batch_size_zero", 9, ["--batch-size", "0"], "--batch-size must be an integer >= 1, got 0"),
    ("max_length_negative", 9, ["--max-length", "-5"], "--max-length must be an integer >= 2, got -5"),
    ("device_malformed", 7, ["--device", "gpu0"], "--device 'gpu0' is not a torch device"),
    ("out_is_a_directory", 6, {"out": "folder"}, "--out .* is a directory"),
    ("no_tokenizer", 8, {"model": "no_tokenizer"}, "has no tokenizer files"),
]


@pytest.mark.parametrize("name, item, change, expected", CHES_ERRORS, ids=[c[0] for c in CHES_ERRORS])
def test_ches_refuses_before_loading_anything(files, tmp, capsys, name, item, change, expected):
    (tmp / "folder").mkdir()
    before = {p.name: p.read_bytes() for p in tmp.iterdir() if p.is_file()}
    change_kw = change if isinstance(change, dict) else {}
    model = files[change_kw.get("model", "policy")]
    argv = ches_argv(model, tmp / "pairs.jsonl", tmp / change_kw.get("out", "out.jsonl"),
                     *([] if change_kw else change))
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "rmlab ches: error:" in err and re.search(expected, err), err
    assert {p.name: p.read_bytes() for p in tmp.iterdir() if p.is_file()} == before   # no .partial, input intact
    assert listing(tmp) == ["folder", "pairs.jsonl"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_ches_device_cuda_without_cuda(files, tmp, capsys):
    rc, _, err = run(capsys, *ches_argv(files["policy"], tmp / "pairs.jsonl", tmp / "o.jsonl", "--device", "cuda"))
    assert rc == 2 and "CUDA is not available" in err and listing(tmp) == ["pairs.jsonl"]


def test_ches_ctrl_c_exits_130_with_a_resume_line(files, tmp_path):        # item 7, a real SIGINT
    data = write_jsonl(tmp_path / "pairs.jsonl", random_pairs(400, seed=4, min_words=20, max_words=40))
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    argv = [sys.executable, "-m", "rmlab", "ches", "--model", files["policy"], "--data", str(data),
            "--out", str(out), "--batch-size", "1", "--quiet"]
    # a user's shell delivers Ctrl-C to a process with the default SIGINT handling; a test runner started in the
    # background (nohup ... &) has SIGINT ignored, which a child would inherit and then never see the signal
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline and not partial.exists():   # model loaded
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted; rerun the same command to resume" in err
    assert partial.exists() and not out.exists()


# ---------------------------------------------------------------------------------------------- world
def tiny_world_config():
    """A world configuration that builds in about a second (as in test_world_build)."""
    return quick_config().replace(corpus_docs=300, pretrain_steps=20,
                                  policies=(PolicySpec("sft_full", 0.0, 20, 5), PolicySpec("instruct", 0.0, 20, 5)),
                                  reward_models=(RewardModelSpec("rm", 40, 0.0, 5),), pool_pairs=8, rl_prompts=8,
                                  eval_prompts=8)


WORLD_ERRORS = [
    ("seed_negative", 7, ["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    ("cache_dir_a_file", 7, ["--cache-dir", "{tmp}/plain"], "--cache-dir .* is a file, not a folder"),
    ("cache_dir_under_a_file", 7, ["--cache-dir", "{tmp}/plain/cache"], "--cache-dir .* is a file, so the folder"),
    ("export_a_file", 7, ["--export", "{tmp}/plain"], "--export .* is a file, not a folder"),
    ("export_into_the_entry", 7, ["--export", "{tmp}/cache/{key}/data"], "--export .* is inside the cache entry"),
    ("device_unknown", 7, ["--device", "tpu9"], "--device 'tpu9' is not a torch device"),
] + ([] if torch.cuda.is_available() else
     [("device_without_cuda", 7, ["--device", "cuda"], "--device 'cuda': CUDA is not available on this machine")])


@pytest.mark.parametrize("name, item, extra, expected", WORLD_ERRORS, ids=[c[0] for c in WORLD_ERRORS])
def test_world_build_refuses_before_building(tmp_path, capsys, monkeypatch, name, item, extra, expected):
    monkeypatch.setattr(world_build, "_build_into", _no_build)
    (tmp_path / "plain").write_text("a file")
    argv = ["world", "build", "--quick", "--cache-dir", tmp_path / "cache"] + [
        a.format(tmp=tmp_path, key=quick_config().key()) for a in extra]
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "rmlab world build: error:" in err and re.search(expected, err), err
    assert listing(tmp_path) == ["plain"]


def _no_build(*args, **kwargs):
    raise AssertionError("validation should have refused before building")


def test_world_build_ctrl_c_exits_130_and_leaves_nothing(tmp_path, capsys, monkeypatch):   # item 7
    def interrupted(config, out, *, progress, device):
        (out / "base").mkdir()
        raise KeyboardInterrupt
    monkeypatch.setattr(world_build, "_build_into", interrupted)
    rc, _, err = run(capsys, "world", "build", "--quick", "--cache-dir", tmp_path)
    assert rc == 130 and "rmlab world build: interrupted; rerun the same command to build again" in err
    assert listing(tmp_path) == []


def test_build_world_refuses_an_unknown_device_before_building(tmp_path, monkeypatch):
    monkeypatch.setattr(world_build, "_build_into", _no_build)
    with pytest.raises(UserError, match="device 'tpu9' is not a torch device"):
        build_world(tiny_world_config(), cache_dir=tmp_path, device="tpu9")
    assert listing(tmp_path) == []


def test_world_damaged_entry_is_rebuilt_and_killed_builds_are_cleaned(tmp_path):       # item 5
    config = tiny_world_config()
    code = ("import sys; from test_bad_input import tiny_world_config; from rmlab.world import build_world; "
            "build_world(tiny_world_config(), cache_dir=sys.argv[1], progress=False)")
    process = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=Path(__file__).parent)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*.building-*")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)                                         # no finally clause runs
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGTERM and len(list(tmp_path.glob(".*.building-*"))) == 1
    running = tmp_path / f".{config.key()}.building-{os.getpid()}@{os.uname().nodename}-alive"
    running.mkdir()                                                             # a concurrent build: kept

    world = build_world(config, cache_dir=tmp_path, progress=False)
    assert not world.cache_hit and [p.name for p in tmp_path.glob(".*")] == [running.name]
    weights = world.path / "base" / "model.safetensors"
    weights.unlink()
    (world.path / "data" / "eval_prompts.jsonl").write_text("")
    with pytest.warns(UserWarning, match="is damaged \\(base/model.safetensors missing; data/eval_prompts.jsonl "
                                         "changed"):
        again = build_world(config, cache_dir=tmp_path, progress=False)
    assert not again.cache_hit and weights.exists() and world_build._validate_entry(again.path) == []
    assert build_world(config, cache_dir=tmp_path, progress=False).cache_hit


# ------------------------------------------------------------------------------------------ reproduce
@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "nb"
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(8)")]),
                   folder / "slow.ipynb")
    (folder / "broken.ipynb").write_text('{"cells": [')
    (tmp_path / "plain").write_text("a file")
    return folder


REPRODUCE_ERRORS = [
    ("timeout_zero", 10, ["--only", "slow", "--timeout", "0"], "--timeout must be an integer >= 1, got 0"),
    ("timeout_negative", 10, ["--only", "slow", "--timeout", "-5"], "--timeout must be an integer >= 1, got -5"),
    ("out_a_file", 7, ["--only", "slow", "--out", "{tmp}/plain"], "--out .* is a file, not a folder"),
    ("malformed_notebook", 7, ["--out", "{tmp}/figs"], "notebook .*broken.ipynb cannot be read"),
]


@pytest.mark.parametrize("name, item, extra, expected", REPRODUCE_ERRORS, ids=[c[0] for c in REPRODUCE_ERRORS])
def test_reproduce_refuses_before_running(notebooks, tmp_path, capsys, name, item, extra, expected):
    argv = ["reproduce", "--notebooks", notebooks, *[a.format(tmp=tmp_path) for a in extra]]
    if "--out" not in extra:
        argv += ["--out", tmp_path / "figs"]
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "rmlab reproduce: error:" in err and re.search(expected, err), err
    assert listing(tmp_path) == ["nb", "plain"]                                 # no figures folder made


def test_reproduce_timeout_is_reported_as_a_timeout(notebooks, tmp_path, capfd):          # item 10
    rc = main(["reproduce", "--notebooks", str(notebooks), "--only", "slow", "--timeout", "1",
               "--out", str(tmp_path / "figs")])
    err = capfd.readouterr().err                                                  # the kernel's stderr too
    assert rc == 1 and "notebook slow failed at code cell 1 of 1 (cell index 0): timed out after 1 s" in err
    assert "Traceback" not in err and "ZMQ" not in err


# -------------------------------------------------------------------------------------------- file modes
def test_outputs_are_created_with_the_process_umask(files, tmp_path, capsys):             # item 12
    """Every output is readable by others under umask 022 (rw-r--r--), as files made by any other tool.
    The files written through rmlab._io.atomic_write_* depend on issue 17's fix of that function."""
    old = os.umask(0o022)
    try:
        assert run(capsys, *report_argv(files, tmp_path))[0] == 0
        data = write_jsonl(tmp_path / "pairs.jsonl", random_pairs(3, seed=5))
        assert run(capsys, *ches_argv(files["policy"], data, tmp_path / "ches.jsonl"))[0] == 0
        world = build_world(tiny_world_config(), cache_dir=tmp_path / "cache", progress=False)
        from matplotlib.figure import Figure

        from rmlab.figures import FigureRecord
        record = FigureRecord("umask_probe", notebook="test", seed=0, quick=True)
        record.check("ok", 1.0, ">", 0)
        figure = record.save(Figure(), out_dir=tmp_path / "figs")
    finally:
        os.umask(old)
    outputs = [tmp_path / n for n in ("report.json", "report.rows.jsonl", "ches.jsonl", "ches.jsonl.meta.json")]
    outputs += sorted((world.path / "data").glob("*.jsonl")) + [world.path / "world.json"]
    outputs += sorted(Path(figure).parent.glob("umask_probe*"))
    modes = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in outputs}
    assert modes == {name: "0o644" for name in modes}
    folders = [world.path, world.path / "data", world.path / "base"]
    assert {str(f): oct(stat.S_IMODE(f.stat().st_mode)) for f in folders} == {str(f): "0o755" for f in folders}


def test_world_folder_follows_a_stricter_umask(tmp_path):                                  # item 12
    old = os.umask(0o027)
    try:
        world = build_world(tiny_world_config(), cache_dir=tmp_path, progress=False)
    finally:
        os.umask(old)
    assert oct(stat.S_IMODE(world.path.stat().st_mode)) == "0o750"
