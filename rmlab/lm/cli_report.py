"""``rmlab report``: the reward-variance report (arXiv 2503.15477 §4.4) of one policy under several reward models.

    rmlab report --policy M --rm NAME=SPEC [--rm NAME=SPEC ...] --prompts FILE --samples K [--gold SPEC]
                 [--preferences FILE] [--seed S] --out REPORT.json [--per-prompt ROWS.jsonl] [--backend hf|vllm]
    accelerate launch --num_processes N -m rmlab report ...     (data parallel: see rmlab.lm.distributed)

REPORT.json: ``n_prompts, n_samples, reward_models: {NAME: {reward_variance, whitened_reward_variance,
within_prompt_variance, between_prompt_variance, total_variance, frac_zero_variance, teacher_score,
on_policy_accuracy, off_policy_accuracy, ci95: {metric: [lo, hi]}}}`` (teacher score and accuracies null when not
computable), plus ``n_preference_pairs``, ``gold_reward`` and ``arguments``. It is written atomically at the end,
never partially.

Prompt selection by reward variance: ``--select-prompts N [--select-by NAME] [--selected FILE]`` also writes the N
prompts on which the RM ``NAME`` (default: the first ``--rm``) varies most within prompt under the policy, one JSON
line each (``prompt``, ``index`` in the prompt file, ``rank``, ``reward_variance``; highest first), to FILE -- by
default ``<OUT without .json>.selected.jsonl``: a prompt file ``rmlab rloo --prompts`` reads.

Per-prompt rows (one JSON line per prompt with its k responses and every RM's rewards, then one per preference pair)
go to ``--per-prompt`` -- by default ``<OUT without .json>.rows.jsonl`` next to REPORT.json -- as they are computed.
Rerunning the same command resumes from them; a command with different arguments refuses to reuse them.

Every argument is checked before any model is loaded or any sample drawn (:func:`validate`): ranges of the numbers,
the device, the inputs, the outputs (never an input, never a folder), the kind of every model from its
``config.json``. Mistakes exit with code 2 and one line naming the flag, file, line or spec; Ctrl-C exits 130.
"""

from __future__ import annotations

from pathlib import Path

from rmlab.lm.backends import BACKEND_HELP, BACKENDS, check_backend
from rmlab.lm.report_config import default
from rmlab.lm.reward_spec import SPEC_HELP, named_spec
from rmlab.measure.accuracy import TIE_RULES
from rmlab.errors import (UserError, check_device, check_input_file, check_int_range, check_output_file,
                          check_positive_finite)

def default_rows_path(out) -> Path:
    """Where the resumable per-prompt rows go without ``--per-prompt``: ``REPORT.json`` -> ``REPORT.rows.jsonl``."""
    out = Path(out)
    stem = out.name[:-len(".json")] if out.name.endswith(".json") else out.name
    return out.with_name(stem + ".rows.jsonl")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="reward variance, on/off-policy accuracy of reward models under a policy",
        description="Sample K responses per prompt from a policy once, score them with every reward model (and "
                    "the gold reward) and report per RM: reward variance (raw and whitened, as arXiv 2503.15477), "
                    "the within/between-prompt decomposition, the zero-variance fraction, on-policy accuracy vs the "
                    "gold reward, the teacher score (with --gold: the within-prompt covariance of gold and RM "
                    "reward per unit of the RM's within-prompt spread, which ranks RMs as teachers of this policy "
                    "before any training; notebook 08), off-policy accuracy on a preference file, with 95% bootstrap "
                    "CIs over prompts. "
                    + SPEC_HELP + ".",
        epilog="Per-prompt rows are written as they are computed; rerunning the same command resumes.")
    p.add_argument("--policy", required=True, metavar="M", help="policy: local folder or hub id of a causal LM")
    p.add_argument("--rm", required=True, action="append", type=named_spec, metavar="NAME=SPEC",
                   help="a reward model to evaluate (repeat for several)")
    p.add_argument("--prompts", required=True, metavar="FILE", help="prompts: .jsonl (field 'prompt'), .json, .txt")
    p.add_argument("--samples", required=True, type=int, metavar="K", help="responses per prompt (>= 2)")
    p.add_argument("--gold", metavar="SPEC", help="gold reward for on-policy (and off-policy) accuracy")
    p.add_argument("--preferences", metavar="FILE",
                   help="preference pairs (prompt/chosen/rejected; .jsonl/.json/.parquet or hub id) for off-policy "
                        "accuracy; gold scores: --gold, else score_chosen/score_rejected columns, else chosen wins")
    p.add_argument("--seed", type=int, default=default("seed"),
                   help="sampling and bootstrap seed (default %(default)s)")
    p.add_argument("--out", required=True, metavar="REPORT.json", help="report JSON (written atomically)")
    p.add_argument("--per-prompt", metavar="ROWS.jsonl",
                   help="resumable per-prompt rows (default: OUT with .json replaced by .rows.jsonl)")
    p.add_argument("--max-new-tokens", type=int, default=default("max_new_tokens"),
                   help="sampling length limit (default %(default)s; paper: 512)")
    p.add_argument("--temperature", type=float, default=default("temperature"),
                   help="sampling temperature (default %(default)s = the paper's; top-k/top-p off)")
    p.add_argument("--batch-size", type=int, default=default("batch_size"),
                   help="sequences per forward pass (default %(default)s)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.add_argument("--chat-template", action="store_true", help="wrap prompts in the tokenizers' chat templates")
    p.add_argument("--ties", choices=TIE_RULES, default=default("ties"),
                   help="accuracy tie rule: 'paper' (sign agreement, arXiv 2503.15477) or 'half' (RM ties count "
                        "1/2, arXiv 2507.07981)")
    p.add_argument("--bootstrap", type=int, default=default("n_bootstrap"), metavar="B",
                   help="bootstrap resamples (default %(default)s)")
    p.add_argument("--select-prompts", type=int, metavar="N",
                   help="also write the N prompts with the highest within-prompt reward variance (see --select-by)")
    p.add_argument("--select-by", metavar="NAME", help="the --rm whose variance ranks the prompts (default: the first)")
    p.add_argument("--selected", metavar="FILE",
                   help="where the selected prompts go (default: OUT with .json replaced by .selected.jsonl)")
    p.add_argument("--trust-remote-code", action="store_true", help="allow custom model code from the hub")
    p.add_argument("--backend", default=default("backend"), choices=BACKENDS, help=BACKEND_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run, resume_hint="rerun the same command to resume from the rows written so far")


def selected_by(args) -> str:
    """The RM whose within-prompt variance ranks the prompts: ``--select-by``, else the first ``--rm``."""
    return args.select_by if args.select_by is not None else args.rm[0][0]


def selected_path(args, out) -> Path:
    """Where the selected prompts go: ``--selected``, else ``REPORT.json`` -> ``REPORT.selected.jsonl``."""
    if args.selected:
        return Path(args.selected)
    out = Path(out)
    stem = out.name[:-len(".json")] if out.name.endswith(".json") else out.name
    return out.with_name(stem + ".selected.jsonl")


def validate(args) -> Path:
    """Every check that needs no model, before anything is loaded, sampled or written: the flags' ranges, the
    device, the inputs, the outputs (writable, not a folder, not an input, distinct) and every model's kind.
    Returns the rows path."""
    from rmlab.lm.load import check_model_source
    from rmlab.lm.reward_spec import check_reward_spec

    if args.samples < 2:
        raise UserError(f"--samples must be >= 2 to estimate a within-prompt variance, got {args.samples}")
    check_positive_finite(args.temperature, "--temperature")
    check_int_range(args.max_new_tokens, "--max-new-tokens", minimum=1)
    check_int_range(args.batch_size, "--batch-size", minimum=1)
    check_int_range(args.bootstrap, "--bootstrap", minimum=1)
    check_int_range(args.seed, "--seed", minimum=0)
    check_device(args.device, "--device")
    names = [name for name, _ in args.rm]
    if len(set(names)) != len(names):
        raise UserError(f"--rm names must be unique, got {names}")
    inputs = {"--prompts": check_input_file(args.prompts, "--prompts")}
    if args.preferences is not None and Path(args.preferences).expanduser().exists():
        inputs["--preferences"] = check_input_file(args.preferences, "--preferences")
    out = check_output_file(args.out, "--out", inputs=inputs)
    rows_path = Path(args.per_prompt) if args.per_prompt else default_rows_path(out)
    check_output_file(rows_path, "--per-prompt" if args.per_prompt else "the rows file (--per-prompt)",
                      inputs={**inputs, "--out": out})
    if args.select_prompts is not None:
        check_int_range(args.select_prompts, "--select-prompts", minimum=1)
        if selected_by(args) not in names:
            raise UserError(f"--select-by {args.select_by!r} names no --rm; the --rm names are {names}")
        check_output_file(selected_path(args, out), "--selected" if args.selected else "the selected-prompts file "
                          "(--selected)", inputs={**inputs, "--out": out, "--per-prompt": rows_path})
    elif args.select_by is not None or args.selected is not None:
        raise UserError("--select-by and --selected need --select-prompts N")
    check_model_source(args.policy, kind="causal_lm", name="--policy")
    check_backend(args.backend, model_path=args.policy)
    for name, spec in args.rm:
        check_reward_spec(spec)
    if args.gold is not None:
        check_reward_spec(args.gold)
    return rows_path


def run(args) -> int:
    from rmlab.lm.data import load_prompts
    from rmlab.lm.distributed import launched_ranks
    from rmlab.lm.report import ReportConfig, reward_report

    rows_path = validate(args)
    out = Path(args.out)
    prompts = load_prompts(args.prompts)
    if args.select_prompts is not None and args.select_prompts > len(prompts):
        raise UserError(f"--select-prompts {args.select_prompts} exceeds the {len(prompts)} prompts of {args.prompts}")
    config = ReportConfig(k=args.samples, seed=args.seed, max_new_tokens=args.max_new_tokens,
                          batch_size=args.batch_size, chat_template=args.chat_template, temperature=args.temperature,
                          ties=args.ties, n_bootstrap=args.bootstrap, device=args.device,
                          trust_remote_code=args.trust_remote_code, backend=args.backend)
    ranks = launched_ranks()
    report = reward_report(args.policy, dict(args.rm), prompts, config, gold=args.gold, preferences=args.preferences,
                           rows_path=rows_path, progress=not args.quiet and ranks.is_main, ranks=ranks)
    if report is None:                         # another rank than 0: its rows are written, rank 0 reports
        return 0
    report.save_json(out)
    columns = ["reward_variance", "whitened_reward_variance", "frac_zero_variance", "teacher_score",
               "on_policy_accuracy", "off_policy_accuracy"]
    print(report.summary[columns].to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out} and {rows_path}")
    if args.select_prompts is not None:
        path = _write_selection(report, prompts, selected_by(args), args.select_prompts, selected_path(args, out))
        print(f"wrote the {args.select_prompts} highest-variance prompts under {selected_by(args)!r} to {path}")
    return 0


def _write_selection(report, prompts: list[str], name: str, size: int, path: Path) -> Path:
    import json

    from rmlab._io import atomic_write_text
    from rmlab.measure.variance import per_prompt_variance

    variance = per_prompt_variance(report.rewards[name])
    chosen = sorted(report.select_prompts(name, size), key=lambda i: -variance[i])
    rows = [{"prompt": prompts[i], "index": int(i), "rank": rank, "reward_variance": float(variance[i])}
            for rank, i in enumerate(chosen, start=1)]
    return atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
