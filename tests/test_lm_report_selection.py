"""``rmlab report`` outputs of the teacher experiments: the teacher score per RM and prompt selection by reward
variance (``--select-prompts``)."""

import json

import numpy as np
import pytest

from rmlab.lm.data import load_prompts
from rmlab.measure.teacher import teacher_score
from rmlab.measure.variance import per_prompt_variance
from test_lm_report import PROMPTS, _cli, models  # noqa: F401  (models is a fixture)
from tiny_models import tiny  # noqa: F401  (tiny is a fixture)


def test_report_has_the_teacher_score_with_gold_and_null_without(models, tmp_path):
    assert _cli(models, tmp_path, "--gold", "py:test_lm_report:gold_score", "--per-prompt",
                str(tmp_path / "rows.jsonl")) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    prompt_rows = [r for r in rows if r.get("kind") == "prompt"]
    gold = np.array([r["gold"] for r in prompt_rows])
    for name, entry in report["reward_models"].items():
        rewards = np.array([r["rewards"][name] for r in prompt_rows])
        assert entry["teacher_score"] == pytest.approx(float(teacher_score(rewards, gold)))
        lo, hi = entry["ci95"]["teacher_score"]
        assert lo <= entry["teacher_score"] <= hi or lo == hi
    assert report["reward_models"]["x3"]["teacher_score"] > 0          # 3 x gold: it teaches the gold reward
    assert _cli(models, tmp_path, out="plain.json") == 0
    plain = json.loads((tmp_path / "plain.json").read_text())
    assert all(entry["teacher_score"] is None for entry in plain["reward_models"].values())


def test_select_prompts_writes_the_highest_variance_prompts_of_the_chosen_rm(models, tmp_path):
    assert _cli(models, tmp_path, "--select-prompts", "3", "--select-by", "x3", "--per-prompt",
                str(tmp_path / "rows.jsonl")) == 0
    selected = [json.loads(line) for line in (tmp_path / "report.selected.jsonl").read_text().splitlines()]
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    variance = per_prompt_variance(np.array([r["rewards"]["x3"] for r in rows if r.get("kind") == "prompt"]))
    assert [s["rank"] for s in selected] == [1, 2, 3]
    assert [s["index"] for s in selected] == np.argsort(-variance, kind="stable")[:3].tolist()
    assert all(s["prompt"] == PROMPTS[s["index"]] for s in selected)
    assert [s["reward_variance"] for s in selected] == pytest.approx(sorted(variance, reverse=True)[:3])
    assert load_prompts(tmp_path / "report.selected.jsonl") == [s["prompt"] for s in selected]   # a prompt file


@pytest.mark.parametrize("extra, words", [
    (["--select-prompts", "0"], "--select-prompts"),
    (["--select-prompts", "99"], "exceeds the"),
    (["--select-prompts", "2", "--select-by", "nope"], "--select-by 'nope' names no --rm"),
    (["--select-by", "rm"], "need --select-prompts"),
])
def test_selection_mistakes_are_one_line_errors(models, tmp_path, capsys, extra, words):
    assert _cli(models, tmp_path, *extra) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "report.selected.jsonl").exists()
