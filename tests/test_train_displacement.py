"""The Table 1 single-prompt protocol (rmlab.train.displacement) on a tiny model: SFT then tracked DPO, the
peak-to-trough statistic, labelled gainers, Table 13 geometry and the run cache."""

import copy
import math

import numpy as np
import pytest
import torch
from tiny_models import tiny  # noqa: F401  (the session fixture)

from rmlab.errors import UserError
from rmlab.lm.batching import padding_id
from rmlab.lm.ches import encode_preference_pairs
from rmlab.lm.data import encode_pairs, load_preferences
from rmlab.lm.displacement import rmsprop_step
from rmlab.lm.load import load_causal_lm
from rmlab.lm.score import response_logprobs
from rmlab.theory.displacement import peak_to_trough, projections, simulated_rates
from rmlab.train import displacement as TD
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.train.loop import disable_dropout
from rmlab.train.sft import SFTConfig

PROMPT = "is this model kind ?"


def test_single_prompt_run_tracks_every_step(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run = TD.single_prompt_run(model, tokenizer, PROMPT, "yes", "a", sft_steps=2, sft_lr=1e-3,
                               dpo=DPOConfig(lr=1e-3, steps=6))
    assert all((v == before[k]).all() for k, v in model.state_dict().items())          # ran on a copy
    assert len(run["prob_chosen"]) == len(run["prob_rejected"]) == 7 and len(run["loss"]) == 6
    assert len(run["sft_loss"]) == 2 and run["sft_loss"][1] < run["sft_loss"][0]
    assert run["peak_to_trough"] == pytest.approx(
        max([0.0] + [a - b for i, a in enumerate(run["prob_chosen"]) for b in run["prob_chosen"][i + 1:]]))
    assert run["loss_increased"] == any(b > a for a, b in zip(run["loss"], run["loss"][1:]))
    assert len(run["gainers_at_end"]) == 3 and {g["kind"] for g in run["gainers_at_end"]} <= {
        "preferred", "benign", "catastrophic", "other"}
    summary = TD.run_summary(run)
    assert summary["pair"] == "yes ≻ a" and summary["drop"] == run["peak_to_trough"]
    assert list(run["gainers_at_steps"]) == ["5"]                                  # 6 steps: only step 5 reached
    five = TD.single_prompt_run(model, tokenizer, PROMPT, "yes", "a", sft_steps=2, sft_lr=1e-3,
                                dpo=DPOConfig(lr=1e-3, steps=5))
    assert run["gainers_at_steps"]["5"] == five["gainers_at_end"]                 # the same run, stopped at step 5


def test_gainers_by_step_count_the_runs_that_list_each_token():
    def gainers(*tokens):
        return [{"token": t, "gain": 0.1, "kind": "preferred" if t == "Yes" else "other"} for t in tokens]

    runs = [{"chosen": "Yes", "rejected": "No", "gainers_at_steps": {"5": gainers("Yes", "a", "b"),
                                                                     "25": gainers("a", "b", "c")}},
            {"chosen": "Yes", "rejected": "No", "gainers_at_steps": {"5": gainers("a", "Yes", "c")}}]
    rows = TD.gainers_by_step(runs, top=2)
    assert [(r["step"], r["runs"], r["chosen_among_top"], r["top_gainers"]) for r in rows] == [
        (5, 2, 1.0, "Yes (2), a (2)"), (25, 1, 0.0, "a (1), b (1)")]


def test_multi_token_answers_are_refused(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    with pytest.raises(ValueError, match="not single tokens"):
        TD.single_prompt_run(model, tokenizer, PROMPT, "yes , very kind", "no", sft_steps=0, sft_lr=1e-3,
                             dpo=DPOConfig(lr=1e-3, steps=1))


def test_run_cache_returns_the_same_result(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("RMLAB_CACHE", str(tmp_path))
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    kwargs = dict(sft_steps=1, sft_lr=1e-3, dpo=DPOConfig(lr=1e-3, steps=2))
    first = TD.cached_single_prompt_run("tiny", model, tokenizer, PROMPT, "yes", "a", **kwargs)
    second = TD.cached_single_prompt_run("tiny", model, tokenizer, PROMPT, "yes", "a", **kwargs)
    assert not first.pop("cached") and second.pop("cached") and first == second
    other = TD.cached_single_prompt_run("tiny", model, tokenizer, PROMPT, "a", "yes", **kwargs)
    assert not other["cached"] and len(list((tmp_path / "displacement").glob("*.json"))) == 2


def test_family_sft_trains_a_copy_on_family_answers(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prompts, families = [PROMPT, "is this cat kind ?"], [("yes", "a"), ("no",)]
    config = SFTConfig(steps=3, batch_size=2, optimizer="rmsprop", lr=1e-3)
    trained, name = TD.family_sft(model, tokenizer, prompts, families, config, seed=1)
    assert all((v == before[k]).all() for k, v in model.state_dict().items())          # ran on a copy
    assert any((v != before[k]).any() for k, v in trained.state_dict().items())
    assert name == TD.family_sft(model, tokenizer, prompts, families, config, seed=1)[1]
    assert name != TD.family_sft(model, tokenizer, prompts, families, config, seed=2)[1]
    with pytest.raises(ValueError, match="2 prompts but 1"):
        TD.family_sft(model, tokenizer, prompts, families[:1], config)


def test_gainer_labels_and_displaced_fraction():
    assert [TD.gainer_kind(t, "No") for t in ("No", "ĠNo", "Yes", "Maybe", "the")] == [
        "preferred", "benign", "catastrophic", "catastrophic", "other"]
    runs = [{"loss_increased": False, "peak_to_trough": 0.3}, {"loss_increased": True, "peak_to_trough": 0.5},
            {"loss_increased": False, "peak_to_trough": 0.1}]
    assert TD.displaced_fraction(runs) == pytest.approx(1 / 3) and TD.displaced_fraction([]) == 0.0
    assert TD.mean_stable_drop(runs) == pytest.approx(0.2) and math.isnan(TD.mean_stable_drop(runs[1:2]))
    peaks = [{"peak_step": 0}, {"peak_step": 4}, {"peak_step": 17}, {"peak_step": 0}]
    assert TD.peak_after_start_fraction(peaks) == 0.5 and TD.peak_after_start_fraction([]) == 0.0


def test_geometry_and_observed_change(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    W = model.get_output_embeddings().weight.detach().double().numpy()
    ids = tokenizer.convert_tokens_to_ids(["yes", "a"])
    assert TD.unembedding_geometry(model, tokenizer, "yes", "a") == pytest.approx(
        {k: float(v) for k, v in projections(W[ids[0]], W[ids[1]]).items()})
    with pytest.raises(ValueError, match="not in the vocabulary"):
        TD.unembedding_geometry(model, tokenizer, "yes", "Ġnotatoken")
    prefs = [{"prompt": PROMPT, "chosen": "yes", "rejected": "a"},
             {"prompt": "the cat", "chosen": "sat", "rejected": "ran"}]
    result = train_dpo(model, tokenizer, load_preferences(prefs), DPOConfig(lr=1e-3, steps=3, batch_size=2),
                       progress=False)
    change = TD.observed_chosen_change(result)
    end = {r["index"]: r["logp_chosen"] for r in result.tracking if r["step"] == 3}
    start = {r["index"]: r["logp_chosen"] for r in result.tracking if r["step"] == 0}
    np.testing.assert_allclose(change, [end[0] - start[0], end[1] - start[1]])


def test_first_step_gainer_spearman_matches_a_hand_written_sgd_step(tiny):
    from scipy.stats import spearmanr

    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    result = TD.first_step_gainer_spearman(model, tokenizer, PROMPT, "yes", "a", lr=1e-2)
    (prompt_ids, chosen_ids), (_, rejected_ids) = encode_pairs(tokenizer, [PROMPT, PROMPT], ["yes", "a"])
    policy = copy.deepcopy(model)
    policy.eval()

    def sequence_logp(response_ids):          # the answer token and EOS, as DPO scores a response
        ids = torch.tensor([prompt_ids + response_ids])
        logp = torch.log_softmax(policy(ids).logits[0, len(prompt_ids) - 1:-1], -1)
        return logp[torch.arange(len(response_ids)), torch.tensor(response_ids)].sum()

    def next_token():
        with torch.no_grad():
            out = policy(torch.tensor([prompt_ids]), output_hidden_states=True)
        return out.logits[0, -1].double().log_softmax(-1).numpy(), out.hidden_states[-1][0, -1].double().numpy()

    before, h_before = next_token()
    margin = sequence_logp(chosen_ids) - sequence_logp(rejected_ids)
    loss = -torch.nn.functional.logsigmoid(0.1 * (margin - margin.detach()))      # reference = the start
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    with torch.no_grad():
        for p, g in zip(policy.parameters(), grads):
            p -= 1e-2 * g
    after, h_after = next_token()
    W = model.get_output_embeddings().weight.detach().double().numpy()
    direction = W[chosen_ids[0]] - W[rejected_ids[0]]
    others = np.setdiff1d(np.arange(len(before)), [chosen_ids[0], rejected_ids[0]])
    expected = spearmanr(W[others] @ direction, after[others] - before[others]).statistic
    moved = h_after - h_before
    assert result["spearman"] == pytest.approx(expected, abs=1e-6) and abs(expected) < 1
    assert result["hidden_cosine"] == pytest.approx(moved @ direction / np.linalg.norm(moved)
                                                     / np.linalg.norm(direction), abs=1e-6)
    with pytest.raises(ValueError, match="not single tokens"):
        TD.first_step_gainer_spearman(model, tokenizer, PROMPT, "yes yes", "a")


def test_candidate_pair_geometry_counts_the_tokens_that_outgrow_y_plus(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    W = model.get_output_embeddings().weight.detach().double().numpy()
    tokens = ["yes", "a", "the"]
    rows = TD.candidate_pair_geometry(model, tokenizer, tokens, top=2)
    assert [(r["plus"], r["minus"]) for r in rows] == [(p, m) for p in tokens for m in tokens if p != m]
    ids = dict(zip(tokens, tokenizer.convert_tokens_to_ids(tokens)))
    for row in rows:
        i, j = ids[row["plus"]], ids[row["minus"]]
        assert row["kappa"] == pytest.approx(float(projections(W[i], W[j])["kappa"]))
        aligned = W @ (W[i] - W[j])
        others = np.setdiff1d(np.arange(len(W)), [i, j])
        assert row["outgrowing"] == int(np.sum(aligned[others] > aligned[i]))
        expected = others[np.argsort(-aligned[others])][:min(2, row["outgrowing"])]
        assert row["top_outgrowing"] == tokenizer.convert_ids_to_tokens(expected.tolist())
        assert row["same_family"] is False
    with pytest.raises(ValueError, match="not in the vocabulary"):
        TD.candidate_pair_geometry(model, tokenizer, ["yes", "Ġnotatoken"])


def test_mean_pair_geometry_averages_the_models_and_the_choice_ranks_by_kappa(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.get_output_embeddings().weight.mul_(1.5).add_(0.05)
    tokens = ["yes", "Ġno", "the", "a"]
    per_model = [TD.candidate_pair_geometry(m, tokenizer, tokens, top=2) for m in (model, other)]
    averaged = TD.mean_pair_geometry(per_model)
    assert [(r["plus"], r["minus"]) for r in averaged] == [(r["plus"], r["minus"]) for r in per_model[0]]
    for row, first, second in zip(averaged, *per_model):
        assert row["kappa"] == pytest.approx((first["kappa"] + second["kappa"]) / 2)
        assert row["outgrowing"] == pytest.approx((first["outgrowing"] + second["outgrowing"]) / 2)
        assert (row["kappa_min"], row["kappa_max"]) == (min(first["kappa"], second["kappa"]),
                                                        max(first["kappa"], second["kappa"]))
        assert row["models"] == 2
        assert set(row["top_outgrowing"]) <= set(first["top_outgrowing"] + second["top_outgrowing"])
    shortened = [[{**row, "top_outgrowing": []} for row in per_model[0]], per_model[1]]
    assert [row["top_outgrowing"] for row in TD.mean_pair_geometry(shortened)] == [
        row["top_outgrowing"] for row in per_model[1]]
    with pytest.raises(ValueError, match="different pairs"):
        TD.mean_pair_geometry([per_model[0], per_model[1][:-1]])
    with pytest.raises(ValueError, match="at least one"):
        TD.mean_pair_geometry([])
    rows = [{"plus": p, "minus": m, "same_family": s, "kappa": k} for p, m, s, k in [
        ("Never", "No", True, 1.01), ("No", "Never", True, 0.9), ("Yes", "Sure", True, 0.8), ("No", "Nope", True, 1.2),
        ("Yes", "No", False, 2.0), ("Nah", "No", True, 3.0), ("Sure", "Yes", True, 0.95)]]
    assert TD.near_synonym_choice(rows, ["Yes", "Sure", "No", "Never"]) == [("No", "Nope"), ("Sure", "Yes")]
    assert TD.near_synonym_choice(rows, ["Yes", "Sure", "No", "Never"], per_family=2) == [
        ("No", "Nope"), ("Never", "No"), ("Sure", "Yes"), ("Yes", "Sure")]


def test_free_feature_rate_is_the_flow_of_the_models_own_h_and_w(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    result = TD.free_feature_rate(model, tokenizer, PROMPT, "yes", "a")
    (prompt_ids, (plus, _)), (_, (minus, _)) = encode_pairs(tokenizer, [PROMPT, PROMPT], ["yes", "a"])
    with torch.no_grad():
        output = model(torch.tensor([prompt_ids]), output_hidden_states=True)
    h = output.hidden_states[-1][0, -1].double().numpy()[None]
    W = model.get_output_embeddings().weight.detach().double().numpy()[None]
    flow = simulated_rates(h, W, np.array([plus]), np.array([minus]))[0, plus]     # RK4 central difference
    assert result["rate"] == pytest.approx(flow, rel=1e-6, abs=1e-9)
    probs = torch.softmax(output.logits[0, -1].double(), -1)
    assert result["prob_chosen"] == pytest.approx(float(probs[plus])) and result["h_norm"] == pytest.approx(
        float(np.linalg.norm(h)))
    with pytest.raises(ValueError, match="not single tokens"):
        TD.free_feature_rate(model, tokenizer, PROMPT, "yes , very kind", "a")
    biased = copy.deepcopy(model)
    biased.lm_head.bias = torch.nn.Parameter(torch.ones(biased.lm_head.out_features))
    with pytest.raises(ValueError, match="not W h"):
        TD.free_feature_rate(biased, tokenizer, PROMPT, "yes", "a")


def _fake_run(chosen, rejected, drop, gainers, *, unstable=False):
    labelled = [{"token": t, "gain": g, "kind": TD.gainer_kind(t, chosen)} for t, g in gainers]
    return {"chosen": chosen, "rejected": rejected, "peak_to_trough": drop, "peak_prob": 0.5, "trough_prob": 0.5 - drop,
            "peak_step": 1, "trough_step": 2, "prob_chosen": [0.4, 0.5, 0.5 - drop], "loss_increased": unstable,
            "gainers_at_trough": labelled, "gainers_at_end": labelled[::-1]}


def test_pair_summary_counts_displaced_runs_and_gainers_per_pair():
    runs = [_fake_run("No", "Never", 0.3, [("Yes", 0.2), ("<eos>", 0.1), ("no", 0.05)]),
            _fake_run("No", "Never", 0.25, [("<eos>", 0.2), ("Yes", -0.1)], unstable=True),
            _fake_run("No", "Never", 0.1, [("<eos>", 0.3), ("Nope", 0.1)]),
            _fake_run("Sure", "Yes", 0.0, [("yes", 0.1)])]
    never, sure = TD.pair_summary(runs)
    assert (never["pair"], never["runs"], never["unstable"]) == ("No ≻ Never", 3, 1)
    assert never["displaced"] == pytest.approx(1 / 3) and never["drop"] == pytest.approx((0.3 + 0.25 + 0.1) / 3)
    assert never["start"] == pytest.approx(0.4) and never["to"] == pytest.approx(0.5 - (0.3 + 0.25 + 0.1) / 3)
    assert never["other_gainers"] == "<eos> (3)" and never["catastrophic_gainers"] == "Yes (1)"
    assert never["benign_gainers"] == "no (1), Nope (1)"
    assert (sure["pair"], sure["displaced"], sure["benign_gainers"]) == ("Sure ≻ Yes", 0.0, "yes (1)")


def test_answer_pair_set_gives_each_prompt_one_pair():
    rows = TD.answer_pair_set(["a", "b", "c"], [("No", "no"), ("Yes", "No")])
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in rows] == [
        ("a", "No", "no"), ("b", "Yes", "No"), ("c", "No", "no")]
    with pytest.raises(ValueError, match="at least one"):
        TD.answer_pair_set([], [("No", "no")])


def test_predictor_roc_handles_a_single_class():
    aurocs, fig = TD.predictor_roc([True, True], {"s": [0.1, 0.2]}, title="t")
    assert np.isnan(aurocs["s"]) and "undefined" in fig.axes[0].texts[0].get_text()
    aurocs, _ = TD.predictor_roc([True, False, False], {"s": [0.1, 0.2, 0.0], "t": [3, 1, 2]}, title="t")
    assert aurocs == {"s": 0.5, "t": 1.0}


def _average_precision_by_ranks(displaced, score):
    """Average precision from its definition: the mean, over the displaced pairs, of the precision at their rank."""
    hits = np.asarray(displaced)[np.argsort(-np.asarray(score), kind="stable")]
    return float(np.mean([hits[:k + 1].mean() for k in np.flatnonzero(hits)]))


def test_predictor_precision_recall_matches_its_definition_and_handles_a_single_class():
    rng = np.random.default_rng(0)
    displaced = rng.random(40) < 0.3
    scores = {"noisy": displaced + rng.normal(0, 0.8, 40), "random": rng.random(40)}
    average_precisions, fig = TD.predictor_precision_recall(displaced, scores, title="t")
    assert average_precisions == pytest.approx({name: _average_precision_by_ranks(displaced, s)
                                                for name, s in scores.items()})
    assert average_precisions["noisy"] > displaced.mean() + 0.2
    assert fig.axes[0].get_xlabel() == "recall"
    values, fig = TD.predictor_precision_recall([False, False], {"s": [0.1, 0.2]}, title="t")
    assert np.isnan(values["s"]) and "undefined" in fig.axes[0].texts[0].get_text()


def test_predictor_panel_scores_every_pair_and_observes_the_epoch(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("RMLAB_CACHE", str(tmp_path))
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = TD.answer_pair_set([PROMPT, "is this cat kind ?", "is it ?"], [("yes", "a"), ("no", "yes")])
    config = DPOConfig(lr=1e-3, batch_size=2, epochs=1, optimizer="rmsprop")
    first = TD.cached_predictor_panel("tiny", model, tokenizer, rows, config)
    assert all((v == before[k]).all() for k, v in model.state_dict().items())          # trained a copy
    assert set(first["scores"]) == set(TD.FIRST_ORDER_PREDICTORS) | {
        "CHES", "LN-CHES", "-edit distance", "last hidden inner product"}
    assert all(len(s) == 3 for s in first["scores"].values()) and len(first["observed_dlogp_chosen"]) == 3
    epoch = train_dpo(TD.disable_dropout(copy.deepcopy(model)), tokenizer, load_preferences(rows), config,
                      progress=False)
    np.testing.assert_allclose(first["observed_dlogp_chosen"], TD.observed_chosen_change(epoch), atol=1e-6)
    second = TD.cached_predictor_panel("tiny", model, tokenizer, rows, config)
    assert not first.pop("cached") and second.pop("cached") and first == second


def test_first_step_change_by_part_applies_the_first_rmsprop_step_to_head_and_body(tiny):
    model, tokenizer = load_causal_lm(tiny.causal_lm("gpt2", tokenizer="bos"))
    dpo = DPOConfig(lr=1e-3, steps=5)
    for sft_steps in (2, 0):                                    # split ends as the one without SFT
        split = TD.first_step_change_by_part(model, tokenizer, PROMPT, "yes", "a", dpo=dpo, sft_steps=sft_steps,
                                             sft_lr=1e-3)
        run = TD.single_prompt_run(model, tokenizer, PROMPT, "yes", "a", sft_steps=sft_steps, sft_lr=1e-3, dpo=dpo)
        assert split["prob_chosen"] == pytest.approx(run["prob_chosen"][0], rel=1e-6)
        assert split["all"] == pytest.approx(np.log(run["prob_chosen"][1] / run["prob_chosen"][0]), abs=1e-5)

    (prompt, chosen, rejected), = encode_preference_pairs(
        tokenizer, load_preferences([{"prompt": PROMPT, "chosen": "yes", "rejected": "a"}]))
    probe = disable_dropout(copy.deepcopy(model))               # the head's part, stepped by hand
    head = probe.get_output_embeddings().weight
    logps, mask = response_logprobs(probe, [(prompt, chosen), (prompt, rejected)], padding_id(tokenizer))
    sums = torch.where(mask, logps, 0.0).sum(dim=1)
    margin = (sums[0] - sums[0].detach()) - (sums[1] - sums[1].detach())          # reference = the start
    grad, = torch.autograd.grad(-torch.nn.functional.logsigmoid(0.1 * margin), head)

    def answer_logp():
        return float(torch.log_softmax(probe(torch.tensor([prompt])).logits[0, -1], -1)[chosen[0]])

    with torch.no_grad():
        before = answer_logp()
        head -= dpo.lr * rmsprop_step(grad)
        assert split["head"] == pytest.approx(answer_logp() - before, abs=1e-5)
    assert split["head"] > 0                                    # y+'s own row moves along h
    frozen = copy.deepcopy(model)
    frozen.get_output_embeddings().weight.requires_grad_(False)
    assert TD.first_step_change_by_part(frozen, tokenizer, PROMPT, "yes", "a", dpo=dpo)["head"] == 0.0
    frozen.requires_grad_(False)
    with pytest.raises(UserError, match="no trainable weights"):
        TD.first_step_change_by_part(frozen, tokenizer, PROMPT, "yes", "a", dpo=dpo)


def test_plot_runs_names_every_pair_even_a_leading_space_token():
    def run(chosen, probs, loss_increased=False):
        drop, peak, trough = peak_to_trough(probs)
        return {"chosen": chosen, "rejected": "No", "prob_chosen": probs, "loss_increased": loss_increased,
                "peak_to_trough": drop, "peak_step": peak, "trough_step": trough, "peak_prob": probs[peak],
                "trough_prob": probs[trough]}

    fig = TD.plot_runs([run("_Yes", [0.2, 0.6, 0.1]), run("Sure", [0.3, 0.4, 0.5], loss_increased=True)], title="t")
    labels = [t.get_text().strip() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["_Yes ≻ No", "Sure ≻ No", "loss rose at some step"]
