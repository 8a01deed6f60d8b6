"""The ``rmlab`` command line. Each subcommand lives in its own module, which exposes ``register(subparsers)``
adding an argparse sub-parser whose ``func`` default runs it and returns an exit code."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = (
    "rmlab.reproduce",
    "rmlab.lm.cli_ches",
    "rmlab.lm.cli_report",
    "rmlab.lm.cli_models",
    "rmlab.world.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rmlab",
        description="Reward-model results of Razin et al., runnable and checkable: regenerate figures, "
                    "measure reward variance / accuracy / CHES on your own models, build the embedded toy world.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
