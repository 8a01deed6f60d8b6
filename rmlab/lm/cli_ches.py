"""``rmlab ches``: CHES / LN-CHES and the two baselines for every pair of a preference file, resumable.

Output: OUT.jsonl, one JSON line per input pair, keys ``index, ches, ln_ches, edit_distance,
last_hidden_inner_product``, in input order; with ``--predict-displacement`` also ``predicted_dlogp_chosen``
(:mod:`rmlab.lm.displacement`: full-batch, computed once every CHES row is done).

Resumability and atomicity: rows are appended, as they are computed, to ``OUT.jsonl.partial``, a
:class:`rmlab.lm.rows.ResumableRows` file whose header records the arguments that determine the numbers (model, data
and its content hash, --max-length, --chat-template, --dtype; not --batch-size or --device). Rerunning with the same
arguments keeps its complete rows, discards a partial last line left by an interruption, and computes only the
missing pairs; other arguments are refused. When every pair is done, OUT.jsonl is written atomically (temporary file
+ rename), then ``OUT.jsonl.meta.json`` (the same arguments, their fingerprint, OUT's sha256 and row count), and the
partial file is removed: OUT.jsonl never exists half-written. A rerun finding OUT.jsonl trusts it only if the
sidecar records the same arguments and OUT is unchanged ("nothing to do"); otherwise it refuses, naming what
differs, and overwrites nothing.
Bad inputs (missing file, malformed line, empty field, missing weights, a model that is not a causal LM, --out equal
to --data, ranges, devices, a pair longer than the context) are detected before anything is written. Non-finite
scores (overflow in a huge model) are written as null.

Several processes (``accelerate launch --num_processes N -m rmlab ches ...``, :mod:`rmlab.lm.distributed`): pairs
are scored in fixed windows of the input order (``--batch-size`` x 16 pairs), rank r taking every N-th window still
to do and appending to ``OUT.jsonl.partial.rank<r>``; rank 0 waits for the others, then writes OUT and its sidecar
from every rank's rows. OUT is byte-identical to a single-process run's, and an interrupted run resumes (with any N).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from rmlab._headless import tqdm

from rmlab._io import atomic_write_json, atomic_write_text, to_jsonable
from rmlab.errors import UserError, check_device, check_input_file, check_int_range, check_output_file
from rmlab.lm.ches import BATCHES_PER_WINDOW, CHES_COLUMNS, encode_preference_pairs, iter_ches_rows
from rmlab.lm.data import load_preferences
from rmlab.lm.displacement import DIRECTIONS, SCOPES, predict_displacement
from rmlab.lm.distributed import blocks_to_do, launched_ranks, rows_files
from rmlab.lm.load import check_model_source, context_length, load_causal_lm, resolve_dtype
from rmlab.lm.rows import ResumableRows, fingerprint


def _fingerprint(args) -> dict:
    data = Path(args.data).expanduser()
    content = hashlib.sha256(data.read_bytes()).hexdigest() if data.is_file() else None
    model = Path(args.model).expanduser()
    arguments = {"model": str(model.resolve()) if model.exists() else args.model,
                 "data": str(data.resolve()) if data.exists() else args.data, "data_sha256": content,
                 "max_length": args.max_length, "chat_template": args.chat_template, "dtype": args.dtype}
    if args.predict_displacement:          # only when set: outputs written without the flag keep their fingerprint
        arguments["predict_displacement"] = True
        if (args.predict_scope, args.predict_direction) != ("features", "gradient"):
            arguments["predict_scope"], arguments["predict_direction"] = args.predict_scope, args.predict_direction
    return arguments


def meta_path(out: Path) -> Path:
    """The sidecar of a finished output: ``OUT.meta.json`` (arguments, their fingerprint, the output's sha256)."""
    return out.with_name(out.name + ".meta.json")


def validate(args) -> tuple[Path, Path]:
    """Every check that needs no model, before anything is loaded or written: ranges, device, dtype, the data file
    (not the output), the output (not a folder, writable) and the model's kind. Returns ``(out, partial)``."""
    check_int_range(args.batch_size, "--batch-size", minimum=1)
    if args.max_length is not None:
        check_int_range(args.max_length, "--max-length", minimum=2)
    check_device(args.device, "--device")
    resolve_dtype(args.dtype)
    data = Path(args.data).expanduser()
    inputs = {"--data": check_input_file(data, "--data")} if data.exists() else {}
    out = check_output_file(args.out, "--out", inputs=inputs)
    partial = out.with_name(out.name + ".partial")
    check_output_file(partial, "the partial output", inputs=inputs)
    check_model_source(args.model, kind="causal_lm", name="--model")
    return out, partial


def _finished_output(out: Path, partial: Path, arguments: dict, n_pairs: int) -> bool:
    """Whether OUT is a finished output of exactly these arguments (then there is nothing to do). An OUT of other
    arguments, of unknown provenance or edited since it was written is refused: never served, never overwritten."""
    if not out.exists() or partial.exists():   # with OUT.partial, the run resumes from it and rewrites OUT
        return False
    meta = meta_path(out)
    try:
        recorded = json.loads(meta.read_text(encoding="utf-8"))
        theirs, their_arguments = recorded["fingerprint"], recorded["arguments"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{out} exists but {meta.name} (the arguments it was computed with) is missing or unreadable; "
                        "delete it or choose another --out") from None
    if theirs != fingerprint(arguments):
        differ = sorted(k for k in set(their_arguments) | set(arguments) if their_arguments.get(k) != arguments.get(k))
        raise UserError(f"{out} holds scores computed with different arguments (differing: {', '.join(differ)}); "
                        "delete it (and its .meta.json) or choose another --out")
    if recorded.get("sha256") != hashlib.sha256(out.read_bytes()).hexdigest() or recorded.get("n_rows") != n_pairs:
        raise UserError(f"{out} was modified since it was written (its sha256 or row count differs from "
                        f"{meta.name}); delete it or choose another --out")
    return True


def run_ches(args) -> int:
    out, partial = validate(args)
    preferences = load_preferences(args.data)
    arguments = to_jsonable(_fingerprint(args))
    ranks = launched_ranks()
    if _finished_output(out, partial, arguments, len(preferences)):
        if ranks.is_main:
            print(f"{out} is already complete ({len(preferences)} rows, same arguments); nothing to do")
        return 0
    model, tokenizer = load_causal_lm(args.model, device=ranks.device(args.device), dtype=args.dtype)
    pairs = encode_preference_pairs(tokenizer, preferences, chat_template=args.chat_template,
                                    max_length=args.max_length, context=context_length(model),
                                    too_long_hint="pass --max-length to truncate responses")
    start = time.perf_counter()
    done = _score_share(model, tokenizer, pairs, args, ranks, partial, arguments)
    if not ranks.is_main:                       # rank 0 merges every rank's rows
        return 0
    rows = [done[i] for i in range(len(pairs))]
    columns = list(CHES_COLUMNS)
    if args.predict_displacement:
        predicted = predict_displacement(model, tokenizer, preferences, chat_template=args.chat_template,
                                         max_length=args.max_length, batch_size=args.batch_size,
                                         scope=args.predict_scope, direction=args.predict_direction)
        rows = [{**row, "predicted_dlogp_chosen": value}
                for row, value in zip(rows, predicted["predicted_dlogp_chosen"])]
        columns.append("predicted_dlogp_chosen")
    text = "".join(json.dumps(to_jsonable({k: row[k] for k in columns}), allow_nan=False) + "\n" for row in rows)
    atomic_write_text(out, text)
    atomic_write_json(meta_path(out), {"rmlab_ches": 1, "fingerprint": fingerprint(arguments), "arguments": arguments,
                                       "n_rows": len(rows), "sha256": hashlib.sha256(text.encode()).hexdigest()})
    for path in rows_files(partial):
        path.unlink()
    print(f"wrote {len(rows)} rows to {out} in {time.perf_counter() - start:.1f} s")
    return 0


def _score_share(model, tokenizer, pairs, args, ranks, partial: Path, arguments: dict) -> dict[int, dict]:
    """This rank's share of the pairs still to score, appended to its rows file; on rank 0, once every rank is done,
    every row of every rank's file (:mod:`rmlab.lm.distributed`). Pairs are scored in fixed windows of the input
    order (a window with a missing row is recomputed whole), so rows equal a single-process run's bit for bit."""
    store = ResumableRows(ranks.rows_path(partial), arguments)        # refuses rows computed with other arguments
    own = store.load()
    done = {index: row for path in rows_files(partial)
            for (_, index), row in ResumableRows(path, arguments).read().items()}
    done.update((index, row) for (_, index), row in own.items())
    ranks.barrier()                             # every rank has read every file before any rank appends
    if done and ranks.is_main:
        print(f"resuming: {len(done)} of {len(pairs)} pairs already in {partial}", file=sys.stderr)
    window = args.batch_size * BATCHES_PER_WINDOW
    blocks = blocks_to_do(len(pairs), window, "pair", {("pair", i) for i in done})
    with tqdm(total=sum(map(len, blocks)), desc="CHES", disable=args.quiet or not ranks.is_main) as bar:
        for block in ranks.claim(blocks, progress=bar):
            for chunk in iter_ches_rows(model, tokenizer, [pairs[i] for i in block], block,
                                        batch_size=args.batch_size, progress=False):
                store.append([{"kind": "pair", **row} for row in chunk if row["index"] not in done])
                done.update((row["index"], row) for row in chunk)
    ranks.barrier()                             # every rank's rows are on disk
    if ranks.is_main and ranks.world_size > 1:          # its own rows are in ``done`` already
        done.update((index, row) for path in rows_files(partial) if path != store.path
                    for (_, index), row in ResumableRows(path, arguments).read().items())
    return done


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ches",
        help="CHES / LN-CHES (likelihood-displacement risk) of every pair of a preference file",
        description="Score each preference pair with CHES and length-normalised CHES (arXiv 2410.08847: hidden-state "
                    "similarity of chosen and rejected responses under MODEL; higher = more likely to be displaced "
                    "by DPO), plus the paper's baselines: normalised token edit distance (lower = more similar) and "
                    "the inner product of the last hidden states. Writes one JSON line per pair to OUT with keys "
                    f"{', '.join(CHES_COLUMNS)}. Interrupted runs resume from OUT.partial when rerun with the same "
                    "arguments; OUT itself is written atomically once every pair is done, with OUT.meta.json "
                    "recording the arguments: an existing OUT is reused only for the same arguments, never "
                    "overwritten.",
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
    p.add_argument("--predict-displacement", action="store_true",
                   help="add predicted_dlogp_chosen: the first-order change of ln pi(chosen) under one full-batch DPO "
                        "step on all pairs (beta 0.1), per unit learning rate, in the unconstrained-features model "
                        "(last hidden states + unembedding); negative = predicted to be displaced")
    p.add_argument("--predict-scope", choices=SCOPES, default="features",
                   help="parameters of --predict-displacement's step: features (last hidden states + unembedding) or "
                        "weights (every trainable weight; one backward and two forwards over the pairs, float64 "
                        "copy of the model; on the toy world it ranks displacement better: AUROC 0.90 vs 0.66)")
    p.add_argument("--predict-direction", choices=DIRECTIONS, default="gradient",
                   help="direction of that step: the plain gradient or RMSprop's first update (the paper's optimiser)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_ches, resume_hint="rerun the same command to resume from OUT.partial")
