"""rmlab.train.dpo and ``rmlab dpo`` on tiny models: step 0, reproducibility, tracking, top gainers, the CLI's files
and its refusals."""

import json
import math

import numpy as np
import pytest
import torch

from rmlab._threads import single_torch_thread
from rmlab.cli import main
from rmlab.lm.data import load_preferences
from rmlab.lm.load import load_causal_lm
from rmlab.lm.score import sequence_logprobs
from rmlab.train.dpo import DPOConfig, train_dpo
from tiny_models import PAIRS, random_pairs, tiny, write_jsonl  # noqa: F401  (tiny is a fixture)

PREFS = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS]
SINGLE = [{"prompt": "is this model kind ?", "chosen": "yes", "rejected": "a"},
          {"prompt": "the cat sat on", "chosen": "the", "rejected": "a"}]


def run(tiny, rows, tmp_path, config, name="prefs.jsonl"):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("gpt2", tokenizer="bos")))
    data = load_preferences(str(write_jsonl(tmp_path / name, rows)))
    with single_torch_thread():
        result = train_dpo(model, tokenizer, data, config, progress=False)
    return model, tokenizer, result


def test_first_step_is_ln2_tracking_starts_at_step_0_and_the_margin_rises(tiny, tmp_path):
    rows = random_pairs(24, seed=3)
    initial, tokenizer = load_causal_lm(str(tiny.causal_lm("gpt2", tokenizer="bos")))
    before = sequence_logprobs(initial, tokenizer, [r["prompt"] for r in rows], [r["chosen"] for r in rows])
    model, _, result = run(tiny, rows, tmp_path, DPOConfig(optimizer="adam", lr=3e-3, batch_size=8, epochs=6,
                                                           track=5, track_every=6))
    assert result.metrics[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)     # policy = reference at step 1
    assert abs(result.metrics[0]["margin"]) < 1e-6
    assert [m["step"] for m in result.metrics] == list(range(1, 19))
    assert np.mean([m["margin"] for m in result.metrics[-3:]]) > 0.5
    steps = sorted({t["step"] for t in result.tracking})
    assert steps == [0, 6, 12, 18] and len(result.tracking) == 4 * 5
    first = [t for t in result.tracking if t["step"] == 0]
    np.testing.assert_allclose([t["logp_chosen"] for t in first], before["logprob_sum"][:5], atol=1e-5)
    assert [t["n_tokens_chosen"] for t in first] == before["n_tokens"][:5].tolist()
    after = sequence_logprobs(model, tokenizer, [r["prompt"] for r in rows[:5]], [r["chosen"] for r in rows[:5]])
    np.testing.assert_allclose([t["logp_chosen"] for t in result.tracking if t["step"] == 18],
                               after["logprob_sum"], atol=1e-5)
    assert result.config["lr"] == 3e-3 and result.config["loss"] == "dpo"


def test_same_seed_gives_identical_metrics_and_weights(tiny, tmp_path):
    config = DPOConfig(loss="ipo", beta=0.5, sft_coef=0.1, optimizer="rmsprop", lr=1e-3, batch_size=2, steps=5)
    first, _, a = run(tiny, PREFS, tmp_path, config)
    second, _, b = run(tiny, PREFS, tmp_path, config)
    assert a.metrics == b.metrics and a.tracking == b.tracking
    assert all(torch.equal(x, y) for x, y in zip(first.state_dict().values(), second.state_dict().values()))
    _, _, other = run(tiny, PREFS, tmp_path, DPOConfig(**{**a.config, "seed": 1}))
    assert other.metrics != a.metrics


def test_single_token_pairs_record_where_the_probability_mass_goes(tiny, tmp_path):
    model, tokenizer, result = run(tiny, SINGLE, tmp_path, DPOConfig(optimizer="adam", lr=1e-2, batch_size=2,
                                                                      steps=4, top_k=3))
    start, end = ([t for t in result.tracking if t["step"] == s] for s in (0, 4))
    assert all(len(t["top_gainers"]["since_start"]) == 3 for t in start + end)
    assert all(g["gain"] == 0 for t in start for g in t["top_gainers"]["since_start"])
    for row in end:
        gains = [g["gain"] for g in row["top_gainers"]["since_start"]]
        assert gains == sorted(gains, reverse=True) and gains[0] > 0
        assert row["top_gainers"]["since_previous"] == row["top_gainers"]["since_start"]   # one record before
        token = row["top_gainers"]["since_start"][0]
        assert tokenizer.convert_ids_to_tokens(token["id"]) == token["token"] and 0 < token["prob"] <= 1
    for row in start + end:        # the answer tokens' next-token probabilities: ln pi(y|x) minus the EOS term
        assert 0 < row["top_gainers"]["prob_chosen"] and math.log(row["top_gainers"]["prob_chosen"]) > \
            row["logp_chosen"] and math.log(row["top_gainers"]["prob_rejected"]) > row["logp_rejected"]


def test_pairs_that_never_differ_are_refused(tiny, tmp_path):
    same = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["chosen"]} for r in PREFS]
    with pytest.raises(ValueError, match="chosen == rejected"):
        run(tiny, same, tmp_path, DPOConfig())


# ------------------------------------------------------------------------------------------------ command line
def _cli(tiny, tmp_path, *extra, data=None):
    data = data or write_jsonl(tmp_path / "prefs.jsonl", random_pairs(6, seed=1))
    return main(["dpo", "--model", str(tiny.causal_lm("gpt2", tokenizer="bos")), "--data", str(data), "--out",
                 str(tmp_path / "run"), "--optimizer", "adam", "--lr", "1e-3", "--batch-size", "3", "--steps", "4",
                 "--track-every", "2", "--quiet", *extra])


def test_cli_writes_the_model_metrics_tracking_and_config(tiny, tmp_path, capsys):
    assert _cli(tiny, tmp_path) == 0
    out = tmp_path / "run"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metrics.jsonl", "model", "tracking.jsonl"]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    assert {"step", "loss", "margin", "logp_chosen", "logp_rejected"} <= set(metrics[0])
    tracking = [json.loads(line) for line in (out / "tracking.jsonl").read_text().splitlines()]
    assert tracking[0]["step"] == 0 and [t["step"] for t in tracking[::6]] == [0, 2, 4]
    assert set(tracking[0]) == {"step", "index", "logp_chosen", "logp_rejected", "n_tokens_chosen",
                                "n_tokens_rejected"}
    config = json.loads((out / "config.json").read_text())
    assert config["dpo"]["steps"] == 4 and set(config["versions"]) == {"torch", "transformers"}
    model, _ = load_causal_lm(str(out / "model"))
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]          # no temporary folder left
    assert "4 steps" in capsys.readouterr().out


def test_cli_refuses_a_folder_that_holds_a_run_unless_overwrite(tiny, tmp_path, capsys):
    assert _cli(tiny, tmp_path) == 0
    before = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    assert _cli(tiny, tmp_path, "--seed", "1") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == before
    assert _cli(tiny, tmp_path, "--seed", "1", "--overwrite") == 0
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() != before


@pytest.mark.parametrize("case, words", [
    ("empty", "has no rows"), ("identical", "chosen == rejected"), ("lr", "--lr must be a finite number > 0"),
    ("batch", "--batch-size must be an integer >= 1"), ("rm", "--model"), ("missing", "does not exist")])
def test_cli_bad_input_names_it_and_writes_nothing(tiny, tmp_path, capsys, case, words):
    data = tmp_path / "prefs.jsonl"
    rows = random_pairs(4, seed=2)
    if case == "empty":
        data.write_text("")
    elif case == "identical":
        write_jsonl(data, [{**r, "rejected": r["chosen"]} for r in rows])
    else:
        write_jsonl(data, rows)
    extra = {"lr": ["--lr", "0"], "batch": ["--batch-size", "0"]}.get(case, [])
    if case == "rm":
        extra = ["--model", str(tiny.reward_model("gpt2", tokenizer="bos"))]
    if case == "missing":
        data = tmp_path / "nope.jsonl"
    assert _cli(tiny, tmp_path, *extra, data=data) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "run").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
