"""Explicit and implicit reward models trained with rmlab.train.reward_model on tiny models, and the evaluation
metrics of 2507.07981 against hand-computed values. (On the world: test_world_build.py.)"""

import datasets
import numpy as np
import pytest
import torch

from rmlab._threads import single_torch_thread
from rmlab.errors import UserError
from rmlab.lm.load import load_causal_lm, new_reward_model
from rmlab.lm.score import CallableReward, ExplicitRM, ImplicitRM
from rmlab.train.reward_model import RMConfig, evaluate_reward_model, train_reward_model
from tiny_models import random_pairs, tiny  # noqa: F401  (tiny is a fixture)


def good_bad_pairs(n: int, seed: int) -> datasets.Dataset:
    """A rule an RM can learn: the preferred response says "good", the other "bad"."""
    rows = random_pairs(n, seed=seed, max_words=4)
    return datasets.Dataset.from_list([{"prompt": r["prompt"], "chosen": r["chosen"] + " good",
                                        "rejected": r["rejected"] + " bad"} for r in rows])


@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_both_kinds_learn_a_rule_and_generalise_to_held_out_pairs(tiny, kind):
    path = str(tiny.causal_lm("gpt2", tokenizer="bos"))
    model, tokenizer = new_reward_model(path) if kind == "explicit" else load_causal_lm(path)
    held_out = good_bad_pairs(40, seed=99)
    config = RMConfig(kind=kind, lr=3e-3, beta=0.1, batch_size=8, epochs=4)
    with single_torch_thread():
        before = evaluate_reward_model(
            ExplicitRM(model, tokenizer) if kind == "explicit" else ImplicitRM((model, tokenizer), (model, tokenizer),
                                                                               beta=0.1), held_out)
        trained = train_reward_model(model, tokenizer, good_bad_pairs(64, seed=1), config, progress=False)
        after = evaluate_reward_model(trained.reward, held_out)
    assert isinstance(trained.reward, ExplicitRM if kind == "explicit" else ImplicitRM)
    assert after["accuracy"] >= 0.9 and after["accuracy"] > before["accuracy"]
    assert after["loss"] < before["loss"] and trained.metrics[-1]["loss"] < trained.metrics[0]["loss"]
    assert trained.config["kind"] == kind


def test_implicit_rm_starts_at_zero_reward_and_keeps_its_reference_frozen(tiny):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("gpt2", tokenizer="bos")))
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    with single_torch_thread():
        trained = train_reward_model(model, tokenizer, good_bad_pairs(16, seed=2),
                                     RMConfig(kind="implicit", lr=1e-3, beta=0.1, steps=3), progress=False)
    assert all(torch.equal(initial[k], v) for k, v in trained.reference.state_dict().items())
    assert not all(torch.equal(initial[k], v) for k, v in trained.model.state_dict().items())


def test_evaluation_metrics_by_hand():
    prefs = datasets.Dataset.from_list([{"prompt": "p", "chosen": c, "rejected": r}
                                        for c, r in (("1", "0"), ("0", "0"), ("2", "3"))])
    metrics = evaluate_reward_model(CallableReward(lambda p, r: [float(x) for x in r]), prefs)
    assert metrics["accuracy"] == pytest.approx((1 + 0.5 + 0) / 3)                 # a tie counts 1/2
    all_rewards = np.array([1.0, 0.0, 2.0, 0.0, 0.0, 3.0])
    assert metrics["normalized_margin"] == pytest.approx((1 + 0 + 1) / 3 / (all_rewards.std(ddof=1) + 1e-8))
    expected_loss = np.mean([np.log1p(np.exp(-d)) for d in (1.0, 0.0, -1.0)])
    assert metrics["loss"] == pytest.approx(expected_loss)
    assert metrics["reward_chosen"] == pytest.approx(1.0) and metrics["reward_rejected"] == pytest.approx(1.0)


def test_an_explicit_rm_needs_a_score_head(tiny):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("gpt2", tokenizer="bos")))
    with pytest.raises(UserError, match="new_reward_model"):
        train_reward_model(model, tokenizer, good_bad_pairs(4, seed=0), RMConfig(kind="explicit"), progress=False)
    with pytest.raises(UserError, match="kind must be one of"):
        RMConfig(kind="generative")
