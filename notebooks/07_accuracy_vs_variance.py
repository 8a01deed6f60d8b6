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
# Dataset names of the world (World v2: RL training on rl_prompts, evaluation on the disjoint eval_prompts)
RL_PROMPTS, EVAL_PROMPTS = "rl_prompts", "eval_prompts"
ON_POLICY, OFF_POLICY = "prefs_on_policy", "prefs_off_policy"
# WorldConfig fields to change. Full mode: preference pools of 10,000 pairs instead of World v2's 2,000, so that each
# zoo RM trains on 6,000 pairs instead of 1,200 (the paper's: 33,135); "The world's pool size" below shows both.
# Quick mode: the quick world as built (its RMs train on 1,200 pairs, for 8 epochs, within 3 minutes).
WORLD_OPTIONS = {} if QUICK else dict(pool_pairs=10000)
# Sizes: rmlab.world.teacher.SCALES["quick" or "full"], shared with notebook 08 (which reuses these runs in full
# mode): RL prompts (an epoch is one pass over them), held-out evaluation prompts and samples per prompt, seeds,
# epochs, samples per prompt for the RM properties, how the BT RMs train (Adam lr 1e-4 for 24 epochs; quick: 3e-4
# for 8).
# The RL setting itself (RLOO, k = 2, KL 0.05, Adam 1e-4, 16 prompts per step) is rmlab.world.teacher.RunSettings'
# defaults.
# Criteria that fail at this scale, as (figure, criterion): printed with their measured values and recorded as
# passed=False in the figures' JSON, not asserted. Every other criterion is asserted. Full mode (3 seeds, first
# machine): the zoo's BT RMs reach on-policy accuracy 0.58-0.64 (ceiling 0.81, chance 0.46 on these samples). RLOO on
# r_G and on the perfect-accuracy RM raise the gold reward most (epoch 1: +0.050 and +0.037), the trained RMs by
# -0.005 to +0.026: they teach `sort` and lower `reverse`, which they cannot judge. So Figure 2 and the gold
# correlation fail in every draw. Three more depend on the draw: the world and the zoo are trained on the machine,
# and on another CPU (AVX-512, 2026-12-01) the same code trains other models. Table 1's variance ordering and Figure 4
# passed on the first machine at this seed only (1 of 4 zoo seeds) and fail on the AVX-512 one (zoo seeds 0 and 1:
# -0.2 and -0.4; 0 of 6 RMs follow in both). Pearson(variance, proxy increase @1) passed on the first machine in 4 of
# 4 zoo seeds (0.90-0.97) and fails on the AVX-512 one (0.68 and 0.79; world section). Quick mode (2 seeds), with its
# zoo trained on 1,200 pairs, also fails Table 1's off-policy ordering and its perfect-accuracy RM as the flattest
# teacher: relaxed in quick mode only (their JSON says why, `quick_relaxed`), asserted in full mode.
EXPECTED_FAILURES = {("fig2_reward_increase", "epoch 1 gold: lowest trained RM minus perfect-acc"),
                     ("fig2_reward_increase", "epoch 2 gold: lowest trained RM minus perfect-acc"),
                     ("table2_correlations", "Pearson(variance, gold increase @1)"),
                     # the draw's: they pass on one machine and fail on another (above)
                     ("table1_rm_properties", "Spearman(100->0% on-policy, variance)"),
                     ("fig4_kl_efficiency", "RMs whose KL follows off-policy accuracy"),
                     ("table2_correlations", "Pearson(variance, proxy increase @1)"),
                     # the log-linear bandit (rmlab.world.bandit): off-policy accuracy saturates at 25 % off-policy pairs
                     ("bandit_teacher", "Spearman(100->0% on-policy, off-policy acc.)"),
                     ("bandit_teacher", "RMs whose KL follows off-policy accuracy"),
                     # the bandit's Tables 5-6 variant: five RMs of equal variance leave only the perfect-acc. RM
                     ("bandit_tables3_9", "checklist: Pearson(variance, proxy increase @1), similar on- and "
                                          "off-policy data (Tables 5-6) minus the main run's")}

# %% [markdown]
# # 07 · More accurate reward models are not necessarily better teachers
#
# §4.1 of *What Makes a Reward Model a Good Teacher?* (Razin et al., arXiv 2503.15477) trains RLHF with seven
# teachers and asks which raises the ground-truth reward fastest. Five are Bradley–Terry RMs trained on the same
# number of pairs, 100 %, 75 %, 50 %, 25 % and 0 % of them sampled from the initial policy (*on-policy*) and the rest
# from another generator (*off-policy*); one is the gold reward with half the prompts' rewards multiplied by 0.001
# (perfectly accurate, but nearly flat on those prompts: low **reward variance**); the last is the gold reward itself
# (GT). The paper's finding: reward variance under the initial policy, not accuracy, predicts how fast the proxy
# reward rises (Pearson 0.98) and the gold reward too (0.83); the perfectly accurate RM is the slowest teacher.
#
# Here the same experiment runs on the embedded world (`rmlab.world`), with `rmlab.train` (BT RMs, RLOO with k = 2,
# KL 0.05 to the initial policy, Adam at 1e-4 with 16 prompts per step, each RM standardised on the initial
# policy's samples; the setting under which RLOO on the gold reward itself climbs steadily while the policy stays
# close enough to the initial one, 0.2-0.4 nats of KL after an epoch, for the BT RMs to remain useful) and the paper's
# measurement recipe (`rmlab.lm.report`: K samples per prompt, whitened variance, on-policy accuracy over all
# sample pairs, off-policy accuracy on gold-labelled pairs no RM was trained on, bootstrap CIs).
#
# The last section runs the same experiment, with the same criteria, in a log-linear bandit
# (`rmlab.world.bandit`, figure `bandit_teacher`). That is the reproduction checklist's smaller setting, and it runs in
# seconds. There, most of what the world cannot show appears.

# %%
import time

import pandas as pd

from rmlab import plotting
from rmlab.figures import FigureRecord, criteria_summary
from rmlab.plotting import Slider, explore
from rmlab.world import teacher as T
from rmlab.world.language import prompt_kind

START = time.time()
plotting.use_style()
pd.set_option("display.width", 160)
world, scale, data = T.notebook_setup(QUICK, SEED, world_options=WORLD_OPTIONS, rl_prompts=RL_PROMPTS,
                                      eval_prompts=EVAL_PROMPTS, on_policy=ON_POLICY,
                                      off_policy=OFF_POLICY)   # the world, sizes, datasets
rl_prompts, eval_prompts = data.prompts(world)
on_pool, off_pool, off_heldout = data.pools(world)
POLICY = world.config.on_policy_from      # the policy whose samples make the on-policy pairs
print(f"{len(rl_prompts)} RL prompts, {len(eval_prompts)} evaluation prompts; pools: {len(on_pool)} on-policy, "
      f"{len(off_pool)} off-policy pairs (+{len(off_heldout)} held out for off-policy accuracy); policy {POLICY}")

# %% [markdown]
# ## The RM zoo (Table 1)
#
# Each BT RM starts from the initial policy's weights with a new linear head (as the paper initialises its RMs from the
# SFT policy) and trains on the same number of pairs. The perfect-accuracy RM scales the gold rewards of a fixed half of
# the prompts (a seeded hash of the prompt) by 0.001, measured from the gold reward's floor:
# $r \mapsto -1 + 0.001\,(r + 1)$ (`T.PerfectAccuracyRM`).
#
# *Why from the floor.* Multiplying by 0.001 lowers the whitened variance (within-prompt over total variance) only
# because it collapses half the prompts onto one point away from the rewards' mean: that adds spread *between* prompts.
# The paper's Table 1 (GT 0.256, this RM 0.111) implies, by the law of total variance (if the scaled half is typical),
# that its gold RM's rewards had a mean about 1.6 standard deviations from the zero they were scaled towards. The
# world's gold reward lies in $[-1, 1]$ with a mean near 0 under `sft_full` (0.015, std 0.71), so scaled around 0 this
# RM was *not* flatter than r_G (full mode: 0.278 against 0.264; the criterion failed). Scaled around $-1$ (the gold
# reward read on a non-negative scale, 1.4 standard deviations below the mean) it is 0.131, close to the paper's 0.111.
# Its RLOO runs hardly changed (gold increase after epoch 1: +0.040 before, +0.037 now): the trainer's advantages on the
# unscaled half are within-prompt differences, and Adam fixes the step size. In the quick world the initial policy's
# gold mean is far lower (−0.68, std 0.37: 0.9 standard deviations above the floor), and this RM is less flat there
# (0.448 against r_G's 0.627, but above the 25 % RM's 0.422). The next cell trains the zoo, measures the seven teachers
# under the initial policy (K samples per RL prompt) and runs RLOO with each for every seed — all cached in the world's
# cache folder, so a second run of the notebook only reads them.

# %%
settings = scale.zoo_settings(world.config.max_new_tokens)
experiment = T.zoo_experiment(world, data, settings, scale.zoo_seeds, report_k=scale.report_k, seed=SEED,
                              rm_config=scale.rm_config)   # cached after a run
rms, properties, grid = experiment.rms, experiment.properties, experiment.grid
PAPER_TABLE1 = pd.DataFrame({   # arXiv 2503.15477 Table 1 (Pythia-2.8B, AlpacaFarm SFT)
    "paper variance": [0.630, 0.616, 0.555, 0.438, 0.314, 0.111, 0.256],
    "paper on-acc": [0.660, 0.656, 0.640, 0.616, 0.587, 1.0, 1.0],
    "paper off-acc": [0.630, 0.732, 0.758, 0.754, 0.762, 1.0, 1.0]}, index=list(rms))
cols = ["whitened_reward_variance", "on_policy_accuracy", "off_policy_accuracy", "teacher_score"]
properties[cols + ["on_policy_accuracy_half"]].join(PAPER_TABLE1).round(3)

# %% [markdown]
# **What the on-policy accuracy can reach here.** The paper's rule counts a pair the gold reward ties as right only if
# the RM ties it too. A BT RM is a function of the text: it ties identical samples and, in practice, no others. The
# world's gold reward ties many different samples (positional credit on `reverse`/`sort`; all samples of a prompt
# whose task the initial policy has not learned, like `count`, score −1), so such an RM cannot reach 1 on these
# samples; the perfect-accuracy RM and r_G do, because they tie exactly what the gold reward ties. The next cell
# measures the ceiling (an oracle that orders every gold-ordered pair and ties only identical texts,
# `rmlab.measure.accuracy.on_policy_accuracy_bounds`) and chance (a random function of the text), under the paper's
# rule and under `ties="half"` (gold-tied pairs left out, RM ties count ½: ceiling 1 and chance ½ by construction).
# The paper's 100 % RM (0.66) is a third of the way from chance (0.5) to its ceiling (1); read this table's
# accuracies against the bounds printed below, not against 0.5 and 1.

# %%
trained = T.TRAINED
bounds = {}
for rule, suffix in (("paper", ""), ("half", "_half")):
    b = bounds[rule] = {bound: float(properties[f"on_policy_accuracy{suffix}_{bound}"].iloc[0])
                        for bound in ("ceiling", "chance")}
    share = (properties.loc[trained, f"on_policy_accuracy{suffix}"] - b["chance"]) / (b["ceiling"] - b["chance"])
    print(f"ties={rule!r}: ceiling {b['ceiling']:.3f}, chance {b['chance']:.3f}; the trained RMs are "
          f"{share.min():.0%}-{share.max():.0%} of the way from chance to the ceiling")

# %%
off_acc = properties["off_policy_accuracy"]
rec1 = FigureRecord("table1_rm_properties", notebook="07_accuracy_vs_variance", seed=SEED, quick=QUICK)
T.check_table1(rec1, properties, quick_relaxed={
    "perfect-acc variance minus lowest other RM's":
        "the quick world's initial policy has gold mean -0.68 (std 0.37), only 0.9 std above the floor the RM scales "
        "towards, so flattening half the prompts adds little spread between prompts (full: 0.131 against r_G's "
        "0.264, lowest, asserted)",
    "Spearman(100->0% on-policy, off-policy acc.)":
        "the quick world's zoo RMs train on 1,200 pairs each (8 epochs), full mode's on 6,000, where off-policy "
        "accuracy orders the zoo in each of 4 zoo seeds (asserted at seed 0; probe: on World v2's 1,200 pairs in 2 "
        "of the 4)"})
rec1.add_data(properties=properties.to_dict(orient="index"), paper=PAPER_TABLE1.to_dict(orient="index"),
              n_prompts=len(rl_prompts), k=scale.report_k, n_offpolicy_pairs=len(off_heldout),
              perfect_scaled_fraction=rms[T.PERFECT].scaled_fraction(rl_prompts), on_policy_accuracy_bounds=bounds,
              properties_by_task={kind: table.to_dict(orient="index")
                                  for kind, table in experiment.properties_by_task.items()},
              note="on_policy_accuracy uses the paper's tie rule (a gold tie is right only if the RM ties too); "
                   "on_policy_accuracy_half leaves gold-tied pairs out (RM ties count 1/2). on_policy_accuracy_bounds: "
                   "the ceiling (an oracle ordering every gold-ordered pair, tying only identical texts) and chance "
                   "(a random function of the text) of each rule on these samples")
fig, axes = plotting.subplots(1, 3, width=4.8, height=3.4)
for ax, column, label in zip(axes, cols[:3], ["whitened reward variance", "on-policy accuracy",
                                              "off-policy accuracy"]):
    lo = (properties[column] - properties[f"{column}_ci_low"]).clip(lower=0)
    hi = (properties[f"{column}_ci_high"] - properties[column]).clip(lower=0)
    ax.bar(range(len(properties)), properties[column], yerr=[lo, hi], color=plotting.PALETTE[0], capsize=3,
           label="rmlab world")
    ax.scatter(range(len(properties)), PAPER_TABLE1.iloc[:, cols.index(column)], color="black", marker="D",
               zorder=5, label="paper")
    ax.set_xticks(range(len(properties)), properties.index, rotation=45)
    ax.set_title(label)
axes[0].legend()
rec1.save(fig)
fig

# %%
rec1.criteria

# %% [markdown]
# ## RLOO with each teacher (Figure 2)
#
# Every teacher trains the same initial policy for the same number of epochs over the RL prompts (3 seeds, 2 in
# quick mode); after
# each epoch the policy samples K responses per held-out prompt and we record the proxy reward (in the units the
# RM is trained in: divided by its std on the initial policy) and the gold reward.

# %%
summary = grid.groupby(["rm", "epoch"])[["proxy_increase", "gold_increase", "kl"]].agg(["mean", "std"])
summary.unstack("epoch").round(3)

# %%
rec2 = FigureRecord("fig2_reward_increase", notebook="07_accuracy_vs_variance", seed=SEED, quick=QUICK)
T.check_fig2(rec2, grid)
# not one of the criteria: the setting must let RLOO on r_G itself raise the gold reward at all
gold_mean = grid.groupby(["rm", "epoch"])["gold_increase"].mean().unstack("epoch")
for epoch in (1, 2):
    rec2.check(f"epoch {epoch} gold: GT (RLOO on r_G) increase", gold_mean.loc[T.GOLD, epoch], ">", 0)
flattened = T.gold_increase_by_group(grid, eval_prompts, lambda prompt: "flattened" if rms[T.PERFECT].is_scaled(prompt)
                                     else "kept").loc[POLICY]
by_task = T.gold_increase_by_group(grid, eval_prompts, prompt_kind).loc[POLICY]
rec2.add_data(runs=grid.to_dict(orient="list"), settings=settings.__dict__, seeds=list(scale.zoo_seeds),
              gold_increase_by_flattening=flattened.reset_index().to_dict(orient="list"),
              gold_increase_by_task=by_task.reset_index().to_dict(orient="list"),
              flattened_eval_prompts=rms[T.PERFECT].scaled_fraction(eval_prompts))
fig, axes = plotting.subplots(1, 2, width=5.4, height=3.8)
for ax, metric, title in zip(axes, ["proxy_increase", "gold_increase"], ["proxy reward increase",
                                                                          "gold reward increase"]):
    for color, rm in zip(plotting.PALETTE * 2, rms):
        s = summary.loc[rm, metric]
        ax.errorbar(s.index, s["mean"], yerr=s["std"], marker="o", capsize=3, color=color, label=rm)
    ax.set_xlabel("epoch")
    ax.set_title(title)
axes[1].legend(fontsize="small")
rec2.save(fig)
fig

# %%
rec2.criteria

# %% [markdown]
# **Why the perfect-accuracy RM still teaches here.** Every evaluation records the gold reward of each held-out
# prompt, so the same runs can be split: the prompts the perfect-accuracy RM flattens against those it keeps, and
# the prompts of each task. Below, the gold increase after epoch 1 (seed means) on each part.

# %%
print(f"{rms[T.PERFECT].scaled_fraction(eval_prompts):.0%} of the held-out prompts are flattened")
flattened.xs(1, level="epoch").loc[list(rms)].round(3)

# %% [markdown]
# Per task: each teacher's on-policy accuracy (ties ½) on that task's RL prompts under the initial policy, beside the
# gold increase on that task's held-out prompts after epoch 1. (`count` is the task the initial policy has not learned:
# every sample scores −1, so no pair is ordered and nothing rises.)

# %%
pd.concat({kind: pd.DataFrame({"on-acc (ties ½)": experiment.properties_by_task[kind]["on_policy_accuracy_half"],
                               "gold increase @1": by_task.xs(1, level="epoch")[kind]})
           for kind in experiment.properties_by_task}, axis=1).loc[list(rms)].round(3)

# %% [markdown]
# **What this shows** (full mode, 3 seeds; quick mode prints its own numbers above):
# - *Flattening does not stop prompts from learning here.* On the 39 % of held-out prompts the perfect-accuracy RM
#   flattens, the gold reward rose +0.065 after epoch 1, against +0.074 under r_G; on the prompts it keeps, +0.018
#   against +0.035. The world has three tasks with hundreds of prompts each, so what RLOO learns on the kept prompts
#   (how to sort, how to reverse) applies to the flattened ones. The paper's instructions are far more varied. The
#   one place where the flat half costs speed is `sort`: +0.036 against r_G's +0.074 (on `reverse`: +0.044 against
#   +0.045).
# - *The trained RMs teach the task they can judge.* They order the initial policy's `sort` samples with on-policy
#   accuracy 0.71–0.89 (ties ½; chance 0.5) and raise its gold reward faster than the perfect-accuracy RM: +0.052 to
#   +0.090 against +0.036 (r_G: +0.074). All five beat it there, as in the paper's Figure 2. On `reverse` they are
#   near chance (0.61–0.66), and RLOO on them lowers its gold reward (−0.007 to −0.042) where the perfect-accuracy RM
#   raises it (+0.044). `reverse` holds 35 of the 64 held-out prompts, so over all prompts that loss cancels the gain
#   on `sort`, and Figure 2's criterion fails: the lowest trained RM ends epoch 1 0.041 below the perfect-accuracy RM,
#   epoch 2 0.083 below.
# - *Why `reverse` stays near chance: the pairs, not the model size* (probes outside this notebook, on World v2's pools
#   of 2,000 pairs and 6,471 more on-policy pairs of `sft_full`). A BT RM trained on one task's pairs alone, tested on
#   500 held-out pairs of that task: on `sort`, 500 pairs already give 0.82 (1,500: 0.87); on `reverse`, 500 / 1,500 /
#   3,084 pairs give 0.57 / 0.65 / 0.69, with train accuracy 0.99 / 0.85 / 0.75. Sortedness can be read off the response
#   alone, while judging a reversal needs the response aligned with the prompt: the likely reason these RMs learn it so
#   slowly from preference labels. A larger backbone does not help: the same experiment (2 epochs, 3 seeds) on worlds
#   built on a GPU (as `build_world(config, device="cuda")` does) with 4 layers of width 128 and 256 gave the zoo
#   on-policy accuracy on `reverse` of 0.54–0.59 and 0.48–0.51 (ties ½), and Figure 2's epoch-1 margin was −0.044 and
#   −0.021 (−0.037 for a GPU build of this notebook's model size). Those runs used World v2's 2,000-pair pools. At width
#   128 three criteria that fail on those pools passed (the variance ordering, Pearson(variance, gold) and Figure 4); at
#   width 256 only Figure 4 did, and the perfect-accuracy RM was no longer the flattest. Those criteria move with the
#   world's draw at this scale; Figure 2 failed in all three worlds. Nor is the last-token readout the cause (probes,
#   2026-11-30, World v2's pools): a BT head averaged over every response position, trained like the zoo's RMs on 696
#   on-policy `reverse` pairs (24 epochs, Adam 1e-4), orders 174 held-out ones at 0.58, the last-token head at 0.57
#   (train accuracy 0.89 and 0.90). The policies cannot tell either: their own log-likelihood orders the on-policy pairs
#   at 0.64–0.67 on `reverse` (base, sft_small, sft_full, instruct), against 0.72–0.74 on `sort`.
# - *The world's pool size.* Full mode builds the world with preference pools of 10,000 pairs each
#   (`WORLD_OPTIONS = dict(pool_pairs=10000)`) instead of World v2's 2,000: the same policies, prompts and gold
#   reward, so r_G and the perfect-accuracy RM measure and train exactly alike in both, and each zoo RM trains on
#   6,000 pairs instead of 1,200 (the paper's RMs: 33,135). This notebook's earlier full-mode runs used World v2's
#   pools (the same code and seeds). Side by side:
#
#   | full mode | World v2, 1,200 pairs per RM | 6,000 pairs per RM | paper |
#   |---|---|---|---|
#   | on-policy accuracy, paper's rule (ties ½) | 0.54–0.60 (0.63–0.70) | 0.58–0.64 (0.68–0.78) | 0.59–0.66 |
#   | off-policy accuracy, 100 % → 0 % | 0.71, then 0.77–0.78 | 0.71 / 0.82 / 0.84 / 0.87 / 0.87 | 0.63 → 0.76 |
#   | Spearman(100 → 0 %, off-policy accuracy) | 0.3 | 1.0, passes | 0.9 |
#   | Spearman(100 → 0 %, variance) | −0.7 | −0.8, passes at the threshold (draw) | −1.0 |
#   | Figure 4: RMs whose KL follows off-policy accuracy | 0 of 6 (median final gain −0.014) | 4 of 6, passes (draw) | |
#   | Pearson(variance, proxy increase @1) | 0.94 | 0.90 | 0.982 |
#   | Pearson(variance, gold increase @1) | −0.51 | −0.33 | 0.834 |
#   | Figure 2 margins after epochs 1 and 2 | −0.041, −0.089 | −0.041, −0.083 | > 0 |
#
#   The variance ordering sits exactly on its threshold: the variances are 0.483 / 0.490 / 0.300 / 0.334 / 0.236,
#   one swapped pair on each side, a sum of squared rank differences of 36, Spearman −0.8 exactly (scipy returns
#   −0.7999999999999999; `T.spearman_with_order` rounds to 12 decimals).
#
#   *Other zoo seeds* (probe, 2026-12-01: `T.train_zoo(..., seed=1, 2, 3)`, which changes each RM's initialisation
#   and its draw of pairs). Table 1's orderings (Spearman over 100 % → 0 % on-policy), zoo seeds 0 / 1 / 2 / 3:
#
#   | pairs per RM | off-policy accuracy | variance |
#   |---|---|---|
#   | 1,200 (World v2) | 0.3 / 1.0 / 1.0 / 0.7 | −0.7 / −0.8 / +0.1 / −0.3 |
#   | 6,000 (this notebook) | 1.0 / 1.0 / 1.0 / 1.0 | −0.8 / +0.4 / −0.2 / +0.1 |
#
#   With 6,000 pairs the probe also ran this notebook's RLOO (3 seeds each) with each zoo, taking r_G's and the
#   perfect-accuracy RM's runs from this notebook's grid (they do not depend on the zoo; zoo seed 0 through the same
#   code reproduces every criterion above). Zoo seeds 0 / 1 / 2 / 3:
#   - Figure 4: 4 / 2 / 1 / 2 RMs follow (needs 4);
#   - Pearson(variance, proxy increase @1): 0.90 / 0.93 / 0.97 / 0.90 (needs > 0.8);
#   - Pearson(variance, gold increase @1): −0.33 / −0.39 / −0.15 / −0.57 (needs > 0);
#   - Figure 2's epoch-1 margin: −0.041 / −0.039 / −0.048 / −0.032 (needs > 0).
#
#   So two of this notebook's passes on that machine were its seed's draw: the variance ordering (with either pool the
#   zoo's variances, 0.23–0.53 over these draws, do not follow the on-policy fraction at this scale) and Figure 4.
#   What held in every draw there: the perfect-accuracy RM (0.131) is the flattest teacher, variance orders the proxy
#   increase, and with 6,000 pairs off-policy accuracy orders the zoo as the paper's Table 1 does (with 1,200, in 2 of
#   4 draws). More pairs do not teach these RMs `reverse`, so Figure 2 and the gold correlation fail in every draw.
#
#   *Another CPU* (2026-12-01, an AVX-512 machine). The world and the zoo are trained on the machine, so the same code
#   and seeds train other models there. r_G and the perfect-accuracy RM teach about as before (variance 0.263 and
#   0.123; epoch-1 gold +0.049 and +0.035). The trained RMs again do not (−0.015 to +0.018). From 100 % to 0 %
#   on-policy their variances are 0.289 / 0.413 / 0.307 / 0.273 / 0.293 and their off-policy accuracies 0.731 /
#   0.808 / 0.844 / 0.844 / 0.872. Zoo seeds 0 / 1 there (the probe above, RLOO with 3 seeds each):
#   - Table 1's variance ordering: −0.2 / −0.4 (needs ≤ −0.8); its off-policy ordering: 0.9 / 1.0 (passes);
#   - Figure 4: 0 / 0 RMs follow (median final gold gain −0.008 / −0.004, so the matched gold is hardly above 0);
#   - Pearson(variance, proxy increase @1): 0.68 / 0.79 (needs > 0.8); Pearson(variance, gold increase @1):
#     −0.56 / −0.85;
#   - Figure 2's margins after epochs 1 and 2: −0.050 / −0.089 at zoo seed 0, −0.042 / −0.065 at zoo seed 1.
#
#   So on that CPU the proxy correlation fails too, where on the first machine it passed in every draw. With the
#   variance ordering and Figure 4 it is in `EXPECTED_FAILURES`: recorded with its value in the JSON, not asserted.
#   What holds on both machines in every draw measured: the perfect-accuracy RM is the flattest teacher, off-policy
#   accuracy orders the zoo, and r_G and the perfect-accuracy RM raise the gold reward most.
#
#   Quick mode keeps the quick world's pools: 6,000 pairs per RM would take about 4.6 of its 3 minutes. It fails both
#   orderings and Figure 4 (printed below); the off-policy ordering is relaxed there only. Full mode on a fresh cache
#   took 15 min 29 s (2026-12-01, 2 cores), about 2.5 min of it building this world; notebook 08 after it, 6 min 10 s.
#   An earlier run of the same code on another cache gave the same numbers to 4e-15.
# - *Held-out prompts are not why.* The paper reports its numbers on the RL training prompts (its test prompts gave
#   "nearly identical" values); this notebook evaluates on held-out prompts, as the issue asks. A probe outside this
#   notebook ran the same RLOO from `sft_full` (2 epochs) and evaluated on the 320 RL training prompts (4 samples
#   each). After epoch 2, the training prompts the perfect-accuracy RM flattens rose +0.098 / +0.079 / +0.089
#   (seeds 0–2), and those it keeps +0.079 / +0.083 / +0.083. Flattened prompts, which carry almost no reward signal,
#   learn as much as kept ones even on the training set. Over all of them the perfect-accuracy RM gained +0.089 /
#   +0.081 / +0.086 against r_G's +0.114 / +0.112 / +0.091: slower than r_G, as in the paper, but not by much.
# - *Without `reverse`, Table 2 appears, Figure 2 still does not.* A probe ran this notebook's zoo experiment on
#   World v2's pools (RMs on 1,200 pairs; same settings and 3 seeds) with RL and evaluation on the `sort` and `count`
#   prompts only: 320 RL prompts and 64 held-out ones, none of them `reverse`. Pearson(variance, proxy increase @1)
#   was 0.989 (paper 0.982), and Pearson(variance, gold increase @1) +0.165 (paper 0.834; with `reverse`, −0.51 on
#   those pools and −0.33 here).
#   The variance ordering held, with Spearman −1.0, but the off-policy ordering did not (0.3), and Figure 4 had 2 of 6
#   RMs following.
#   Figure 2's margin was −0.079 after epoch 1:
#   - the 100 %, 75 % and 50 % RMs (+0.093, +0.105, +0.097) beat the perfect-accuracy RM (+0.090);
#   - the 25 % and 0 % RMs (+0.077, +0.011) did not;
#   - r_G gained +0.123.
#   So a task the RMs can judge makes the variance-gold correlation positive, but flattening half the prompts costs
#   only a quarter of r_G's speed here, so the less accurate RMs still fall below the perfect-accuracy RM.
#   *The same with this notebook's pools* (probe, 2026-12-02, not used). This notebook ran in full mode with
#   `reverse` removed from its RL and evaluation prompts (320 and 64 remain), its RMs trained on 6,000 pairs. It ran on
#   an AVX-512 machine, which trains the same zoo as the 2026-12-01 one in the world section (off-policy accuracies
#   equal to three decimals).
#   - Passed: both Table 1 orderings (variance −0.8, off-policy accuracy 0.9) and Pearson(variance, gold increase @1),
#     +0.703.
#   - Figure 2's margins were −0.003 and −0.019. After epoch 1 the 0 % RM gained +0.049 against the perfect-accuracy
#     RM's +0.052. The other four trained RMs gained +0.068 to +0.081, and r_G +0.074.
#   - Failed: Pearson(variance, proxy increase @1), 0.738, and Figure 4 (0 of 6 RMs follow).
#   - With `reverse`, on the same zoo: variance ordering −0.2, gold Pearson −0.56, proxy Pearson 0.68, Figure 2 −0.050,
#     Figure 4 0 of 6.
#
#   So `reverse`, the task the trained RMs cannot judge, is what turns the gold correlation negative. Without it,
#   Figure 2 is a tie, not a pass: the prompts the perfect-accuracy RM flattens still learn from the others. Its
#   flattened held-out prompts gained +0.062 after epoch 1, its kept ones +0.045.
#
#   Notebook 08 ran on the same probe's prompts and zoo and did worse than with `reverse`. One RM was gold-best under
#   all three policies. Top variance beat random prompts in 0 of 3 seeds, and the teacher score's Spearman over the 22
#   pairs was 0.745, below 0.8. That is why neither notebook drops `reverse`.
# - *Where prompts share no skill, flattening does stop learning (probe, not used).* Each of the world's 48 yes/no
#   questions ("question : is the dog big ? >") asks one fact, so what RLOO learns on one does not answer another. A
#   probe ran this notebook's RLOO (the zoo of World v2's pools, same settings and seeds 0–2, from `sft_full`; responses
#   cut at 4 tokens) on those 48 prompts for 300 steps, evaluated on the same prompts (8 samples each). Gold increase
#   after 300 steps:
#   - r_G: +0.362 / +0.362 / +0.359, as much on the half the perfect-accuracy RM flattens (+0.32 to +0.40) as on the
#     half it keeps (+0.33 to +0.40);
#   - the perfect-accuracy RM: +0.120 / +0.247 / +0.151, all of it on the half it keeps (+0.32 to +0.45), while the
#     half it flattens moved −0.078 / +0.042 / −0.099. This is the paper's mechanism, which the tasks hide;
#   - the trained RMs judge these questions well when trained on on-policy pairs: on-policy accuracy (ties ½) 0.94 /
#     0.85 / 0.77 / 0.62 / 0.61 from 100 % to 0 %. The 100 % RM gains +0.20 to +0.24 and the 75 % RM +0.14 to
#     +0.18. The 0 % RM is hacked: the gold reward falls to −1 by step 200 (KL 8–15). The 25 % RM ends below its
#     start in all three seeds (−0.02 to −0.20), the 50 % RM in one (−0.39, KL 5.5).
#   - Why the notebook does not use these prompts: the issue asks for held-out evaluation, and here a fact learned on
#     one wording does not carry to the same question asked with a synonym or in language B. r_G's runs raised those
#     wordings by −0.03 to +0.07.

# %% [markdown]
# ## Which property predicts the increase? (Table 2)
#
# Pearson and Spearman correlations, over the six non-GT teachers, between each property under the initial policy
# and the increase after the first epoch, beside the paper's Table 2.

# %%
after1 = T.epoch_increases(grid, epoch=1).loc[POLICY]
non_gt = [rm for rm in rms if rm != T.GOLD]
measures = T.property_measures(properties.loc[non_gt])
table2 = T.correlations(measures, after1.loc[non_gt, ["proxy_increase", "gold_increase"]])
PAPER_TABLE2 = pd.DataFrame({  # proxy Pearson / Spearman, gold Pearson / Spearman (arXiv 2503.15477 Table 2)
    ("paper proxy", "pearson"): [0.982, -0.762, -0.933, -0.870, 0.676],
    ("paper proxy", "spearman"): [1.000, 0.143, -0.943, -0.486, 0.886],
    ("paper gold", "pearson"): [0.834, -0.283, -0.507, -0.397, 0.940],
    ("paper gold", "spearman"): [0.714, 0.200, -0.543, 0.200, 0.828]}, index=table2.index)
rec3 = FigureRecord("table2_correlations", notebook="07_accuracy_vs_variance", seed=SEED, quick=QUICK)
T.check_table2(rec3, table2)
rec3.add_data(table=table2.to_dict(), paper=PAPER_TABLE2.to_dict(), increases=after1.to_dict(orient="index"),
              measures=measures.to_dict(orient="index"))
fig, axes = plotting.subplots(1, 2, width=4.8, height=3.6)
for ax, target in zip(axes, ["proxy_increase", "gold_increase"]):
    ax.scatter(measures["Reward variance"], after1.loc[non_gt, target], color=plotting.PALETTE[0])
    for rm in non_gt:
        ax.annotate(rm, (measures.loc[rm, "Reward variance"], after1.loc[rm, target]), fontsize="small")
    ax.set_title(f"Pearson {table2.loc['Reward variance', (target, 'pearson')]:+.2f} "
                 f"(paper {PAPER_TABLE2.loc['Reward variance', ('paper ' + target.split('_')[0], 'pearson')]:+.2f})")
    ax.set_xlabel("whitened reward variance (initial policy)")
    ax.set_ylabel(target.replace("_", " ") + " after epoch 1")
rec3.save(fig)
fig

# %%
table2.join(PAPER_TABLE2).round(3)

# %% [markdown]
# ## KL efficiency (Figure 4)
#
# Gold reward against the KL from the initial policy (mean training KL over the last steps of each epoch). At a
# matched gold increase (the median of the teachers' final gold increases), an RM "follows" the paper's claim when,
# against most other RMs, the more off-policy-accurate one of the pair needed less KL. When that median is not a gain
# (most teachers end below where they started) every curve "reaches" it at KL 0 and no RM follows.

# %%
curve = grid.groupby(["rm", "epoch"])[["kl", "gold_increase"]].mean()
efficiency = T.kl_efficiency(curve.loc[non_gt], off_acc[non_gt])
rec4 = FigureRecord("fig4_kl_efficiency", notebook="07_accuracy_vs_variance", seed=SEED, quick=QUICK)
T.check_fig4(rec4, efficiency)
rec4.add_data(curves=curve.reset_index().to_dict(orient="list"), **efficiency,
              off_policy_accuracy=off_acc.to_dict())
fig, ax = plotting.subplots(1, 1, width=6, height=4)
for color, rm in zip(plotting.PALETTE * 2, rms):
    ax.plot(curve.loc[rm, "kl"], curve.loc[rm, "gold_increase"], marker="o", color=color,
            label=f"{rm} (off-acc {off_acc[rm]:.2f})")
ax.axhline(efficiency["target_gold_increase"], color="grey", ls=":")
ax.set_xlabel("KL from the initial policy")
ax.set_ylabel("gold reward increase")
ax.legend(fontsize="small")
rec4.save(fig)
fig

# %%
pd.DataFrame({"KL at matched gold": efficiency["kl_at_target"], "follows": efficiency["follows"],
              "off-policy acc.": off_acc[non_gt]})

# %% [markdown]
# **Full mode** (3 seeds, first machine): the matched gold increase is +0.023, the median of the six teachers' final
# gains. The perfect-accuracy RM reaches it at KL 0.18, the 50 % RM at 0.24, the 75 % RM at 1.32 and the 100 % RM at
# 1.41, in the order of their off-policy accuracy (1.0, 0.84, 0.82, 0.71): these four follow. The 25 % and 0 % RMs, the
# most off-policy-accurate of the trained ones (0.87), never reach it: their gold reward ends at +0.004 and −0.042 after
# 3 epochs, at the largest KL (2.42 and 1.31). So 4 of 6 follow, the criterion's minimum, on curves that are not
# monotone (the 50 % RM is at +0.026 after epoch 1 and +0.018 after epoch 3). On World v2's pools the median final gain
# was −0.014 and no RM could follow. With the zoo retrained under three other seeds (probe, the world section) 2, 1 and
# 2 RMs follow: this pass is the notebook's draw, not a property of the setting. On an AVX-512 machine (2026-12-01),
# which trains another world and zoo, the median final gain is −0.008 and none of the six follows.

# %% [markdown]
# ## A controlled setting where the mechanism can act: a log-linear bandit
#
# The world's prompts either share everything (three tasks, hundreds of prompts each) or nothing (the yes/no facts),
# and its trained RMs cannot judge `reverse` (above). The reproduction checklist's smaller setting ("L1") has neither
# problem. It is a log-linear bandit (`rmlab.world.bandit`): 2,000 prompts with 64 candidate responses each. Each
# response is a feature vector. The policy is $\pi_\theta(y|x) \propto \exp(\theta^\top\phi(x,y))$ with one $\theta$
# for all prompts, so learning carries over as far as the features agree. The gold reward is
# $\tanh(w^\top\phi + 0.5\,\varepsilon)$, where $\varepsilon$ is a per-response quality that no feature shows.
#
# - **On- and off-policy data differ in what separates their responses.** The policy's responses to a prompt differ
#   in 8 features $u$ and barely (spread 0.25) in 8 others $v$; the other generator's two responses per prompt differ
#   in $v$ and barely in $u$. Table 1's ordering (an RM learns what its pairs differ in) is built into this
#   construction, so it is a check, not a finding. The test is what follows from it: does reward variance under the
#   initial policy then order the proxy and gold increase (Figure 2, Table 2)?
# - **Initial policy and teachers.** $\theta_0$ is fit to one noisy demonstration on each of 300 prompts. The teachers
#   are linear BT RMs on 900 gold-labelled pairs each (100…0 % on-policy, with the centring term 0.01 of the paper's
#   RM code), the perfect-accuracy RM (scaled from the floor, as above) and r_G.
# - **Training and evaluation.** RLOO runs with k = 2, KL 0.05, Adam at 0.02 and 32 prompts per step, for 4 epochs
#   over 500 RL prompts and 3 seeds. After each epoch the expected gold and proxy reward and the KL are computed
#   exactly on 200 held-out prompts. The properties follow the §4.4 recipe: 10 samples per RL prompt, and off-policy
#   pairs no RM saw.
#
# The whole experiment takes about 2 s. The construction's constants were fixed before the first run, and no
# criterion was used to choose them. Figure `bandit_teacher` checks the same criteria as the world's figures above.

# %%
from rmlab.world import bandit as B

bandit = B.make_bandit(B.BanditConfig(seed=SEED))
bandit_properties, bandit_runs = B.teacher_experiment(bandit, seeds=(0, 1, 2))
rec5 = FigureRecord("bandit_teacher", notebook="07_accuracy_vs_variance", seed=SEED, quick=QUICK)
bandit_checks = T.check_zoo_criteria(rec5, bandit_properties, bandit_runs)
rec5.add_data(config=bandit.config.__dict__, rl=B.BanditRLConfig().__dict__, properties=bandit_properties.to_dict(
              orient="index"), runs=bandit_runs.to_dict(orient="list"), table2=bandit_checks["table2"].to_dict(),
              **bandit_checks["efficiency"], paper_table1=PAPER_TABLE1.to_dict(orient="index"))
fig = B.plot_teacher_experiment(bandit_properties, bandit_runs, paper=PAPER_TABLE1)
rec5.save(fig)
best_linear = B.teacher_properties(bandit, {"noise-free score w·φ": (bandit.features @ bandit.gold_weights,
                                                                     bandit.off_features @ bandit.gold_weights)})
display(pd.concat([bandit_properties, best_linear]).round(3),  # noqa: F821  (IPython's display)
        bandit_runs.groupby(["rm", "epoch"])[["proxy_increase", "gold_increase", "kl"]].mean().unstack("epoch")
        .round(3))
fig

# %%
rec5.criteria

# %% [markdown]
# **What the bandit shows** (`BanditConfig(seed=0)`, 3 RLOO seeds; the same numbers in quick and full mode):
#
# - **Table 1** (the paper's values are the black diamonds of the first panel). The variance falls from 0.919
#   (100 % on-policy) through 0.705, 0.616 and 0.555 to 0.525 (0 %), with Spearman −1.0. This ordering is built
#   into the construction. The perfect-accuracy RM is the flattest (0.221; r_G 0.586).
#   - The trained RMs' on-policy accuracy is 0.83–0.85. The last row of the table above is the gold reward's
#     noise-free score $w^\top\phi$: no RM that sees only the features orders pairs better in expectation, and it
#     reaches 0.857 on-policy and 0.866 off-policy.
#   - Off-policy accuracy is 0.680 for the 100 % RM and 0.85–0.86 for the four others. Once a quarter of the pairs
#     (225) are off-policy, the RM has learnt the $v$ features about as well as the gold noise allows. The four
#     differ by at most 0.011, less than one standard error on 700 held-out pairs (±0.013). So their order is noise,
#     and the Spearman criterion fails (0.46).
# - **Figure 2.** The proxy increase after epoch 1 follows the variance:
#   - 0.624, 0.549, 0.508, 0.485 and 0.424 from 100 % to 0 %;
#   - 0.138 for the perfect-accuracy RM and 0.331 for r_G.
#
#   The gold increase after epoch 1 is 0.242, 0.246, 0.246, 0.244 and 0.219 for the trained RMs, 0.216 for the
#   perfect-accuracy RM and 0.231 for r_G. So the perfect-accuracy RM is the slowest teacher after epochs 1 and 2
#   (margins +0.002 and +0.018). Four of the five trained RMs beat RLOO on r_G itself in the first epoch, as in the
#   paper's Figure 2. Their higher variance is the reason: r_G's rewards also vary *between* prompts (the
#   prompt-level $\bar v(x)$), and standardising by the total spread shrinks the differences within a prompt, which
#   are what RLOO learns from.
# - **Table 2.** Pearson(variance, increase after epoch 1) is 0.958 for the proxy and 0.710 for the gold reward (paper
#   0.982 and 0.834). Both criteria pass.
# - **Figure 4** fails: 1 of 6 RMs follow. Three RMs do not reach the matched gold increase (0.467) within 4 epochs.
#   Four of the six off-policy accuracies are within noise of each other, so there is little to order.
# - **Other draws** of the bandit (probe, `BanditConfig(seed=1)` to `seed=4`, not used here):
#   - Pearson(variance, proxy) 0.925–0.958 and Pearson(variance, gold) 0.63–0.75;
#   - Figure 2's margins positive in every draw (epoch 1: +0.013 to +0.021; epoch 2: +0.018 to +0.033);
#   - four of the five trained RMs beat r_G after epoch 1 in every draw;
#   - the variance ordering −1.0 in three draws and −0.7 in one;
#   - the off-policy ordering passes in one draw (0.22–1.0), Figure 4 in one (0 to 4 RMs).
# - **For the world above:** flattening half of the bandit's prompts costs only about 6 % of r_G's gold increase
#   (0.216 against 0.231). Transfer through the shared $\theta$ is nearly complete here too, as in the world's tasks.
#   Yet Figure 2's ordering holds, because the trained RMs order the policy's responses well and vary more than r_G.
#   In the world they cannot judge `reverse`, and that, more than transfer, is where Figure 2 fails.

# %% [markdown]
# **Explore.** The sliders redraw the figure for a new draw of the bandit (one RLOO seed, about a second per draw).
# They set how much the policy's responses differ in $v$, how much the other generator's differ in $u$, and the weight
# of the quality no feature shows. Two spreads of 1.0 make the two kinds of pairs differ in all features alike, the
# paper's appendix case where on- and off-policy data are similar (its Table 6); the next cell draws it.
#
# - With 3 RLOO seeds on draws 0–2 (probe), the five trained RMs' variances then lie within 0.63–0.67. Their
#   accuracies are all 0.86–0.88, and Table 1's variance ordering is gone (Spearman −0.3, 0.9, 0.9).
# - Figure 2's ordering stays: every trained RM beats the perfect-accuracy RM by +0.03 to +0.06 after epoch 1.
# - Pearson(variance, increase) stays at 0.98–1.0, but only because the perfect-accuracy RM (variance about 0.2)
#   sits far below five nearly equal RMs.

# %%
def bandit_explorer(policy_v_spread: float = 0.25, off_u_spread: float = 0.25, gold_noise: float = 0.5):
    explored = B.make_bandit(B.BanditConfig(seed=SEED, policy_v_spread=policy_v_spread, off_u_spread=off_u_spread,
                                            gold_noise=gold_noise))
    return B.plot_teacher_experiment(*B.teacher_experiment(explored, seeds=(0,)), title="one seed: ")


bandit_explorer(policy_v_spread=1.0, off_u_spread=1.0)      # the similar-data case

# %%
explore(bandit_explorer, policy_v_spread=Slider(0.0, 1.0, 0.25, step=0.05),
        off_u_spread=Slider(0.0, 1.0, 0.25, step=0.05), gold_noise=Slider(0.0, 1.5, 0.5, step=0.1));

# %% [markdown]
# ## The paper's appendix ablations on the bandit (Tables 3–9)
#
# The paper repeats Table 2's correlations with one thing changed at a time. Each change has a bandit version
# (`B.appendix_variants`; each was fixed before its first run, and none was tuned):
#
# - **another initial policy** (Tables 3–4: the policy's SFT data changed): $\theta_0$ fit to demonstrations drawn
#   at four times the temperature, a flatter start (the checklist's "smaller init");
# - **similar on- and off-policy data** (Tables 5–6: SFT on the RM's own training split): the policy's and the other
#   generator's responses differ in all features alike (both spreads 1, the explorer's case above);
# - **another gold reward** (Tables 7–8): a second judge, $w'$ at cosine 0.77 to $w$ with a fresh unseen quality;
#   the RMs learn from its labels, and $\theta_0$ is unchanged;
# - **per-prompt normalization** (Table 9): RLOO trains on each reward divided by the root of its mean per-prompt
#   variance under $\pi_0$, not by its global std. The variance and the proxy increase are measured as before.
#
# The checklist's criteria: Pearson(variance, proxy increase after epoch 1) > 0.5 for the first, third and fourth,
# and for similar data a lower correlation than the main run's. The paper's values are the diamonds.

# %%
variants = B.appendix_variants(bandit.config, B.BanditRLConfig())
appendix = {"main": (bandit_properties, bandit_runs)}
appendix |= {name: B.teacher_experiment(variant, seeds=(0, 1, 2), rl=rl) for name, (variant, rl) in variants.items()
             if name != "main"}
appendix_table = B.appendix_correlations(appendix)
rec6 = FigureRecord("bandit_tables3_9", notebook="07_accuracy_vs_variance", seed=SEED, quick=QUICK)
main_pearson = appendix_table.loc["main", ("proxy_increase", "pearson")]
for name in ("another initial policy", "another gold reward", "per-prompt normalization"):
    rec6.check(f"checklist: Pearson(variance, proxy increase @1), {name} ({B.APPENDIX_PAPER.loc[name, 'table']})",
               appendix_table.loc[name, ("proxy_increase", "pearson")], ">", 0.5)
rec6.check("checklist: Pearson(variance, proxy increase @1), similar on- and off-policy data (Tables 5-6) minus the "
           "main run's", appendix_table.loc["similar on- and off-policy data", ("proxy_increase", "pearson")]
           - main_pearson, "<", 0)
fig = B.plot_appendix_correlations(appendix_table)
rec6.add_data(correlations=appendix_table.to_dict(),
              paper=B.APPENDIX_PAPER.to_dict(orient="index"),
              variants={name: {"bandit": variant.config.__dict__, "rl": rl.__dict__}
                        for name, (variant, rl) in variants.items()},
              properties={name: properties.to_dict(orient="index") for name, (properties, _) in appendix.items()},
              increases_after_epoch_1={name: runs[runs.epoch == 1].groupby("rm")[["proxy_increase", "gold_increase"]]
                                       .mean().to_dict(orient="index") for name, (_, runs) in appendix.items()})
rec6.save(fig)
display(appendix_table.round(3))  # noqa: F821  (IPython's display)
fig

# %% [markdown]
# **What the ablations show** (3 RLOO seeds; the same numbers in quick and full mode). Pearson(variance, increase
# after epoch 1), proxy / gold, with the paper's in brackets:
#
# | variant | proxy | gold | the five trained RMs' variances |
# |---|---|---|---|
# | main (Table 2) | 0.958 (0.982) | 0.710 (0.834) | 0.525–0.919 |
# | another initial policy (Tables 3–4) | 0.975 (0.941) | 0.797 (0.409) | 0.566–0.967 |
# | similar on- and off-policy data (Tables 5–6) | 1.000 (0.662) | 1.000 (0.259) | 0.634–0.647 |
# | another gold reward (Tables 7–8) | 0.900 (0.887) | 0.700 (0.391) | 0.525–0.884 |
# | per-prompt normalization (Table 9) | 0.958 (0.936) | 0.679 (0.279) | as main |
#
# - The three "> 0.5" criteria pass: variance keeps ordering the proxy increase when the initial policy, the gold
#   reward or the normalization changes. The gold correlations stay at 0.68–0.80, above the paper's 0.28–0.41.
# - **Similar data fails the checklist's "below main"** (1.000 against 0.958). As in the paper, the five trained RMs
#   end up with nearly the same variance (within 0.013) and the same accuracies (0.88). Their proxy increases are
#   nearly equal too (0.596–0.612). What is left to correlate is the perfect-accuracy RM (variance 0.21, proxy
#   increase 0.146) against five nearly equal points, and that gives a Pearson of 1. The paper's lower value comes
#   from spread among its RMs that this bandit does not have.
# - **Per-prompt normalization changes almost nothing** (proxy increases equal to the main run's within 0.002). Both
#   normalizations divide a reward by one number, and Adam's step is nearly invariant to a reward's scale. Only the
#   weight of the KL term relative to the reward changes. The paper makes the same point about its Table 9
#   (consistent with its §5.1: scaling the reward did not change the trends).
# - With another gold reward, Spearman(variance, gold increase) is 0.09: the trained RMs' gold increases lie within
#   0.211–0.218, so their ranks are noise, and the Pearson of 0.70 rests on the perfect-accuracy RM (0.186).
# - **Other draws** (probe, `BanditConfig(seed=1)` to `seed=4`, not used): Pearson(variance, proxy increase) 0.92–0.99
#   for the three "> 0.5" variants, and 0.998–0.999 with similar data, above the main run's 0.92–0.96 in every draw.
#   So the same verdicts, for the same reason.

# %% [markdown]
# ## Criteria
#
# Every criterion of the issue, with the value measured here, plus one of our own: RLOO on r_G itself must raise the
# gold reward, or every other comparison is one between declines. At this scale (tiny policies, a few epochs of
# 20 RLOO steps) some criteria fail; they are recorded (`passed: false` in the figures' JSON) and listed in
# `EXPECTED_FAILURES`, not asserted: those that fail in every draw, and three that pass or fail with the draw (the
# machine's and the zoo's seed; the world section gives both machines' values). Two more are relaxed in quick mode
# only (Table 1's perfect-accuracy RM as the flattest teacher and its off-policy ordering: see `quick_relaxed` in
# their JSON). Full mode asserts them. Everything else is asserted.

# %%
records = [rec1, rec2, rec3, rec4, rec5, rec6]
unexpected = criteria_summary(records, EXPECTED_FAILURES)
print(f"notebook time: {time.time() - START:.0f} s")
assert not unexpected, unexpected
