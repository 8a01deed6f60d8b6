"""DPO steps per second: ``rmlab.train.dpo.train_dpo`` vs TRL's ``DPOTrainer`` on the same model, data and steps.

Both train the quick world's ``sft_full`` policy (GPT-NeoX, 2 layers, width 64) from a frozen copy of itself, sigmoid
DPO with beta 0.1, Adam at the same learning rate, batches of 8 pairs of ``prefs_off_policy``, no dropout, fp32, no
gradient checkpointing (bf16 and checkpointing off in TRL, for fairness), one CPU thread. Timed: the training loop
(``train_dpo`` / ``trainer.train()``), best of 3, after one warm-up run each; the world build and model loading are
not timed. TRL precomputes nothing by default (a reference forward per step), rmlab computes the reference's
log-probs once before the loop: that is part of what is compared, and is inside rmlab's timing.

Correctness: both start from the same weights and see a batch of the same pairs first, so the first step's loss is
ln 2 in both, and the mean chosen log-prob of that batch is printed for both.

Usage: ``python benchmarks/bench_train.py [--quick]``. Target: ratio >= 1.5.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
import warnings

import numpy as np
import torch

from rmlab._threads import single_torch_thread
from rmlab.lm.load import load_causal_lm
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.world import build_world, quick_config


def time_rmlab(path, prefs, steps, lr) -> tuple[float, list[dict]]:
    policy, tokenizer = load_causal_lm(path)
    start = time.perf_counter()
    result = train_dpo(policy, tokenizer, prefs, DPOConfig(optimizer="adam", lr=lr, batch_size=8, steps=steps,
                                                           track=1), progress=False)
    return time.perf_counter() - start, result.metrics


def time_trl(path, prefs, steps, lr, out_dir) -> tuple[float, list[dict]]:
    import trl

    policy, tokenizer = load_causal_lm(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        args = trl.DPOConfig(output_dir=out_dir, per_device_train_batch_size=8, beta=0.1, learning_rate=lr,
                             max_steps=steps, lr_scheduler_type="constant", warmup_steps=0, optim="adamw_torch",
                             weight_decay=0.0, max_grad_norm=1e9, report_to=[], bf16=False, use_cpu=True,
                             gradient_checkpointing=False, max_length=None, disable_dropout=True, logging_steps=1,
                             save_strategy="no", disable_tqdm=True, seed=0)
        trainer = trl.DPOTrainer(model=policy, ref_model=copy.deepcopy(policy), args=args, train_dataset=prefs,
                                 processing_class=tokenizer)
        start = time.perf_counter()
        trainer.train()
    return time.perf_counter() - start, [h for h in trainer.state.log_history if "loss" in h]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (CI smoke run)")
    args = parser.parse_args()
    steps, lr = (10, 1e-4) if args.quick else (40, 1e-4)
    with tempfile.TemporaryDirectory() as tmp, single_torch_thread():
        world = build_world(quick_config(), cache_dir=None, progress=False)
        path = str(world.models["sft_full"])
        prefs = world.preferences("prefs_off_policy").select_columns(["prompt", "chosen", "rejected"])
        ours = [time_rmlab(path, prefs, steps, lr) for _ in range(4)][1:]
        theirs = [time_trl(path, prefs, steps, lr, tmp) for _ in range(4)][1:]
    t_ours, t_theirs = min(t for t, _ in ours), min(t for t, _ in theirs)
    first_ours, first_theirs = ours[0][1][0]["loss"], theirs[0][1][0]["loss"]
    print(f"DPO, {steps} steps of 8 pairs (world sft_full, CPU, 1 thread): rmlab {t_ours:.2f} s "
          f"({steps / t_ours:.1f} steps/s), TRL DPOTrainer {t_theirs:.2f} s ({steps / t_theirs:.1f} steps/s)")
    print(f"first-step loss: rmlab {first_ours:.6f}, TRL {first_theirs:.6f} (ln 2 = {np.log(2):.6f})")
    print(f"ratio (TRL time / rmlab time): {t_theirs / t_ours:.2f}x   target >= 1.5x")
    assert abs(first_ours - np.log(2)) < 1e-5 and abs(first_theirs - np.log(2)) < 1e-4


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
