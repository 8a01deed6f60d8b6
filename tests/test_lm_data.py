"""Preference and prompt loading (all formats, clear errors) and the tokenisation convention."""

import json

import datasets
import pandas as pd
import pytest

from rmlab.lm.data import encode_pairs, encode_prompt, encode_response, load_preferences, load_prompts
from tiny_models import PAIRS, build_tokenizer, write_jsonl

ROWS = [{"prompt": p, "chosen": c, "rejected": r, "score_chosen": 2.0, "score_rejected": 1.0} for p, c, r in PAIRS]


def _check(ds):
    assert isinstance(ds, datasets.Dataset)
    assert ds["prompt"] == [p for p, _, _ in PAIRS] and ds["rejected"] == [r for _, _, r in PAIRS]
    assert ds["score_chosen"] == [2.0] * len(PAIRS)          # extra columns kept


def test_all_sources_give_the_same_dataset(tmp_path):
    _check(load_preferences(write_jsonl(tmp_path / "p.jsonl", ROWS)))
    (tmp_path / "p.json").write_text(json.dumps(ROWS))
    _check(load_preferences(tmp_path / "p.json"))
    (tmp_path / "cols.json").write_text(json.dumps({k: [r[k] for r in ROWS] for k in ROWS[0]}))
    _check(load_preferences(tmp_path / "cols.json"))
    pd.DataFrame(ROWS).to_parquet(tmp_path / "p.parquet")
    _check(load_preferences(tmp_path / "p.parquet"))
    _check(load_preferences(datasets.Dataset.from_list(ROWS)))
    _check(load_preferences(datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)})))
    _check(load_preferences(ROWS))


def test_conversational_format_becomes_strings(tmp_path):
    rows = [{"prompt": [{"role": "user", "content": p}], "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}], "score_chosen": 2.0, "score_rejected": 1.0}
            for p, c, r in PAIRS]
    _check(load_preferences(write_jsonl(tmp_path / "conv.jsonl", rows)))


def test_multi_turn_prompt_is_refused_not_dropped():
    row = {"prompt": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}],
           "chosen": "a", "rejected": "b"}
    with pytest.raises(ValueError, match="row 0, field 'prompt'.*roles \\['system', 'user'\\]"):
        load_preferences([row])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        load_preferences(tmp_path / "missing.jsonl")


def test_malformed_jsonl_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[1]) + "\n" + '{"prompt": "x", "cho\n')
    with pytest.raises(ValueError, match="bad.jsonl: line 3 is not valid JSON"):
        load_preferences(path)


@pytest.mark.parametrize("field", ["prompt", "chosen", "rejected"])
def test_missing_and_empty_fields_are_named(tmp_path, field):
    missing = [dict(ROWS[0]), {k: v for k, v in ROWS[1].items() if k != field}]
    with pytest.raises(ValueError, match=f"line 2: missing field\\(s\\) \\['{field}'\\]"):
        load_preferences(write_jsonl(tmp_path / "missing.jsonl", missing))
    empty = [dict(ROWS[0]), {**ROWS[1], field: "  "}]
    with pytest.raises(ValueError, match=f"line 2: field '{field}' is empty"):
        load_preferences(write_jsonl(tmp_path / "empty.jsonl", empty))


def test_unsupported_file_type(tmp_path):
    (tmp_path / "p.csv").write_text("prompt,chosen,rejected\n")
    with pytest.raises(ValueError, match="p.csv"):
        load_preferences(tmp_path / "p.csv")


def test_load_prompts_formats_and_errors(tmp_path):
    prompts = [p for p, _, _ in PAIRS]
    (tmp_path / "p.txt").write_text("\n".join(prompts) + "\n\n")
    (tmp_path / "p.json").write_text(json.dumps(prompts))
    assert load_prompts(tmp_path / "p.txt") == prompts
    assert load_prompts(tmp_path / "p.json") == prompts
    assert load_prompts(write_jsonl(tmp_path / "p.jsonl", [{"prompt": p} for p in prompts])) == prompts
    write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "a"}, {"text": "b"}])
    with pytest.raises(ValueError, match="bad.jsonl: line 2: missing or empty prompt"):
        load_prompts(tmp_path / "bad.jsonl")
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        load_prompts(tmp_path / "nothere.txt")


def test_tokenisation_convention():
    tok = build_tokenizer("bos")
    assert encode_prompt(tok, "the cat")[0] == tok.bos_token_id                     # tokenizer adds BOS
    response = encode_response(tok, "the cat")
    assert response[-1] == tok.eos_token_id and tok.bos_token_id not in response    # no specials + EOS
    chat = build_tokenizer("chat")
    ids = encode_prompt(chat, "the cat", chat_template=True)
    assert chat.decode(ids) == "<user> the cat <assistant>"
    with pytest.raises(ValueError, match="no chat template"):
        encode_prompt(tok, "the cat", chat_template=True)


def test_encode_pairs_length_checks_and_truncation():
    tok = build_tokenizer("pad")
    prompt, response = "the cat sat on the mat", "a dog ran " * 10
    n_prompt, n_response = len(encode_prompt(tok, prompt)), len(encode_response(tok, response))
    with pytest.raises(ValueError, match="pair 1: prompt \\+ response \\+ EOS is .* context of 20"):
        encode_pairs(tok, ["the", prompt], ["cat", response], context=20)
    with pytest.raises(ValueError, match="pair 0: the prompt alone"):
        encode_pairs(tok, [prompt], ["a"], context=n_prompt - 1)
    [(p, r)] = encode_pairs(tok, [prompt], [response], max_length=n_prompt + 3)
    assert len(p) == n_prompt and len(r) == 3 < n_response
    with pytest.raises(ValueError, match="not less than max_length"):
        encode_pairs(tok, [prompt], [response], max_length=n_prompt)
    [(_, r)] = encode_pairs(tok, [prompt], [""])
    assert r == [tok.eos_token_id]                                                    # empty sample = EOS only
