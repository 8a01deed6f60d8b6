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

# %% [markdown]
# DRAFT (not run by the tests; the pytest configuration ignores notebooks/*.py and this file has no .ipynb pair):
# the language-model sections of notebook 13, written against World v2's dataset `rl_prompts`
# (/work/notes/contract_v2.md). To enable: paste the cells below between the controlled experiment and the final
# asserts of `13_vanishing_gradients_experiments.py` (parameters into its parameters cell), add the three records to
# the final asserts, and regenerate the .ipynb. Budgets are not calibrated yet: with DATASET = "eval_prompts" of
# the current quick world (no flat-and-far prompts there, so those criteria fail) the quick run took 2 min 11 s on the
# contended machine; the full budget has to fit next to the controlled experiment's ~9.5 min within 20 min.

# %% tags=["parameters"]
import os
SEED = 0
QUICK = os.environ.get("RMLAB_QUICK", "0") == "1"
DATASET = "rl_prompts"                 # World v2: >= 500 RL prompts, one family flat-and-far for sft_full
INITIAL_POLICY = "sft_full"
N_PROMPTS = 60 if QUICK else 500
K_STATS = 10                           # samples per prompt for the reward mean/std (the paper's 10)
MAX_NEW_TOKENS = 16
STD_EPS, MIN_GAP = 0.05, 1.0           # flat: std <= 0.05; far: mean <= best - 1 (gold in [-1, 1])
RFT_STEPS = 10 if QUICK else 40
RFT_LR = 1e-4
SFT_EPOCHS = 1 if QUICK else 3
SFT_LR = 1e-3
LR_FACTORS = (1, 10, 100)
TEMPERATURES = (1.0, 1.5, 2.0)
ENTROPY_COEFS = (0.0, 0.01, 0.1)
SFT_FRACTIONS = (0.01, 0.1, 1.0)
SFT_STEP_FRACTIONS = (0.4, 1.0) if QUICK else (0.1, 0.4, 1.0)

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
# A prompt is **flat** when its reward std under the initial policy is at most 0.05 and **far** when its mean is at
# least 1 below the best reward (1). Criteria (`vg_grue_like`): per prompt, corr(initial std, RFT gain) >
# corr(initial std, SFT gain); on the flat-and-far prompts, RFT's mean gold gain is below a quarter of SFT's.

# %%
import json
import random

import numpy as np

from rmlab import plotting
from rmlab.figures import FigureRecord
from rmlab.lm.load import load_causal_lm
from rmlab.train import rft_vs_sft
from rmlab.train.pg import PGConfig
from rmlab.train.plots_vanishing import plot_grue_like, plot_heuristics, plot_partial_sft
from rmlab.train.sft import SFTConfig
from rmlab.world import WorldConfig, build_world, quick_config
from rmlab.world.language import Demonstrator, make_facts, parse_prompt

plotting.use_style()
world = build_world(quick_config(SEED) if QUICK else WorldConfig(seed=SEED), progress=False)
rows = [json.loads(line) for line in world.datasets[DATASET].read_text().splitlines()][:N_PROMPTS]
prompts = [row["prompt"] for row in rows]
families = [row.get("family") or parse_prompt(row["prompt"])[0] for row in rows]
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


def finetuned(method, *, rft=RFT, sft=SFT, **fractions):
    model, tokenizer = initial_policy()
    rft_vs_sft.run_method(method, model, tokenizer, prompts, demonstrations, world.gold, rft=rft, sft=sft,
                          **fractions)
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
fig = plot_grue_like(initial, after, per_family, correlations)
rec_grue.add_data(dataset=DATASET, initial_policy=INITIAL_POLICY, prompts=prompts, families=families,
                  initial_mean=initial.mean, initial_std=initial.std, flat_and_far=flat_far,
                  after_mean={m: s.mean for m, s in after.items()}, after_std={m: s.std for m, s in after.items()},
                  correlations=correlations, per_family=per_family, flat_and_far_gain=flat_far_gain,
                  rft=vars(RFT), sft=vars(SFT))
rec_grue.check("flat-and-far prompts", int(flat_far.sum()), ">=", 1)
rec_grue.check("corr(initial std, RFT gain) - corr(initial std, SFT gain)",
               correlations["rft"] - correlations["sft"], ">", 0.0)
rec_grue.check("flat-and-far: RFT mean gold gain - 1/4 of SFT's", flat_far_gain["rft"] - flat_far_gain["sft"] / 4,
               "<", 0.0)
for c in rec_grue.criteria:
    print(f"{'PASS' if c['passed'] else 'FAIL'}: {c['name']} = {c['value']:.4g} (needs {c['op']} {c['threshold']})")
rec_grue.save(fig)
fig

# %% [markdown]
# ## 3. Common heuristics do not rescue RFT (§5.1)
#
# RFT again from the initial policy with a 10× and 100× learning rate, a sampling (and training) temperature of 1.5
# and 2, and an entropy bonus of 0.01 and 0.1 (`PGConfig.temperature`, `PGConfig.entropy_coef`). Criterion
# (`vg_heuristics`): on the flat-and-far prompts, no variant reaches half of SFT→RFT's gold reward (rewards scaled to
# $[0,1]$, the range of the paper's metrics). The reward is always measured on samples at temperature 1.

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
rec_heur.check("best heuristic variant / SFT→RFT (flat-and-far, [0, 1] reward)",
               max(heuristic_reward.values()) / reference, "<", 0.5)
for c in rec_heur.criteria:
    print(f"{'PASS' if c['passed'] else 'FAIL'}: {c['name']} = {c['value']:.4g} (needs {c['op']} {c['threshold']})")
rec_heur.save(fig)
fig

# %% [markdown]
# ## 4. A little SFT goes a long way (§5.2)
#
# SFT on 1 %, 10 % or 100 % of the prompts for a fraction of the full SFT run's steps, then RFT on all prompts.
# Criterion (`vg_partial_sft`): SFT on 1 % of the prompts (all of its steps) then RFT reaches at least 90 % of the
# reward of SFT on 100 % then RFT (all prompts, rewards scaled to $[0,1]$). The paper (per a secondary source) reports
# 96 % with 40 % of the steps.

# %%
def mean_reward(stats):
    return float(rft_vs_sft.unit_interval(stats.mean, low=-1.0, high=1.0).mean())


partial = {(f, s): mean_reward(after["sft_rft"]) if (f, s) == (1.0, 1.0) else
           mean_reward(finetuned("sft_rft", sft_fraction=f, sft_step_fraction=s))
           for f in SFT_FRACTIONS for s in SFT_STEP_FRACTIONS}
rec_partial = FigureRecord("vg_partial_sft", notebook="13_vanishing_gradients_experiments", seed=SEED, quick=QUICK)
fig = plot_partial_sft(partial, partial[(1.0, 1.0)])
rec_partial.add_data(rewards=[{"sft_fraction": f, "sft_step_fraction": s, "reward": r} for (f, s), r in partial.items()],
                     rft_reward=mean_reward(after["rft"]))
rec_partial.check("SFT(1 %)→RFT / SFT(100 %)→RFT", partial[(0.01, 1.0)] / partial[(1.0, 1.0)], ">=", 0.9)
for c in rec_partial.criteria:
    print(f"{'PASS' if c['passed'] else 'FAIL'}: {c['name']} = {c['value']:.4g} (needs {c['op']} {c['threshold']})")
rec_partial.save(fig)
fig

# %%
assert rec_grue.passed, rec_grue.failures()
assert rec_heur.passed, rec_heur.failures()
assert rec_partial.passed, rec_partial.failures()
