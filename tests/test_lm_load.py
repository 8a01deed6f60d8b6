"""Loading tiny saved models through rmlab's loaders: pad tokens, devices, clear errors."""

import pytest
import torch

from rmlab.lm.load import context_length, load_causal_lm, load_sequence_classifier
from tiny_models import ARCHITECTURES, tiny  # noqa: F401  (tiny is a fixture)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_causal_lm_loads_in_eval_mode_with_a_pad_token(tiny, arch):
    model, tokenizer = load_causal_lm(tiny.causal_lm(arch, tokenizer="no_pad"), device="cpu")
    assert not model.training
    assert tokenizer.pad_token_id == tokenizer.eos_token_id          # no pad token -> EOS
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert tokenizer.pad_token_id < model.get_input_embeddings().num_embeddings
    assert context_length(model) == 128
    assert next(model.parameters()).dtype == torch.float32


def test_existing_pad_token_is_kept_and_dtype_is_applied(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt_neox"), dtype="float64")
    assert tokenizer.pad_token == "<pad>"
    assert next(model.parameters()).dtype == torch.float64


def test_sequence_classifier_loads(tiny):
    model, tokenizer = load_sequence_classifier(tiny.reward_model("llama"))
    assert model.config.num_labels == 1 and tokenizer.pad_token_id is not None


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope.*does not exist"):
        load_causal_lm(missing)


def test_folder_without_weights_is_named(tiny, tmp_path):
    folder = tmp_path / "no_weights"
    folder.mkdir()
    for f in tiny.causal_lm("gpt2").iterdir():
        if not f.name.endswith(".safetensors"):
            (folder / f.name).write_bytes(f.read_bytes())
    with pytest.raises(FileNotFoundError, match="no_weights.*has no weights"):
        load_causal_lm(folder)


def test_unknown_dtype_is_rejected(tiny):
    with pytest.raises(ValueError, match="unknown dtype"):
        load_causal_lm(tiny.causal_lm("gpt2"), dtype="float99")
