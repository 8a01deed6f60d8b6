"""Preference data, prompt lists, and rmlab's one tokenisation convention for (prompt, response) pairs.

Tokenisation convention (used by scoring, CHES and the reward models alike):

* prompt ids   = ``tokenizer(prompt)["input_ids"]`` with the special tokens the tokenizer adds itself (e.g. a BOS);
  with ``chat_template=True``: ``apply_chat_template([{"role": "user", "content": prompt}],
  add_generation_prompt=True)`` rendered to text, then tokenised with ``add_special_tokens=False`` (the template
  already contains them).
* response ids = ``tokenizer(response, add_special_tokens=False)["input_ids"]`` followed by ``eos_token_id``.

The sequence the model sees is prompt ids + response ids. A prompt that tokenises to nothing or a pair longer than the
model's context raises ``ValueError`` naming the pair (a ``max_length`` truncates the response instead, dropping its
EOS when it does not fit). An empty response is just the EOS (a sampled response can be empty); preference *data*
with an empty field is rejected by ``load_preferences``.

Preference formats (TRL's): *standard* -- ``prompt``, ``chosen``, ``rejected`` strings; *conversational* --
``prompt`` a list holding one user message and ``chosen``/``rejected`` a list holding one assistant message
(multi-turn prompts and system messages raise rather than being silently dropped). Both are returned as
strings; other columns (e.g. ``score_chosen``) are kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets

from rmlab.errors import UserError, check_input_file

PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")


# ----------------------------------------------------------------------------------------------- tokenisation
def encode_prompts(tokenizer, prompts, *, chat_template: bool = False) -> list[list[int]]:
    """Token ids of each prompt under the convention of the module docstring (one batched tokenizer call)."""
    prompts = list(prompts)
    if chat_template:
        if not getattr(tokenizer, "chat_template", None):
            raise UserError("chat_template=True but the tokenizer has no chat template")
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                               tokenize=False) for p in prompts]
        return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
    return [list(ids) for ids in tokenizer(prompts)["input_ids"]] if prompts else []


def encode_prompt(tokenizer, prompt: str, *, chat_template: bool = False) -> list[int]:
    """Token ids of one prompt (see ``encode_prompts``)."""
    return encode_prompts(tokenizer, [prompt], chat_template=chat_template)[0]


def encode_responses(tokenizer, responses) -> list[list[int]]:
    """Token ids of each response (no special tokens added) followed by the EOS id."""
    if tokenizer.eos_token_id is None:
        raise UserError("the tokenizer has no EOS token; rmlab appends EOS to every response")
    responses = list(responses)
    encoded = tokenizer(responses, add_special_tokens=False)["input_ids"] if responses else []
    return [list(ids) + [tokenizer.eos_token_id] for ids in encoded]


def encode_response(tokenizer, response: str) -> list[int]:
    """Token ids of one response followed by the EOS id (see ``encode_responses``)."""
    return encode_responses(tokenizer, [response])[0]


def encode_pairs(tokenizer, prompts, responses, *, chat_template=False, max_length=None, context=None,
                 what="pair", too_long_hint="pass a max_length to truncate responses"
                 ) -> list[tuple[list[int], list[int]]]:
    """Encode each (prompt, response) as ``(prompt_ids, response_ids)``; validate emptiness and length first.

    ``context``: the model's maximum sequence length (longer pairs raise); ``max_length``: truncate the response so
    that the pair fits (must leave at least one response token). Errors name ``what`` and its index.
    """
    prompts, responses = list(prompts), list(responses)
    if len(prompts) != len(responses):
        raise UserError(f"{len(prompts)} prompts but {len(responses)} responses")
    for i, response in enumerate(responses):
        if not isinstance(response, str):
            raise UserError(f"{what} {i}: the response is not a string: {response!r:.80}")
    unique_prompts = list(dict.fromkeys(prompts))
    prompt_cache = dict(zip(unique_prompts, encode_prompts(tokenizer, unique_prompts, chat_template=chat_template)))
    pairs = []
    for i, (prompt, response_ids) in enumerate(zip(prompts, encode_responses(tokenizer, responses))):
        prompt_ids = prompt_cache[prompt]
        if not prompt_ids:
            raise UserError(f"{what} {i}: the prompt {prompt!r} tokenises to no tokens (nothing predicts the "
                             "first response token); add a BOS token or a non-empty prompt")
        if max_length is not None:
            if len(prompt_ids) >= max_length:
                raise UserError(f"{what} {i}: the prompt has {len(prompt_ids)} tokens, not less than "
                                 f"max_length={max_length}")
            response_ids = response_ids[:max_length - len(prompt_ids)]
        total = len(prompt_ids) + len(response_ids)
        if context is not None and total > context:
            where = "the prompt alone" if len(prompt_ids) >= context else "prompt + response + EOS"
            raise UserError(f"{what} {i}: {where} is {total} tokens, longer than the model's context of {context} "
                             f"tokens ({too_long_hint})")
        pairs.append((prompt_ids, response_ids))
    return pairs


# ---------------------------------------------------------------------------------------------- preferences
def _as_text(value, *, role: str, where: str) -> str:
    """A string, or a conversational value reduced to the single message's content."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
        roles = [m.get("role") for m in value]
        if roles != [role]:
            raise UserError(f"{where}: conversational value with roles {roles}; rmlab supports a single "
                             f"{role!r} message here (multi-turn and system messages are not supported)")
        return value[0]["content"]
    raise UserError(f"{where}: expected a string or a list of messages, got {type(value).__name__}: {value!r:.80}")


def _normalise_row(row: dict, *, where: str) -> dict:
    missing = [f for f in PREFERENCE_FIELDS if f not in row or row[f] is None]
    if missing:
        raise UserError(f"{where}: missing field(s) {missing} (expected {list(PREFERENCE_FIELDS)})")
    out = dict(row)
    for field, role in zip(PREFERENCE_FIELDS, ("user", "assistant", "assistant")):
        out[field] = _as_text(row[field], role=role, where=f"{where}, field {field!r}")
        if not out[field].strip():
            raise UserError(f"{where}: field {field!r} is empty")
    return out


def _read_jsonl(path: Path) -> list[tuple[dict, str]]:
    rows = []
    try:
        with open(path, encoding="utf-8-sig") as f:  # a BOM (some Windows editors write one) is not part of the data
            for line_no, line in enumerate(f, start=1):
                if line.strip():
                    rows.append((_json_object(line, path, line_no), f"{path}: line {line_no}"))
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text ({err.reason})") from None
    return rows


def _json_object(line: str, path: Path, line_no: int) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: line {line_no} is not valid JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise UserError(f"{path}: line {line_no} is not a JSON object")
    return row


def _load_json(path: Path):
    """The parsed content of a JSON file (a UTF-8 BOM is allowed); invalid JSON is an error naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def _read_json(path: Path) -> list[tuple[dict, str]]:
    data = _load_json(path)
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):  # column-oriented
        lengths = {len(v) for v in data.values()}
        if len(lengths) > 1:
            raise UserError(f"{path}: columns have different lengths {sorted(lengths)}")
        data = [dict(zip(data, values)) for values in zip(*data.values())]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UserError(f"{path}: expected a JSON list of objects (or an object of equal-length columns)")
    return [(row, f"{path}: record {i}") for i, row in enumerate(data)]


def _read_rows(source, split: str) -> list[tuple[dict, str]]:
    if isinstance(source, datasets.DatasetDict):
        if split not in source:
            raise UserError(f"split {split!r} not in the DatasetDict (has {list(source)})")
        source = source[split]
    if isinstance(source, datasets.Dataset):
        return [(row, f"dataset row {i}") for i, row in enumerate(source)]
    if isinstance(source, list):
        return [(row, f"row {i}") for i, row in enumerate(source)]
    path = Path(os.fspath(source)).expanduser()
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".parquet"):
        check_input_file(path, "preference file")
        if suffix == ".jsonl":
            return _read_jsonl(path)
        if suffix == ".json":
            return _read_json(path)
        import pandas as pd
        frame = pd.read_parquet(path)
        return [(row, f"{path}: row {i}") for i, row in enumerate(frame.to_dict("records"))]
    text = str(source)
    if path.exists() or path.is_absolute() or text.startswith((".", "~")) or text.count("/") > 1:
        raise UserError(f"preference source {text!r}: not a .jsonl, .json or .parquet file (nor a hub id)")
    try:
        dataset = datasets.load_dataset(str(source), split=split)
    except Exception as err:  # offline, unknown id, no such split: whatever the hub client raises
        raise UserError(f"preference source {text!r}: could not load it as a hub dataset "
                        f"({type(err).__name__}: {err})") from err
    return [(row, f"{source}[{split}] row {i}") for i, row in enumerate(dataset)]


def load_preferences(source, *, split: str = "train") -> datasets.Dataset:
    """Load preference pairs as a ``datasets.Dataset`` with string columns ``prompt``, ``chosen``, ``rejected``.

    ``source``: a local ``.jsonl`` / ``.json`` / ``.parquet`` file, a ``datasets.Dataset`` (or ``DatasetDict``
    with ``split``), a list of dicts, or a hub dataset id. Every row is validated before anything is returned;
    errors name the file and the line (JSONL) or record.

    >>> load_preferences([{"prompt": "2+2?", "chosen": "4", "rejected": "5"}])[0]["chosen"]
    '4'
    """
    rows = _read_rows(source, split)
    if not rows:
        raise UserError(f"preference source {source!r:.100} has no rows")
    normalised = [_normalise_row(row, where=where) for row, where in rows]
    columns = list(PREFERENCE_FIELDS) + [c for c in normalised[0] if c not in PREFERENCE_FIELDS]
    return datasets.Dataset.from_dict({c: [row.get(c) for row in normalised] for c in columns})


def load_prompts(path) -> list[str]:
    """Prompts from a ``.jsonl`` (field ``prompt``), a ``.json`` list (of strings or of objects with ``prompt``),
    or a ``.txt`` file (one prompt per non-blank line). Errors name the file and the line."""
    path = Path(os.fspath(path)).expanduser()
    check_input_file(path, "prompts file")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        prompts = [(line.rstrip("\n"), f"{path}: line {i}")
                   for i, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1) if line.strip()]
    elif suffix == ".jsonl":
        prompts = [(row.get("prompt"), where) for row, where in _read_jsonl(path)]
    elif suffix == ".json":
        data = _load_json(path)
        if not isinstance(data, list):
            raise UserError(f"{path}: expected a JSON list of prompts")
        prompts = [(item.get("prompt") if isinstance(item, dict) else item, f"{path}: record {i}")
                   for i, item in enumerate(data)]
    else:
        raise UserError(f"prompts file {str(path)!r}: unsupported type (use .jsonl, .json or .txt)")
    for prompt, where in prompts:
        if not isinstance(prompt, str) or not prompt.strip():
            raise UserError(f"{where}: missing or empty prompt")
    if not prompts:
        raise UserError(f"prompts file {str(path)!r} has no prompts")
    return [prompt for prompt, _ in prompts]


def joined_tokenisation_differs(tokenizer, prompts, responses, *, chat_template: bool = False) -> list[bool]:
    """Per pair: whether tokenising the joined text (prompt text + response, as the official 2410.08847 code does)
    gives other ids than rmlab's separate tokenisation (prompt ids + response ids, EOS not counted).

    With a BPE tokenizer a merge across the boundary (``"Fr" + "ance"`` -> ``"France"``) makes them differ; with a
    chat template the prompt ends in a special token and a newline, where merges rarely reach.

    >>> from transformers import AutoTokenizer                                             # doctest: +SKIP
    >>> gpt2 = AutoTokenizer.from_pretrained("gpt2")                                        # doctest: +SKIP
    >>> joined_tokenisation_differs(gpt2, ["The capital of Fr"], ["ance"])                  # doctest: +SKIP
    [True]
    """
    prompts, responses = list(prompts), list(responses)
    texts = prompts
    if chat_template:
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                               tokenize=False) for p in prompts]
    separate = [p + r[:-1] for p, r in encode_pairs(tokenizer, prompts, responses, chat_template=chat_template)]
    joined = tokenizer([t + r for t, r in zip(texts, responses)],
                       add_special_tokens=not chat_template)["input_ids"] if texts else []
    return [list(j) != s for j, s in zip(joined, separate)]
