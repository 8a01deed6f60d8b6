"""The world's offline word-level tokenizer (``tokenizers`` WordLevel -> ``PreTrainedTokenizerFast``).

It splits on whitespace and isolates the punctuation words ``: > , . ?`` (so ``"... >" + "dog"`` and
``"... > " + "dog"`` tokenize alike), maps unknown words to ``<unk>``, adds no special token when encoding (like
Pythia's tokenizer), and decodes by joining words with single spaces: ``decode(encode(t)) == t`` for every text of
the world in canonical form (words separated by single spaces).
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from rmlab.world.language import VOCABULARY


def build_tokenizer(model_max_length: int = 128) -> PreTrainedTokenizerFast:
    """The tokenizer over :data:`~rmlab.world.language.VOCABULARY` with ``<bos> <eos> <pad> <unk>``
    (``model_max_length``: the context length of the models it is saved with)."""
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCABULARY)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(r"[:>,.?]"), behavior="isolated")])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>", clean_up_tokenization_spaces=False,
                                   model_max_length=model_max_length)
