"""``rmlab rloo``: RLOO (or GRPO) of a causal LM against a reward spec, with a KL penalty to the initial policy.

    rmlab rloo --policy M --rm NAME=SPEC [--gold SPEC] --prompts FILE --out DIR [--k 2] [--kl-coef 0.05] [--lr LR]
               [--optimizer adam|adamw|rmsprop|sgd] [--batch-prompts N] [--epochs E | --steps S] [--seed S]
               [--algo rloo|grpo] [--scale group|batch|none] [--temperature T] [--entropy-coef C]

DIR receives ``model/`` (the trained policy, a Hugging Face folder), ``metrics.jsonl`` (one line per step:
``step, loss, reward, gold_reward, kl, entropy, response_length, within_std_mean, within_std_p10, within_std_p50,
within_std_p90, frac_zero_std, grad_norm, lr``; ``gold_reward`` only with --gold; every reward statistic is of the
raw task reward, within groups of k samples of one prompt) and ``config.json`` (the configuration, the reward
normalisation, the inputs and the torch/transformers versions), written atomically as a whole.
"""

from __future__ import annotations

from pathlib import Path

from rmlab.errors import check_device, check_input_file
from rmlab.train.cli_common import add_run_flags, config_from_flags

SCALE_HELP = "GRPO only: divide advantages by the group std (group, TRL's default), the batch std, or not (none)"


def register(subparsers) -> None:
    from rmlab.lm.reward_spec import SPEC_HELP, named_spec

    p = subparsers.add_parser(
        "rloo", help="RLOO / GRPO training against a reward model, logging within-group reward statistics",
        description="Train a causal LM with RLOO (or GRPO) against a reward spec, rewards standardised by their "
                    "mean/std on the initial policy's samples and a KL penalty to the initial policy, as in arXiv "
                    "2503.15477. " + SPEC_HELP + ". " + __doc__.split("\n\n", 2)[2].replace("\n", " ")
                    .replace("``", ""))
    p.add_argument("--policy", required=True, metavar="M", help="policy: local folder or hub id of a causal LM")
    p.add_argument("--rm", required=True, type=named_spec, metavar="NAME=SPEC", help="the reward to maximise")
    p.add_argument("--gold", metavar="SPEC", help="a gold reward to log alongside (not trained on)")
    p.add_argument("--prompts", required=True, metavar="FILE", help="prompts: .jsonl (field 'prompt'), .json, .txt")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder of the run")
    p.add_argument("--algo", default="rloo", choices=("rloo", "grpo"), help="default rloo")
    p.add_argument("--scale", default="group", choices=("group", "batch", "none"), help=SCALE_HELP)
    p.add_argument("--k", type=int, default=2, help="samples per prompt (default 2, as 2503.15477)")
    p.add_argument("--kl-coef", type=float, default=0.05, help="KL penalty to the initial policy (default 0.05)")
    p.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "rmsprop", "sgd"), help="default adam")
    p.add_argument("--lr", type=float, default=1e-5, help="learning rate (default 1e-5)")
    p.add_argument("--batch-prompts", type=int, default=8, help="prompts per step (default 8)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=1, help="passes over the prompts (default 1)")
    length.add_argument("--steps", type=int, default=None, help="optimiser steps (instead of --epochs)")
    p.add_argument("--max-new-tokens", type=int, default=32, help="sampled tokens per response at most (default 32)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="temperature of the sampled and trained policy softmax(logits/T) (default 1: plain)")
    p.add_argument("--entropy-coef", type=float, default=0.0, help="entropy bonus coefficient (default 0: off)")
    p.add_argument("--no-normalize", action="store_true", help="train on raw rewards (no standardisation)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prompt order and the samples (default 0)")
    add_run_flags(p, run_rloo)


def pg_config(args):
    """The :class:`~rmlab.train.pg.PGConfig` of the arguments; a bad value is reported under its flag."""
    from rmlab.train.pg import PGConfig

    return config_from_flags(lambda: PGConfig(
        algo=args.algo, k=args.k, scale=args.scale, kl_coef=args.kl_coef, normalize_rewards=not args.no_normalize,
        batch_prompts=args.batch_prompts, epochs=args.epochs, steps=args.steps, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, entropy_coef=args.entropy_coef, optimizer=args.optimizer, lr=args.lr,
        seed=args.seed))


def validate(args):
    """Every check that needs no model: the configuration, the device, the prompts, the specs, the output folder."""
    from rmlab.lm.load import check_model_source
    from rmlab.lm.reward_spec import check_reward_spec
    from rmlab.train.run_folder import check_run_folder

    config = pg_config(args)
    check_device(args.device, "--device")
    check_input_file(args.prompts, "--prompts")
    check_reward_spec(args.rm[1])
    if args.gold is not None:
        check_reward_spec(args.gold)
    out = check_run_folder(args.out, overwrite=args.overwrite, inputs={"--prompts": args.prompts})
    check_model_source(args.policy, kind="causal_lm", name="--policy")
    return config, out


def run_rloo(args) -> int:
    config, out = validate(args)
    from rmlab.lm.data import load_prompts
    from rmlab.lm.load import load_causal_lm
    from rmlab.lm.reward_spec import parse_reward_spec
    from rmlab.train.pg import train_pg
    from rmlab.train.run_folder import write_run

    prompts = load_prompts(args.prompts)
    options = dict(device=args.device, chat_template=args.chat_template)
    reward = parse_reward_spec(args.rm[1], **options)
    gold = None if args.gold is None else parse_reward_spec(args.gold, **options)
    model, tokenizer = load_causal_lm(args.policy, device=args.device)
    result = train_pg(model, tokenizer, prompts, reward, config, gold_fn=gold, chat_template=args.chat_template,
                      progress=not args.quiet)
    write_run(out, model, tokenizer, {"metrics.jsonl": result.metrics},
              {config.algo: result.config, "normalization": result.normalization, "policy": args.policy,
               "rm": {args.rm[0]: args.rm[1]}, "gold": args.gold, "prompts": args.prompts,
               "chat_template": args.chat_template})
    last = result.metrics[-1]
    print(f"wrote {out}: {len(result.metrics)} steps, final reward {last['reward']:.4f}, kl {last['kl']:.4f}")
    return 0
