"""CHES on tiny HF models: against direct recomputations from output_hidden_states (both official conventions),
padding-invariance, the shared-prompt cache path (and its fallback), CHES(y, y) = 0, the LN-CHES filter, and the
resumable ``rmlab ches`` CLI."""

import json
import re
import warnings

import datasets
import numpy as np
import pytest
import torch
import transformers
from packaging.version import Version

import rmlab.lm.cli_ches as cli_ches
from rmlab.cli import main
from rmlab.lm.ches import CHES_COLUMNS, ches_scores, filter_by_ln_ches, shares_prompt_cache
from rmlab.lm.load import load_causal_lm
from rmlab.lm.batching import cache_keyword
from rmlab.lm.rows import ResumableRows
from rmlab.measure.ches import normalized_edit_distance
from tiny_models import (ARCHITECTURES, PAIRS, _config, build_tokenizer, random_pairs, tiny,  # noqa: F401  (tiny)
                         write_jsonl)

PREFS = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PAIRS]


def _hidden(model, ids):
    return model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0].double()   # [T, d]


def _official_per_example(model, tok, prompt, response):
    """Per-example script convention: text WITHOUT EOS, keep hidden[len(query) - 1:] (the last column too)."""
    prompt_ids = tok(prompt)["input_ids"]
    return _hidden(model, prompt_ids + tok(response, add_special_tokens=False)["input_ids"])[len(prompt_ids) - 1:]


def _official_ches_py(model, tok, prompt, response):
    """ches.py convention: sequence WITH EOS, zero before the last prompt token, drop the final column."""
    prompt_ids = tok(prompt)["input_ids"]
    ids = prompt_ids + tok(response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return _hidden(model, ids)[len(prompt_ids) - 1:-1]


def _ches(h_pos, h_neg):
    s_pos, s_neg = h_pos.sum(0), h_neg.sum(0)
    n_pos, n_neg = len(h_pos), len(h_neg)
    return ((s_pos @ s_neg - s_pos @ s_pos).item(),
            (s_pos @ s_neg / (n_pos * n_neg) - s_pos @ s_pos / n_pos ** 2).item(), (h_pos[-1] @ h_neg[-1]).item())


@pytest.fixture(scope="module")
def float64_models(tiny):
    return {arch: load_causal_lm(tiny.causal_lm(arch, tokenizer="bos"), dtype="float64") for arch in ARCHITECTURES}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_ches_matches_both_official_conventions_on_single_unpadded_pairs(float64_models, arch):
    model, tok = float64_models[arch]
    scores = ches_scores(model, tok, PREFS, batch_size=1, progress=False)
    assert list(scores.columns) == list(CHES_COLUMNS) and scores["index"].tolist() == list(range(len(PREFS)))
    for convention in (_official_per_example, _official_ches_py):
        expected = np.array([_ches(convention(model, tok, p["prompt"], p["chosen"]),
                                   convention(model, tok, p["prompt"], p["rejected"])) for p in PREFS])
        np.testing.assert_allclose(scores["ches"], expected[:, 0], rtol=1e-10)
        np.testing.assert_allclose(scores["ln_ches"], expected[:, 1], rtol=1e-10)
        np.testing.assert_allclose(scores["last_hidden_inner_product"], expected[:, 2], rtol=1e-10)
    edit = [normalized_edit_distance(tok(p["chosen"], add_special_tokens=False)["input_ids"],
                                     tok(p["rejected"], add_special_tokens=False)["input_ids"]) for p in PREFS]
    np.testing.assert_allclose(scores["edit_distance"], edit)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_left_and_right_padding_give_identical_scores(float64_models, arch):
    model, tok = float64_models[arch]
    prefs = random_pairs(12, seed=1)
    single = ches_scores(model, tok, prefs, batch_size=1, progress=False)
    for side in ("left", "right"):
        batched = ches_scores(model, tok, prefs, batch_size=5, padding_side=side, progress=False)
        for column in ("ches", "ln_ches", "last_hidden_inner_product"):
            np.testing.assert_allclose(batched[column], single[column], rtol=1e-10, atol=1e-10)


def _expected_truncated(model, tok, prefs, max_length):
    """[n, 3] CHES, LN-CHES, last-hidden inner product, per pair unpadded, responses cut so the pair fits."""
    out = []
    for p in prefs:
        n_keep = max_length - len(tok(p["prompt"])["input_ids"])       # response tokens kept (EOS included)
        h_pos, h_neg = (_official_ches_py(model, tok, p["prompt"], p[k])[:n_keep] for k in ("chosen", "rejected"))
        out.append(_ches(h_pos, h_neg))
    return np.array(out)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_shared_prompt_cache_with_prompts_of_very_different_lengths(float64_models, arch):
    model, tok = float64_models[arch]
    assert shares_prompt_cache(model)                      # the cache path is the one under test
    prefs = random_pairs(6, seed=4)
    prefs[0]["prompt"] = "today"                            # 2 tokens with <bos> ...
    prefs[1]["prompt"] = " ".join(["the cat sat on the mat"] * 6)   # ... next to ~37
    # max_length leaves the longest prompt a single response token (nothing fed after the prompt in its rows)
    max_length = max(len(tok(p["prompt"])["input_ids"]) for p in prefs) + 1
    expected = _expected_truncated(model, tok, prefs, max_length)
    for side in ("left", "right"):
        for batch_size in (1, 6):
            scores = ches_scores(model, tok, prefs, batch_size=batch_size, padding_side=side, max_length=max_length,
                                 progress=False)
            for j, column in enumerate(("ches", "ln_ches", "last_hidden_inner_product")):
                np.testing.assert_allclose(scores[column], expected[:, j], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_the_cache_is_passed_under_the_name_this_transformers_does_not_deprecate(float64_models, arch):
    backbone = float64_models[arch][0].base_model
    keyword = cache_keyword(backbone)
    assert keyword == ("cache" if Version(transformers.__version__) >= Version("5.24") else "past_key_values")
    probe = torch.zeros(1, 1, dtype=torch.long)
    cache = getattr(backbone(input_ids=probe, use_cache=True), keyword)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backbone(input_ids=probe, use_cache=True, **{keyword: cache})
    if keyword == "cache":   # the suite's filters make the deprecated name an error, as for any call of ours
        with pytest.raises(FutureWarning, match="past_key_values"):
            backbone(input_ids=probe, use_cache=True, past_key_values=cache)


def test_sliding_window_backbones_fall_back_to_full_sequences():
    tok = build_tokenizer("bos")
    torch.manual_seed(0)
    config = _config("qwen2", len(tok), hidden=32, layers=2, context=128, use_sliding_window=True, sliding_window=3,
                     max_window_layers=0)
    model = transformers.AutoModelForCausalLM.from_config(config).double().eval()
    assert not shares_prompt_cache(model)
    scores = ches_scores(model, tok, PREFS, batch_size=5, progress=False)
    expected = np.array([_ches(_official_ches_py(model, tok, p["prompt"], p["chosen"]),
                               _official_ches_py(model, tok, p["prompt"], p["rejected"])) for p in PREFS])
    np.testing.assert_allclose(scores["ches"], expected[:, 0], rtol=1e-10)
    np.testing.assert_allclose(scores["last_hidden_inner_product"], expected[:, 2], rtol=1e-10)


def test_ches_of_a_response_with_itself_is_zero(float64_models):
    model, tok = float64_models["gpt_neox"]
    prefs = [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["chosen"]} for p in PREFS]
    scores = ches_scores(model, tok, prefs, batch_size=3, progress=False)
    assert np.all(np.abs(scores["ches"]) <= 1e-9) and np.all(np.abs(scores["ln_ches"]) <= 1e-12)
    assert np.all(scores["edit_distance"] == 0.0)


def test_max_length_truncates_the_response(float64_models):
    model, tok = float64_models["llama"]
    prompt, chosen, rejected = PAIRS[1]
    n_prompt = len(tok(prompt)["input_ids"])
    scores = ches_scores(model, tok, [{"prompt": prompt, "chosen": chosen, "rejected": rejected}],
                         max_length=n_prompt + 2, progress=False)
    # 2 kept response tokens -> positions: last prompt token and the first response token
    h_pos = _official_per_example(model, tok, prompt, chosen)[:2]
    h_neg = _official_per_example(model, tok, prompt, rejected)[:2]
    assert scores["ches"][0] == pytest.approx(_ches(h_pos, h_neg)[0], rel=1e-10)


def test_filter_by_ln_ches_drops_the_most_similar_pairs():
    prefs = datasets.Dataset.from_list(PREFS)
    ln_ches = np.array([0.3, -1.0, 2.0, 0.0, 1.0])
    kept = filter_by_ln_ches(prefs, ln_ches, drop_fraction=0.4)           # drop floor(0.4 * 5) = 2 highest
    assert isinstance(kept, datasets.Dataset)
    assert kept["prompt"] == [PREFS[i]["prompt"] for i in (0, 1, 3)]       # original order kept
    assert len(filter_by_ln_ches(prefs, ln_ches, drop_fraction=0.0)) == 5
    assert len(filter_by_ln_ches([PREFS[0]] * 370, np.arange(370.0), 0.95)) == 19  # paper
    with pytest.raises(ValueError, match="one finite LN-CHES score per pair"):
        filter_by_ln_ches(prefs, ln_ches[:4], drop_fraction=0.4)
    with pytest.raises(ValueError, match="drop_fraction"):
        filter_by_ln_ches(prefs, ln_ches, drop_fraction=1.0)


# ------------------------------------------------------------------------------------------------------- CLI
def _cli(*argv):
    return main(["ches", *map(str, argv), "--quiet"])


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cli_end_to_end_and_resume_after_an_interruption(tiny, tmp_path, monkeypatch):
    model = tiny.causal_lm("gpt_neox")
    data = write_jsonl(tmp_path / "pairs.jsonl", random_pairs(40, seed=2))
    full = tmp_path / "full.jsonl"
    assert _cli("--model", model, "--data", data, "--out", full, "--batch-size", 2) == 0
    rows = _rows(full)
    assert [list(r) for r in rows] == [list(CHES_COLUMNS)] * 40 and [r["index"] for r in rows] == list(range(40))
    m, t = load_causal_lm(model)
    direct = ches_scores(m, t, data, batch_size=2, progress=False)
    np.testing.assert_allclose([r["ln_ches"] for r in rows], direct["ln_ches"], rtol=1e-12)

    original = cli_ches.iter_ches_rows
    computed = []

    def interrupted(*args, **kwargs):           # one window of 32 pairs, then the machine "dies"
        for chunk in original(*args, **kwargs):
            computed.extend(row["index"] for row in chunk)
            yield chunk
            raise KeyboardInterrupt
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(cli_ches, "iter_ches_rows", interrupted)
    assert _cli("--model", model, "--data", data, "--out", out, "--batch-size", 2) == 130   # Ctrl-C
    assert not out.exists()
    partial = tmp_path / "out.jsonl.partial"
    with open(partial, "a") as f:
        f.write('{"index": 32, "ches": 1.')                                   # a torn last line
    computed.clear()
    monkeypatch.setattr(cli_ches, "iter_ches_rows", _counting(original, computed))
    assert _cli("--model", model, "--data", data, "--out", out, "--batch-size", 2) == 0
    assert computed == list(range(32, 40))                                      # only the missing pairs
    assert _rows(out) == rows and not partial.exists()
    assert _cli("--model", model, "--data", data, "--out", out) == 0           # complete: nothing to do


def _counting(original, computed):
    def wrapped(*args, **kwargs):
        for chunk in original(*args, **kwargs):
            computed.extend(row["index"] for row in chunk)
            yield chunk
    return wrapped


def test_cli_refuses_to_resume_with_other_arguments(tiny, tmp_path, monkeypatch):
    model = tiny.causal_lm("gpt2")
    data = write_jsonl(tmp_path / "pairs.jsonl", random_pairs(3, seed=3))
    out = tmp_path / "out.jsonl"
    other = ResumableRows(tmp_path / "out.jsonl.partial", {"model": "something else"})
    other.load()
    other.append([{"kind": "pair", "index": 0}])           # a row of another measurement: never mixed, never lost
    assert _cli("--model", model, "--data", data, "--out", out) == 2
    (tmp_path / "out.jsonl.partial").write_text('{"kind": "pair", "index": 0}\n')   # rows of unknown provenance
    assert _cli("--model", model, "--data", data, "--out", out) == 2
    assert not out.exists()


@pytest.mark.parametrize("case", ["missing_file", "malformed_line", "empty_response", "no_weights", "too_long"])
def test_cli_bad_inputs_name_the_input_and_write_nothing(tiny, tmp_path, capsys, case):
    model = tiny.causal_lm("gpt2", context=24)
    data = write_jsonl(tmp_path / "pairs.jsonl", PREFS)
    expected = {"missing_file": "nothere.jsonl", "malformed_line": "line 2 is not valid JSON",
                "empty_response": "line 3: field 'rejected' is empty", "no_weights": "has no weights",
                "too_long": "pair \\(chosen\\) 1: .* context of 24"}[case]
    if case == "missing_file":
        data = tmp_path / "nothere.jsonl"
    elif case == "malformed_line":
        data.write_text(json.dumps(PREFS[0]) + "\n{oops\n")
    elif case == "empty_response":
        write_jsonl(data, PREFS[:2] + [{**PREFS[2], "rejected": ""}])
    elif case == "no_weights":
        model = tmp_path / "empty_model"
        model.mkdir()
        (model / "config.json").write_text("{}")
    elif case == "too_long":
        write_jsonl(data, [PREFS[0], {**PREFS[1], "chosen": "the cat sat on the mat " * 6}])
    out = tmp_path / "out.jsonl"
    assert _cli("--model", model, "--data", data, "--out", out) == 2
    assert re.search(expected, capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == []


@pytest.mark.parametrize("arch", ("gpt2", "llama"))
def test_thm6_signs_match_a_per_pair_recomputation(float64_models, arch):
    from rmlab.lm.ches import THM6_COLUMNS, thm6_signs

    model, tok = float64_models[arch]
    signs = thm6_signs(model, tok, PREFS, batch_size=2)
    assert list(signs.columns) == list(THM6_COLUMNS) and signs["index"].tolist() == list(range(len(PREFS)))
    for row, p in zip(signs.itertuples(), PREFS):
        prompt_ids = tok(p["prompt"])["input_ids"]
        states, probs, targets = [], [], []
        for response in (p["chosen"], p["rejected"]):
            ids = prompt_ids + tok(response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            out = model(torch.tensor([ids]), output_hidden_states=True)
            states.append(out.hidden_states[-1][0, len(prompt_ids) - 1:-1].double())
            probs.append(torch.softmax(out.logits[0, len(prompt_ids) - 1:-1].double(), -1))
            targets.append(ids[len(prompt_ids):])
        eye = torch.eye(probs[0].shape[-1], dtype=torch.float64)
        minus = torch.stack([torch.stack([(eye[a] - pa) @ (eye[b] - pb) for b, pb in zip(targets[1], probs[1])])
                             for a, pa in zip(targets[0], probs[0])])
        plus = torch.stack([torch.stack([(eye[a] - pa) @ (eye[b] - pb) for b, pb in zip(targets[0], probs[0])])
                            for a, pa in zip(targets[0], probs[0])])
        assert (row.n_plus, row.n_minus) == (len(targets[0]), len(targets[1]))
        assert row.alpha_minus_positive == pytest.approx(float((minus > 0).double().mean()))
        assert row.alpha_plus_positive == pytest.approx(float((plus > 0).double().mean()))
        assert row.alpha_positive == pytest.approx(float(torch.cat([minus.flatten(), plus.flatten()]).gt(0)
                                                         .double().mean()))
        assert row.inner_positive == pytest.approx(float((states[0] @ states[1].T > 0).double().mean()))
