# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   language_info:
#     codemirror_mode:
#       name: ipython
#       version: 3
#     file_extension: .py
#     mimetype: text/x-python
#     name: python
#     nbconvert_exporter: python
#     pygments_lexer: ipython3
#     version: 3.11.7
# ---

# %% tags=["parameters"]
import os
SEED = 0
QUICK = os.environ.get("RMLAB_QUICK", "0") == "1"
# controlled experiment (official MNIST plan: 1000 images, batch 512, 5000 finetuning epochs, Adam 1e-4)
N_TRAIN, BATCH = (500, 500) if QUICK else (1000, 512)
PRETRAIN_EPOCHS, PRETRAIN_LR = (400, 3e-3) if QUICK else (1000, 1e-3)
EPOCHS, ADAM_LR = (1000, 1e-3) if QUICK else (5000, 1e-4)
SGD_LR = 0.1
HIGH_INITIAL_REWARD = 0.5              # a wrong prediction on a modified image (official labels_with_custom plans)
LOG_EVERY = 10 if QUICK else 25
# language experiments on the world (World v2's rl_prompts)
DATASET = "rl_prompts"                 # World v2: >= 500 RL prompts, one family flat-and-far for sft_full
WORLD_OPTIONS = {}                     # WorldConfig fields to change, e.g. the section 4 probe's
#                                        dict(rare_task_items=(6, 8), count_reward="exact")
INITIAL_POLICY = "sft_full"
N_PROMPTS = 60 if QUICK else 500
K_STATS = 10                           # samples per prompt for the reward mean/std (the paper's 10)
MAX_NEW_TOKENS = 16
STD_EPS, MIN_GAP = 0.05, 1.0           # flat: std <= 0.05; far: mean <= best - 1 (gold in [-1, 1])
RFT_STEPS = 40 if QUICK else 400        # full: the convergence rule on the reference arm (section 2); quick: time
RFT_LR = 3e-4
SFT_EPOCHS = 15 if QUICK else 3        # 60 / 96 steps: enough for SFT to fix the flat-and-far prompts (measured)
SFT_LR = 1e-3
# the heuristics (quick mode: only the strongest setting of each knob) and the partial-SFT grid
LR_FACTORS = (1, 100) if QUICK else (1, 10, 100)
TEMPERATURES = (1.0, 2.0) if QUICK else (1.0, 1.5, 2.0)
ENTROPY_COEFS = (0.0, 0.1) if QUICK else (0.0, 0.01, 0.1)
SFT_FRACTIONS = (0.01, 0.1, 1.0)
SFT_STEP_FRACTIONS = (1.0,) if QUICK else (0.1, 0.4, 1.0)

# %% [markdown]
# # Vanishing gradients in reinforcement finetuning: the experiments
#
# Razin et al., *Vanishing Gradients in Reinforcement Finetuning of Language Models* (arXiv 2310.20703). Notebook 04
# checks the theory exactly: the expected-reward gradient of an input is bounded by its reward std under the model,
# $\lVert\nabla_\theta V(x)\rVert \le 6\,L\,J_x\,\mathrm{STD}_{y\sim p_\theta}[r(x,y)]^{2/3}$, however far $V(x)$ is
# from optimal, and RFT needs time $\Omega(1/\mathrm{STD}^2)$ where SFT needs $O(\ln(1/\mathrm{STD}))$. This notebook
# runs the paper's experiments with trained networks.
#
# ## 1. The controlled experiment (§4.2 of the paper)
#
# The official code's recipe, on scikit-learn's `load_digits` (8×8 digits, shipped with the package):
#
# 1. **pretrain** an MLP (hidden sizes 250, 100) so that each image spreads its probability over $K=5$ labels: its
#    own class and four labels fixed per class (cross-entropy to the uniform distribution over the five);
# 2. **relabel** 10 % of the images with a label *outside* their class's five, which the pretrained model almost
#    never predicts: for these inputs the reward $\pm1$ is $-1$ almost surely, its std is near zero, and by Thm 1 so
#    is its gradient, although the expected reward $\approx -1$ is as far from the optimum $+1$ as it can be;
# 3. **finetune** from the same weights by RFT with *exact* expected gradients (the expectation over the 10 labels is
#    enumerated, so exploration is not the issue) or by SFT (cross-entropy on the new labels).
#
# The paper's appendix repeats it in two variants, and so does this section (one row of the figure each): plain SGD
# instead of Adam, and a **high initial reward** (the official `labels_with_custom` plans): a wrong prediction on a
# modified image earns 0.5 instead of $-1$, so those images start at an expected reward of about 0.5, halfway to the
# optimum rather than at the minimum, while their reward std, $0.5\sqrt{p(1-p)}$ for the new label's probability $p$,
# stays near zero.
#
# **Where this differs from the paper.** `load_digits` (1,797 8×8 images) instead of MNIST; pretraining at Adam
# $10^{-3}$ instead of $10^{-4}$ (fewer epochs for the same fit); the SGD variant at learning rate 0.1 instead of
# 0.01 (64 inputs in $[0,1]$ instead of 784 pixels; chosen so that SFT moves visibly within the budget).
# In quick mode: 500 images, 400 pretraining and 1,000 finetuning epochs, Adam at $10^{-3}$ for
# finetuning.

# %%
import time

from rmlab import plotting
from rmlab.figures import FigureRecord, criteria_summary
from rmlab.train import controlled
from rmlab.train.plots_vanishing import plot_controlled

plotting.use_style()
CONFIG = controlled.ControlledConfig(n_train=N_TRAIN, batch_size=BATCH, pretrain_epochs=PRETRAIN_EPOCHS,
                                     pretrain_lr=PRETRAIN_LR, epochs=EPOCHS, lr=ADAM_LR, log_every=LOG_EVERY,
                                     seed=SEED)
VARIANTS = {"Adam": CONFIG, "SGD": CONFIG.replace(optimizer="sgd", lr=SGD_LR),
            "high initial reward": CONFIG.replace(modified_incorrect_reward=HIGH_INITIAL_REWARD)}

# %%
start = time.perf_counter()
task = controlled.make_task(CONFIG)
pretrained = controlled.pretrain(task, CONFIG)
before = controlled.evaluate(pretrained, task, "rft")
print(f"pretrained: modified images' mean reward std {before['reward_std_modified']:.4f} and expected reward "
      f"{before['reward_modified']:.4f}; unmodified: {before['reward_std_unmodified']:.3f} and "
      f"{before['reward_unmodified']:.3f}")
panels = {name: {method: controlled.finetune(pretrained, task, method, config) for method in controlled.METHODS}
          for name, config in VARIANTS.items()}
summaries = {name: controlled.summarize(histories) for name, histories in panels.items()}
print(f"controlled experiment: {time.perf_counter() - start:.0f} s")
for name, s in summaries.items():
    print(f"{name}: modified-image accuracy RFT {s['rft_acc_modified']:.3f} vs SFT {s['sft_acc_modified']:.3f}; "
          f"RFT on unmodified {s['rft_acc_unmodified']:.3f}; RFT modified reward std <= "
          f"{s['rft_max_reward_std_modified']:.4f}; RFT modified gradient norm / unmodified at start: mean "
          f"{s['rft_mean_relative_grad_norm_modified']:.4f}, max {s['rft_max_relative_grad_norm_modified']:.4f} "
          f"(SFT's own: mean {s['sft_mean_relative_grad_norm_modified']:.2f}); SFT's modified-image accuracy first "
          f"above 0.9 at epoch {s['sft_first_epoch_acc_modified_above_0.9']}")

# %% [markdown]
# **What to look at.** Top row (Adam): RFT (blue) fits the unmodified images (dashed) within a few hundred epochs
# but leaves the modified ones (solid) at zero accuracy for the whole run; their reward std stays near zero, and so
# does their gradient (log scale), orders of magnitude below SFT's. SFT (orange) fits both. Middle row: the same with
# plain SGD, where no per-parameter rescaling can amplify a small gradient. Bottom row: the high initial reward; the
# modified images start halfway to the optimum, and RFT still leaves them there.
#
# The criteria (`vg_controlled`): after training, RFT's accuracy on the modified images < 10 % while SFT's > 95 %, and
# RFT's on the unmodified images > 95 % (Adam, as in the paper's main figure). "Near zero", made concrete: RFT's
# mean reward std on the modified images never exceeds 0.05 (of a possible 1 for a ±1 reward; the unmodified images
# start near 0.8), and the modified images' RFT gradient norm, averaged over the logged epochs, is below 10 % of the
# unmodified images' RFT gradient norm before finetuning. The SGD and high-initial-reward panels are held to RFT's two
# accuracy criteria (the checklist's "acc_mod(RFT) < 10 % in both variants"); SFT's accuracy on the modified images
# there is printed and recorded, not asserted (plain SGD is slow for SFT too). The first logged epoch at which SFT's
# accuracy on the modified images exceeds 90 % is recorded too (`sft_first_epoch_acc_modified_above_0.9`). When one of
# the few modified images that RFT does flip crosses over, its gradient spikes briefly: the largest logged value is
# printed next to the mean.
#
# Measured in full mode (1,000 images, 5,000 epochs; 186 s for this section, with the machine's other core busy):
# - Adam: RFT ends at 2 % accuracy on the modified images (2 of 100 flipped, around epoch 1,000) and 100 % on the
#   others, SFT at 100 % on both (above 90 % from epoch 2,275). RFT's mean reward std on the modified images never
#   exceeds 0.015 (0.008 before finetuning), and their gradient norm averages 1.2 % of the unmodified images' initial
#   one (27.9 % at the flip's spike).
# - SGD: RFT 1 % vs SFT 100 % (above 90 % from epoch 1,075), reward std ≤ 0.008, gradient 0.6 % on average.
# - High initial reward: the modified images start at an expected reward of 0.500 with std 0.002. RFT ends at 2 %
#   on them and 100 % on the others, reward std ≤ 0.003, gradient 0.5 % on average. SFT is the same run as with Adam
#   (its loss does not read the reward): 100 %.
#
# Quick mode (500 images, 1,000 epochs at a 10× learning rate): RFT 4 % vs SFT 100 % (Adam; SFT above 90 % from
# epoch 290), std ≤ 0.036, gradient 3.2 % on average; SGD: RFT 0 %; high initial reward: RFT 4 %.

# %%
rec_controlled = FigureRecord("vg_controlled", notebook="13_vanishing_gradients_experiments", seed=SEED, quick=QUICK)
fig = plot_controlled(panels)
rec_controlled.add_data(config={name: vars(config) for name, config in VARIANTS.items()},
                        pretrained=before, histories=panels, summaries=summaries)
adam, sgd, high = summaries["Adam"], summaries["SGD"], summaries["high initial reward"]
rec_controlled.check("Adam: RFT accuracy on modified inputs", adam["rft_acc_modified"], "<", 0.10)
rec_controlled.check("Adam: SFT accuracy on modified inputs", adam["sft_acc_modified"], ">", 0.95)
rec_controlled.check("Adam: RFT accuracy on unmodified inputs", adam["rft_acc_unmodified"], ">", 0.95)
rec_controlled.check("Adam: RFT max mean reward std of modified inputs", adam["rft_max_reward_std_modified"], "<",
                     0.05)
rec_controlled.check("Adam: RFT gradient norm of modified inputs (mean over epochs) / unmodified at start",
                     adam["rft_mean_relative_grad_norm_modified"], "<", 0.10)
rec_controlled.check("SGD: RFT accuracy on modified inputs", sgd["rft_acc_modified"], "<", 0.10)
rec_controlled.check("SGD: RFT accuracy on unmodified inputs", sgd["rft_acc_unmodified"], ">", 0.95)
rec_controlled.check("high initial reward: RFT accuracy on modified inputs", high["rft_acc_modified"], "<", 0.10)
rec_controlled.check("high initial reward: RFT accuracy on unmodified inputs", high["rft_acc_unmodified"], ">", 0.95)
for criterion in rec_controlled.criteria:
    print(f"{'PASS' if criterion['passed'] else 'FAIL'}: {criterion['name']} = {criterion['value']:.4g} "
          f"(needs {criterion['op']} {criterion['threshold']})")
rec_controlled.save(fig)
fig

# %% [markdown]
# ## 2. RFT vs SFT on the toy world (the GRUE-like experiment, §4.1 of the paper)
#
# The paper samples 10 outputs of the pretrained model for each of 5,000 train inputs of seven GRUE tasks, plots the
# reward mean against the reward std per input (its Fig. 1), and finetunes with PPO (RFT), SFT and SFT then PPO.
# Here: the world's RL prompts, the policy `sft_full` as the starting point, its gold reward as the RL reward,
# RLOO (`rmlab.train.pg`, exact same engine as `rmlab rloo`) for RFT, and the world's noiseless demonstrator for the
# SFT targets. **Differences from the paper:** a 2-layer toy transformer instead of T5/GPT-2, RLOO with a single
# update per batch instead of PPO, the world's gold reward (in $[-1,1]$; scaled to $[0,1]$ where a criterion takes
# a ratio of rewards) instead of ROUGE/BLEU/METEOR.
#
# **Budgets.** SFT: AdamW at $10^{-3}$, batches of 16, 15 epochs over the 60 prompts in quick mode (60 steps), 3 over
# the 500 in full mode (96 steps). This is enough for SFT to *fix* the flat-and-far prompts (measured: their
# reward goes from 0 to about 0.85 on the $[0,1]$ scale), so that the criteria below compare real gains; one epoch
# barely moved them. RFT: RLOO with 4 samples per prompt, 16 prompts per step, Adam at $3\cdot10^{-4}$ (constant),
# 40 steps in quick mode and 400 in full mode.
#
# **How the RFT budget was chosen** (full mode; one rule, decided on the reference arm SFT(100 %)→RFT only, and then
# used for every RFT run in this notebook, the heuristics and all partial-SFT arms included): take the smallest
# budget $T \in \{200, 400, 600, \dots\}$ after which the reference arm's mean reward on all prompts ($[0,1]$ scale,
# 10 samples per prompt) gains less than 0.01 over its last 20 % of steps, i.e. from step $0.8\,T$ to $T$. Measured
# on the reference arm (reward every 40 steps): 0.941 at step 160 → 0.953 at 200 (+0.012: not yet); 0.954 at 320 →
# 0.961 at 400 (+0.007: converged by the rule). It still creeps up afterwards (0.976 at 600, 0.977 at 800), so
# "converged" means "gains less than 0.01 per 20 % more steps", no more. Section 4 reruns the reference at $0.8\,T$
# steps and records the gain in `vg_partial_sft`'s JSON. In quick mode the rule cannot be met within the 3-minute
# budget: the quick reference arm goes 0.524 (40 steps) → 0.611 (200) → 0.683 (400) and still gains 0.02 over its
# last 20 %, so quick mode keeps 40 steps and its RFT runs are not converged.
#
# A prompt is **flat** when its reward std under the initial policy is at most 0.05 and **far** when its mean is at
# least 1 below the best reward (1). Criteria (`vg_grue_like`): per prompt, corr(initial std, RFT gain) >
# corr(initial std, SFT gain); on the flat-and-far prompts, RFT's mean gold gain is below a quarter of SFT's.

# %%
import json
import random
from collections import Counter

import numpy as np

from rmlab.lm.load import load_causal_lm
from rmlab.train import rft_vs_sft
from rmlab.train.pg import PGConfig
from rmlab.train.plots_vanishing import plot_grue_like, plot_heuristics, plot_partial_sft
from rmlab.train.sft import SFTConfig
from rmlab.world import WorldConfig, build_world, quick_config
from rmlab.world.language import Demonstrator, make_facts, prompt_kind

world = build_world((quick_config(SEED) if QUICK else WorldConfig(seed=SEED)).replace(**WORLD_OPTIONS),
                    progress=False)
rows = [json.loads(line) for line in world.datasets[DATASET].read_text().splitlines()][:N_PROMPTS]
prompts = [row["prompt"] for row in rows]
families = [prompt_kind(p) for p in prompts]   # all of kind "tasks": the family is the task (reverse, ...)
demonstrator = Demonstrator(make_facts(world.config.seed), noise=0.0)          # the gold-best responses
demonstrations = [demonstrator.respond(p, random.Random(SEED + i)) for i, p in enumerate(prompts)]
RFT = PGConfig(k=4, batch_prompts=16, steps=RFT_STEPS, max_new_tokens=MAX_NEW_TOKENS, lr=RFT_LR, kl_coef=0.001,
               seed=SEED)
SFT = SFTConfig(batch_size=16, epochs=SFT_EPOCHS, lr=SFT_LR, seed=SEED)


def initial_policy():
    return load_causal_lm(str(world.models[INITIAL_POLICY]))


def stats_of(model, tokenizer):
    return rft_vs_sft.prompt_reward_stats(model, tokenizer, prompts, world.gold, k=K_STATS,
                                          max_new_tokens=MAX_NEW_TOKENS, seed=SEED + 1)


def finetuned(method, *, rft=RFT, sft=SFT, **partial_sft):
    model, tokenizer = initial_policy()
    rft_vs_sft.run_method(method, model, tokenizer, prompts, demonstrations, world.gold, rft=rft, sft=sft,
                          **partial_sft)
    return stats_of(model, tokenizer)


initial = stats_of(*initial_policy())
flat_far = rft_vs_sft.flat_and_far(initial, best=1.0, std_eps=STD_EPS, min_gap=MIN_GAP)
print(f"{len(prompts)} prompts; flat-and-far: {flat_far.sum()} ({flat_far.mean():.0%})")
after = {method: finetuned(method) for method in rft_vs_sft.METHODS}

# %%
gains = {method: stats.mean - initial.mean for method, stats in after.items()}
correlations = {method: rft_vs_sft.pearson(initial.std, gain) for method, gain in gains.items()}
per_family = rft_vs_sft.family_summary(families, initial, after, std_eps=STD_EPS)
flat_far_gain = {method: float(gain[flat_far].mean()) for method, gain in gains.items()}
rec_grue = FigureRecord("vg_grue_like", notebook="13_vanishing_gradients_experiments", seed=SEED, quick=QUICK)
fig = plot_grue_like(initial, after, per_family, correlations, prompt_families=families)
rec_grue.add_data(dataset=DATASET, initial_policy=INITIAL_POLICY, prompts=prompts, families=families,
                  initial_mean=initial.mean, initial_std=initial.std, flat_and_far=flat_far,
                  after_mean={m: s.mean for m, s in after.items()}, after_std={m: s.std for m, s in after.items()},
                  correlations=correlations, per_family=per_family, flat_and_far_gain=flat_far_gain,
                  rft=vars(RFT), sft=vars(SFT))
print("corr(initial std, gain):", {m: round(c, 3) for m, c in correlations.items()})
print("flat-and-far mean gold gain:", {m: round(g, 4) for m, g in flat_far_gain.items()})
rec_grue.check("flat-and-far prompts", int(flat_far.sum()), ">=", 1)
rec_grue.check("corr(initial std, RFT gain) - corr(initial std, SFT gain)",
               correlations["rft"] - correlations["sft"], ">", 0.0)
rec_grue.check("flat-and-far: RFT mean gold gain - 1/4 of SFT's", flat_far_gain["rft"] - flat_far_gain["sft"] / 4,
               "<", 0.0)
rec_grue.check("checklist: Pearson over the prompt families (10th-percentile initial std, RFT gain - SFT gain)",
               rft_vs_sft.family_std_gap_correlation(per_family), ">", 0.0)
for c in rec_grue.criteria:
    print(f"{'PASS' if c['passed'] else 'FAIL'}: {c['name']} = {c['value']:.4g} (needs {c['op']} {c['threshold']})")
rec_grue.save(fig)
fig

# %% [markdown]
# ## 3. Do common heuristics rescue RFT? (§5.1)
#
# RFT again from the initial policy with a 10× and 100× learning rate, a sampling (and training) temperature of 1.5
# and 2, and an entropy bonus of 0.01 and 0.1 (`PGConfig.temperature`, `PGConfig.entropy_coef`), each with the same
# number of RFT steps as every other RFT run here (40 in quick mode, 400 in full mode). Criterion (`vg_heuristics`):
# on the flat-and-far prompts, no variant reaches half of SFT→RFT's gold reward (rewards scaled to $[0,1]$, the range
# of the paper's metrics). The reward is always measured on samples at temperature 1. In full mode the 10× learning
# rate does escape within the 400 steps, and the criterion fails there (see the end of section 4).

# %%
def flat_far_reward(stats):
    return float(rft_vs_sft.unit_interval(stats.mean[flat_far], low=-1.0, high=1.0).mean())


variants = {"RFT": RFT}
variants |= {f"lr ×{f}": PGConfig(**{**vars(RFT), "lr": RFT.lr * f}) for f in LR_FACTORS if f != 1}
variants |= {f"T = {t}": PGConfig(**{**vars(RFT), "temperature": t}) for t in TEMPERATURES if t != 1.0}
variants |= {f"entropy {c}": PGConfig(**{**vars(RFT), "entropy_coef": c}) for c in ENTROPY_COEFS if c != 0.0}
heuristic_reward = {"RFT": flat_far_reward(after["rft"])}
heuristic_reward |= {name: flat_far_reward(finetuned("rft", rft=config)) for name, config in variants.items()
                     if name != "RFT"}
reference = flat_far_reward(after["sft_rft"])
rec_heur = FigureRecord("vg_heuristics", notebook="13_vanishing_gradients_experiments", seed=SEED, quick=QUICK)
fig = plot_heuristics(heuristic_reward, reference)
rec_heur.add_data(rewards=heuristic_reward, sft_rft_reward=reference,
                  variants={name: vars(config) for name, config in variants.items()})
print("flat-and-far reward ([0, 1]):", {name: round(r, 4) for name, r in heuristic_reward.items()},
      f"SFT→RFT {reference:.4f}")
rec_heur.check("best heuristic variant / SFT→RFT (flat-and-far, [0, 1] reward)",
               max(heuristic_reward.values()) / reference, "<", 0.5)
for c in rec_heur.criteria:
    print(f"{'PASS' if c['passed'] else 'FAIL'}: {c['name']} = {c['value']:.4g} (needs {c['op']} {c['threshold']})")
rec_heur.save(fig)
fig

# %% [markdown]
# ### The same knobs with exact gradients (the controlled experiment)
#
# Section 1's RFT (Adam) again, with one knob changed at a time: the learning rate ×10 and ×100, a temperature of 1.5
# and 2 (the policy trained is $\mathrm{softmax}(\text{logits}/T)$), and an entropy bonus of 0.01 and 0.1. Quick mode
# runs only the strongest setting of each knob. The gradient is exact, so no lucky sample can start a climb as it
# does in the world; a knob can only change the size of the modified images' own gradient. Criterion
# (`vg_heuristics_controlled`, ours: the issue's `vg_heuristics` carried over to this setting): no variant's accuracy
# on the modified images reaches half of SFT's.

# %%
controlled_variants = {f"lr ×{f}": CONFIG.replace(lr=CONFIG.lr * f) for f in LR_FACTORS if f != 1}
controlled_variants |= {f"T = {t}": CONFIG.replace(temperature=t) for t in TEMPERATURES if t != 1.0}
controlled_variants |= {f"entropy {c}": CONFIG.replace(entropy_coef=c) for c in ENTROPY_COEFS if c != 0.0}
controlled_finals = {"RFT": panels["Adam"]["rft"][-1]}
controlled_finals |= {name: controlled.finetune(pretrained, task, "rft", config)[-1]
                      for name, config in controlled_variants.items()}
sft_final = panels["Adam"]["sft"][-1]
rec_heur_controlled = FigureRecord("vg_heuristics_controlled", notebook="13_vanishing_gradients_experiments",
                                   seed=SEED, quick=QUICK)
fig = plot_heuristics({name: row["acc_modified"] for name, row in controlled_finals.items()},
                      sft_final["acc_modified"], "SFT", title="RFT heuristics, controlled experiment (exact gradients)",
                      ylabel="accuracy on the modified images")
rec_heur_controlled.add_data(finals=controlled_finals, sft=sft_final,
                             variants={name: vars(config) for name, config in controlled_variants.items()})
rec_heur_controlled.check("best heuristic variant / SFT (modified-image accuracy)",
                          max(row["acc_modified"] for row in controlled_finals.values()) / sft_final["acc_modified"],
                          "<", 0.5)
print({name: {"modified": round(row["acc_modified"], 3), "unmodified": round(row["acc_unmodified"], 3)}
       for name, row in controlled_finals.items()}, f"SFT: {sft_final['acc_modified']:.3f}")
for c in rec_heur_controlled.criteria:
    print(f"{'PASS' if c['passed'] else 'FAIL'}: {c['name']} = {c['value']:.4g} (needs {c['op']} {c['threshold']})")
rec_heur_controlled.save(fig)
fig

# %% [markdown]
# **Measured.** The accuracy on the modified images after finetuning, against SFT's 1.00.
#
# | mode | RFT | lr ×10 | lr ×100 | T = 1.5 | T = 2 | entropy 0.01 | entropy 0.1 |
# |---|---|---|---|---|---|---|---|
# | full (1,000 images, 5,000 epochs, about 30 s per run) | 0.02 | 0.03 | 0.03 | 0.04 | 0.04 | 0.03 | 0.05 |
# | quick (500 images, 1,000 epochs at lr 1e-3, strongest settings only) | 0.04 | | 0.08 | | 0.06 | | 0.06 |
#
# - In full mode the best variant reaches 5 % of SFT's accuracy, and every variant keeps the unmodified images at
#   0.997–1.000.
# - In quick mode the best variant reaches 8 %, but the ×100 learning rate that gets it there also wrecks the
#   unmodified images (0.111).
# - So with exact gradients no knob rescues RFT, as the paper reports, and the criterion passes in both modes.
# - In the world, the 10× learning rate escapes at seed 0 only because a correct `count` sample happens to come early.
#   Seeds 1–9 do not escape (section 4). That is a sampling event, and exact gradients have none.

# %% [markdown]
# ## 4. A little SFT goes a long way (§5.2)
#
# SFT on 1 %, 10 % or 100 % of the prompts for a fraction of the full SFT run's steps, then RFT on all prompts.
# Criterion (`vg_partial_sft`): SFT on 1 % of the prompts (all of its steps) then RFT reaches at least 90 % of the
# reward of SFT on 100 % then RFT (all prompts, rewards scaled to $[0,1]$). The paper (per a secondary source) reports
# 96 % with 40 % of the steps.
#
# **The protocol.** In the paper each GRUE task is its own experiment, and the official code's
# `datapool.frac_train_samples` takes a seeded random fraction of *that task's* train inputs; `max_steps` cuts the
# SFT run short. The world mixes three tasks (prompt families: `sort`, `reverse` and the flat-and-far `count`) in one
# run, so the faithful analogue is a subset **stratified by family**: `rft_vs_sft.sft_subset(..., groups=families)`
# draws $\max(1, \mathrm{round}(f\,n_g))$ of each family's $n_g$ prompts (seeded), so every task is represented,
# as it is in each of the paper's per-task runs. "A fraction of the steps" is that fraction of the steps SFT takes on
# all the prompts, so the small subsets are seen for many epochs.
#
# **How many prompts that is.** Full mode (500 prompts: 216 `sort`, 224 `reverse`, 60 `count`): 1 % is 2 + 2 + 1 = 5
# prompts, exactly 1 % of all prompts; 10 % is 22 + 22 + 6 = 50. Quick mode (60 prompts: 28 `sort`, 25 `reverse`,
# 7 `count`): 1 % of a family is less than one prompt, so "1 %" is one prompt per family, 3 of the 60 prompts, i.e.
# **5 %** of all prompts, not 1 %; 10 % is 3 + 2 + 1 = 6 prompts (10 %). The cell prints each subset's size, its actual
# fraction of all prompts and its families, and the JSON records them (`sft_subsets`).
#
# **What the earlier uniform draw measured** (round 3 of this notebook, 200 RFT steps): five prompts drawn uniformly
# from all 500. At seed 0 they held no `count` prompt, so SFT(1 %) could not unlock the flat-and-far prompts and
# SFT(1 %)→RFT reached 0.781 of SFT(100 %)→RFT. With subset seeds 1–5 each draw held one `count` prompt, and the ratio
# was 0.86–0.90. Whether 1 % of a mixed pool holds a prompt of the rare task was a lottery; per family it is not.

# %%
def mean_reward(stats):
    return float(rft_vs_sft.unit_interval(stats.mean, low=-1.0, high=1.0).mean())


partial = {(f, s): mean_reward(after["sft_rft"]) if (f, s) == (1.0, 1.0) else
           mean_reward(finetuned("sft_rft", sft_fraction=f, sft_step_fraction=s, sft_groups=families))
           for f in SFT_FRACTIONS for s in SFT_STEP_FRACTIONS}
subsets = {f: rft_vs_sft.sft_subset(len(prompts), f, SFT.seed, groups=families) for f in SFT_FRACTIONS}
subset_families = {f: dict(Counter(families[i] for i in subset)) for f, subset in subsets.items()}
for f, subset in subsets.items():
    print(f"SFT on {f:.0%} of each family: {len(subset)} prompts ({len(subset) / len(prompts):.1%} of all), "
          f"{subset_families[f]}, {int(flat_far[subset].sum())} flat and far; reward after RFT by step fraction:",
          {s: round(partial[(f, s)], 4) for s in SFT_STEP_FRACTIONS})
after_small_sft = finetuned("sft", sft_fraction=SFT_FRACTIONS[0], sft_groups=families)   # its SFT phase alone
outside = ~np.isin(np.arange(len(prompts)), subsets[SFT_FRACTIONS[0]])          # the prompts it did not see
unseen = {"all": outside, "flat_and_far": outside & flat_far}
std_before = {group: float(initial.std[rows].mean()) for group, rows in unseen.items()}
std_after = {group: float(after_small_sft.std[rows].mean()) for group, rows in unseen.items()}
std_rise = {group: std_after[group] - std_before[group] for group in unseen}
for group, rows in unseen.items():
    print(f"SFT on {SFT_FRACTIONS[0]:.0%}, the {rows.sum()} prompts outside its subset ({group}): mean reward std "
          f"{std_before[group]:.4f} → {std_after[group]:.4f}")
reference_short = mean_reward(finetuned("sft_rft", rft=PGConfig(**{**vars(RFT), "steps": round(0.8 * RFT_STEPS)})))
rft_budget_rule = {"rule": "reference arm SFT(100 %)→RFT gains < 0.01 over its last 20 % of RFT steps",
                   "rft_steps": RFT_STEPS, "reward_at_80pct_steps": reference_short,
                   "reward_at_all_steps": partial[(1.0, 1.0)], "gain": partial[(1.0, 1.0)] - reference_short}
print(f"RFT budget rule on the reference arm: {reference_short:.4f} at {round(0.8 * RFT_STEPS)} steps → "
      f"{partial[(1.0, 1.0)]:.4f} at {RFT_STEPS}: gain {rft_budget_rule['gain']:+.4f} (converged if < 0.01)")
rec_partial = FigureRecord("vg_partial_sft", notebook="13_vanishing_gradients_experiments", seed=SEED, quick=QUICK)
fig = plot_partial_sft(partial, partial[(1.0, 1.0)], rft_alone=mean_reward(after["rft"]))
rec_partial.add_data(rewards=[{"sft_fraction": f, "sft_step_fraction": s, "reward": r}
                              for (f, s), r in partial.items()],
                     rft_reward=mean_reward(after["rft"]),
                     sft_subsets=[{"sft_fraction": f, "prompts": subset, "flat_and_far": int(flat_far[subset].sum()),
                                   "drawn": "per family", "n_prompts": len(subset), "of_n_prompts": len(prompts),
                                   "fraction_of_all_prompts": len(subset) / len(prompts),
                                   "families": subset_families[f]}
                                  for f, subset in subsets.items()],
                     rft_budget_rule=rft_budget_rule, std_rise_outside_small_sft=std_rise)
rec_partial.check("SFT(1 %)→RFT / SFT(100 %)→RFT", partial[(0.01, 1.0)] / partial[(1.0, 1.0)], ">=", 0.9,
                  quick_relaxed="40 RFT steps, not converged: full SFT teaches the quick world's weak sort and "
                                "reverse, which 40 RFT steps cannot (full mode, 400 steps, asserts it)")
rec_partial.check("checklist: reward std of the prompts outside the 1 % SFT subset, after that SFT minus before",
                  std_rise["all"], ">", 0.0)
rec_partial.check("checklist: the same, flat-and-far prompts outside the subset", std_rise["flat_and_far"], ">", 0.0)
for c in rec_partial.criteria:
    print(f"{'PASS' if c['passed'] else 'FAIL'}: {c['name']} = {c['value']:.4g} (needs {c['op']} {c['threshold']})")
rec_partial.save(fig)
fig

# %% [markdown]
# **What was measured, and what is asserted.** Full mode (500 prompts, 60 of them flat and far, all of the rare `count`
# task; 400 RFT steps; the whole notebook took 735 s of CPU, 16:53 wall, with the machine at load 5.5–6 from other
# jobs, so the run got 72 % of one core; the controlled section took 162 s of it):
#
# - `vg_grue_like`: corr(initial std, gain) 0.16 for RFT vs −0.57 for SFT. On the flat-and-far prompts the mean gold
#   gain is 0 for RFT, 1.69 for SFT and 1.95 for SFT→RFT (of a possible 2). Both criteria pass.
# - `vg_partial_sft` (reward on $[0,1]$ after RFT; rows: SFT on 1 % / 10 % / 100 % of each family, i.e. 5 / 50 / 500
#   prompts; columns: 10 % / 40 % / 100 % of the SFT steps):
#
#   | SFT on | 10 % of steps | 40 % | 100 % |
#   |---|---|---|---|
#   | 1 % (5 prompts, 1 `count`) | 0.882 | 0.894 | 0.897 |
#   | 10 % (50 prompts, 6 `count`) | 0.894 | 0.912 | 0.939 |
#   | 100 % | 0.897 | 0.924 | 0.961 |
#
#   RFT alone reaches 0.787. SFT(1 %)→RFT / SFT(100 %)→RFT = 0.897 / 0.961 = **0.933: passes**. The one `count`
#   demonstration unlocks the flat-and-far prompts (the 60 `count` prompts end at 0.87 on average, against 0.975
#   after SFT(100 %)→RFT), and the 400 RFT steps let RFT bring `sort` and `reverse` close to the reference.
#   It unlocks the answer's form, not counting (probe outside this notebook, the same arm rerun, 10 samples per
#   `count` prompt). That demonstration's answer is "eight", and after RFT the policy answers "eight" in 596 of
#   the 600 samples. That scores 1 on the 8-item prompts and 0.5 on the 7-item ones (0.869). There every sample is
#   "eight", so the reward std is 0: RFT has stopped at a flat point at 0.5, the world's version of section 1's high
#   initial reward. After SFT(100 %)→RFT the policy counts: "seven" in 279 of 300 samples of the 7-item prompts,
#   "eight" in 293 of 300 of the 8-item ones (0.980). The criterion compares rewards, so it passes all the same. At 200
#   RFT steps (the budget before the convergence rule) the same stratified arm reached 0.842 / 0.953 = 0.88: with the
#   subset fixed, RFT had not finished its part.
# - `vg_heuristics` **fails at 400 steps**: RFT at 10× the learning rate ($3\cdot10^{-3}$) reaches 0.872 on the
#   flat-and-far prompts, 0.89 of SFT→RFT's 0.975 (needs < 0.5). Every other variant stays at 0–0.005 (lr ×100 0,
#   temperature 1.5 and 2 0, entropy 0.01 0.005 and 0.1 0.0004). A probe of that run (its flat-and-far reward every
#   40 steps): exactly 0, with reward std 0 over 10 samples on all 60 prompts, up to step 240; 0.001 at 280; 0.870 at
#   320. At the earlier 200-step budget every variant stayed at 0–0.002 and the criterion passed. So in this world a
#   10× learning rate does not help within 240 steps and does by 320: the paper's point that RFT is slowed down on
#   flat prompts holds, but "no heuristic rescues it" holds only for a budget shorter than the one the convergence
#   rule picks.
#   *What the escape is* (probe outside this notebook, same run, exact probabilities every 40 steps): the chance that
#   a `count` sample is one word the gold reward scores above −1 (a number word, a digit or its language-B word,
#   then the end), averaged over the 60 prompts, was $9\cdot10^{-7}$ at the start. The `count` prompts get no reward
#   signal (every sample scores −1), but the updates for `sort` and `reverse` move the shared weights. That chance
#   was $9\cdot10^{-5}$ at step 40, $1.2\cdot10^{-4}$ at 240, $1.5\cdot10^{-3}$ at 280 and 0.996 at 320. At 320 the
#   policy answers every `count` prompt with "gelu", language B's "eight". The policy does not count: it gives one
#   answer everywhere, which the world's reward scores 1 on the 8-item prompts and 0.5 (off by one) on the 7-item
#   ones, 0.872 on average. This is a World v2 limit: its `count` prompts hold 7 or 8 items and the reward gives
#   partial credit, so a single constant answer earns most of the reward. The paper's flat inputs (GRUE) need an
#   answer of their own each. Under seed 1 the same chance stayed at or below $2.4\cdot10^{-6}$ and ended at
#   $2\cdot10^{-8}$, with a reward of 0.
#   *Closing that route (probe, not used).* A world with the same configuration, except that its `count` prompts
#   hold 2–8 items and only the exact count scores (a constant answer then earns 1/7), built in 174 s. There the same
#   10× run (seed 0) did not escape: the chance of a scored one-word answer stayed at or below $5.5\cdot10^{-5}$, and
#   the `count` reward ended at 0. But this model barely learns to count that range from the demonstrations: 0.25
#   after SFT (3 epochs), 0.42 after SFT→RFT at 400 steps, 0.73 at 800, against 0.975 here. The budget rule still
#   picked 400 steps there (all prompts: 0.891 at step 320, 0.899 at 400). This notebook keeps World v2 as built.
#   Switching worlds after seeing this criterion fail would be a choice made for the criterion, and there the
#   reference arm would count at only 0.42.
#   *A world where a constant answer earns little, and the model can still learn to count (probe, 2026-11-30,
#   full mode, the whole notebook; rerun it with the parameter* `WORLD_OPTIONS = dict(rare_task_items=(6, 8),
#   count_reward="exact")`*).* Its `count` prompts hold 6–8 items and only the exact count scores, so a constant
#   answer earns 1/3 (0.33 on $[0,1]$); everything else is the default world. The notebook took 18 min 37 s, the
#   world's build included. Its criteria:
#   - `vg_grue_like` passes: corr(initial std, gain) 0.085 for RFT against −0.43 for SFT; on the 61 flat-and-far
#     prompts a mean gold gain of 0.019 for RFT, 1.25 for SFT and 1.88 for SFT→RFT (of a possible 2).
#   - `vg_heuristics` **passes**: every variant ends at 0.003–0.015 on the flat-and-far prompts (RFT 0.015, lr ×10
#     0.012, lr ×100 0.003), against 0.944 for SFT→RFT (ratio 0.016). With no constant answer worth finding, no
#     heuristic rescues RFT within the 400 steps.
#   - `vg_partial_sft` **fails**: SFT(1 %)→RFT reaches 0.832 against 0.963 for SFT(100 %)→RFT (0.864 < 0.9;
#     SFT(10 %)→RFT 0.944, ratio 0.98). The single `count` demonstration does raise the reward std of the unseen
#     flat-and-far prompts from 0 to 0.19, the paper's mechanism, but 400 RFT steps do not then teach this model to
#     count 6–8 items as well as SFT on every prompt does.
#
#   So exactly one of the criteria fails in each world, and which one depends on whether a constant answer
#   pays: in the default world the partial-SFT pass rests on the constant answer "eight" and the heuristics fail
#   through it; in this one neither result involves it. The notebook keeps the default world, where every other
#   notebook's numbers are measured.
#   The escape depends on the seed. A probe outside this notebook reran the same 10× run (same prompts and budget,
#   about 30 s each) with seeds 1–9 for RLOO's sampling. It reproduces seed 0's 0.872 exactly, and ended at **0.0** on
#   the flat-and-far prompts in all nine other seeds. So a 10× learning rate rescues RFT here only when a scored
#   `count` answer happens to be sampled early. This notebook runs every arm with seed 0, and the criterion stays
#   failed at that seed. More seeds would not change the verdict as the criterion reads ("no variant reaches half"):
#   seed 0's run reaches it. Averaging over seeds would pass, but that reading would be picked after seeing the
#   seeds: not used. Rerun on 2026-11-30 in a fresh environment on an idle core, full mode reproduced every value
#   above exactly in 633 s. With section 3's controlled heuristics added (six runs of about 33 s), the same full run
#   took 856 s (2026-11-30, idle machine), every value above unchanged; with section 1's high-initial-reward panel
#   added (two runs), 891 s with the other core busy. A world heuristic run takes about 31 s: two more seeds of
#   its six variants and of RFT and SFT→RFT would add about 8 minutes, past the 20 allowed.
#
# Quick mode (60 prompts, 7 flat and far, 40 RFT steps, not converged; 60 s of CPU with the world cached):
# corr 0.40 (RFT) vs −0.35 (SFT); flat-and-far gain 0 (RFT) vs 1.72 (SFT); every heuristic variant 0 vs 0.88 for
# SFT→RFT (passes). Partial SFT: SFT on one prompt per family (3 prompts, 5 % of all) then RFT reaches 0.376, on 6
# prompts (10 %) 0.485, on all 0.524, RFT alone 0.237: ratio **0.72, fails** (it was 0.43 with the uniform draw,
# whose single prompt was a `count` prompt). The gap is the quick world's weak `sort` and `reverse` policy, which
# full SFT teaches and 40 RFT steps cannot; the rule's check in quick mode compares steps 32 and 40 (gain 0.005),
# which is noise on a curve that is still rising (0.611 at 200 steps, 0.683 at 400; see section 2).
#
# So each mode asserts the criteria that pass in it: the controlled ones (`vg_controlled`, `vg_heuristics_controlled`)
# and the GRUE-like ones in both; `vg_heuristics` in quick mode (40 steps); `vg_partial_sft`'s ratio in full mode (400
# steps, the converged budget; quick mode relaxes it, and its JSON says why). The failing ones are recorded in their
# JSON (`passed: false`) and printed with their values: `vg_heuristics` in full mode, and in both modes the
# checklist's std rise over *all* the prompts SFT(1 %) did not see.
#
# *The checklist's further criteria* (marked "checklist"). Across the three prompt families, Pearson(10th-percentile
# initial std, RFT gain − SFT gain) is 0.993 (quick 0.79): `count`, with every prompt flat (10th percentile 0), is
# where RFT loses to SFT (−1.69); `reverse` (0.198, −0.05) and `sort` (0.235, +0.01) barely differ. The fraction of
# near-flat prompts (std ≤ 0.05) after each method is in `per_family`: `count` stays at 100 % under RFT and drops to
# 3 % under SFT (52 % after SFT→RFT, where most `count` prompts are answered right every time, a flat point at the
# top). §5.2's mechanism: SFT on 1 % of the prompts (5 of them) raises the mean reward std of the flat-and-far
# prompts it did not see from 0 to 0.48 (quick 0.27), so RFT gets a gradient there. Over all the prompts it did not
# see, the mean std falls slightly (−0.016; quick −0.13): the same SFT makes the `sort` and `reverse` answers more
# deterministic. That criterion, read literally ("the std of non-SFT inputs rises"), fails and is recorded.

# %%
# recorded, not asserted: the checklist's std rise over all unseen prompts (both modes); in full mode vg_heuristics
# (400 RFT steps: the 10x learning rate escapes); in quick mode vg_partial_sft's ratio is relaxed (40 RFT steps)
expected_failures = {("vg_partial_sft", "checklist: reward std of the prompts outside the 1 % SFT subset, after that "
                                        "SFT minus before")}
if not QUICK:
    expected_failures |= {("vg_heuristics", "best heuristic variant / SFT→RFT (flat-and-far, [0, 1] reward)")}
unexpected = criteria_summary([rec_controlled, rec_heur_controlled, rec_grue, rec_heur, rec_partial],
                              expected_failures)
assert not unexpected, unexpected
