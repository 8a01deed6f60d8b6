"""``rmlab ches``: CHES / LN-CHES and the two baselines for every pair of a preference file, resumable.

Output: OUT.jsonl, one JSON line per input pair, keys ``index, ches, ln_ches, edit_distance,
last_hidden_inner_product``, in input order.

Resumability and atomicity: rows are appended, as they are computed, to ``OUT.jsonl.partial``, a
:class:`rmlab.lm.rows.ResumableRows` file whose header records the arguments that determine the numbers (model, data
and its content hash, --max-length, --chat-template, --dtype; not --batch-size or --device). Rerunning with the same
arguments keeps its complete rows, discards a partial last line left by an interruption, and computes only the
missing pairs; other arguments are refused. When every pair is done, OUT.jsonl is written atomically (temporary file
+ rename) and the partial file is removed: OUT.jsonl never exists half-written.
Bad inputs (missing file, malformed line, empty field, missing weights, a pair longer than the context) are detected
before anything is written. Non-finite scores (overflow in a huge model) are written as null.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from rmlab._io import atomic_write_text, to_jsonable
from rmlab.lm.ches import CHES_COLUMNS, encode_preference_pairs, iter_ches_rows
from rmlab.lm.data import load_preferences
from rmlab.lm.load import context_length, load_causal_lm
from rmlab.lm.rows import ResumableRows


def _fingerprint(args) -> dict:
    data = Path(args.data).expanduser()
    content = hashlib.sha256(data.read_bytes()).hexdigest() if data.is_file() else None
    model = Path(args.model).expanduser()
    return {"model": str(model.resolve()) if model.exists() else args.model,
            "data": str(data.resolve()) if data.exists() else args.data, "data_sha256": content,
            "max_length": args.max_length, "chat_template": args.chat_template, "dtype": args.dtype}


def run_ches(args) -> int:
    out = Path(args.out)
    partial = out.with_name(out.name + ".partial")
    preferences = load_preferences(args.data)
    if out.exists() and not partial.exists():
        n_rows = sum(1 for line in out.read_text().splitlines() if line.strip())
        if n_rows != len(preferences):
            raise ValueError(f"{out} exists with {n_rows} rows for {len(preferences)} pairs; delete it to recompute")
        print(f"{out} is already complete ({n_rows} rows); nothing to do")
        return 0
    model, tokenizer = load_causal_lm(args.model, device=args.device, dtype=args.dtype)
    pairs = encode_preference_pairs(tokenizer, preferences, chat_template=args.chat_template,
                                    max_length=args.max_length, context=context_length(model))
    store = ResumableRows(partial, _fingerprint(args))        # refuses rows computed with other arguments
    done = {index: row for (_, index), row in store.load().items()}
    todo = [i for i in range(len(pairs)) if i not in done]
    if done:
        print(f"resuming: {len(done)} of {len(pairs)} pairs already in {partial}", file=sys.stderr)
    for chunk in iter_ches_rows(model, tokenizer, [pairs[i] for i in todo], todo, batch_size=args.batch_size,
                                progress=not args.quiet):
        store.append([{"kind": "pair", **row} for row in chunk])
        done.update((row["index"], row) for row in chunk)
    rows = [done[i] for i in range(len(pairs))]
    atomic_write_text(out, "".join(json.dumps(to_jsonable({k: row[k] for k in CHES_COLUMNS}), allow_nan=False) + "\n"
                                   for row in rows))
    partial.unlink()
    print(f"wrote {len(rows)} rows to {out}")
    return 0


def _run(args) -> int:
    try:
        return run_ches(args)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"rmlab ches: error: {err}", file=sys.stderr)
        return 2


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ches",
        help="CHES / LN-CHES (likelihood-displacement risk) of every pair of a preference file",
        description="Score each preference pair with CHES and length-normalised CHES (arXiv 2410.08847: hidden-state "
                    "similarity of chosen and rejected responses under MODEL; higher = more likely to be displaced "
                    "by DPO), plus the paper's baselines: normalised token edit distance (lower = more similar) and "
                    "the inner product of the last hidden states. Writes one JSON line per pair to OUT with keys "
                    f"{', '.join(CHES_COLUMNS)}. Interrupted runs resume from OUT.partial when rerun with the same "
                    "arguments; OUT itself is written atomically once every pair is done.",
    )
    p.add_argument("--model", required=True, help="causal LM: local folder (save_pretrained) or hub id")
    p.add_argument("--data", required=True,
                   help="preference pairs: .jsonl/.json/.parquet file or hub dataset id, with prompt/chosen/rejected "
                        "strings or TRL conversational messages")
    p.add_argument("--out", required=True, help="output JSON-lines file")
    p.add_argument("--batch-size", type=int, default=16,
                   help="pairs per forward pass, two sequences each (default: 16)")
    p.add_argument("--max-length", type=int, default=None,
                   help="truncate responses so that prompt + response fit in this many tokens "
                        "(default: no truncation; pairs longer than the model's context are an error)")
    p.add_argument("--chat-template", action="store_true",
                   help="format prompts with the tokenizer's chat template (add_generation_prompt=True)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--dtype", default="float32",
                   help="model dtype (default: float32); hidden states are summed in float64 whatever the dtype")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
