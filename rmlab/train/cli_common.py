"""What ``rmlab dpo`` and ``rmlab rloo`` share on the command line: the run flags, and config errors reported
under their flag (a config field ``batch_size`` is the flag ``--batch-size``)."""

from __future__ import annotations

import re

from rmlab.errors import UserError


def add_run_flags(parser, run) -> None:
    """``--chat-template``, ``--device``, ``--overwrite``, ``--quiet``, and ``run`` as the command."""
    parser.add_argument("--chat-template", action="store_true",
                        help="format prompts with the tokenizer's chat template")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR if it already holds a run")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run, resume_hint="nothing was written; rerun the command to start again")


def config_from_flags(make):
    """``make()`` (a config dataclass built from the flags); a bad value is reported under its flag."""
    try:
        return make()
    except UserError as err:
        raise UserError(re.sub(r"^(\w+)", lambda m: "--" + m.group(1).replace("_", "-"), str(err))) from None
