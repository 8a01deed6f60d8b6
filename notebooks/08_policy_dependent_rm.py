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
# WorldConfig fields to change, as in notebook 07 (whose runs this one reuses: set both alike). Full mode: preference
# pools of 10,000 pairs instead of World v2's 2,000 (07's zoo trains on them; rm_accurate and rm_noisy do not, their
# off-policy accuracy is measured on them); quick: the quick world
WORLD_OPTIONS = {} if QUICK else dict(pool_pairs=10000)
POLICIES = ("sft_small", "sft_noisy", "instruct")   # initial policies (07 uses sft_full, the on-policy generator)
NOISE = 1.0                      # std of the noisy teacher's noise (gold rewards lie in [-1, 1])
SELECTION_FRACTION = 0.25        # share of the RL prompts kept by variance selection
SELECTION_POLICY, SELECTION_RM = "sft_small", "rm_accurate"
# Sizes: rmlab.world.teacher.SCALES["quick" or "full"], shared with notebook 07 (whose runs the teacher-score
# validation reuses in full mode): RL prompts (an epoch is one pass over them), evaluation prompts and samples, seeds,
# GRPO policies. The RL setting (k = 2, KL 0.05, Adam 1e-4, 16 prompts per step) is rmlab.world.teacher.RunSettings'
# defaults.
# Criteria that fail at this scale, as (figure, criterion): printed with their measured values and recorded as
# passed=False in the figures' JSON, not asserted; every other criterion is asserted. Measured in both modes (full:
# notebook 07's world, pools of 10,000 pairs). Both modes: r_G itself (GT, one of the teachers) raises the gold reward
# most under every policy, and the perfect-accuracy RM comes second under every policy (full: +0.050 to +0.066 after 2
# epochs on the first machine; +0.060 to +0.073 on an AMD EPYC without AVX-512, a third CPU), so without r_G, as the
# paper's Figure 3 ranks (proxy RMs only), there is still one best RM (best_proxy_rm);
# the prompt-selection RM, rm_accurate, barely moves the gold reward under sft_small (full: -0.05 to +0.04 after 40
# steps), so top variance beats random prompts in 2 of 3 seeds (quick: 1 of 2). Quick mode validates the teacher score
# on this notebook's grid only, 12 pairs (full mode adds notebook 07's seven teachers, 22 pairs, and asserts the >= 20
# criterion): there its Spearman is 0.87, but off-policy accuracy alone, which takes three values over these RMs (1 for
# r_G and the perfect-accuracy RM), ranks the pairs slightly better (0.89); full mode asserts both. On an AVX-512
# machine (2026-12-01; the world is trained on the machine, so its quick draw differs) the quick Spearman is 0.77:
# quick mode relaxes the >= 0.8 criterion too, with that reason in its JSON. In full mode on that machine the score
# (0.802) ranks the 22 pairs no better than on-policy accuracy alone (0.812), where on the first machine it led every
# single property (0.896 against 0.878 and 0.834): recorded, not asserted (the validation section gives both).
EXPECTED_FAILURES = {("prompt_selection_speedup", "seeds where top-variance beats random, minus all seeds"),
                     ("fig3_policy_dependent", "distinct gold-best RMs over policies (RLOO)"),
                     ("teacher_score_validation", "Spearman(score) minus Spearman(on-policy accuracy alone)"),
                     # the bandit: the 100 % on-policy BT RM teaches fastest under all three policies
                     ("bandit_fig3_policy_dependent", "distinct gold-best RMs over policies (RLOO)")}

# %% [markdown]
# # 08 · The best reward model depends on the policy — and a score that picks it before training
#
# §4.2 of *What Makes a Reward Model a Good Teacher?* (arXiv 2503.15477, Figure 3 / Table 10) trains three initial
# policies with four off-the-shelf reward models: the RM that raises the gold reward most differs from policy to
# policy, because what matters is the reward variance an RM induces *under that policy*, together with its accuracy.
# Table 12 repeats it with GRPO. This notebook does the same on the embedded world, then goes two steps further:
#
# * **prompt selection by reward variance** (`rmlab.measure.selection`): rank the RL prompts by the within-prompt
#   variance the RM induces under the initial policy and train on the top of the ranking only;
# * **a teacher score** (`rmlab.measure.teacher`), computed before training from the initial policy's samples: the
#   mean within-prompt covariance between the RM reward and the gold reward, per unit of the RM's within-prompt spread
#   (the RM divided by its root mean within-prompt variance, the normalisation of the paper's Table 9). For a softmax
#   policy moved along the natural gradient by a step of fixed length (what Adam does, whatever the reward's scale)
#   this is the first-order rate of gold-reward increase. It combines the RM's agreement with the gold reward within
#   each prompt (a graded on-policy accuracy), where the RM spends its spread (a prompt it leaves flat teaches nothing:
#   the paper's reward variance, per prompt) and the gold reward's own spread under the policy (the headroom). We
#   validate it on every (policy, RM) pair of notebooks 07 and 08.

# %%
import time

import numpy as np
import pandas as pd

from rmlab import plotting
from rmlab.figures import FigureRecord, criteria_summary
from rmlab.lm.score import ExplicitRM
from rmlab.world import teacher as T

START = time.time()
plotting.use_style()
pd.set_option("display.width", 160)
world, scale, data = T.notebook_setup(QUICK, SEED, world_options=WORLD_OPTIONS, rl_prompts=RL_PROMPTS,
                                      eval_prompts=EVAL_PROMPTS, on_policy=ON_POLICY,
                                      off_policy=OFF_POLICY)   # the world, sizes, datasets
rl_prompts, eval_prompts = data.prompts(world)
off_heldout = data.pools(world)[2]
rms = {T.GOLD: world.gold,
       T.PERFECT: T.PerfectAccuracyRM(world.gold),                      # accurate but flat
       "noisy_gold": T.NoisyReward(world.gold, noise=NOISE, seed=SEED),  # noisy, high variance
       **{name: ExplicitRM(str(path)) for name, path in world.reward_models.items()}}   # the world's BT RMs
if QUICK:
    rms.pop("rm_noisy")          # quick: 3 policies x 4 RMs (time; the >= 20 pairs criterion is for full mode)
policies = {name: world.models[name] for name in POLICIES}
print(f"{len(rl_prompts)} RL prompts, {len(eval_prompts)} evaluation prompts; RMs {list(rms)}; policies {POLICIES}")

# %% [markdown]
# ## Each RM under each policy
#
# The report's recipe per policy: K samples per RL prompt, scored by every RM and the gold reward (whitened
# variance, on-policy accuracy, off-policy accuracy on held-out gold-labelled pairs, teacher score).

# %%
properties = pd.concat({policy: T.properties_cached(world, policy, rms, rl_prompts, preferences=off_heldout,
                                                    k=scale.report_k, seed=SEED, tag="08")
                        for policy in POLICIES}, names=["policy", "rm"])
cols = ["whitened_reward_variance", "on_policy_accuracy", "off_policy_accuracy", "teacher_score"]
properties[cols + ["on_policy_accuracy_half"]].unstack("policy").round(3)

# %% [markdown]
# The on-policy accuracy's ceiling and chance under each policy's samples (notebook 07 explains them): the paper's
# tie rule caps a BT RM, which ties only identical texts, below 1 wherever the gold reward ties different samples.

# %%
properties.groupby("policy")[["on_policy_accuracy_ceiling", "on_policy_accuracy_chance"]].first().round(3)

# %% [markdown]
# ## RLOO for two epochs (Figure 3 / Table 10) and GRPO (Table 12)
#
# GRPO here does **not** divide advantages by the group std (`scale="none"`, Dr. GRPO): with k = 2 the std division
# turns every non-tied pair into a ±1/√2 sign update (paper notes §4.5), which normalises the reward variance away —
# the very quantity whose effect we measure. Without it, at k = 2 the GRPO advantage r_i - mean(r) is exactly half
# the RLOO one r_i - r_j, and Adam's update does not depend on the gradient's scale: the two grids coincide up to
# Adam's epsilon (full mode: gold increases equal to within 0.007).

# %%
rloo = T.RunSettings(algo="rloo", epochs=2, eval_k=scale.eval_k, max_new_tokens=world.config.max_new_tokens)
grpo = T.RunSettings(algo="grpo", grpo_scale="none", epochs=2, eval_k=scale.eval_k,
                     max_new_tokens=world.config.max_new_tokens)
grpo_policies = dict(list(policies.items())[:scale.grpo_policies])     # quick mode: the first policy only
grids = {name: T.run_grid(world, grid_policies, rms, rl_prompts, eval_prompts, settings, scale.grid_seeds,
                          tag="08")
         for name, settings, grid_policies in (("rloo", rloo, policies), ("grpo", grpo, grpo_policies))}
final = {name: T.epoch_increases(grid, epoch=2) for name, grid in grids.items()}
pd.concat({name: f[["gold_increase", "gold_increase_std", "proxy_increase"]].unstack("policy")
           for name, f in final.items()}).round(3)

# %%
best = {name: T.best_rm_per_policy(f) for name, f in final.items()}
rec = FigureRecord("fig3_policy_dependent", notebook="08_policy_dependent_rm", seed=SEED, quick=QUICK)
rec.check("distinct gold-best RMs over policies (RLOO)", best["rloo"].nunique(), ">=", 2)
# the paper's Figure 3 ranks proxy RMs only, with r_G as the judge: the best RM without r_G, recorded beside
best_proxy = T.best_rm_per_policy(final["rloo"].drop(T.GOLD, level="rm"))
rec.add_data(best_rm=best["rloo"].to_dict(), best_proxy_rm=best_proxy.to_dict(),
             increases=final["rloo"].reset_index().to_dict(orient="list"),
             properties=properties.reset_index().to_dict(orient="list"), settings=rloo.__dict__,
             seeds=list(scale.grid_seeds))
fig = T.plot_increases(final["rloo"], "RLOO after 2 epochs")
rec.save(fig)
fig

# %%
rec12 = FigureRecord("table12_grpo", notebook="08_policy_dependent_rm", seed=SEED, quick=QUICK)
rec12.add_data(best_rm=best["grpo"].to_dict(), increases=final["grpo"].reset_index().to_dict(orient="list"),
               settings=grpo.__dict__, seeds=list(scale.grid_seeds), policies=list(grpo_policies),
               note="GRPO without the group-std division (scale='none'): the std division would make every k=2 "
                    "advantage +-1/sqrt(2) and normalise the reward variance away; without it, at k=2 the GRPO "
                    "advantage is half the RLOO one, which Adam's update does not see (the grids coincide)"
                    + ("; quick mode: GRPO on the first policy only (time)" if QUICK else ""))
fig = T.plot_increases(final["grpo"], "GRPO (no std division) after 2 epochs")
rec12.save(fig)
fig

# %%
pd.DataFrame(best)

# %% [markdown]
# *Teachers that are accurate on one task only (probe, 2026-12-02, not used; on a third CPU, an AMD EPYC without
# AVX-512, which trains its own world).* Could the best teacher change with the policy if the teachers differ in *where*
# they are flat rather than in how flat they are? Two more perfectly accurate teachers: r_G on the prompts of one task,
# with every other prompt flattened as the perfect-accuracy RM flattens its half (`only sort`, `only reverse`). This
# grid's RLOO (2 epochs, seeds 0–2), under its three policies and notebook 07's `sft_full`. Gold increase after epoch 2:
#
# | policy | r_G | perfect-accuracy RM | only `reverse` | only `sort` |
# |---|---|---|---|---|
# | `sft_small` | +0.103 | +0.073 | +0.072 | +0.033 |
# | `sft_noisy` | +0.088 | +0.060 | +0.030 | +0.041 |
# | `instruct` | +0.096 | +0.067 | +0.050 | +0.023 |
# | `sft_full` | +0.077 | +0.066 | +0.048 | −0.001 |
#
# Per task, each one-task teacher raises its own task faster than r_G in 7 of 8 cells (`reverse` +0.123 to +0.159
# against r_G's +0.081 to +0.125; `sort` +0.131 to +0.174 against +0.096 to +0.150, except under `sft_noisy`: +0.075
# against +0.092) and lowers the other task in 7 of 8 (`sort` −0.036 to −0.110 under `only reverse`, `reverse`
# −0.049 to −0.084 under `only sort`; +0.028 under `sft_noisy`). What RLOO learns on one task undoes part of the
# other, the same trade that lets notebook 07's BT RMs, which judge `sort` and not `reverse`, lower `reverse`.
# Every policy starts with headroom on both tasks (mean gold on `sort` 0.11–0.25, on `reverse` −0.01 to 0.13, out of
# 1), so the teachers do not trade places between policies: r_G is the best teacher under all four and the
# perfect-accuracy RM the best of the others (under `sft_small` by 0.0005, far inside the seeds' spread). A reversal
# like the paper's would need policies whose headroom lies in different places; the world's policies are SFT'd on the
# same demonstrations in different amounts.
#
# *Policies SFT'd without one task (probe, 2026-12-02, not used).* So two policies were SFT'd from the world's base as
# `sft_full` is (2,000 demonstration prompts of the world's demonstrator, no noise), one without the `reverse`
# demonstrations and one without the `sort` ones (120 steps), and trained by this grid's RLOO with r_G, the
# perfect-accuracy RM, `noisy_gold`, `rm_accurate` and `rm_noisy`. Their headroom does differ: mean gold before RL on
# `sort` / `reverse` 0.419 / −0.276 for the policy without `reverse`, −0.083 / 0.192 for the one without `sort`. Gold
# increase after epoch 2 (seeds 0–2), without `reverse` / without `sort`: r_G +0.160 / +0.133, the perfect-accuracy
# RM +0.105 / +0.126, `noisy_gold` +0.062 / +0.041, `rm_accurate` +0.048 / +0.044, `rm_noisy` −0.102 / −0.099. Under
# the policy without `sort`, `rm_accurate` raises `sort` faster than any other teacher, r_G included (+0.169 against
# +0.144), but lowers `reverse` (−0.025), so over all prompts it trails; r_G is again the best teacher under both, and
# the perfect-accuracy RM the best of the others. Neither policy is near the ceiling of the task it was taught (0.42
# and 0.19 of 1), so r_G and the perfect-accuracy RM, which judge both tasks, still gain on both.

# %% [markdown]
# ## Prompt selection by reward variance
#
# Rank the RL prompts by the within-prompt variance that `rm_accurate` induces under `sft_small`
# (`rmlab.measure.selection.select_prompts_by_variance`), keep the top quarter, and train RLOO on it; compare with a
# random quarter (a new one per seed) and with all prompts, at the same number of steps. Every condition uses the
# same reward standardisation (the initial policy's samples of all RL prompts).

# %%
steps = 2 * int(np.ceil(len(rl_prompts) / rloo.batch_prompts))
curves, variances = T.selection_experiment(world, SELECTION_POLICY, rms[SELECTION_RM], SELECTION_RM, rl_prompts,
                                           eval_prompts, rloo, scale.selection_seeds, fraction=SELECTION_FRACTION,
                                           k=scale.report_k, steps=steps, eval_every=max(1, steps // 4))
last = curves[curves.step == curves.step.max()].pivot(index="seed", columns="condition", values="gold_increase")
recs = FigureRecord("prompt_selection_speedup", notebook="08_policy_dependent_rm", seed=SEED, quick=QUICK)
recs.check("seeds where top-variance beats random, minus all seeds",
           int((last["top variance"] > last["random"]).sum()) - len(last), "==", 0)
recs.add_data(curves=curves.to_dict(orient="list"), per_prompt_variance=variances, steps=steps,
              fraction=SELECTION_FRACTION, policy=SELECTION_POLICY, rm=SELECTION_RM)
fig = T.plot_selection_curves({f"{SELECTION_RM} under {SELECTION_POLICY}": curves})
recs.save(fig)
fig

# %%
last

# %% [markdown]
# *With teachers that do teach under `sft_small` (probe, full mode, not used).* In the grid above, `rm_accurate` raises
# the gold reward under `sft_small` by 0.000 after 2 epochs (seeds −0.028 to +0.042), so no subset of its prompts can
# beat another except by noise. The same experiment was run with two teachers that do raise it there: the
# perfect-accuracy RM (grid: +0.066) and r_G itself (+0.090), each ranking the prompts by its own within-prompt
# variance.
# Top variance beats random in 2 of 3 seeds for the perfect-accuracy RM and in 0 of 3 for r_G. Gold increase at step
# 40, seeds 0 / 1 / 2:
#
# | teacher | top variance | random | all prompts |
# |---|---|---|---|
# | perfect-accuracy RM | +0.069 / +0.101 / +0.080 | +0.062 / +0.093 / +0.090 | +0.056 / +0.098 / +0.043 |
# | r_G | +0.045 / +0.094 / +0.064 | +0.084 / +0.139 / +0.079 | +0.086 / +0.107 / +0.074 |
#
# The top quarters hold no `count` prompt (r_G: 58 `sort`, 22 `reverse`; perfect-accuracy RM: 52 and 28), and a
# random quarter learns about as fast as all prompts. What one prompt teaches transfers to the others here (notebook
# 07), so which quarter is trained on matters little, and a random quarter, which covers every task of the evaluation
# prompts, does at least as well as the top-variance one.
#
# *On prompts that share no task skill (probe, 2026-11-30, default world, not used).* The explanation above predicts
# that selection should help where prompts do not teach each other. The world's 48 yes/no questions are such prompts
# (notebook 07: a fact learned on one wording does not carry to a synonym), so the same ``selection_experiment`` was run
# on them: the gold reward as the teacher, ``sft_full`` as the policy (where the questions have headroom), the top
# quarter (12 questions) against a random quarter and all 48, 300 RLOO steps (lr 1e-4, responses cut at 4 tokens),
# evaluated on all 48 questions. Top variance lost to random in 3 of 3 seeds: gold increase +0.083 / +0.055 / −0.034
# against +0.094 / +0.141 / +0.208 (all 48: +0.372 / +0.383 / +0.299). The questions do share one thing, the prior over
# Yes and No, and the selected quarter is unbalanced: 4 true and 8 false questions (the random quarters: 8, 9 and 6 of
# 12 true). RL on it moved the questions it did not train on by the truth of their answer: −0.54 / −0.64 / −0.93 for the
# true ones, +0.31 / +0.65 / +0.85 for the false ones. Its own 12 questions gained +0.82 / +0.42 / +0.28, against +0.55
# / +0.84 / +0.84 for the random quarters' own, so within-prompt variance did not pick the prompts that learn fastest
# either. Neither kind of world prompt, tasks that transfer completely nor questions that share only an answer prior,
# gives variance-based selection the setting where the variance argument applies.
#
# *In notebook 07's log-linear bandit (probe, 2026-11-30, not used).* There one $\theta$ serves every prompt, and the
# trained RMs do teach. The probe ran the same comparison with r_G as the teacher. The top-variance quarter (125 of
# the 500 RL prompts, ranked on 10 samples of $\pi_{\theta_0}$ each) ran against a random quarter and all prompts, 64
# RLOO steps each. That was 3 seeds on each of 3 draws of the bandit (`BanditConfig(seed=0, 1, 2)`).
# - The top quarter's mean within-prompt variance was about twice that of all prompts (0.50–0.56 against 0.27–0.29).
# - Top variance beat random in 1, 2 and 2 of the 3 seeds. All three conditions ended within 0.015 of each other, e.g.
#   draw 0: +0.449 / +0.463 / +0.458 (top), +0.457 / +0.464 / +0.458 (random), +0.454 / +0.459 / +0.457 (all).
#
# With one shared parameter vector and Adam's normalised step, a quarter of the prompts points the update where all
# of them do. Their higher variance does not make the shared $\theta$ climb faster.

# %% [markdown]
# ## Validating the teacher score
#
# Every (policy, RM) pair of the two notebooks: notebook 07's seven teachers under `sft_full` and this notebook's
# grid. The gold increase after the first epoch of RLOO (mean over seeds) against the score and against each single
# property, all measured before training. Quick mode validates on this notebook's grid only: run without notebook
# 07's cache, training and running 07's zoo here would double the notebook's time.
#
# *How the score came to be normalised this way (measured, full mode on World v2's pools).* It first whitened the RM by
# its global std (the trainer's normalisation) and reached Spearman 0.925 over the 22 pairs. When the perfect-accuracy
# RM was made as flat as the paper's (scaled from the gold reward's floor, notebook 07), that score fell by a third for
# it (0.137 → 0.094 under `sft_full`) while its RLOO runs barely moved (+0.040 → +0.037 after epoch 1), and the Spearman
# fell to 0.790, below on- and off-policy accuracy alone: a global std counts spread *between* prompts, which RLOO's
# advantages do not see. Normalised by the within-prompt spread, the score is invariant to a shift per prompt and to the
# RM's scale, as RLOO with Adam nearly is; it gave 0.901 there (0.890 on the earlier runs, with the RM scaled around 0).
# Note that this choice was made after seeing those 22 pairs. Since then it has met new data twice: the quick world's 12
# pairs (0.867) and full mode's larger pools, where notebook 07's five BT RMs, trained on them, are new models (5 of
# the 22 pairs) and every off-policy accuracy is measured on 4,000 held-out pairs instead of 800: 0.896 (the table
# below).

# %%
pairs = [properties[cols].reset_index().merge(T.epoch_increases(grids["rloo"], 1).reset_index(), on=["policy", "rm"])]
if scale.validate_on_zoo:   # 07's runs: cached after 07, else trained and run here
    zoo = T.zoo_experiment(world, data, scale.zoo_settings(world.config.max_new_tokens), scale.zoo_seeds,
                           report_k=scale.report_k, seed=SEED, rm_config=scale.rm_config)
    pairs.insert(0, zoo.properties[cols].assign(policy=zoo.policy).rename_axis("rm").reset_index()
                 .merge(T.epoch_increases(zoo.grid, 1).reset_index(), on=["policy", "rm"]))
pairs = pd.concat(pairs)
validation = T.teacher_validation(pairs)
recv = FigureRecord("teacher_score_validation", notebook="08_policy_dependent_rm", seed=SEED, quick=QUICK)
ZOO_IN_FULL = "quick mode validates on this notebook's grid only; full mode adds notebook 07's seven teachers"
recv.check("(policy, RM) pairs", len(pairs), ">=", 20, quick_relaxed=ZOO_IN_FULL)
recv.check("Spearman(score, gold increase @1)", validation.loc["teacher score", "spearman"], ">=", 0.8,
           quick_relaxed=(f"{ZOO_IN_FULL}; over its 12 pairs the rank correlation moves with the machine's float "
                          "rounding (the world is trained on the machine): 0.87 on the machine these notebooks were "
                          "first run on, 0.77 on an AVX-512 one (2026-12-01)"))
for single in ["variance alone", "on-policy accuracy alone", "off-policy accuracy alone"]:
    recv.check(f"Spearman(score) minus Spearman({single})",
               validation.loc["teacher score", "spearman"] - validation.loc[single, "spearman"], ">", 0,
               quick_relaxed=(f"{ZOO_IN_FULL}: over its 12 pairs off-policy accuracy takes three values and ranks "
                              "them slightly better" if single == "off-policy accuracy alone" else None))
recv.add_data(pairs=pairs.to_dict(orient="list"), validation=validation.to_dict(orient="index"))
fig = T.plot_teacher_validation(pairs, validation)
recv.save(fig)
fig

# %%
validation.round(3)

# %% [markdown]
# *On another CPU* (2026-12-01, an AVX-512 machine, full mode). The world and notebook 07's zoo are trained on the
# machine, so there the 22 pairs are other models' runs. Spearman with the gold increase after epoch 1:
#
# | pairs | score | on-policy accuracy alone | off-policy accuracy alone | variance alone |
# |---|---|---|---|---|
# | first machine | 0.896 | 0.878 | 0.834 | −0.415 |
# | AVX-512 machine | 0.802 | 0.812 | 0.750 | −0.612 |
# | AVX-512, notebook 07's zoo retrained at seed 1 (probe) | 0.718 | 0.734 | 0.718 | −0.548 |
#
# At the notebook's seed the score meets ≥ 0.8 on both machines (asserted), on the second by 0.002; with the zoo
# retrained at another seed it falls to 0.718. On the second machine on-policy accuracy alone ranks the pairs slightly
# better (by 0.009 and 0.016), so "above each single property" held on the first machine only: that comparison is
# recorded in the JSON, not asserted. At this scale the score adds little over on-policy accuracy; both rank the pairs
# far better than variance alone, which ranks them the wrong way.

# %% [markdown]
# *Where the score's derivation does not hold (probe, 2026-11-30, not used).* The score assumes that a step moves each
# prompt's logits on their own. In notebook 07's log-linear bandit one $\theta$ serves every prompt, and there the
# score does not rank the seven teachers. Spearman(score, gold increase after epoch 1), 3 RLOO seeds on each of five
# draws of the bandit:
# - 0.61, 0.61, 0.39, 0.04 and 0.39;
# - pooled over the 35 pairs, 0.31 (variance alone 0.16, on-policy accuracy alone −0.18).
#
# The teachers' gains after one epoch differ by at most 0.036 within a draw. r_G scores highest (0.53 in draw 0,
# against 0.39–0.41 for the others) without teaching fastest (0.231, against up to 0.246). So the score reads the
# first-order rate where prompts are learned separately; where parameters are shared across prompts, its ranking can
# fail.

# %% [markdown]
# ## Figure 3 and Table 12 in the log-linear bandit
#
# The same grid in notebook 07's log-linear bandit (`rmlab.world.bandit`, seconds). There one $\theta$ serves every
# prompt and every RM is a table over the candidates, so nothing here depends on what the world's RMs can judge.
# Everything below was fixed before the first run: the policies, the teachers, and the criteria carried over from
# the issue.
#
# - **Three initial policies** (`B.initial_policies`): `theta_0`, the bandit's own; `other demonstrations`, fit
#   the same way to what a second judge prefers (`with_other_gold`, cosine 0.77 to the gold weights): other SFT data;
#   `low entropy`, $3\,\theta_0$, whose mass sits on fewer responses, as an instruct model's does.
# - **Five teachers** (`B.figure3_teachers`): the 100 % and 0 % on-policy BT RMs (trained once, on `theta_0`'s
#   samples, and then fixed like off-the-shelf RMs), the accurate-but-flat RM, a noisy high-variance one
#   (r_G + N(0, 1) per response, like the world's `noisy_gold`), and r_G.
# - **Training.** RLOO for 2 epochs, 3 seeds, each RM standardised under the policy it trains (notebook 07's
#   settings). GRPO with the group-std division as TRL and the paper's Table 12 run it. At k = 2 every
#   advantage is then ±1/√2 up to TRL's 1e-4 epsilon: a sign-only update. A GRPO run without the KL term is the
#   control.

# %%
from rmlab.world import bandit as B

bandit = B.make_bandit(B.BanditConfig(seed=SEED))
bandit_policies = B.initial_policies(bandit)
bandit_rms = B.figure3_teachers(bandit)
bandit_rl = {"rloo": B.BanditRLConfig(epochs=2), "grpo": B.BanditRLConfig(epochs=2, algo="grpo"),
             "grpo, no KL": B.BanditRLConfig(epochs=2, algo="grpo", kl_coef=0.0)}
bandit_grids = {name: B.policy_grid(bandit, bandit_policies, bandit_rms, seeds=(0, 1, 2), rl=rl)
                for name, rl in bandit_rl.items()}
bandit_properties = bandit_grids["rloo"][0]         # the properties depend on the policy only
bandit_final = {name: T.epoch_increases(runs, epoch=2) for name, (_, runs) in bandit_grids.items()}
bandit_best = pd.DataFrame({name: T.best_rm_per_policy(f) for name, f in bandit_final.items()}
                           | {"rloo, without r_G": T.best_rm_per_policy(bandit_final["rloo"].drop(T.GOLD,
                                                                                                  level="rm"))})
display(bandit_properties.unstack("policy").round(3),  # noqa: F821  (IPython's display)
        pd.concat({name: f["gold_increase"].unstack("policy") for name, f in bandit_final.items()}).round(3),
        bandit_best)

# %%
rec_bandit = FigureRecord("bandit_fig3_policy_dependent", notebook="08_policy_dependent_rm", seed=SEED, quick=QUICK)
rec_bandit.check("distinct gold-best RMs over policies (RLOO)", bandit_best["rloo"].nunique(), ">=", 2)
rec_bandit.add_data(best_rm=bandit_best.to_dict(), bandit=bandit.config.__dict__,
                    rl={name: rl.__dict__ for name, rl in bandit_rl.items()},
                    increases={name: f.reset_index().to_dict(orient="list") for name, f in bandit_final.items()},
                    properties=bandit_properties.reset_index().to_dict(orient="list"), seeds=[0, 1, 2])
fig = T.plot_increases(bandit_final["rloo"], "bandit, RLOO after 2 epochs")
rec_bandit.save(fig)
fig

# %%
rec_bandit12 = FigureRecord("bandit_table12_grpo", notebook="08_policy_dependent_rm", seed=SEED, quick=QUICK)
rec_bandit12.add_data(best_rm=bandit_best["grpo"].to_dict(), best_rm_without_kl=bandit_best["grpo, no KL"].to_dict(),
                      increases=bandit_final["grpo"].reset_index().to_dict(orient="list"),
                      increases_without_kl=bandit_final["grpo, no KL"].reset_index().to_dict(orient="list"),
                      settings=bandit_rl["grpo"].__dict__)
fig = T.plot_increases(bandit_final["grpo"], "bandit, GRPO (group std) after 2 epochs")
rec_bandit12.save(fig)
fig

# %% [markdown]
# **Prompt selection in the bandit.** The world's experiment above, with `theta_0` and each of the five teachers
# (`B.selection_experiment`): RLOO on the quarter of the RL prompts with the highest within-prompt variance (10
# samples of `theta_0` per prompt), on a random quarter (a new one per seed) and on all RL prompts, for the same 32
# steps (2 epochs of all prompts), with the standardisation over all RL prompts in every condition. The criterion
# is the issue's, for each teacher: top variance beats random in every seed. A probe ran first, with four of the
# teachers and each subset standardised on its own; it is listed below.

# %%
bandit_selection = {name: B.selection_experiment(bandit, table, seeds=(0, 1, 2))[0]
                    for name, (table, _) in bandit_rms.items()}
bandit_last = pd.concat({name: curves[curves.step == curves.step.max()].pivot(index="seed", columns="condition",
                                                                              values="gold_increase")
                         for name, curves in bandit_selection.items()}, names=["rm"])
rec_bandit_sel = FigureRecord("bandit_prompt_selection", notebook="08_policy_dependent_rm", seed=SEED, quick=QUICK)
for name, last_step in bandit_last.groupby("rm", sort=False):
    rec_bandit_sel.check(f"{name}: seeds where top-variance beats random, minus all seeds",
                         int((last_step["top variance"] > last_step["random"]).sum()) - len(last_step), "==", 0)
rec_bandit_sel.add_data(curves={name: c.to_dict(orient="list") for name, c in bandit_selection.items()},
                        fraction=0.25, policy="theta_0", rl=B.BanditRLConfig(epochs=2).__dict__)
fig = T.plot_selection_curves(bandit_selection)
rec_bandit_sel.save(fig)
display(bandit_last.round(3))  # noqa: F821  (IPython's display)
fig

# %% [markdown]
# **Measured** (gold increase at step 32, seeds 0 / 1 / 2; the same numbers in quick and full mode):
#
# | teacher | top variance | random quarter | all prompts |
# |---|---|---|---|
# | 100 % BT RM | 0.384 / 0.387 / 0.381 | 0.382 / 0.386 / 0.377 | 0.375 / 0.375 / 0.377 |
# | 0 % BT RM | 0.371 / 0.376 / 0.372 | 0.363 / 0.353 / 0.349 | 0.359 / 0.365 / 0.343 |
# | perfect accuracy | 0.376 / 0.365 / 0.369 | 0.325 / 0.316 / 0.322 | 0.339 / 0.331 / 0.341 |
# | noisy_gold | 0.328 / 0.297 / 0.317 | 0.278 / 0.293 / 0.262 | 0.301 / 0.297 / 0.306 |
# | r_G | 0.377 / 0.382 / 0.372 | 0.361 / 0.364 / 0.353 | 0.360 / 0.367 / 0.361 |
#
# - Top variance beats random in every seed for all five teachers: the criterion passes for each. The margins
#   differ. For the 100 % RM they are +0.001 to +0.004, within the seed spread. For the perfect-accuracy RM they are
#   +0.05, and that one holds by construction: the half of the prompts this RM flattens has near-zero variance, so
#   its top quarter comes from the other half. For noisy_gold they are +0.004 to +0.055.
# - The probe (each subset standardised on its own, four teachers without noisy_gold) gave the same verdicts with
#   numbers within 0.003.
# - **Draw 0 is the favourable case.** In draws 1–4 (probe, not used), top variance beat random in all 3 seeds for
#   the perfect-accuracy RM in every draw, as its construction implies. For the others it won in 0–3 of 3 seeds:
#   100 % RM 3, 2, 0, 2; 0 % RM 1, 3, 1, 1; noisy_gold 3, 3, 2, 3; r_G 3, 2, 2, 3. Where a teacher varies alike
#   across prompts, which quarter is trained on matters little.
# - So in this bandit, where prompts share parameters as they do in the world, training on the prompts an RM
#   separates most pays reliably when the RM is flat on part of the prompts, and otherwise by small, seed-dependent
#   margins. In the world it does not (above): `rm_accurate` barely teaches under `sft_small`, and
#   the top quarters of the probe's teachers held no `count` prompt.

# %% [markdown]
# **The teacher score out of sample.** The score was chosen on the world's pairs (above). The bandit's 15
# (policy, RM) pairs of RLOO are new data for it. Criteria (ours, those of `teacher_score_validation`):
# Spearman(score, gold increase after epoch 1) ≥ 0.8, and above each single property's.

# %%
bandit_pairs = bandit_properties.reset_index().merge(T.epoch_increases(bandit_grids["rloo"][1], 1).reset_index(),
                                                     on=["policy", "rm"])
bandit_validation = T.teacher_validation(bandit_pairs)
rec_bandit_score = FigureRecord("bandit_teacher_score_validation", notebook="08_policy_dependent_rm", seed=SEED,
                                quick=QUICK)
rec_bandit_score.check("Spearman(score, gold increase @1)", bandit_validation.loc["teacher score", "spearman"], ">=",
                       0.8)
for single in ["variance alone", "on-policy accuracy alone", "off-policy accuracy alone"]:
    rec_bandit_score.check(f"Spearman(score) minus Spearman({single})", bandit_validation.loc["teacher score",
                           "spearman"] - bandit_validation.loc[single, "spearman"], ">", 0)
within_policy = T.teacher_validation_by_policy(bandit_pairs)
rec_bandit_score.add_data(pairs=bandit_pairs.to_dict(orient="list"),
                          validation=bandit_validation.to_dict(orient="index"),
                          within_policy=within_policy.to_dict(orient="index"))
fig = T.plot_teacher_validation(bandit_pairs, bandit_validation, title="the log-linear bandit, RLOO")
rec_bandit_score.save(fig)
display(bandit_validation.round(3), within_policy.round(3))  # noqa: F821  (IPython's display)
fig

# %% [markdown]
# **What the bandit shows** (seed 0, 3 RL seeds, the same numbers in quick and full mode; gold increase after 2 epochs,
# std over seeds at most 0.016; the last column is each teacher's variance under `theta_0` / the low-entropy policy):
#
# | teacher | RLOO: `theta_0` / other demos / low entropy | GRPO (group std) | GRPO, no KL | variance (2 policies) |
# |---|---|---|---|---|
# | 100 % BT RM | **0.376 / 0.407 / 0.100** | **0.376 / 0.404 / 0.098** | **0.378 / 0.405 / 0.098** | 0.919 / 0.634 |
# | 0 % BT RM | 0.355 / 0.381 / 0.091 | 0.355 / 0.378 / 0.094 | 0.355 / 0.377 / 0.093 | 0.525 / 0.293 |
# | perfect accuracy | 0.337 / 0.354 / 0.078 | 0.061 / 0.054 / 0.016 | 0.372 / 0.395 / 0.094 | 0.221 / 0.061 |
# | noisy_gold | 0.301 / 0.311 / 0.051 | 0.263 / 0.275 / 0.042 | 0.277 / 0.271 / 0.047 | 0.846 / 0.734 |
# | r_G | 0.363 / 0.380 / 0.087 | 0.349 / 0.371 / 0.085 | 0.373 / 0.397 / 0.096 | 0.586 / 0.472 |
#
# - **Figure 3's claim does not appear here: the criterion fails** (1 distinct best RM). The 100 % on-policy BT RM
#   teaches fastest under all three policies, with RLOO and with GRPO, with r_G among the teachers or without it.
#   The policies change every teacher's variance (the low-entropy policy's are 0.06–0.73 against 0.22–0.92), but
#   they do not reorder them: the 100 % RM induces the most variance among the accurate teachers under each policy.
#   The two golds agree at cosine 0.77, so `other demonstrations` is close to `theta_0` (variances within 0.01).
#   The paper's policies differ in architecture and data, and its RMs are unrelated models. Here every teacher
#   scores the same 16 features, and the policies are close relatives, so the teachers' ranking moves little from one
#   policy to the next.
#   *Other draws of the bandit* (probe, `BanditConfig(seed=1)` to `seed=4`, the same code, not used): the best RM
#   is the 100 % RM under all three policies in draws 1 and 2. In draws 3 and 4 it is the 0 % RM under `theta_0`
#   and `other demonstrations` and the 100 % RM under the low-entropy policy: two distinct best RMs, the paper's
#   Figure 3 pattern, with RLOO and with GRPO alike. So the criterion would pass in 2 of the 4 other draws. But the
#   winners there lead by 0.003–0.011, within the spread over seeds (std up to 0.026): near-ties that trade places,
#   not the paper's clear reversals. This notebook keeps draw 0, fixed before any run, and records its failure.
#   *Twice the size* (the checklist's Table 11 repeats Figure 3 at twice the width; here twice the features,
#   `dim_u = dim_v = 16`, so twice the policy's parameters; probe, draws 0–4, RLOO): the 100 % RM is the best
#   teacher under every policy in every draw, by 0.005–0.035 over the next.
# - **Sign-only GRPO (Table 12) hurts the accurate-but-flat RM.** With the group-std division, its gold increase falls
#   from 0.337 to 0.061 under `theta_0`; the others change by at most 0.04. The cause is the KL term inside the
#   reward. On the half of the prompts this RM flattens, its reward differences are ~10⁻³, smaller than the KL
#   penalty's, so each pair's sign is set by the KL term. That turns every such pair into a full-size ±1/√2 step back
#   towards $\pi_0$, on parameters every prompt shares. Without the KL term (the control), the same RM keeps pace
#   with r_G (0.372 against 0.373): sign-only advantages ignore how flat a prompt is, as the paper's notes expect.
#   In draws 1–4 (probe) the same collapse: 0.028–0.078 under GRPO against 0.241–0.329 under RLOO.
# - **The teacher score, out of sample, passes its criteria.** Spearman with the gold increase after epoch 1 is 0.90
#   over the 15 RLOO pairs (Pearson 0.81), against 0.38 for variance alone and 0.01 and 0.08 for the accuracies. Most
#   of the pooled ranking separates the policies, though: the low-entropy policy's five pairs have both the lowest
#   scores and the lowest gains. Within one policy it ranks the five teachers at 0.9 (`theta_0`, `other
#   demonstrations`) and 0.2 (low entropy, where the gains lie within 0.05). On notebook 07's seven teachers (the
#   probe above) it reached 0.61. Draws 1–4 (probe): pooled 0.84–0.91, above every single property (at most 0.44);
#   within a policy 0.2–0.9.

# %% [markdown]
# ## Criteria
#
# Every criterion of the issue with its measured value. Those listed in `EXPECTED_FAILURES` fail at this scale (two
# epochs of RLOO on tiny policies) and are recorded, not asserted. Two of the validation's criteria are relaxed in
# quick mode only: their JSON says why (`quick_relaxed`), and full mode asserts them. Everything else is asserted.

# %%
records = [rec, rec12, recs, recv, rec_bandit, rec_bandit12, rec_bandit_sel, rec_bandit_score]
unexpected = criteria_summary(records, EXPECTED_FAILURES)
print(f"notebook time: {time.time() - START:.0f} s")
assert not unexpected, unexpected
