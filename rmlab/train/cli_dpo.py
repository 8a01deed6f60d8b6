"""``rmlab dpo``: DPO / IPO (optionally + SFT term) of a causal LM on a preference file, with per-example tracking.

    rmlab dpo --model M --data PREFS --out DIR [--ref M] [--loss dpo|ipo] [--beta B] [--sft-coef C]
              [--optimizer rmsprop|adam|adamw|sgd] [--lr LR] [--batch-size N] [--epochs E | --steps S]
              [--track-every N] [--seed S]

DIR receives ``model/`` (the trained policy, a Hugging Face folder), ``metrics.jsonl`` (one line per step: ``step,
loss, margin, logp_chosen, logp_rejected, grad_norm, lr``), ``tracking.jsonl`` (one line per tracked pair per
record: ``step, index, logp_chosen, logp_rejected, n_tokens_chosen, n_tokens_rejected`` and ``top_gainers`` for
single-token pairs; the first record is step 0, before any update) and ``config.json`` (the DPO configuration, the
inputs and the torch/transformers versions). The run is written into a temporary sibling folder that replaces DIR
only once complete: DIR is never half-written, and an interrupted run leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

from rmlab.errors import check_device, check_input_file
from rmlab.train.cli_common import add_run_flags, config_from_flags

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dpo", help="DPO / IPO training with per-example tracking of ln pi(y+|x) and ln pi(y-|x)",
        description="Train a causal LM with DPO (or IPO, optionally + an SFT term on the preferred response) on a "
                    "preference file, from a frozen reference (default: the model's initial weights), and track "
                    "the log-probabilities of the preferred and dispreferred responses of every pair (arXiv "
                    "2410.08847: likelihood displacement). "
                    + __doc__.split("\n\n", 2)[2].replace("\n", " ").replace("``", ""))
    p.add_argument("--model", required=True, metavar="M", help="policy: local folder or hub id of a causal LM")
    p.add_argument("--data", required=True, metavar="PREFS",
                   help="preference pairs: .jsonl/.json/.parquet or hub dataset id (prompt, chosen, rejected)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder of the run")
    p.add_argument("--ref", default=None, metavar="M", help="reference model (default: a frozen copy of --model)")
    p.add_argument("--loss", default="dpo", choices=("dpo", "ipo"), help="dpo (sigmoid; default) or ipo (paper form)")
    p.add_argument("--beta", type=float, default=0.1, help="DPO beta / IPO tau (default 0.1; 2410.08847: 0.1 / 0.01)")
    p.add_argument("--sft-coef", type=float, default=0.0, help="lambda of the SFT term -lambda ln pi(y+|x) (default 0)")
    p.add_argument("--optimizer", default="rmsprop", choices=("rmsprop", "adam", "adamw", "sgd"),
                   help="default rmsprop, as 2410.08847")
    p.add_argument("--lr", type=float, default=1e-5, help="learning rate (default 1e-5)")
    p.add_argument("--batch-size", type=int, default=8, help="pairs per step (default 8)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=1, help="passes over the pairs (default 1)")
    length.add_argument("--steps", type=int, default=None, help="optimiser steps (instead of --epochs)")
    p.add_argument("--track-every", type=int, default=0, help="record tracked pairs every N steps (0: first/last)")
    p.add_argument("--track", type=int, default=None, help="track the first N pairs (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the batch order (default 0)")
    add_run_flags(p, run_dpo)


def dpo_config(args):
    """The :class:`~rmlab.train.dpo.DPOConfig` of the arguments; a bad value is reported under its flag."""
    from rmlab.train.dpo import DPOConfig

    return config_from_flags(lambda: DPOConfig(
        loss=args.loss, beta=args.beta, sft_coef=args.sft_coef, batch_size=args.batch_size, epochs=args.epochs,
        steps=args.steps, optimizer=args.optimizer, lr=args.lr, track_every=args.track_every, track=args.track,
        seed=args.seed))


def validate(args):
    """Every check that needs no model: the configuration, the device, the data, the output folder, model kinds."""
    from rmlab.lm.load import check_model_source
    from rmlab.train.run_folder import check_run_folder

    config = dpo_config(args)
    check_device(args.device, "--device")
    if Path(args.data).expanduser().exists():
        check_input_file(Path(args.data).expanduser(), "--data")
    out = check_run_folder(args.out, overwrite=args.overwrite, inputs={"--data": args.data})
    check_model_source(args.model, kind="causal_lm", name="--model")
    if args.ref is not None:
        check_model_source(args.ref, kind="causal_lm", name="--ref")
    return config, out


def run_dpo(args) -> int:
    config, out = validate(args)
    from rmlab.lm.data import load_preferences
    from rmlab.lm.load import load_causal_lm
    from rmlab.train.dpo import train_dpo
    from rmlab.train.run_folder import write_run

    preferences = load_preferences(args.data)
    model, tokenizer = load_causal_lm(args.model, device=args.device)
    reference = None if args.ref is None else load_causal_lm(args.ref, device=args.device)[0]
    result = train_dpo(model, tokenizer, preferences, config, reference=reference, chat_template=args.chat_template,
                       progress=not args.quiet)
    write_run(out, model, tokenizer, {"metrics.jsonl": result.metrics, "tracking.jsonl": result.tracking},
              {"dpo": result.config, "model": args.model, "ref": args.ref, "data": args.data,
               "chat_template": args.chat_template})
    last = result.metrics[-1]
    print(f"wrote {out}: {len(result.metrics)} steps, final loss {last['loss']:.4f}, margin {last['margin']:.4f}")
    return 0
