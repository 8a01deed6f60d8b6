"""Helpers of tests/test_multiprocess.py, importable in launched processes (``PYTHONPATH=tests``).

``flaky_length`` is a reward (``py:mp_interrupt:flaky_length``: the response's word count) that raises
KeyboardInterrupt -- a Ctrl-C -- on its call number ``$RMLAB_TEST_INTERRUPT_AT`` in each process, when set.
Running this file as a module (``-m mp_interrupt ches ...``) runs ``rmlab`` with the CHES measurement interrupted after
each process's first block of pairs.
"""

import os
import sys

CALLS = 0


def flaky_length(prompts, responses):
    global CALLS
    CALLS += 1
    if CALLS == int(os.environ.get("RMLAB_TEST_INTERRUPT_AT", "0")):
        raise KeyboardInterrupt
    return [float(len(r.split())) for r in responses]


def _interrupt_ches_after_one_block():
    from rmlab.lm import cli_ches

    original = cli_ches.iter_ches_rows

    def interrupted(*args, **kwargs):
        for chunk in original(*args, **kwargs):
            yield chunk
            raise KeyboardInterrupt
    cli_ches.iter_ches_rows = interrupted


if __name__ == "__main__":
    from rmlab.cli import main

    _interrupt_ches_after_one_block()
    sys.exit(main(sys.argv[1:]))
