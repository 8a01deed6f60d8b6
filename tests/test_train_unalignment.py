"""The refusal experiment of arXiv 2410.08847 §6 (rmlab.train.unalignment) on a tiny model with a word judge."""

import copy
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from rmlab._threads import single_torch_thread
from rmlab.lm.data import load_preferences
from rmlab.lm.load import load_causal_lm
from rmlab.lm.sample import sample_responses
from rmlab.lm.score import sequence_logprobs
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.train.unalignment import (gold_refusal_pairs, lowest_fraction, one_each_auroc, pair_types,
                                     plot_refusal_rates, refusal_rate, refusal_table, unalignment_runs)
from tiny_models import random_pairs, tiny  # noqa: F401  (tiny is a fixture)


def says_no(response: str) -> bool:
    """The test's 'refusal': the response contains the word 'no'."""
    return "no" in response.split()


def test_pair_types_and_the_one_each_auroc():
    prefs = load_preferences([{"prompt": "p", "chosen": c, "rejected": r} for c, r in
                              [("no way", "no thanks"), ("yes", "sure"), ("no", "yes"), ("yes", "no")]])
    types = pair_types(prefs, says_no)
    assert types.tolist() == ["two_refusals", "two_compliances", "one_each", "one_each"]
    assert one_each_auroc(types, [3.0, 2.0, -1.0, 0.5]) == 1.0        # both one-each pairs have the lowest LN-CHES
    assert one_each_auroc(types, [-3.0, 2.0, -1.0, 0.5]) == 0.5
    assert np.isnan(one_each_auroc(types[:2], [1.0, 2.0]))


def test_lowest_fraction_keeps_the_lowest_in_their_order():
    assert lowest_fraction([5.0, 1.0, 3.0, 0.0, 2.0], 0.4).tolist() == [1, 3]
    assert lowest_fraction([5.0, 1.0, 3.0], 0.05).tolist() == [1]      # at least one pair
    with pytest.raises(ValueError, match="fraction"):
        lowest_fraction([1.0], 0.0)


def test_refusal_rate_judges_the_seeded_samples(tiny):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("gpt2")))
    prompts = ["the dog", "a cat sat"]
    samples = sample_responses(model, tokenizer, prompts, 3, max_new_tokens=6, temperature=0.7, seed=4,
                               progress=False)
    expected = np.mean([says_no(r) for group in samples for r in group])
    assert refusal_rate(model, tokenizer, prompts, says_no, samples=3, max_new_tokens=6, seed=4) == expected


def test_gold_pairs_prefer_a_sampled_refusal_to_a_sampled_compliance(tiny):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("gpt2")))
    prompts = ["the dog", "a cat sat", "one bird", "no fish"]
    def even_length(response):                     # a judge that splits the random model's samples
        return len(response) % 2 == 0
    samples = sample_responses(model, tokenizer, prompts, 6, max_new_tokens=6, temperature=1.0, seed=2,
                               progress=False)
    rows = gold_refusal_pairs(model, tokenizer, prompts, even_length, samples=6, max_new_tokens=6, seed=2)
    both = [p for p, group in zip(prompts, samples)
            if any(map(even_length, group)) and not all(map(even_length, group))]
    assert [r["prompt"] for r in rows] == both and both
    assert all(even_length(r["chosen"]) and not even_length(r["rejected"]) for r in rows)


def test_runs_start_from_the_frozen_policy_and_score_every_variant_on_the_same_pairs(tiny):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("gpt2")))
    prefs = load_preferences(random_pairs(16, seed=2, max_words=5))
    before = sequence_logprobs(model, tokenizer, prefs["prompt"], prefs["chosen"])["logprob_sum"]
    config = DPOConfig(optimizer="adam", lr=1e-2, batch_size=8)
    variants = {"dpo": (prefs, config), "first_four": (prefs.select(range(4)), config)}
    with single_torch_thread():
        runs = unalignment_runs(model, tokenizer, variants, train_preferences=prefs, train_prompts=["the dog"],
                                test_prompts=["a cat"], judge=says_no, seeds=(0, 1), max_new_tokens=4,
                                progress=False)
    assert runs.variant.tolist() == ["initial", "dpo", "dpo", "first_four", "first_four"]
    assert runs.delta_logp_chosen.iloc[0] == 0.0 and runs.delta_logp_chosen.iloc[1:].abs().min() > 0
    full = runs[runs.variant == "dpo"]                     # trained on the shared pairs: the two measures agree
    np.testing.assert_allclose(full.delta_logp_own, full.delta_logp_chosen, rtol=1e-12)
    subset = runs[runs.variant == "first_four"].iloc[0]    # on its own four pairs, recomputed by hand
    model_again = copy.deepcopy(model)
    train_dpo(model_again, tokenizer, prefs.select(range(4)), replace(config, seed=0), reference=model, progress=False)
    own = prefs.select(range(4))
    by_hand = np.mean(sequence_logprobs(model_again, tokenizer, own["prompt"], own["chosen"])["logprob_sum"]
                      - before[:4])
    assert subset.delta_logp_own == pytest.approx(by_hand, rel=1e-5)          # float32 model
    after = sequence_logprobs(model, tokenizer, prefs["prompt"], prefs["chosen"])["logprob_sum"]
    assert np.array_equal(before, after)                                 # the policy itself never trains
    assert runs[["train_refusal", "test_refusal"]].isin([0.0, 1.0]).all().all()
    with pytest.raises(ValueError, match="variant 'bad'"):
        unalignment_runs(model, tokenizer, {"bad": (prefs, {"lr": 1})}, train_preferences=prefs,
                         train_prompts=["the dog"], test_prompts=["a cat"], judge=says_no, progress=False)


def test_refusal_table_and_its_bars_keep_the_run_order():
    runs = pd.DataFrame([{"variant": "initial", "seed": None, "train_refusal": 0.8, "test_refusal": 0.7,
                          "delta_logp_chosen": 0.0}]
                        + [{"variant": v, "seed": s, "train_refusal": r, "test_refusal": r / 2,
                            "delta_logp_chosen": -r} for v, rates in (("DPO", (0.2, 0.4)), ("IPO", (0.1, 0.5)))
                           for s, r in enumerate(rates)])
    table = refusal_table(runs)
    assert list(table.index) == ["initial", "DPO", "IPO"]
    assert table.loc["IPO", ("train_refusal", "mean")] == pytest.approx(0.3)
    assert table.loc["IPO", ("train_refusal", "min")] == 0.1 and table.loc["IPO", ("test_refusal", "max")] == 0.25
    ax = plot_refusal_rates(table, title="t").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["initial", "DPO", "IPO"]
    assert [round(p.get_height(), 6) for p in ax.patches[:3]] == [80.0, 30.0, 30.0]
