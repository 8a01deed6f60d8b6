"""rmlab.train against TRL (a test-only dependency) on one batch of the quick world's models: the summed log-probs
TRL logs as ``logps/chosen`` / ``logps/rejected`` and its DPO loss, RewardTrainer's Bradley-Terry loss, and the
RLOO / GRPO advantages RLOOTrainer / GRPOTrainer compute from the same rewards.

TRL's own calls into transformers raise FutureWarnings (``gradient_checkpointing`` renamed); they are TRL's, not
rmlab's, so they are silenced around TRL alone."""

import copy
import warnings

import datasets
import numpy as np
import pytest
import torch
import trl

from rmlab._threads import single_torch_thread
from rmlab.lm.load import load_causal_lm, new_reward_model
from rmlab.lm.score import ExplicitRM, sequence_logprobs
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.train.losses import (GRPO_SCALES, bradley_terry_loss, dpo_loss, grpo_advantages,
                                 rloo_advantages)



@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from rmlab.world import build_world, quick_config

    return build_world(quick_config(), cache_dir=tmp_path_factory.mktemp("trl-world"), progress=False)


def _trl(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return make()


def test_dpo_logps_and_loss_equal_trls_on_one_batch(world, tmp_path):
    prefs = world.preferences("prefs_off_policy").select(range(8)).select_columns(["prompt", "chosen", "rejected"])
    policy, tokenizer = load_causal_lm(str(world.models["sft_full"]))
    reference = copy.deepcopy(policy)
    with single_torch_thread():             # move the policy away from the reference: the loss is then not ln 2
        train_dpo(policy, tokenizer, prefs, DPOConfig(optimizer="adam", lr=1e-3, batch_size=8, steps=3),
                  reference=reference, progress=False)
    args = _trl(lambda: trl.DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=8, beta=0.1, report_to=[],
                                      bf16=False, use_cpu=True, max_length=None, disable_dropout=True))
    trainer = _trl(lambda: trl.DPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=prefs,
                                          processing_class=tokenizer))
    batch = next(iter(trainer.get_train_dataloader()))
    policy.train()
    with torch.no_grad():
        trl_loss = _trl(lambda: trainer.compute_loss(policy, batch)).item()
    logged = trainer._metrics["train"]
    policy.eval()
    ours = {f"{name}_{column}": sequence_logprobs(model, tokenizer, prefs["prompt"], prefs[column])["logprob_sum"]
            for name, model in (("policy", policy), ("ref", reference)) for column in ("chosen", "rejected")}
    assert ours["policy_chosen"].mean() == pytest.approx(logged["logps/chosen"][-1], abs=1e-5)
    assert ours["policy_rejected"].mean() == pytest.approx(logged["logps/rejected"][-1], abs=1e-5)
    loss = dpo_loss(*(torch.from_numpy(ours[k]) for k in ("policy_chosen", "policy_rejected", "ref_chosen",
                                                          "ref_rejected")), beta=0.1).mean().item()
    assert abs(loss - np.log(2)) > 1e-3 and loss == pytest.approx(trl_loss, abs=1e-5)


def test_bradley_terry_loss_equals_reward_trainers_on_one_batch(world, tmp_path):
    prefs = world.preferences("prefs_off_policy").select(range(8)).select_columns(["prompt", "chosen", "rejected"])
    model, tokenizer = new_reward_model(str(world.base), seed=3)
    args = _trl(lambda: trl.RewardConfig(output_dir=str(tmp_path), per_device_train_batch_size=8, report_to=[],
                                         bf16=False, use_cpu=True, max_length=None, disable_dropout=True))
    trainer = _trl(lambda: trl.RewardTrainer(model=model, args=args, train_dataset=prefs, processing_class=tokenizer))
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        trl_loss = _trl(lambda: trainer.compute_loss(model, batch)).item()
    rm = ExplicitRM(model, tokenizer)
    chosen, rejected = rm(prefs["prompt"], prefs["chosen"]), rm(prefs["prompt"], prefs["rejected"])
    ours = bradley_terry_loss(torch.from_numpy(chosen), torch.from_numpy(rejected)).mean().item()
    assert ours == pytest.approx(trl_loss, abs=1e-5)


# Rewards of 3 prompts x 4 samples, handed to TRL's trainers through a reward function that ignores the samples:
# one group with distinct rewards, one with a tie, one flat (zero std: the 1e-4 of the std division matters).
PRESET_REWARDS = torch.tensor([[0.3, -1.2, 2.0, 0.5], [1.0, 1.0, -0.5, 0.25], [0.7, 0.7, 0.7, 0.7]])


def _advantages_from_trl(trainer_cls, config_cls, world, tmp_path, **options):
    """The advantages TRL's own ``_generate_and_score_completions`` computes from PRESET_REWARDS (KL off)."""
    policy, tokenizer = load_causal_lm(str(world.models["sft_full"]))
    prompts = world.prompts("eval_prompts")[:3]
    n_prompts, k = PRESET_REWARDS.shape

    def preset(completions, **kwargs):
        assert len(completions) == n_prompts * k
        return PRESET_REWARDS.flatten().tolist()

    args = _trl(lambda: config_cls(output_dir=str(tmp_path), per_device_train_batch_size=n_prompts * k,
                                   num_generations=k, max_completion_length=4, beta=0.0, report_to=[],
                                   bf16=False, use_cpu=True, **options))
    dataset = datasets.Dataset.from_dict({"prompt": prompts})
    trainer = _trl(lambda: trainer_cls(model=policy, reward_funcs=preset, args=args, train_dataset=dataset,
                                       processing_class=tokenizer))
    inputs = [{"prompt": p} for p in prompts for _ in range(k)]
    with torch.no_grad():
        out = _trl(lambda: trainer._generate_and_score_completions(inputs))
    return out["advantages"].reshape(n_prompts, k)


def test_rloo_advantages_equal_rloo_trainers_on_the_same_rewards(world, tmp_path):
    theirs = _advantages_from_trl(trl.RLOOTrainer, trl.RLOOConfig, world, tmp_path, normalize_advantages=False)
    assert torch.allclose(rloo_advantages(PRESET_REWARDS), theirs, atol=1e-6)


@pytest.mark.parametrize("scale", GRPO_SCALES)
def test_grpo_advantages_equal_grpo_trainers_on_the_same_rewards(world, tmp_path, scale):
    theirs = _advantages_from_trl(trl.GRPOTrainer, trl.GRPOConfig, world, tmp_path, scale_rewards=scale)
    ours = grpo_advantages(PRESET_REWARDS, scale=scale)
    assert ours[2].abs().max() == 0 and torch.allclose(ours, theirs, atol=1e-6)
