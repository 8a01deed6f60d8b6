"""Reward specs: the strings every rmlab command accepts for a reward (``--rm NAME=SPEC``, ``--gold SPEC``), checked
without loading anything (:func:`check_reward_spec`) and turned into reward functions ``f(prompts, responses) ->
float64 array`` (:func:`parse_reward_spec`), and the validated call of a reward function (:func:`score_rewards`).

Forms (:data:`SPEC_FORMS`): a local folder or hub id of a one-score sequence classifier (:class:`ExplicitRM`);
``implicit:POLICY:REF:BETA[:sum|mean]`` (:class:`ImplicitRM`); ``py:MODULE:FUNCTION`` (any importable callable).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import math
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from rmlab.errors import UserError

# rmlab.lm.load and rmlab.lm.score (torch, transformers) are imported where a spec is checked or loaded, so that the
# command line builds its help from SPEC_FORMS without them

SPEC_FORMS = ("a local folder or hub id of a sequence-classification reward model (e.g. ./my-rm, org/name)",
              "implicit:POLICY:REF:BETA[:sum|mean] (DPO implicit reward beta*(log pi - log pi_ref); REF 'none' "
              "for reference-free beta*log pi)",
              "py:MODULE:FUNCTION (a Python callable f(prompts, responses) -> one float per pair)")
SPEC_HELP = "SPEC is one of: " + "; ".join(SPEC_FORMS)
RewardFn = Callable[[list, list], np.ndarray]


def named_spec(value: str) -> tuple[str, str]:
    """``"NAME=SPEC"`` -> ``(NAME, SPEC)``, both stripped (the ``--rm`` argument of ``rmlab report`` / ``rloo``); the
    spec itself is checked later by :func:`check_reward_spec`.

    >>> named_spec("rm = ./my-rm")
    ('rm', './my-rm')
    """
    name, sep, spec = value.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=SPEC, got {value!r}; {SPEC_HELP}")
    return name.strip(), spec.strip()


def _spec_error(spec: str, why: str) -> UserError:
    forms = "\n  - ".join(SPEC_FORMS)
    return UserError(f"reward spec {spec!r}: {why}. Accepted forms:\n  - {forms}")


def check_reward_spec(spec: str) -> str:
    """Check a reward spec without loading any model; return it stripped.

    Checked: the form; for ``implicit:`` the BETA (finite, > 0) and the reduction; every local model folder
    (weights, tokenizer, kind from ``config.json``: a causal LM for POLICY / REF, a one-score sequence classifier
    for an explicit RM); for ``py:`` that the callable imports and can be called as ``f(prompts, responses)``.
    Errors name the spec and list the accepted forms.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _spec_error(str(spec), "empty spec")
    spec = spec.strip()
    if spec.startswith("py:"):
        _python_callable(spec)
    elif spec.startswith("implicit:"):
        policy, reference, _, _ = _implicit_parts(spec)
        for path in (policy, reference):
            if path.lower() != "none":
                _model_in_spec(spec, path, "causal_lm")
    elif ":" in spec and not Path(spec).expanduser().exists():
        raise _spec_error(spec, f"unknown prefix {spec.split(':', 1)[0]!r}:")
    else:
        _model_in_spec(spec, spec, "reward_model")
    return spec


def _model_in_spec(spec: str, path: str, kind: str) -> None:
    from rmlab.lm.load import check_model_source
    try:
        check_model_source(path, kind=kind)
    except UserError as err:
        raise _spec_error(spec, str(err)) from None


def parse_reward_spec(spec: str, *, device=None, batch_size: int = 16, chat_template: bool = False,
                      trust_remote_code: bool = False) -> RewardFn:
    """Turn a reward spec into a reward function ``f(prompts, responses) -> np.ndarray`` (one float per pair).

    Forms: a local folder / hub id of an ``AutoModelForSequenceClassification`` (``ExplicitRM``);
    ``implicit:POLICY:REF:BETA`` with an optional ``:sum`` (default) or ``:mean`` reduction (``ImplicitRM``; REF
    ``none`` = reference-free, r = beta·log pi(y|x); BETA finite and > 0; paths may not contain ':');
    ``py:MODULE:FUNCTION`` (imported; the current directory is searched too, as ``python -m`` does).
    The spec is checked first (:func:`check_reward_spec`): a spec that matches no form, a model of the wrong kind
    or a path that does not exist raises a :class:`~rmlab.errors.UserError` saying what is accepted.

    >>> fn = parse_reward_spec("py:rmlab.measure.variance:per_prompt_mean")  # any importable callable  # doctest: +SKIP
    """
    from rmlab.lm.load import load_sequence_classifier
    from rmlab.lm.score import CallableReward, ExplicitRM

    spec = check_reward_spec(spec)
    if spec.startswith("py:"):
        return CallableReward(_python_callable(spec), name=spec)
    if spec.startswith("implicit:"):
        return _implicit_reward(spec, device=device, batch_size=batch_size, chat_template=chat_template,
                                trust_remote_code=trust_remote_code)
    try:
        model, tokenizer = load_sequence_classifier(spec, device=device, trust_remote_code=trust_remote_code)
    except UserError as err:
        raise _spec_error(spec, f"could not load a sequence-classification model ({err})") from err
    return ExplicitRM(model, tokenizer, batch_size=batch_size, chat_template=chat_template, name=spec)


def _python_callable(spec: str) -> Callable:
    """The function named by ``py:MODULE:FUNCTION``, checked to accept ``(prompts, responses)``."""
    parts = spec.split(":")
    if len(parts) != 3 or not all(parts[1:]):
        raise _spec_error(spec, "expected py:MODULE:FUNCTION")
    _, module_name, function_name = parts
    module = _import_user_module(spec, module_name)
    fn = getattr(module, function_name, None)
    if not callable(fn):
        raise _spec_error(spec, f"module {module_name!r} has no callable {function_name!r}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: they are checked when called
        return fn
    try:
        signature.bind(["prompt"], ["response"])
    except TypeError as err:
        raise _spec_error(spec, f"{function_name}{signature} cannot be called as f(prompts, responses) "
                                f"({err})") from None
    return fn


def _import_user_module(spec: str, module_name: str):
    try:
        return importlib.import_module(module_name)
    except ImportError:
        if os.getcwd() in sys.path:
            raise _spec_error(spec, f"cannot import module {module_name!r}") from None
    except Exception as err:  # the user's module itself fails at import time
        raise _spec_error(spec, f"importing module {module_name!r} raised {type(err).__name__}: {err}") from err
    sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ImportError:
        raise _spec_error(spec, f"cannot import module {module_name!r}") from None
    except Exception as err:
        raise _spec_error(spec, f"importing module {module_name!r} raised {type(err).__name__}: {err}") from err
    finally:
        sys.path.remove(os.getcwd())


def _implicit_parts(spec: str) -> tuple[str, str, float, str]:
    """``(policy, reference, beta, reduction)`` of an ``implicit:`` spec, BETA finite and > 0."""
    parts = spec.split(":")[1:]
    if len(parts) not in (3, 4) or not all(parts):
        raise _spec_error(spec, "expected implicit:POLICY:REF:BETA or implicit:POLICY:REF:BETA:sum|mean")
    policy, reference, beta, *reduction = parts
    try:
        beta = float(beta)
    except ValueError:
        raise _spec_error(spec, f"BETA {beta!r} is not a number") from None
    if not math.isfinite(beta) or beta <= 0:
        raise _spec_error(spec, f"BETA must be a finite number > 0, got {beta}")
    if reduction and reduction[0] not in ("sum", "mean"):
        raise _spec_error(spec, f"reduction {reduction[0]!r} is not 'sum' or 'mean'")
    return policy, reference, beta, reduction[0] if reduction else "sum"


def _implicit_reward(spec: str, **options) -> RewardFn:
    from rmlab.lm.load import load_causal_lm
    from rmlab.lm.score import ImplicitRM

    policy, reference, beta, reduction = _implicit_parts(spec)
    device, trust = options.pop("device"), options.pop("trust_remote_code")
    try:
        models = [None if path.lower() == "none" else load_causal_lm(path, device=device, trust_remote_code=trust)
                  for path in (policy, reference)]
    except UserError as err:
        raise _spec_error(spec, f"could not load a causal LM ({err})") from err
    return ImplicitRM(models[0], models[1], beta=beta, reduction=reduction, name=spec, **options)


def resolve_reward(value, **options) -> tuple[RewardFn, str]:
    """A reward function and a description of it (part of the rows fingerprint)."""
    if isinstance(value, str):
        return parse_reward_spec(value, **options), value
    if not callable(value):
        raise TypeError(f"a reward model must be a spec string or a callable f(prompts, responses), got "
                        f"{type(value).__name__}")
    name = getattr(value, "name", None) or getattr(value, "__qualname__", None) or type(value).__qualname__
    return value, f"{getattr(value, '__module__', '')}:{name}"


def score_rewards(name: str, fn: RewardFn, prompts: list[str], responses: list[str]) -> np.ndarray:
    """Call a reward function and check its output: one finite float per pair, or an error naming the RM."""
    try:
        values = np.asarray(fn(prompts, responses), dtype=np.float64)
    except UserError as err:
        raise UserError(f"reward model {name!r}: {err}") from err
    if values.shape != (len(prompts),):
        raise UserError(f"reward model {name!r} returned shape {values.shape} for {len(prompts)} pairs")
    if not np.all(np.isfinite(values)):
        raise UserError(f"reward model {name!r} returned NaN or infinite rewards for "
                         f"{int((~np.isfinite(values)).sum())} of {len(values)} pairs")
    return values
