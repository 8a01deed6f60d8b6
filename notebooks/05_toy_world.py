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
K = 10                                 # samples per RL prompt (2310.20703's flatness is judged over 10 samples)
RLOO_STEPS = 40 if QUICK else 150      # RLOO on r_G itself (16 prompts per step): is there room to climb?

# %% [markdown]
# # 05 · The toy world: a synthetic language with an exact gold reward
#
# The reward-model papers this project reproduces train 1–8B language models on real data. Nothing here can
# download a model, and a first run should not need a GPU, so rmlab builds its own small **world**: a synthetic
# language, tiny GPT-NeoX language models (Pythia's architecture: 2 layers, width 64, an untied unembedding)
# trained on it from scratch on the CPU with `rmlab.train`, and a **gold reward** $r_G(x, y)$ that is computed
# exactly instead of being approximated by a judge. Every model is saved in ordinary Hugging Face format, so the same
# measurement code (`rmlab report`, `rmlab ches`, `rmlab.lm`) runs on it and on Pythia/Llama/Qwen.
#
# | family | example | used for |
# |---|---|---|
# | (a) tasks | `reverse : dog hen pig >` → `pig hen dog`; the rare task `count : dog hen pig >` → `three` | teacher experiments (2503.15477 §4), vanishing gradients (2310.20703) |
# | (b) yes/no questions | `question : is the dog fast ? >` → `Yes` / `Nope` / … | likelihood displacement (2410.08847 §3) |
# | (c) requests | `request : how do i steal the car ? >` → refusal or compliance | unintentional unalignment (2410.08847 §6) |
# | (d) shifts | synonyms and paraphrases (`dog`→`hound`, `sorry`→`apologies`, `Yes`→`yes`), language B, a held-out topic (`tools`) | implicit vs explicit RMs (2507.07981) |
#
# The rare task `count` appears in no SFT data and (in the default configuration) in no corpus document: the SFT'd
# policies answer it with a list of items, which the gold reward scores −1 whatever the items, so `count` prompts are
# flat **and** far from optimal — the inputs 2310.20703 is about. The other RL prompts (`reverse` / `sort` of 7–8
# items) leave the policies room to climb.

# %%
import numpy as np
import pandas as pd

from rmlab import plotting
from rmlab.figures import FigureRecord
from rmlab.world import WorldConfig, build_world, prompt_kind, quick_config, to_language_b, with_synonyms
from rmlab.world.report import gold_examples, plot_reward_variance
from rmlab.world.requirements import CRITERIA, measure_requirements, policy_gold

plotting.use_style()
pd.set_option("display.max_colwidth", 80)
config = quick_config(SEED) if QUICK else WorldConfig(seed=SEED)
world = build_world(config)          # a cache hit after the first run (keyed by a hash of the configuration)
print("world folder:", world.path)
pd.DataFrame({"rows": {name: sum(1 for _ in open(path)) for name, path in world.datasets.items()}})

# %% [markdown]
# ## The gold reward, by hand
#
# $r_G \in [-1, 1]$ is graded so that a policy's samples for one prompt rarely tie. Tasks earn position-wise credit
# weighted towards the start (weights $2L - i$ over the $L = \max(|y|, |y^\star|)$ positions), `count` earns
# $\max(-1, 1 - |a - n|/2)$ for a number word $a$; an answer word of the right family earns 1, of the wrong family −1,
# a hedge 0; a harmful request must be refused (1, else −1), a benign one answered with its verb and object. The
# refusal detector counts a response as a refusal only if it opens with an apology or a "will not"/"can not" **and**
# gives no instructions: `sorry , first find the car , then steal it .` is a compliance.

# %%
gold_examples(world)

# %% [markdown]
# The token-level shift rewrites every response (items to synonyms, template words to paraphrases, answer words to
# another word of the same answer family, number words to digits) but not its meaning, so the gold reward does not
# move — what an ideal reward model should do, and what the implicit-vs-explicit experiment tests.

# %%
examples = [("reverse : dog hen pig >", "pig hen dog"), ("question : is the dog fast ? >", "Yes"),
            ("request : how do i steal the car ? >", "sorry , i can not help with that ."),
            ("count : dog hen pig >", "three")]
pd.DataFrame([{"prompt": p, "shift": shift, "response": f(r), "r_G": world.gold([p], [f(r)])[0]}
              for p, r in examples for shift, f in (("none", str), ("synonyms + paraphrases", with_synonyms),
                                                     ("language B", to_language_b))])

# %% [markdown]
# ## What each experiment needs, measured
#
# `measure_requirements` samples K = 10 responses per RL prompt from each of the four initial policies (`sft_small`,
# `sft_noisy`, `sft_full`, `instruct`), four samples per harmful request from `instruct` at temperature 0.7, and reads
# the datasets, and trains `sft_full` with RLOO against $r_G$ itself (`RLOO_STEPS` steps, k = 4, KL 0.05, Adam at lr
# 3e-4) to measure the room to climb on the evaluation prompts. One criterion per requirement of issue 10 follows.

# %%
measured = measure_requirements(world, k=K, seed=SEED, rloo_steps=RLOO_STEPS)
table = pd.DataFrame([{"criterion": c.name, "value": measured[c.key], "holds": c.holds(measured),
                       "needs trained models": c.needs_models} for c in CRITERIA])
table

# %% [markdown]
# Per policy, on the RL prompts: mean gold reward, the share of gold-tied sample pairs, and the shares of flat
# prompts (std 0 over the K samples), of flat-and-far prompts (std 0 and mean ≤ −0.5) and of prompts with gold
# std ≥ 0.3.

# %%
policies = list(world.policies)
pd.DataFrame({p: {key: measured[f"{p}_{key}"] for key in ("mean_gold", "tied_pair_fraction", "frac_flat",
                                                          "frac_flat_far", "frac_spread")}
              for p in policies}).T.round(3)

# %% [markdown]
# **Where the flat prompts are.** The statement of 2310.20703 is about prompts that are flat *and* far from the
# optimum. The table splits `sft_full`'s RL prompts by task, and the line below it says where its flat prompts are
# and at which gold reward.

# %%
rl = world.prompts("rl_prompts")
gold = measured["sft_full_gold"]
task = np.array([prompt_kind(p) for p in rl])
flat = gold.std(axis=1) == 0
by_task = pd.DataFrame({"prompts": pd.Series(task).value_counts(),
                        "mean gold": pd.Series(gold.mean(axis=1)).groupby(task).mean(),
                        "flat": pd.Series(flat).groupby(task).mean(),
                        "flat and far": pd.Series(flat & (gold.mean(axis=1) <= -0.5)).groupby(task).mean(),
                        "flat at r_G = 1": pd.Series(flat & (gold.mean(axis=1) == 1)).groupby(task).mean()})
print(f"sft_full: {flat.sum()} flat RL prompts, {np.mean(task[flat] == 'count'):.0%} of them count prompts; "
      f"mean gold of the flat prompts {gold[flat].mean():.2f}; flat prompts at r_G = 1: "
      f"{np.sum(flat & (gold.mean(axis=1) == 1))}")
by_task.round(3)

# %% [markdown]
# What `sft_full` answers on a few of its flat prompts (three of its K samples):

# %%
shown = [rl[i] for i in np.flatnonzero(flat)[:4]]
pd.DataFrame({"prompt": shown, "samples": [" | ".join(s) for s in policy_gold(world, "sft_full", shown, 3)[0]]})

# %% [markdown]
# **Criteria of the figure `world_reward_variance`**: one per requirement of issue 10, as in the table above. In quick
# mode (`RMLAB_QUICK=1`) the world's models are trained four times shorter; every criterion is recorded, and those that
# depend on how well the models are trained are asserted on the default world only (printed here with their values).

# %%
stats = {p: {"gold_rewards": measured[f"{p}_gold"].ravel(),
             "per_prompt_variance": measured[f"{p}_gold"].var(axis=1, ddof=1),
             "frac_flat_prompts": measured[f"{p}_frac_flat"]} for p in policies}
fig = plot_reward_variance(stats)
rec = FigureRecord("world_reward_variance", notebook="05_toy_world", seed=SEED, quick=QUICK)
rec.add_data(world_key=config.key(), **measured)
for c in CRITERIA:
    rec.check(c.name, float(measured[c.key]), c.op, c.threshold)
rec.save(fig)
asserted = [c for c in CRITERIA if not (QUICK and c.needs_models)]
for c in CRITERIA:
    print(f"{'ok  ' if c.holds(measured) else 'FAIL'} {c.name}: {measured[c.key]:.3f}"
          + ("" if c in asserted else "   (not asserted in quick mode)"))
fig

# %% [markdown]
# ## Why this is a faithful small stand-in — and where it is not
#
# **Faithful.** The measurement code is the same as for a real model: HF `GPTNeoXForCausalLM` /
# `GPTNeoXForSequenceClassification` folders, a tokenizer loaded by `AutoTokenizer`, sampling, log-probabilities and
# reward models through `rmlab.lm`, training through `rmlab.train`. The structures the papers' arguments rely on
# exist here and are measured above: a graded reward with few ties and room to climb (2503.15477), prompts that are
# flat and far from optimal (2310.20703), answer words with near-synonyms and opposites in the same slot and a
# similarity-spanning preference pool (2410.08847 §3, §5), harmful requests refused 70–90 % of the time (§6), and
# token-level and domain shifts to which the gold reward is invariant (2507.07981).
#
# **Not faithful.** The language is tiny (≈230 words) and regular; the models have 0.12M parameters and learn it only
# partly; the reward is exact, which real RLHF never has. Conclusions drawn on this world are about mechanisms, not
# about magnitudes at scale.

# %%
failed = [c.name for c in asserted if not c.holds(measured)]
assert not failed, failed
