"""Tiny, randomly initialised Hugging Face models and an offline tokenizer, for tests (no download anywhere).

Every builder saves with ``save_pretrained`` into a folder and returns that folder, so tests load the models through
the same code users use (``rmlab.lm.load``). Same seed => same weights.

Use from a test module (pytest puts ``tests/`` on ``sys.path``)::

    from tiny_models import tiny  # noqa: F401  (the session fixture)

    def test_something(tiny):
        path = tiny.causal_lm("gpt_neox")            # folder with config, weights and tokenizer
        rm_path = tiny.reward_model("llama")         # AutoModelForSequenceClassification, num_labels=1

Tokenizer variants (``tokenizer=`` argument): ``"pad"`` (eos, pad, unk), ``"no_pad"`` (no pad token: the loader must
set one), ``"chat"`` (pad + a chat template with ``<user>``/``<assistant>`` special tokens), ``"bos"`` (prepends a
``<bos>`` token to every encoded text, like Llama tokenizers).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification, GPT2Config, GPTNeoXConfig,
                          LlamaConfig, PreTrainedTokenizerFast, Qwen2Config)

SPECIAL_TOKENS = ["<unk>", "<pad>", "<eos>", "<bos>", "<user>", "<assistant>", "<system>"]
WORDS = ("the a an one this that some every cat dog bird fish horse child teacher robot model answer question "
         "sat ran flew swam ate saw liked helped wrote said is was be good bad great poor kind rude happy sad big "
         "small fast slow red blue green on in under over with near by and but or not yes no very quite "
         "today yesterday here there because so then . , ! ?").split()
CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")
ARCHITECTURES = ("gpt2", "gpt_neox", "llama", "qwen2")
TOKENIZER_KINDS = ("pad", "no_pad", "chat", "bos")
VOCAB_SIZE = 512


def build_tokenizer(kind: str = "pad") -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained (deterministically) on ``WORDS``: any text round-trips through
    encode/decode, and Qwen2's tokenizer class (which ``AutoTokenizer`` forces for ``model_type="qwen2"``) reads it."""
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {TOKENIZER_KINDS}")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator([" ".join(WORDS)] * 4 + [" " + w for w in WORDS], trainer)
    if kind == "bos":
        backend.post_processor = processors.TemplateProcessing(
            single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", SPECIAL_TOKENS.index("<bos>"))])
    specials = dict(unk_token="<unk>", eos_token="<eos>")
    if kind != "no_pad":
        specials["pad_token"] = "<pad>"
    if kind == "bos":
        specials["bos_token"] = "<bos>"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **specials)
    if kind == "chat":
        tokenizer.add_special_tokens({"additional_special_tokens": ["<user>", "<assistant>", "<system>"]})
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _config(arch: str, vocab_size: int, *, hidden: int, layers: int, context: int, **extra):
    common = dict(vocab_size=vocab_size, eos_token_id=SPECIAL_TOKENS.index("<eos>"),
                  bos_token_id=SPECIAL_TOKENS.index("<bos>"), **extra)
    if arch == "gpt2":
        return GPT2Config(n_embd=hidden, n_layer=layers, n_head=2, n_positions=context, **common)
    if arch == "gpt_neox":
        return GPTNeoXConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                             intermediate_size=2 * hidden, max_position_embeddings=context, **common)
    if arch == "llama":
        return LlamaConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                           num_key_value_heads=1, intermediate_size=2 * hidden, max_position_embeddings=context,
                           **common)
    if arch == "qwen2":
        return Qwen2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                           num_key_value_heads=1, intermediate_size=2 * hidden, max_position_embeddings=context,
                           **common)
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")


def save_causal_lm(folder, arch: str = "gpt2", *, tokenizer: str = "pad", seed: int = 0, hidden: int = 32,
                   layers: int = 2, context: int = 128) -> Path:
    """Build a random causal LM (+ tokenizer), ``save_pretrained`` both into ``folder``, return the folder."""
    tok = build_tokenizer(tokenizer)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(_config(arch, len(tok), hidden=hidden, layers=layers, context=context))
    folder = Path(folder)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def save_reward_model(folder, arch: str = "gpt2", *, tokenizer: str = "pad", seed: int = 0, hidden: int = 32,
                      layers: int = 2, context: int = 128) -> Path:
    """Build a random sequence-classification reward model (num_labels=1), save it with its tokenizer."""
    tok = build_tokenizer(tokenizer)
    torch.manual_seed(seed)
    config = _config(arch, len(tok), hidden=hidden, layers=layers, context=context, num_labels=1,
                     pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    model = AutoModelForSequenceClassification.from_config(config)
    with torch.no_grad():  # a visible head: the default init of `score` is tiny for some architectures
        for p in model.score.parameters():
            p.normal_(0.0, 1.0)
    folder = Path(folder)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


class TinyModels:
    """Caches built models under one temporary root, keyed by their arguments."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _folder(self, prefix: str, **kwargs) -> Path:
        return self.root / (prefix + "-" + "-".join(f"{k}={v}" for k, v in sorted(kwargs.items())))

    def causal_lm(self, arch: str = "gpt2", **kwargs) -> Path:
        folder = self._folder("lm", arch=arch, **kwargs)
        return folder if (folder / "config.json").exists() else save_causal_lm(folder, arch, **kwargs)

    def reward_model(self, arch: str = "gpt2", **kwargs) -> Path:
        folder = self._folder("rm", arch=arch, **kwargs)
        return folder if (folder / "config.json").exists() else save_reward_model(folder, arch, **kwargs)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    """Session-wide factory of tiny saved models (see the module docstring)."""
    return TinyModels(tmp_path_factory.mktemp("tiny_models"))


def write_jsonl(path, rows) -> Path:
    """Write ``rows`` (dicts) as JSON lines; a small helper for data-loading tests."""
    path = Path(path)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


PAIRS = [  # (prompt, chosen, rejected) in the tiny vocabulary
    ("the cat sat on", "the mat and was happy .", "a dog"),
    ("one child wrote", "a good answer", "a bad answer because the question was very rude"),
    ("yesterday the robot", "helped the teacher", "ran"),
    ("is this model kind ?", "yes , very kind", "no"),
    ("the bird flew over the", "blue fish and the red horse", "green fish"),
]


def random_pairs(n: int, *, seed: int = 0, min_words: int = 1, max_words: int = 12) -> list[dict]:
    """``n`` preference pairs of random words from ``WORDS`` (prompt 2-8 words), deterministic in ``seed``."""
    rng = random.Random(seed)
    words = [w for w in WORDS if w.isalpha()]

    def text(lo, hi):
        return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))
    return [{"prompt": text(2, 8), "chosen": text(min_words, max_words), "rejected": text(min_words, max_words)}
            for _ in range(n)]


def count_yes(prompts, responses) -> list[float]:
    """A reward for RL tests (``py:tiny_models:count_yes``): how often the word "yes" occurs in the response."""
    return [float(r.split().count("yes")) for r in responses]
