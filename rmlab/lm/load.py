"""Load Hugging Face policies, reference models and explicit reward models, ready for batched scoring.

``load_causal_lm`` / ``load_sequence_classifier`` return ``(model, tokenizer)`` with the model in eval mode on the
requested device and a pad token always set (the EOS token when the tokenizer has none, else a new ``<pad>`` token
with resized embeddings). rmlab pads batches itself (left or right, see ``rmlab.lm.score.pad_batch``), so the
tokenizer's ``padding_side`` does not matter.

Safety: ``trust_remote_code`` is False unless the caller passes True. A local folder without weights, or a path that
does not exist, raises ``FileNotFoundError`` naming it before anything is loaded. Hub ids (``"org/name"``) are
resolved by ``transformers`` and need network access (never used in tests).

The default dtype is float32 (deterministic CPU numbers, and CHES needs the precision); pass ``dtype="bfloat16"``
for large models on a GPU.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from rmlab.lm.models import resolve_model

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json", "pytorch_model.bin.index.json")


def resolve_device(device=None) -> torch.device:
    """``None`` -> the first CUDA device when available, else the CPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def _resolve_dtype(dtype):
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str) and dtype != "auto":
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; use e.g. 'float32', 'bfloat16', 'float16' or 'auto'")
        return getattr(torch, dtype)
    return dtype


def check_model_source(name_or_path) -> str:
    """Return ``name_or_path`` as a string; raise ``FileNotFoundError`` for a missing local path or weightless folder.

    A string that exists on disk, or that looks like a filesystem path (absolute, ``./``, ``~``, more than one ``/``),
    is treated as local; anything else (``"EleutherAI/pythia-70m"``) is left to the hub.
    """
    source = os.fspath(name_or_path)
    path = Path(source).expanduser()
    looks_local = path.is_absolute() or source.startswith((".", "~")) or source.count("/") > 1
    if path.exists():
        if path.is_dir() and not any(any(path.glob(p)) for p in WEIGHT_PATTERNS):
            raise FileNotFoundError(f"model folder {source!r} has no weights (expected one of {WEIGHT_PATTERNS}); "
                                    "was save_pretrained interrupted?")
        if not path.is_dir():
            raise FileNotFoundError(f"model path {source!r} is a file; pass the folder written by save_pretrained")
        return str(path)
    if looks_local:
        raise FileNotFoundError(f"model path {source!r} does not exist")
    return source


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars (the caller shows its own progress); restored afterwards."""
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def ensure_pad_token(model, tokenizer) -> None:
    """Give ``tokenizer`` a pad token (EOS, or a new ``<pad>``) and copy its id into the model's configs.

    A pad id outside the model's embedding table (some tokenizer classes invent one, e.g. Qwen2's default
    ``<|endoftext|>`` on a checkpoint without it) is treated as missing.
    """
    n_embeddings = model.get_input_embeddings().num_embeddings
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id >= n_embeddings:
        tokenizer.pad_token = None
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
            model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def context_length(model) -> int | None:
    """The longest sequence the model accepts (``max_position_embeddings`` / ``n_positions``), or None if unknown."""
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _load(auto_class, name_or_path, *, device, dtype, trust_remote_code, revision):
    source = check_model_source(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
        model = auto_class.from_pretrained(source, dtype=_resolve_dtype(dtype), trust_remote_code=trust_remote_code,
                                           revision=revision)
    except OSError as err:
        raise OSError(f"could not load model {source!r}: {err}") from err
    ensure_pad_token(model, tokenizer)
    model.to(resolve_device(device))
    model.eval()
    return model, tokenizer


def load_causal_lm(name_or_path, *, device=None, dtype=None, trust_remote_code=False, revision=None):
    """Load a policy / reference model: ``(AutoModelForCausalLM in eval mode, tokenizer with a pad token)``.

    A registered model name (``rmlab.lm.models.MODELS``, e.g. ``"smollm2-135m-instruct"``) resolves to its cache
    folder, fetched and converted on first use (with a progress bar).

    >>> model, tokenizer = load_causal_lm("EleutherAI/pythia-70m", device="cpu")  # doctest: +SKIP
    >>> model, tokenizer = load_causal_lm("smollm2-135m-instruct")                 # doctest: +SKIP
    """
    return _load(AutoModelForCausalLM, resolve_model(name_or_path), device=device, dtype=dtype,
                 trust_remote_code=trust_remote_code, revision=revision)


def load_sequence_classifier(name_or_path, *, device=None, dtype=None, trust_remote_code=False, revision=None):
    """Load an explicit reward model: ``(AutoModelForSequenceClassification in eval mode, tokenizer)``."""
    return _load(AutoModelForSequenceClassification, name_or_path, device=device, dtype=dtype,
                 trust_remote_code=trust_remote_code, revision=revision)


def as_model_and_tokenizer(model_or_path, tokenizer=None, *, loader=load_causal_lm, device=None):
    """Accept a path / hub id, a ``(model, tokenizer)`` pair, or a model plus ``tokenizer``; return both."""
    if isinstance(model_or_path, (str, os.PathLike)):
        return loader(model_or_path, device=device)
    if isinstance(model_or_path, tuple):
        model_or_path, tokenizer = model_or_path
    if tokenizer is None:
        raise ValueError("a model object was given without its tokenizer; pass tokenizer=... or a path")
    ensure_pad_token(model_or_path, tokenizer)
    return model_or_path, tokenizer
