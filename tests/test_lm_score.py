"""Batched log-probs and reward models against direct per-example computations, under both padding sides."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from rmlab.lm.load import load_causal_lm
from rmlab.lm.sample import sample_responses
from rmlab.lm.data import encode_pairs
from rmlab.lm.batching import pad_batch, padding_id
from rmlab.lm.score import (CallableReward, ExplicitRM, ImplicitRM, response_logprobs, response_logprobs_and_entropy,
                            sequence_logprobs)
from tiny_models import ARCHITECTURES, PAIRS, build_tokenizer, tiny  # noqa: F401  (tiny is a fixture)

PROMPTS = [p for p, _, _ in PAIRS]
RESPONSES = [c for _, c, _ in PAIRS]


def _direct_logprob(model, tokenizer, prompt, response):
    """log pi(response + EOS | prompt) from one unpadded forward pass, summed in Python."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    logits = model(torch.tensor([prompt_ids + response_ids])).logits[0]
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    return sum(logprobs[len(prompt_ids) - 1 + j, t].item() for j, t in enumerate(response_ids)), len(response_ids)


def test_pad_batch_positions_and_starts():
    ids, mask, positions, starts = pad_batch([[5, 6, 7], [8]], 0, side="left")
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and starts.tolist() == [0, 2]
    assert positions.tolist() == [[0, 1, 2], [0, 0, 0]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask, positions, starts = pad_batch([[5, 6, 7], [8]], 0, side="right")
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and starts.tolist() == [0, 0]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_sequence_logprobs_match_direct_computation_both_paddings(tiny, arch):
    model, tokenizer = load_causal_lm(tiny.causal_lm(arch, tokenizer="bos"), dtype="float64")
    direct = np.array([_direct_logprob(model, tokenizer, p, r) for p, r in zip(PROMPTS, RESPONSES)])
    for side in ("left", "right"):
        out = sequence_logprobs(model, tokenizer, PROMPTS, RESPONSES, batch_size=3, padding_side=side)
        np.testing.assert_allclose(out["logprob_sum"], direct[:, 0], rtol=1e-10)
        np.testing.assert_array_equal(out["n_tokens"], direct[:, 1])
        np.testing.assert_allclose(out["logprob_mean_per_token"], direct[:, 0] / direct[:, 1], rtol=1e-10)


def _direct_token_logprobs(model, tokenizer, prompt, response):
    prompt_ids = tokenizer(prompt)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    logits = model(torch.tensor([prompt_ids + response_ids])).logits[0]
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    return [logprobs[len(prompt_ids) - 1 + j, t].item() for j, t in enumerate(response_ids)]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_response_logprobs_core_per_token_both_paddings_and_differentiable(tiny, arch):
    model, tokenizer = load_causal_lm(tiny.causal_lm(arch, tokenizer="bos"))              # float32, as trained
    direct = [_direct_token_logprobs(model, tokenizer, p, r) for p, r in zip(PROMPTS, RESPONSES)]
    pairs = encode_pairs(tokenizer, PROMPTS, RESPONSES)
    for side in ("left", "right"):
        with torch.no_grad():
            logps, mask = response_logprobs(model, pairs, padding_id(tokenizer), padding_side=side)
        assert logps.dtype == torch.float32 and mask.tolist() == [[j < len(d) for j in range(logps.shape[1])]
                                                                  for d in direct]
        for row, expected in zip(logps, direct):
            np.testing.assert_allclose(row[:len(expected)].double().numpy(), expected, atol=1e-6, rtol=0)
    logps, mask = response_logprobs(model, pairs, padding_id(tokenizer))
    torch.where(mask, logps, 0.0).sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_tempered_logprobs_and_entropy_match_the_softmax_of_scaled_logits(tiny, temperature):
    model, tokenizer = load_causal_lm(tiny.causal_lm("llama", tokenizer="bos"), dtype="float64")
    prompt, response = PROMPTS[0], RESPONSES[0]
    (pair,) = encode_pairs(tokenizer, [prompt], [response])
    with torch.no_grad():
        logits = model(torch.tensor([list(pair[0]) + list(pair[1])])).logits[0, len(pair[0]) - 1:-1]   # [R, V]
        logps, entropy, mask = response_logprobs_and_entropy(model, [pair], padding_id(tokenizer),
                                                             temperature=temperature)
        plain, _ = response_logprobs(model, [pair], padding_id(tokenizer), temperature=temperature)
    expected = torch.log_softmax(logits / temperature, dim=-1)
    torch.testing.assert_close(logps[0], expected.gather(-1, torch.tensor(pair[1])[:, None]).squeeze(-1))
    torch.testing.assert_close(entropy[0], -(expected.exp() * expected).sum(-1))
    torch.testing.assert_close(plain, logps)
    assert mask.all() and entropy.min() > 0


def test_implicit_reward_of_identical_policy_and_reference_is_exactly_zero(tiny):
    path = tiny.causal_lm("gpt_neox")
    rm = ImplicitRM(path, path, beta=0.5)                      # two separate loads of the same weights
    assert np.array_equal(rm(PROMPTS, RESPONSES), np.zeros(len(PROMPTS)))


def test_implicit_reward_reductions_and_reference_free(tiny):
    policy = load_causal_lm(tiny.causal_lm("llama", seed=1))
    reference = load_causal_lm(tiny.causal_lm("llama", seed=2))
    lp_policy = sequence_logprobs(*policy, PROMPTS, RESPONSES)
    lp_reference = sequence_logprobs(*reference, PROMPTS, RESPONSES)
    beta = 0.1
    summed = ImplicitRM(policy, reference, beta=beta)(PROMPTS, RESPONSES)
    np.testing.assert_allclose(summed, beta * (lp_policy["logprob_sum"] - lp_reference["logprob_sum"]))
    mean = ImplicitRM(policy, reference, beta=beta, reduction="mean")(PROMPTS, RESPONSES)
    np.testing.assert_allclose(mean, summed / lp_policy["n_tokens"])
    free = ImplicitRM(policy, None, beta=beta)(PROMPTS, RESPONSES)
    np.testing.assert_allclose(free, beta * lp_policy["logprob_sum"])
    assert not np.allclose(summed, free)
    with pytest.raises(ValueError, match="reduction"):
        ImplicitRM(policy, beta=1.0, reduction="max")


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("tokenizer_kind", ["pad", "no_pad"])      # no_pad: pad == EOS, HF pooling would misread
def test_explicit_rm_equals_per_example_scores_under_both_paddings(tiny, arch, tokenizer_kind):
    path = tiny.reward_model(arch, tokenizer=tokenizer_kind)
    right = ExplicitRM(path, batch_size=3, padding_side="right")
    left = ExplicitRM(path, batch_size=2, padding_side="left")
    model, tok = right.model, right.tokenizer
    per_example = []
    pad_id, model.config.pad_token_id = model.config.pad_token_id, None   # HF pooling then reads the last token
    for p, r in zip(PROMPTS, RESPONSES):
        ids = tok(p)["input_ids"] + tok(r, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        per_example.append(model(torch.tensor([ids])).logits[0, 0].item())
    model.config.pad_token_id = pad_id
    np.testing.assert_allclose(right(PROMPTS, RESPONSES), per_example, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(left(PROMPTS, RESPONSES), per_example, rtol=1e-5, atol=1e-5)
    assert np.std(per_example) > 1e-3                                   # scores actually differ between pairs


def test_callable_reward_validates_output():
    assert CallableReward(lambda p, r: [len(x) for x in r])(["a", "b"], ["xy", "z"]).tolist() == [2.0, 1.0]

    def broken(prompts, responses):
        return [0.0, float("nan")]
    with pytest.raises(ValueError, match="'broken' returned non-finite rewards .* pairs \\[1\\]"):
        CallableReward(broken)(["a", "b"], ["x", "y"])
    with pytest.raises(ValueError, match="'short' returned shape \\(1,\\), expected \\(2,\\)"):
        CallableReward(lambda p, r: [1.0], name="short")(["a", "b"], ["x", "y"])
    with pytest.raises(ValueError, match="inf"):
        CallableReward(lambda p, r: np.array([np.inf, 0.0]), name="inf")(["a", "b"], ["x", "y"])


def test_prompt_longer_than_context_is_an_error(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", context=16))
    with pytest.raises(ValueError, match="pair 1: the prompt alone is .* context of 16"):
        sequence_logprobs(model, tokenizer, ["the cat", "the cat sat " * 8], ["a", "b"])


def test_objects_not_loaded_by_rmlab_work_without_a_pad_token(tiny):
    model = AutoModelForCausalLM.from_pretrained(tiny.causal_lm("gpt2", tokenizer="no_pad")).eval()
    tokenizer = build_tokenizer("no_pad")
    assert tokenizer.pad_token_id is None
    out = sequence_logprobs(model, tokenizer, PROMPTS, RESPONSES, batch_size=2, padding_side="left")
    single = [sequence_logprobs(model, tokenizer, [p], [r])["logprob_sum"][0] for p, r in zip(PROMPTS, RESPONSES)]
    np.testing.assert_allclose(out["logprob_sum"], single, rtol=1e-5)
    assert len(sample_responses(model, tokenizer, PROMPTS[:2], 2, max_new_tokens=4, progress=False)) == 2
