"""Load Hugging Face policies, reference models and explicit reward models, ready for batched scoring.

``load_causal_lm`` / ``load_sequence_classifier`` return ``(model, tokenizer)`` with the model in eval mode on the
requested device and a pad token always set (the EOS token when the tokenizer has none, else a new ``<pad>`` token
with resized embeddings). rmlab pads batches itself (left or right, see ``rmlab.lm.batching.pad_batch``), so the
tokenizer's ``padding_side`` does not matter.

Safety: ``trust_remote_code`` is False unless the caller passes True. A local folder is checked before anything is
loaded (:func:`check_model_source`: weights present and complete, tokenizer files, the model kind from
``config.json``); a problem raises :class:`rmlab.errors.UserError` naming it (``FileNotFoundError`` too for a
missing path). Hub ids (``"org/name"``) are
resolved by ``transformers`` and need network access (never used in tests).

The default dtype is float32 (deterministic CPU numbers, and CHES needs the precision); pass ``dtype="bfloat16"``
for large models on a GPU.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from rmlab.lm.models import resolve_model

from rmlab.errors import MissingInputError, UserError, check_device

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json", "pytorch_model.bin.index.json")


def numeric_versions() -> dict[str, str]:
    """The installed versions that decide floating-point results: torch's kernels and transformers' model code
    (initialisation, attention). Recorded next to trained models and in the toy world's cache key."""
    return {"torch": torch.__version__, "transformers": transformers.__version__}


def resolve_device(device=None) -> torch.device:
    """``None`` -> the first CUDA device when available, else the CPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(check_device(device, "device"))


def resolve_dtype(dtype):
    """``None`` -> float32; a name (``"bfloat16"``) -> the torch dtype; ``"auto"`` and dtypes pass through."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str) and dtype != "auto":
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise UserError(f"unknown dtype {dtype!r}; use e.g. 'float32', 'bfloat16', 'float16' or 'auto'")
        return getattr(torch, dtype)
    return dtype


def check_model_source(name_or_path, *, kind: str | None = None, name: str = "model") -> str:
    """Return ``name_or_path`` as a string after checking, without loading anything, what can be checked offline.

    A string that exists on disk, or that looks like a filesystem path (absolute, ``./``, ``~``, more than one ``/``),
    is treated as local; anything else (``"EleutherAI/pythia-70m"``) is left to the hub. A local model must be a
    folder holding weights (safetensors files complete, as their headers say), tokenizer files, and a
    ``config.json`` of the expected ``kind``: ``"causal_lm"`` (a policy / reference model) or ``"reward_model"``
    (a sequence classifier with one score), see :func:`model_kind`. Errors are :class:`~rmlab.errors.UserError`
    (``MissingInputError`` for a missing path) naming ``name`` and the path.
    """
    source = os.fspath(name_or_path)
    path = Path(source).expanduser()
    looks_local = path.is_absolute() or source.startswith((".", "~")) or source.count("/") > 1
    if not path.exists():
        if looks_local:
            raise MissingInputError(f"{name} path {source!r} does not exist")
        return source
    if not path.is_dir():
        raise MissingInputError(f"{name} path {source!r} is a file; pass the folder written by save_pretrained")
    if not any(any(path.glob(p)) for p in WEIGHT_PATTERNS):
        raise MissingInputError(f"{name} folder {source!r} has no weights (expected one of {WEIGHT_PATTERNS}); "
                                "was save_pretrained interrupted?")
    for weights in sorted(path.glob("*.safetensors")):
        _check_safetensors_complete(weights, name)
    if not any(any(path.glob(p)) for p in TOKENIZER_PATTERNS):
        raise UserError(f"{name} folder {source!r} has no tokenizer files (expected one of {TOKENIZER_PATTERNS}); "
                        "save the tokenizer with tokenizer.save_pretrained(folder)")
    if kind is not None:
        found = model_kind(path)
        if found != kind:
            raise UserError(f"{name} {source!r} is {KIND_WORDS[found]}, but {KIND_WORDS[kind]} is expected here")
    return str(path)


TOKENIZER_PATTERNS = ("tokenizer.json", "vocab.json", "vocab.txt", "*.model", "*.tiktoken")
KIND_WORDS = {"causal_lm": "a causal LM (AutoModelForCausalLM)",
              "reward_model": "a sequence classifier with one score (a reward model)",
              "classifier": "a sequence classifier with several labels (not a one-score reward model)",
              "other": "neither a causal LM nor a sequence classifier",
              "unknown": "a model whose config.json names no architecture or model_type"}


def model_kind(folder) -> str:
    """What a saved model is, from its ``config.json`` alone: ``"causal_lm"``, ``"reward_model"`` (sequence
    classifier, one label), ``"classifier"`` (several labels), ``"other"`` or ``"unknown"``.

    The ``architectures`` entry decides (``...ForCausalLM`` / ``...LMHeadModel`` or a class transformers maps as a
    causal LM; ``...ForSequenceClassification``); without it, a ``model_type`` transformers can build as a causal LM.
    """
    config_path = Path(folder) / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"model folder {str(folder)!r} has no config.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{config_path}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise UserError(f"{config_path}: expected a JSON object")
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    architectures = config.get("architectures") or []
    causal_classes = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        n_labels = config.get("num_labels") or len(config.get("id2label") or {}) or 2
        return "reward_model" if n_labels == 1 else "classifier"
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) or a in causal_classes for a in architectures):
        return "causal_lm"
    if architectures:
        return "other"
    return "causal_lm" if config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES else "unknown"


def _check_safetensors_complete(path: Path, name: str) -> None:
    """A safetensors file is an 8-byte header length, a JSON header with each tensor's byte range, then the data:
    a file shorter than its header announces was truncated (an interrupted copy or download)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            header_length = int.from_bytes(f.read(8), "little")
            if not 0 < header_length <= size - 8:
                raise ValueError
            header = json.loads(f.read(header_length))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError):
        raise UserError(f"{name} weights {str(path)!r} are not a valid safetensors file (damaged?)") from None
    if size < 8 + header_length + end:
        raise UserError(f"{name} weights {str(path)!r} are truncated: {size} bytes, its header announces "
                        f"{8 + header_length + end}; copy or save the model again")


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


def _load(auto_class, name_or_path, *, kind, device, dtype, trust_remote_code, revision):
    source = check_model_source(name_or_path, kind=kind)
    device = resolve_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
        model = auto_class.from_pretrained(source, dtype=resolve_dtype(dtype), trust_remote_code=trust_remote_code,
                                           revision=revision)
    except OSError as err:
        raise UserError(f"could not load model {source!r}: {err}") from err
    ensure_pad_token(model, tokenizer)
    model.to(device)
    model.eval()
    return model, tokenizer


def load_causal_lm(name_or_path, *, device=None, dtype=None, trust_remote_code=False, revision=None):
    """Load a policy / reference model: ``(AutoModelForCausalLM in eval mode, tokenizer with a pad token)``.

    A registered model name (``rmlab.lm.models.MODELS``, e.g. ``"smollm2-135m-instruct"``) resolves to its cache
    folder, fetched and converted on first use (with a progress bar).

    >>> model, tokenizer = load_causal_lm("EleutherAI/pythia-70m", device="cpu")  # doctest: +SKIP
    >>> model, tokenizer = load_causal_lm("smollm2-135m-instruct")                 # doctest: +SKIP
    """
    return _load(AutoModelForCausalLM, resolve_model(name_or_path), kind="causal_lm", device=device, dtype=dtype,
                 trust_remote_code=trust_remote_code, revision=revision)


def load_sequence_classifier(name_or_path, *, device=None, dtype=None, trust_remote_code=False, revision=None):
    """Load an explicit reward model: ``(AutoModelForSequenceClassification in eval mode, tokenizer)``."""
    return _load(AutoModelForSequenceClassification, name_or_path, kind="reward_model", device=device, dtype=dtype,
                 trust_remote_code=trust_remote_code, revision=revision)


def new_reward_model(name_or_path, *, seed: int = 0, device=None, dtype=None, trust_remote_code=False):
    """An explicit reward model to train: a causal LM's backbone with a new one-score linear head (seeded init),
    as ``AutoModelForSequenceClassification`` (train mode off; ``(model, tokenizer)``)."""
    source = check_model_source(name_or_path, kind="causal_lm")
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    torch.manual_seed(seed)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()            # "score.weight newly initialised" is the point here
    try:
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, dtype=resolve_dtype(dtype),
                                                                   trust_remote_code=trust_remote_code)
    finally:
        transformers.logging.set_verbosity(verbosity)
    ensure_pad_token(model, tokenizer)
    return model.to(resolve_device(device)).eval(), tokenizer


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
