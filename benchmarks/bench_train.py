"""Training steps per second, rmlab vs TRL on the same model, data and steps: DPO (``rmlab.train.dpo.train_dpo`` vs
``DPOTrainer``) and RLOO (``rmlab.train.pg.train_pg`` vs ``RLOOTrainer``).

Both train the quick world's ``sft_full`` policy (GPT-NeoX, 2 layers, width 64) from a frozen copy of itself, sigmoid
DPO with beta 0.1, Adam at the same learning rate, batches of 8 pairs of ``prefs_off_policy``, no dropout, fp32, no
gradient checkpointing (bf16 and checkpointing off in TRL, for fairness), one CPU thread. Timed: the training loop
(``train_dpo`` / ``trainer.train()``), best of 3, after one warm-up run each; the world build and model loading are
not timed. TRL precomputes nothing by default (a reference forward per step), rmlab computes the reference's
log-probs once before the loop: that is part of what is compared, and is inside rmlab's timing.

Correctness: both start from the same weights and see a batch of the same pairs first, so the first step's loss is
ln 2 in both, and the mean chosen log-prob of that batch is printed for both.

RLOO: the quick world's ``instruct`` policy against the world's gold reward, 8 prompts x k = 4 samples of at most 16
tokens per step, KL coefficient 0.05, Adam, plain sampling (temperature 1, top-k off, top-p 1) in both; TRL with one
optimisation step per generation batch (``num_iterations=1``, ``steps_per_generation=1``), no reward normalisation
by the initial policy in rmlab (TRL has none). Sampling dominates both; the responses differ (each samples with its
own random streams), so mean response lengths are printed beside the times.

Usage: ``python benchmarks/bench_train.py [--quick]``. Targets: DPO ratio >= 1.5, RLOO ratio >= 1.2.
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


def time_rmlab_rloo(world, steps, lr) -> tuple[float, float]:
    from rmlab.train.pg import PGConfig, train_pg

    policy, tokenizer = load_causal_lm(str(world.models["instruct"]))
    config = PGConfig(k=4, batch_prompts=8, steps=steps, max_new_tokens=16, lr=lr, normalize_rewards=False)
    start = time.perf_counter()
    result = train_pg(policy, tokenizer, world.prompts("eval_prompts"), world.gold, config, progress=False)
    return time.perf_counter() - start, float(np.mean([m["response_length"] for m in result.metrics]))


def time_trl_rloo(world, steps, lr, out_dir) -> tuple[float, float]:
    import datasets
    import trl

    policy, tokenizer = load_causal_lm(str(world.models["instruct"]))
    prompts = datasets.Dataset.from_dict({"prompt": world.prompts("eval_prompts")})

    def gold(prompts, completions, **kwargs):
        return [float(r) for r in world.gold(prompts, completions)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        args = trl.RLOOConfig(output_dir=out_dir, per_device_train_batch_size=32, num_generations=4,
                              max_completion_length=16, temperature=1.0, top_p=1.0, top_k=0, beta=0.05,
                              learning_rate=lr, max_steps=steps, lr_scheduler_type="constant", warmup_steps=0,
                              steps_per_generation=1, num_iterations=1, report_to=[], bf16=False, use_cpu=True,
                              gradient_checkpointing=False, logging_steps=1, save_strategy="no", disable_tqdm=True,
                              seed=0)
        trainer = trl.RLOOTrainer(model=policy, reward_funcs=gold, args=args, train_dataset=prompts,
                                  processing_class=tokenizer)
        start = time.perf_counter()
        trainer.train()
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    return time.perf_counter() - start, float(np.mean(lengths)) if lengths else float("nan")


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

    rl_steps = 5 if args.quick else 20
    with tempfile.TemporaryDirectory() as tmp, single_torch_thread():
        ours = [time_rmlab_rloo(world, rl_steps, 3e-4) for _ in range(3)][1:]
        theirs = [time_trl_rloo(world, rl_steps, 3e-4, tmp) for _ in range(3)][1:]
    (t_ours, len_ours), (t_theirs, len_theirs) = min(ours), min(theirs)
    print(f"RLOO, {rl_steps} steps of 8 prompts x 4 samples (world instruct, gold reward): rmlab {t_ours:.2f} s "
          f"(mean response {len_ours:.1f} tokens), TRL RLOOTrainer {t_theirs:.2f} s (mean completion "
          f"{len_theirs:.1f} tokens)")
    print(f"ratio (TRL time / rmlab time): {t_theirs / t_ours:.2f}x   target >= 1.2x")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
