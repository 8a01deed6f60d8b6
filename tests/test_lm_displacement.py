"""The per-example displacement predictor (rmlab.lm.displacement) against brute-force autograd on tiny models."""

import json

import numpy as np
import pytest
import torch
from tiny_models import random_pairs, tiny  # noqa: F401  (tiny: the session fixture)

from rmlab.cli import main
from rmlab.errors import UserError
from rmlab.lm.batching import padding_id
from rmlab.lm.ches import encode_preference_pairs
from rmlab.lm.data import load_preferences
from rmlab.lm.displacement import (feature_problem, first_order_rates, predict_displacement, rmsprop_step,
                                   weight_space_rates, weight_space_rates_by_direction)
from rmlab.lm.load import load_causal_lm
from rmlab.lm.score import response_logprobs
from rmlab.train.losses import dpo_loss


def _brute_force(model, pairs, pad_id, beta, direction):
    """Free features keyed by prefix, built one sequence at a time from output_hidden_states; L and every
    grad ln pi(y+_i) by reverse-mode autograd, one backward per pair."""
    keys, states = {}, []
    head = model.get_output_embeddings().weight.detach().double()
    for prompt, chosen, rejected in pairs:
        for response in (chosen, rejected):
            ids = torch.tensor([prompt + response])
            with torch.no_grad():
                hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0].double()
            for k in range(len(response)):
                key = tuple(prompt + response[:k])
                if key not in keys:
                    keys[key] = len(states)
                    states.append(hidden[len(prompt) - 1 + k])
    features = torch.stack(states).requires_grad_(True)
    W = head.clone().requires_grad_(True)

    def logp(prompt, response):
        total = 0.0
        for k, target in enumerate(response):
            h = features[keys[tuple(prompt + response[:k])]]
            total = total + torch.log_softmax(W @ h, -1)[target]
        return total

    chosen = torch.stack([logp(p, c) for p, c, _ in pairs])
    rejected = torch.stack([logp(p, r) for p, _, r in pairs])
    loss = dpo_loss(chosen, rejected, chosen.detach(), rejected.detach(), beta=beta).mean()
    g_features, g_W = torch.autograd.grad(loss, (features, W), retain_graph=True)
    if direction == "rmsprop":
        g_features, g_W = (g / (0.1 * g.abs() + 1e-8) for g in (g_features, g_W))
    rates = []
    for i in range(len(pairs)):
        a, b = torch.autograd.grad(chosen[i], (features, W), retain_graph=True)
        rates.append(-(a * g_features).sum().item() - (b * g_W).sum().item())
    return np.array(rates)


@pytest.mark.parametrize("arch,direction", [("gpt_neox", "gradient"), ("llama", "gradient"), ("gpt2", "rmsprop")])
def test_prediction_equals_brute_force_autograd(tiny, arch, direction):
    model, tokenizer = load_causal_lm(tiny.causal_lm(arch), dtype="float64")
    prefs = random_pairs(6, seed=1, max_words=4) + [{"prompt": "the cat", "chosen": "sat on", "rejected": "sat"}]
    pairs = encode_preference_pairs(tokenizer, load_preferences(prefs))
    problem = feature_problem(model, pairs, padding_id(tokenizer), batch_size=3)
    chosen, _ = first_order_rates(problem, beta=0.1, chunk=5, direction=direction)
    expected = _brute_force(model, pairs, padding_id(tokenizer), 0.1, direction)
    np.testing.assert_allclose(chosen, expected, rtol=1e-8, atol=1e-12)


def test_prediction_is_first_order_change_of_the_feature_model(tiny):
    """A tiny gradient step on (features, W) changes ln pi(y+_i) by lr * prediction, to second order."""
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2"), dtype="float64")
    pairs = encode_preference_pairs(tokenizer, load_preferences(random_pairs(5, seed=3, max_words=5)))
    problem = feature_problem(model, pairs, padding_id(tokenizer))
    chosen, rejected = first_order_rates(problem, beta=0.1)
    features = problem.features.clone().requires_grad_(True)
    W = problem.W.clone().requires_grad_(True)
    every = slice(0, len(problem.entry_row))
    sums = problem.sequence_sums(problem.entry_logprobs(features, W, every))
    loss = dpo_loss(sums[0::2], sums[1::2], sums[0::2].detach(), sums[1::2].detach(), beta=0.1).mean()
    g_features, g_W = torch.autograd.grad(loss, (features, W))
    lr = 1e-5
    with torch.no_grad():
        after = problem.sequence_sums(problem.entry_logprobs(features - lr * g_features, W - lr * g_W, every))
    observed = (after - sums.detach()).numpy()
    np.testing.assert_allclose(observed[0::2] / lr, chosen, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(observed[1::2] / lr, rejected, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("direction", ["gradient", "rmsprop"])
def test_weight_space_prediction_equals_per_pair_autograd(tiny, direction):
    """<grad_theta ln pi(y+_i), -grad_theta L> (or RMSprop's first update) over every weight, one backward per pair."""
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2"), dtype="float64")
    pairs = encode_preference_pairs(tokenizer, load_preferences(random_pairs(5, seed=2, max_words=4)))
    pad_id = padding_id(tokenizer)
    chosen, rejected = weight_space_rates(model, pairs, pad_id, beta=0.1, batch_size=2, direction=direction)
    weights = [w for w in model.parameters() if w.requires_grad]
    sums = [torch.where(mask, logps, 0.0).sum(dim=1) for logps, mask in
            (response_logprobs(model, [(p, y) for p, *ys in pairs for y in ys[k:k + 1]], pad_id) for k in (0, 1))]
    loss = dpo_loss(*sums, sums[0].detach(), sums[1].detach(), beta=0.1).mean()
    tangent = [-g if direction == "gradient" else -rmsprop_step(g)
               for g in torch.autograd.grad(loss, weights, retain_graph=True)]
    for side, predicted in zip(sums, (chosen, rejected)):
        expected = [sum((g * t).sum() for g, t in zip(torch.autograd.grad(value, weights, retain_graph=True),
                                                     tangent)).item() for value in side]
        np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("arch", ["llama", "gpt_neox"])
def test_weight_space_rates_of_a_lower_precision_model_match_float64(tiny, arch):
    """Forward-mode AD through the architectures' attention (made eager on a float32 copy) gives the float64 rates
    to float32 accuracy, for a float32 and a bf16 model, and leaves the caller's model as it was."""
    path = tiny.causal_lm(arch)
    pairs = None
    reference = None
    for dtype in ("float64", "float32", "bfloat16"):
        model, tokenizer = load_causal_lm(path, dtype=dtype)
        pairs = pairs or encode_preference_pairs(tokenizer, load_preferences(random_pairs(4, seed=5, max_words=4)))
        attention = model.config._attn_implementation
        chosen, _ = weight_space_rates(model, pairs, padding_id(tokenizer), batch_size=2, direction="rmsprop")
        assert model.dtype == getattr(torch, dtype) and model.config._attn_implementation == attention
        if reference is None:
            reference = chosen
        else:   # a bf16 model's weights are rounded, so its rates are those of slightly different weights
            np.testing.assert_allclose(chosen, reference, rtol=1e-4 if dtype == "float32" else 5e-2,
                                       atol=1e-4 * np.abs(reference).max())


def test_weight_space_rates_share_one_gradient_across_directions(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2"), dtype="float64")
    pairs = encode_preference_pairs(tokenizer, load_preferences(random_pairs(4, seed=3, max_words=4)))
    both = weight_space_rates_by_direction(model, pairs, padding_id(tokenizer), batch_size=2)
    assert set(both) == {"gradient", "rmsprop"}
    for direction, (chosen, rejected) in both.items():
        alone = weight_space_rates(model, pairs, padding_id(tokenizer), batch_size=2, direction=direction)
        np.testing.assert_allclose(chosen, alone[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(rejected, alone[1], rtol=1e-9, atol=1e-12)
    with pytest.raises(UserError, match="direction"):
        weight_space_rates_by_direction(model, pairs, padding_id(tokenizer), directions=("adam",))


def test_rmsprop_direction_is_torchs_first_rmsprop_step():
    weight = torch.nn.Parameter(torch.tensor([3.0, -1e-3, 0.0, 2e-9]))
    weight.grad = torch.tensor([3.0, -1e-3, 0.0, 2e-9])
    torch.optim.RMSprop([weight], lr=1.0).step()
    np.testing.assert_allclose(weight.detach() - weight.grad, -rmsprop_step(weight.grad), rtol=1e-6, atol=1e-7)


def test_public_function_and_cli_column(tiny, tmp_path):
    path = tiny.causal_lm("gpt2")
    prefs = random_pairs(8, seed=4, max_words=4)
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in prefs))
    model, tokenizer = load_causal_lm(path)
    frame = predict_displacement(model, tokenizer, data)
    assert list(frame["index"]) == list(range(8)) and np.all(np.isfinite(frame["predicted_dlogp_chosen"]))
    out = tmp_path / "ches.jsonl"
    assert main(["ches", "--model", str(path), "--data", str(data), "--out", str(out), "--quiet",
                 "--predict-displacement"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    np.testing.assert_allclose([r["predicted_dlogp_chosen"] for r in rows], frame["predicted_dlogp_chosen"],
                               rtol=1e-6)
    assert "ln_ches" in rows[0]
    out_weights = tmp_path / "ches_weights.jsonl"
    assert main(["ches", "--model", str(path), "--data", str(data), "--out", str(out_weights), "--quiet",
                 "--predict-displacement", "--predict-scope", "weights", "--predict-direction", "rmsprop"]) == 0
    weights = predict_displacement(model, tokenizer, data, scope="weights", direction="rmsprop")
    np.testing.assert_allclose([json.loads(line)["predicted_dlogp_chosen"] for line in
                                out_weights.read_text().splitlines()], weights["predicted_dlogp_chosen"], rtol=1e-6)
