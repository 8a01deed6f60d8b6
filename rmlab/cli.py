"""The ``rmlab`` command line. Each subcommand lives in its own module, which exposes ``register(subparsers)``
adding an argparse sub-parser whose ``func`` default runs it and returns an exit code, and whose ``resume_hint``
default (optional) says what rerunning after Ctrl-C does.

Errors: a :class:`rmlab.errors.UserError` anywhere in a command is printed as ``rmlab <command>: error: <message>``
(exit code 2), without a traceback unless ``--debug`` is given; Ctrl-C exits with code 130 and one line saying how to
resume. Warnings (e.g. duplicate prompts) are printed as ``rmlab <command>: warning: <message>``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from rmlab.errors import UserError

SUBCOMMAND_MODULES = (
    "rmlab.reproduce",
    "rmlab.lm.cli_ches",
    "rmlab.lm.cli_report",
    "rmlab.lm.cli_models",
    "rmlab.train.cli_dpo",
    "rmlab.train.cli_rloo",
    "rmlab.world.cli",
)
INTERRUPTED = 130
USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rmlab",
        description="Reward-model results of Razin et al., runnable and checkable: regenerate figures, "
                    "measure reward variance / accuracy / CHES on your own models, build the embedded toy world.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of errors in your input (e.g. of your own reward function)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _command_name(args) -> str:
    return " ".join(["rmlab", args.command] + ([args.world_command] if getattr(args, "world_command", None) else []))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = _command_name(args)
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_, **__: print(f"{name}: warning: {message}", file=sys.stderr)
        try:
            return args.func(args)
        except UserError as err:
            if args.debug:
                raise
            print(f"{name}: error: {err}", file=sys.stderr)
            return USER_ERROR
        except KeyboardInterrupt:
            if args.debug:
                raise
            hint = getattr(args, "resume_hint", "rerun the same command to start again")
            print(f"\n{name}: interrupted; {hint}", file=sys.stderr)
            return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
