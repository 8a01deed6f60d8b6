"""The similarity-quantile DPO experiment (arXiv 2410.08847 §5) on a tiny model: windows, per-run changes against an
independent recomputation, the frozen reference, seeds and the summary statistics."""

import numpy as np
import pandas as pd
import pytest
import torch

from rmlab._threads import single_torch_thread
from rmlab.lm.ches import ches_scores
from rmlab.lm.data import load_preferences
from rmlab.lm.load import load_causal_lm
from rmlab.lm.score import sequence_logprobs
from rmlab.measure.ches import quantile_window
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.train.similarity_quantiles import (QUANTILES, plot_quantile_windows, quantile_dpo_runs, quantile_spearman,
                                              quantile_summary)
from tiny_models import random_pairs, tiny  # noqa: F401  (tiny is a fixture)


def test_quantile_windows_are_the_lowest_the_highest_and_centred_in_between():
    scores = np.random.default_rng(0).normal(size=50)
    order = np.argsort(scores)
    assert set(quantile_window(scores, 0.0, 10)) == set(order[:10])
    assert set(quantile_window(scores, 1.0, 10)) == set(order[-10:])
    assert set(quantile_window(scores, 0.5, 10)) == set(order[19:29])     # centre round(0.5 * 49) = 24 -> [19, 29)
    with pytest.raises(ValueError, match="window size"):
        quantile_window(scores, 0.5, 51)


@pytest.fixture(scope="module")
def setting(tiny):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("gpt2", tokenizer="bos")))
    prefs = load_preferences(random_pairs(30, seed=5, max_words=6))
    return model, tokenizer, prefs, ches_scores(model, tokenizer, prefs, progress=False)


def test_each_run_is_dpo_on_its_window_from_the_frozen_initial_policy(setting):
    model, tokenizer, prefs, scores = setting
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = DPOConfig(optimizer="adam", lr=1e-2, batch_size=4)
    with single_torch_thread():
        runs = quantile_dpo_runs(model, tokenizer, prefs, scores, config, window=8, seeds=(0, 1),
                                 quantiles=(0.0, 1.0), measures=("ches",), progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())     # the reference is untouched
    assert list(runs.columns) == ["measure", "quantile", "seed", "delta_logp_chosen", "delta_logp_rejected",
                                  "window_score_mean"]
    assert runs.window_score_mean.iloc[2] > runs.window_score_mean.iloc[0]          # q = 1 holds the highest CHES
    # independent recomputation of the (q = 1, seed 1) run: train a copy, score its window before and after
    import copy
    subset = prefs.select(quantile_window(scores["ches"], 1.0, 8))
    trained = copy.deepcopy(model)
    with single_torch_thread():
        train_dpo(trained, tokenizer, subset, DPOConfig(optimizer="adam", lr=1e-2, batch_size=4, seed=1),
                  reference=model, progress=False)
    delta = (sequence_logprobs(trained, tokenizer, subset["prompt"], subset["chosen"])["logprob_sum"]
             - sequence_logprobs(model, tokenizer, subset["prompt"], subset["chosen"])["logprob_sum"]).mean()
    assert runs.delta_logp_chosen.iloc[3] == pytest.approx(delta, abs=1e-5)
    assert runs.delta_logp_chosen.iloc[3] != runs.delta_logp_chosen.iloc[2]         # the seed changes the batch order


def test_summary_and_spearman_read_the_seed_mean_per_quantile():
    runs = pd.DataFrame({"measure": ["ches"] * 6, "quantile": [0, 0, 0.5, 0.5, 1, 1], "seed": [0, 1] * 3,
                         "delta_logp_chosen": [0.3, 0.1, 0.0, 0.2, -0.5, -0.1]})
    summary = quantile_summary(runs)
    assert summary["mean"].tolist() == pytest.approx([0.2, 0.1, -0.3])
    assert summary["min"].tolist() == [0.1, 0.0, -0.5] and summary["max"].tolist() == [0.3, 0.2, -0.1]
    assert quantile_spearman(runs) == {"ches": pytest.approx(-1.0)}


def test_bad_inputs_are_named(setting):
    model, tokenizer, prefs, scores = setting
    with pytest.raises(ValueError, match="scores has 29 rows for 30"):
        quantile_dpo_runs(model, tokenizer, prefs, scores.iloc[:29], DPOConfig(), window=8)
    with pytest.raises(ValueError, match=r"unknown similarity measure\(s\) \['cosine'\]"):
        quantile_dpo_runs(model, tokenizer, prefs, scores, DPOConfig(), window=8, measures=("cosine",))


def test_the_figure_has_a_panel_per_measure_with_its_spearman():
    runs = pd.DataFrame([{"measure": m, "quantile": q, "seed": s, "delta_logp_chosen": sign * q + s}
                         for m, sign in (("ches", -1.0), ("minus_edit_distance", 1.0)) for q in QUANTILES
                         for s in (0, 1)])
    fig = plot_quantile_windows(quantile_summary(runs), quantile_spearman(runs), title="t")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["CHES\nSpearman -1.00", "− normalised edit distance\nSpearman +1.00"]
