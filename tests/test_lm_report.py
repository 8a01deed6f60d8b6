"""The reward report on tiny offline models: same samples for every RM, metrics, CLI contract, resume, bad inputs.

The ``py:test_lm_report:...`` specs below import reward callables from this very module (pytest puts ``tests/`` on
``sys.path``)."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from rmlab.cli import main
from rmlab.lm.cli_report import default_rows_path
from rmlab.lm.report import METRICS, compare_policies, reward_report
from rmlab.lm.reward_spec import parse_reward_spec
from rmlab.lm.score import CallableReward, ExplicitRM, ImplicitRM
from rmlab.measure import variance as V
from tiny_models import PAIRS, tiny, write_jsonl  # noqa: F401  (tiny is a fixture)

PROMPTS = [p for p, _, _ in PAIRS] + ["the dog ran", "a robot wrote"]
K = 4
FAIL_AFTER_CALLS = None  # set by the interruption test: gold_score raises after this many calls


def gold_score(prompts, responses):
    """A deterministic 'gold' reward of the text: length plus a small character checksum (rarely tied)."""
    global FAIL_AFTER_CALLS
    if FAIL_AFTER_CALLS is not None:
        if FAIL_AFTER_CALLS <= 0:
            raise KeyboardInterrupt("simulated kill")
        FAIL_AFTER_CALLS -= 1
    return np.array([len(r) + (sum(map(ord, r)) % 97) / 100 for r in responses], dtype=np.float64)


def gold_times_three(prompts, responses):
    return 3.0 * gold_score(prompts, responses) - 1.0


def gold_exp(prompts, responses):
    return np.exp(gold_score(prompts, responses) / 10)


def noisy_length(prompts, responses):
    return np.array([len(r.split()) for r in responses], dtype=np.float64)


def returns_nan(prompts, responses):
    out = gold_score(prompts, responses)
    out[1] = np.nan
    return out


@pytest.fixture(scope="module")
def models(tiny):
    return {"policy": str(tiny.causal_lm("gpt2")), "policy2": str(tiny.causal_lm("gpt_neox")),
            "rm": str(tiny.reward_model("gpt2"))}


def _report(models, **kwargs):
    options = dict(k=K, gold="py:test_lm_report:gold_score", max_new_tokens=6, progress=False, n_bootstrap=200)
    options.update(kwargs)
    rms = {"rm": models["rm"], "x3": "py:test_lm_report:gold_times_three", "exp": "py:test_lm_report:gold_exp",
           "words": "py:test_lm_report:noisy_length"}
    return reward_report(models["policy"], rms, PROMPTS, **options)


# ------------------------------------------------------------------------------------------------- specs
def test_parse_reward_spec_forms(models):
    assert isinstance(parse_reward_spec(models["rm"]), ExplicitRM)
    assert isinstance(parse_reward_spec("py:test_lm_report:gold_score"), CallableReward)
    ref_free = parse_reward_spec(f"implicit:{models['policy']}:none:0.1")
    assert isinstance(ref_free, ImplicitRM) and ref_free.reference is None and ref_free.reduction == "sum"
    same = parse_reward_spec(f"implicit:{models['policy']}:{models['policy']}:0.5:mean")
    assert same.reduction == "mean"
    np.testing.assert_array_equal(same(PROMPTS[:2], ["the cat", "a dog"]), [0.0, 0.0])  # pi == pi_ref


@pytest.mark.parametrize("spec, why", [
    ("", "empty spec"),
    ("foo:bar", "unknown prefix"),
    ("py:test_lm_report", "expected py:MODULE:FUNCTION"),
    ("py:no_such_module_xyz:f", "cannot import module"),
    ("py:test_lm_report:no_such_function", "has no callable"),
    ("implicit:onlyone:none", "expected implicit:POLICY:REF:BETA"),
    ("implicit:P:none:abc", "is not a number"),
    ("implicit:P:none:0.1:max", "is not 'sum' or 'mean'"),
    ("./no/such/reward-model", "does not exist"),
])
def test_bad_reward_specs_say_what_is_accepted(spec, why):
    with pytest.raises(ValueError, match=why) as err:
        parse_reward_spec(spec)
    assert "Accepted forms" in str(err.value) and "py:MODULE:FUNCTION" in str(err.value)


# ------------------------------------------------------------------------------------------------ report
def test_report_scores_the_same_samples_with_every_rm(models):
    report = _report(models)
    assert report.n_prompts == len(PROMPTS) and report.n_samples == K
    assert list(report.summary.index) == ["rm", "x3", "exp", "words"]
    flat_p = [p for p in PROMPTS for _ in range(K)]
    flat_r = [r for group in report.responses for r in group]
    gold = gold_score(flat_p, flat_r).reshape(len(PROMPTS), K)
    np.testing.assert_array_equal(report.gold_rewards, gold)
    np.testing.assert_array_equal(report.rewards["x3"], 3 * gold - 1)
    np.testing.assert_allclose(report.rewards["rm"], ExplicitRM(models["rm"])(flat_p, flat_r).reshape(-1, K),
                               rtol=1e-5, atol=1e-6)
    s = report.summary
    # scaling by c scales variances by c^2 and leaves the whitened variance unchanged
    for metric in ("reward_variance", "within_prompt_variance", "between_prompt_variance", "total_variance"):
        assert s.loc["x3", metric] == pytest.approx(9 * report.gold_summary[metric], rel=1e-10)
    assert s.loc["x3", "whitened_reward_variance"] == pytest.approx(report.gold_summary["whitened_reward_variance"],
                                                                    rel=1e-10)
    # monotone transforms of the gold reward are perfectly accurate on-policy
    assert s.loc["x3", "on_policy_accuracy"] == 1.0 and s.loc["exp", "on_policy_accuracy"] == 1.0
    assert s.loc["rm", "on_policy_accuracy"] < 1.0
    # the decomposition identity and the metric values against direct recomputation
    for name, R in report.rewards.items():
        assert s.loc[name, "within_prompt_variance"] + s.loc[name, "between_prompt_variance"] == pytest.approx(
            s.loc[name, "total_variance"], rel=1e-12)
        assert s.loc[name, "whitened_reward_variance"] == pytest.approx(V.whitened_reward_variance(R), rel=1e-12)
        assert s.loc[name, "reward_variance"] == pytest.approx(np.var(R, axis=1, ddof=1).mean(), rel=1e-12)
        for metric in METRICS[:-1]:
            assert s.loc[name, f"{metric}_ci_low"] <= s.loc[name, f"{metric}_ci_high"]
    assert s["off_policy_accuracy"].isna().all()  # no preference data
    assert report.per_prompt.shape[0] == 4 * len(PROMPTS)
    assert isinstance(report.plot_variance_distribution(), Figure)
    assert isinstance(report.plot_accuracy_vs_variance(), Figure)


def test_report_input_errors_come_before_any_work(models, tmp_path):
    rows = tmp_path / "rows.jsonl"
    for kwargs, match in [(dict(k=1), r"k \(samples per prompt\) must be an integer >= 2"),
                          (dict(k=2.5), "must be an integer"), (dict(ties="none"), "ties must be one of")]:
        with pytest.raises(ValueError, match=match):
            reward_report(models["policy"], {"x": "py:test_lm_report:gold_score"}, PROMPTS,
                          **{"k": K, "rows_path": rows, **kwargs})
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        reward_report(models["policy"], {"x": "py:test_lm_report:gold_score"}, ["a dog", " "], k=K, rows_path=rows)
    assert not rows.exists()


def test_report_is_reproducible_and_seeded(models):
    a, b, c = _report(models, seed=3), _report(models, seed=3), _report(models, seed=4)
    assert a.responses == b.responses and a.responses != c.responses
    pd.testing.assert_frame_equal(a.summary, b.summary)


def test_off_policy_accuracy_gold_sources(models, tmp_path):
    rows = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS]
    with_scores = [dict(row, score_chosen=1.0, score_rejected=0.0 if i % 2 else 2.0) for i, row in enumerate(rows)]
    plain = _report(models, preferences=write_jsonl(tmp_path / "plain.jsonl", rows), gold=None)
    scored = _report(models, preferences=write_jsonl(tmp_path / "scored.jsonl", with_scores), gold=None)
    by_gold = _report(models, preferences=write_jsonl(tmp_path / "plain2.jsonl", rows))
    # "words" counts words: chosen beats rejected on PAIRS 0, 2, 3, 4 (chosen longer), loses on 1
    assert plain.summary.loc["words", "off_policy_accuracy"] == pytest.approx(4 / 5)
    # dataset scores flip pairs 0, 2, 4 (score_rejected = 2 > 1): words is right on pair 3 only
    assert scored.summary.loc["words", "off_policy_accuracy"] == pytest.approx(1 / 5)
    # with a gold reward, its scores decide; its monotone transforms are perfect
    assert by_gold.summary.loc["x3", "off_policy_accuracy"] == 1.0
    assert plain.summary["on_policy_accuracy"].isna().all() and plain.gold_summary is None
    assert by_gold.n_preference_pairs == len(PAIRS)


def test_compare_policies_side_by_side(models):
    table = compare_policies({"gpt2": models["policy"], "neox": models["policy2"]},
                             {"x3": "py:test_lm_report:gold_times_three"}, PROMPTS[:4], k=3,
                             gold="py:test_lm_report:gold_score", max_new_tokens=5, progress=False, n_bootstrap=50)
    assert list(table.index) == [("gpt2", "x3"), ("neox", "x3")]
    assert (table["on_policy_accuracy"] == 1.0).all()
    assert table.loc[("gpt2", "x3"), "reward_variance"] != table.loc[("neox", "x3"), "reward_variance"]


# ------------------------------------------------------------------------------------------------- CLI
def _cli(models, tmp_path, *extra, out="report.json", samples=K, rms=None):
    prompts = tmp_path / "prompts.jsonl"
    if not prompts.exists():
        write_jsonl(prompts, [{"prompt": p} for p in PROMPTS])
    rms = rms or [f"rm={models['rm']}", "x3=py:test_lm_report:gold_times_three"]
    argv = ["report", "--policy", models["policy"], "--prompts", str(prompts), "--samples", str(samples),
            "--out", str(tmp_path / out), "--max-new-tokens", "6", "--bootstrap", "100", "--quiet"]
    for rm in rms:
        argv += ["--rm", rm]
    return main(argv + list(extra))


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_report_contract(models, tmp_path, capsys):
    prefs = write_jsonl(tmp_path / "prefs.jsonl", [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS])
    assert _cli(models, tmp_path, "--gold", "py:test_lm_report:gold_score", "--preferences", str(prefs),
                "--seed", "1") == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_prompts"] == len(PROMPTS) and report["n_samples"] == K
    assert set(report["reward_models"]) == {"rm", "x3"}
    for entry in report["reward_models"].values():
        assert set(entry) == set(METRICS) | {"ci95"}
        assert set(entry["ci95"]) == set(METRICS)
        for lo, hi in entry["ci95"].values():
            assert lo <= hi
    assert report["reward_models"]["x3"]["on_policy_accuracy"] == 1.0
    rows = _rows(default_rows_path(tmp_path / "report.json"))
    assert default_rows_path(tmp_path / "report.json").name == "report.rows.jsonl"
    assert rows[0]["arguments"]["seed"] == 1
    prompt_rows = [r for r in rows[1:] if r["kind"] == "prompt"]
    assert [r["index"] for r in prompt_rows] == list(range(len(PROMPTS)))
    assert all(len(r["responses"]) == K and len(r["rewards"]["rm"]) == K for r in prompt_rows)
    assert sum(r["kind"] == "pair" for r in rows[1:]) == len(PAIRS)
    assert "whitened_reward_variance" in capsys.readouterr().out


def test_cli_accuracies_are_null_without_gold_or_preferences(models, tmp_path):
    assert _cli(models, tmp_path, "--per-prompt", str(tmp_path / "rows.jsonl")) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    for entry in report["reward_models"].values():
        assert entry["on_policy_accuracy"] is None and entry["off_policy_accuracy"] is None
        assert entry["ci95"]["on_policy_accuracy"] == [None, None]
        assert entry["whitened_reward_variance"] > 0
    assert (tmp_path / "rows.jsonl").exists() and not default_rows_path(tmp_path / "report.json").exists()


def test_cli_resumes_after_truncation_mid_line(models, tmp_path):
    gold = ("--gold", "py:test_lm_report:gold_score")
    assert _cli(models, tmp_path, *gold) == 0
    rows_path = default_rows_path(tmp_path / "report.json")
    full_rows, full_report = _rows(rows_path), json.loads((tmp_path / "report.json").read_text())
    lines = rows_path.read_text().splitlines(keepends=True)
    rows_path.write_text("".join(lines[:4]) + lines[4][: len(lines[4]) // 2])  # header + 3 rows + half a row
    (tmp_path / "report.json").unlink()
    assert _cli(models, tmp_path, *gold) == 0
    resumed = _rows(rows_path)
    assert [r.get("index") for r in resumed] == [r.get("index") for r in full_rows]  # no duplicate, none lost
    for a, b in zip(resumed[1:], full_rows[1:]):
        assert a["responses"] == b["responses"] and a["gold"] == b["gold"]
        assert a["rewards"]["x3"] == b["rewards"]["x3"]
        np.testing.assert_allclose(a["rewards"]["rm"], b["rewards"]["rm"], rtol=1e-5, atol=1e-6)
    again = json.loads((tmp_path / "report.json").read_text())
    assert again["reward_models"]["x3"] == full_report["reward_models"]["x3"]


def test_cli_resumes_after_a_kill(models, tmp_path):
    global FAIL_AFTER_CALLS
    gold = ("--gold", "py:test_lm_report:gold_score", "--batch-size", "4")  # 4 prompts per chunk at K=4
    assert _cli(models, tmp_path, *gold, out="full.json") == 0
    full_rows = _rows(default_rows_path(tmp_path / "full.json"))
    FAIL_AFTER_CALLS = 2  # x3 and gold both call gold_score: the second chunk is "killed"
    try:
        assert _cli(models, tmp_path, *gold, out="killed.json") == 130   # Ctrl-C: exit 130, resumable
    finally:
        FAIL_AFTER_CALLS = None
    rows_path = default_rows_path(tmp_path / "killed.json")
    assert not (tmp_path / "killed.json").exists()
    assert len(_rows(rows_path)) in range(2, len(full_rows))  # interrupted part-way: some rows, not all
    assert _cli(models, tmp_path, *gold, out="killed.json") == 0
    resumed = _rows(rows_path)
    assert [r.get("index") for r in resumed] == [r.get("index") for r in full_rows]
    for a, b in zip(resumed[1:], full_rows[1:]):
        assert a["responses"] == b["responses"] and a["rewards"]["x3"] == b["rewards"]["x3"]
    # the rows of a different measurement are refused, and nothing is written
    assert _cli(models, tmp_path, *gold, "--seed", "5", out="killed.json") == 2
    assert _rows(rows_path) == resumed


@pytest.mark.parametrize("case", ["k1", "nan", "bad_spec", "missing_prompts", "foreign_rows", "too_long"])
def test_cli_bad_inputs_fail_clearly_without_report(models, tmp_path, capsys, case):
    out = tmp_path / "report.json"
    if case == "k1":
        rc, expected = _cli(models, tmp_path, samples=1), "--samples must be >= 2"
    elif case == "nan":
        rc = _cli(models, tmp_path, rms=["bad=py:test_lm_report:returns_nan"])
        expected = "reward model 'bad'.*NaN"
    elif case == "bad_spec":
        rc, expected = _cli(models, tmp_path, rms=["x=implicit:nothing"]), "Accepted forms"
    elif case == "missing_prompts":
        rc = main(["report", "--policy", models["policy"], "--rm", "x=py:test_lm_report:gold_score", "--prompts",
                   str(tmp_path / "nope.jsonl"), "--samples", "4", "--out", str(out)])
        expected = "nope.jsonl.*does not exist"
    elif case == "foreign_rows":
        (tmp_path / "report.rows.jsonl").write_text('{"not": "a header"}\n')
        rc, expected = _cli(models, tmp_path), "not an rmlab rows file"
    else:  # the last prompt does not leave room for 6 new tokens in the tiny policy's context
        write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": p} for p in PROMPTS] + [{"prompt": "the cat " * 200}])
        rc, expected = _cli(models, tmp_path), f"prompt {len(PROMPTS)}: .* exceed the policy's context of"
    assert rc == 2
    err = capsys.readouterr().err
    assert "rmlab report: error:" in err
    assert re.search(expected, err, flags=re.S), err
    assert not out.exists()
    if case in ("k1", "bad_spec", "missing_prompts", "too_long"):
        assert not default_rows_path(out).exists()  # validated before anything is written


# ------------------------------------------------------------------------------------------------- rows
def test_resumable_rows_rules(tmp_path):
    from rmlab.lm.rows import ResumableRows

    path = tmp_path / "rows.jsonl"
    store = ResumableRows(path, {"k": 4, "seed": 0})
    assert store.load() == {}
    store.append([{"kind": "prompt", "index": i, "x": i / 3} for i in range(3)])
    with open(path, "a") as f:
        f.write('{"kind": "prompt", "ind')  # killed mid-line
    rows = ResumableRows(path, {"k": 4, "seed": 0}).load()
    assert sorted(rows) == [("prompt", 0), ("prompt", 1), ("prompt", 2)] and rows[("prompt", 1)]["x"] == 1 / 3
    assert path.read_text().endswith("}\n")  # the partial tail is gone before anything is appended
    with pytest.raises(ValueError, match=r"different arguments \(differing: seed\)"):
        ResumableRows(path, {"k": 4, "seed": 1}).load()
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1] + lines[1])
    with pytest.raises(ValueError, match="line 3 repeats row"):
        ResumableRows(path, {"k": 4, "seed": 0}).load()
    path.write_text(lines[0] + "not json\n" + lines[2])
    with pytest.raises(ValueError, match="line 2 is not a valid row"):
        ResumableRows(path, {"k": 4, "seed": 0}).load()


# ------------------------------------------------------------------------------------------------- config
def test_a_report_config_and_keyword_settings_give_the_same_report_and_the_config_is_recorded(models):
    from rmlab.lm.report import ReportConfig
    rms = {"words": "py:test_lm_report:noisy_length"}
    config = ReportConfig(k=K, max_new_tokens=6, n_bootstrap=50, seed=3)
    by_config = reward_report(models["policy"], rms, PROMPTS, config, progress=False)
    by_settings = reward_report(models["policy"], rms, PROMPTS, k=K, max_new_tokens=6, n_bootstrap=50, seed=3,
                                progress=False)
    assert by_config.to_dict() == by_settings.to_dict()
    assert by_config.to_dict()["config"] == {**config.__dict__}
    overridden = reward_report(models["policy"], rms, PROMPTS, config, seed=4, progress=False)
    assert overridden.config["seed"] == 4 and config.seed == 3
    with pytest.raises(ValueError, match=r"unknown report setting\(s\) \['samples'\]"):
        reward_report(models["policy"], rms, PROMPTS, config, samples=4)
    with pytest.raises(ValueError, match="k .* is required"):
        reward_report(models["policy"], rms, PROMPTS)
