"""rmlab.train against TRL (a test-only dependency) on one batch of the quick world's models: the summed log-probs
TRL logs as ``logps/chosen`` / ``logps/rejected`` and its DPO loss, and RewardTrainer's Bradley-Terry loss.

TRL's own calls into transformers raise FutureWarnings (``gradient_checkpointing`` renamed); they are TRL's, not
rmlab's, so they are silenced around TRL alone."""

import copy
import warnings

import numpy as np
import pytest
import torch
import trl

from rmlab._threads import single_torch_thread
from rmlab.lm.load import load_causal_lm, new_reward_model
from rmlab.lm.score import ExplicitRM, sequence_logprobs
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.train.losses import bradley_terry_loss, dpo_loss



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
