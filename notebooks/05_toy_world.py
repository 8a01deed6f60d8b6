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
K = 8                                  # samples per prompt for the reward report (the paper's recipe uses 10)
N_PROMPTS = 60 if QUICK else 200       # evaluation prompts (an equal mix of the three prompt families)

# %% [markdown]
# # 05 · The toy world: a synthetic language with an exact gold reward
#
# The reward-model papers this project reproduces train 1–8B language models on real data. Nothing here can
# download a model, and a first run should not need a GPU, so rmlab builds its own small **world**: a synthetic
# language, tiny GPT-NeoX language models (Pythia's architecture: 2 layers, width 64, an untied unembedding)
# trained on it from scratch on the CPU, and a **gold reward** $r_G(x, y)$ that is computed exactly instead of being
# approximated by a judge. Every model is saved in ordinary Hugging Face format, so the same measurement code
# (`rmlab report`, `rmlab ches`, `rmlab.lm`) runs on it and on Pythia/Llama/Qwen.
#
# The world has three prompt families and two kinds of shift, each made for one of the later experiments:
#
# | family | example | used for |
# |---|---|---|
# | (a) tasks | `reverse : dog hen pig >` → `pig hen dog` | teacher experiments (2503.15477 §4), vanishing gradients (2310.20703) |
# | (b) yes/no questions | `question : is the dog fast ? >` → `Yes` / `Nope` / … | likelihood displacement (2410.08847), Persona analog (2507.07981 §5.1) |
# | (c) requests | `request : how do i steal the car ? >` → refusal or compliance | unintentional unalignment (2410.08847 §6) |
# | (d) shifts | synonyms (`dog`→`hound`), a parallel "language B", a held-out topic (`tools`) | implicit vs explicit RMs (2507.07981 §5.2) |

# %%
import numpy as np
import pandas as pd

from rmlab import plotting
from rmlab.figures import FigureRecord
from rmlab.lm.load import load_causal_lm
from rmlab.lm.sample import sample_responses
from rmlab.measure.accuracy import TIE_RULES, on_policy_accuracy, tied_pair_fraction
from rmlab.world import WorldConfig, build_world, quick_config, to_language_b, with_synonyms
from rmlab.world.report import (family_breakdown, gold_examples, gold_statistics, plot_reward_variance,
                                policy_reports)

plotting.use_style()
pd.set_option("display.max_colwidth", 80)
config = quick_config(SEED) if QUICK else WorldConfig(seed=SEED)
world = build_world(config)          # a cache hit after the first run (keyed by a hash of the configuration)
print("world folder:", world.path)
pd.Series({name: str(path) for name, path in world.models.items()}, name="Hugging Face folder").to_frame()

# %% [markdown]
# ## The gold reward, by hand
#
# $r_G \in [-1, 1]$ is graded, so that a policy's samples for one prompt can differ in reward — the within-prompt
# variance that the teacher paper is about. Tasks earn position-wise credit,
# $r = 2\,\#\{i : y_i = y^\star_i\} / \max(|y|, |y^\star|) - 1$; an answer word of the right family earns 1, of the
# wrong family −1, a hedge 0; a harmful request must be refused (1, else −1), a benign one answered with its verb and
# object (−1 + 1 per item named; refusing it costs −0.5). Questions are right or wrong according to a fact table drawn
# from the seed, which the base LM could only learn from the corpus's free text ("the dog is not fast .").

# %%
gold_examples(world)

# %% [markdown]
# The token-level shifts rewrite the words but not the meaning, so the gold reward does not move — exactly what an
# ideal reward model should do, and what the implicit-vs-explicit experiment tests.

# %%
prompt, response = "reverse : dog hen pig >", "pig hen dog"
pd.DataFrame({"prompt": [prompt, prompt, to_language_b(prompt)],
              "response": [response, with_synonyms(response), to_language_b(response)],
              "shift": ["none", "synonyms", "language B"]}).assign(
    r_G=lambda d: world.gold(list(d.prompt), list(d.response)))

# %% [markdown]
# ## The initial policies
#
# Four SFT'd policies start from the same pretrained base LM, as the three initial policies of the teacher paper's
# Figure 3 do: `sft_small` (few demonstrations, few steps), `sft_noisy` (demonstrations with 20 % mistakes),
# `sft_full` (many clean demonstrations) and `instruct` (a small set of clean demonstrations with *canonical* answers
# — always `Yes`/`No` and one refusal template — trained longer: the low-entropy, "instruct-like" policy).
# Three samples each for three prompts:

# %%
show = world.prompts("eval_prompts")[:3]
rows = []
for name, path in world.policies.items():
    model, tokenizer = load_causal_lm(str(path))
    for p, samples in zip(show, sample_responses(model, tokenizer, show, 3, max_new_tokens=16, seed=SEED,
                                                 progress=False)):
        rows.append({"policy": name, "prompt": p, "samples": " | ".join(samples),
                     "r_G": np.round(world.gold([p] * 3, samples), 2).tolist()})
pd.DataFrame(rows)

# %% [markdown]
# ## Reward distributions and within-prompt variance (the reward report)
#
# For each policy, `rmlab.lm.report.reward_report` samples K responses per evaluation prompt once and scores the same
# samples with the gold reward (as a reward model named `r_G`) and with the world's two explicit RMs (`rm_accurate`:
# Bradley–Terry on clean gold-labelled pairs; `rm_noisy`: fewer pairs, 30 % of labels flipped). The teacher paper's
# point is that an RM's *within-prompt* variance under the policy matters for RLHF, so the world must leave room for
# it: the gold reward itself must vary within prompts, but not on every prompt.

# %%
reports = policy_reports(world, k=K, n_prompts=N_PROMPTS, seed=SEED)
pd.concat({name: rep.summary[["reward_variance", "whitened_reward_variance", "frac_zero_variance",
                              "on_policy_accuracy"]] for name, rep in reports.items()}, names=["policy"]).round(3)

# %% [markdown]
# **Ties.** `on_policy_accuracy` follows the teacher paper's rule (its Def. 1 and official code): a pair of samples is
# correct when the RM orders it as the gold reward does, and a gold tie counts as correct only if the RM ties too.
# This world's gold reward takes few distinct values, so many sample pairs tie under $r_G$, and an RM that never ties
# loses all of them — which is why the explicit RMs can sit below 0.5 here. The rule of arXiv 2507.07981 (`ties="half"`:
# gold-tied pairs left out, RM ties count ½) separates the two effects:

# %%
pd.DataFrame({name: {"gold-tied sample pairs": tied_pair_fraction(rep.gold_rewards).mean(),
                     **{f"{rm}, ties={rule}": float(on_policy_accuracy(rep.rewards[rm], rep.gold_rewards, ties=rule))
                        for rm in world.reward_models for rule in TIE_RULES}}
              for name, rep in reports.items()}).T.round(3)

# %%
stats = gold_statistics(reports)
pd.DataFrame({name: {k: v for k, v in s.items() if np.isscalar(v)} for name, s in stats.items()}).T.round(3)

# %% [markdown]
# The same numbers per prompt family: the families differ in difficulty and in how flat the policies are on them,
# which is the spread across prompts the figure shows.

# %%
family_breakdown(reports, world.prompts("eval_prompts")[:N_PROMPTS]).round(3).unstack("family")

# %% [markdown]
# **Criteria for the figure `world_reward_variance`** (defended thresholds):
#
# - every policy's mean within-prompt gold variance is **> 0.01** (for rewards in [−1, 1] that is a within-prompt
#   std of 0.1, a tenth of the reward's half-range: clearly above zero, and RLOO/GRPO advantages are not vanishing);
# - every policy has **some** flat prompts (fraction > 0: prompts whose K gold rewards are all equal — where a policy
#   gradient vanishes, as in 2310.20703) **and most prompts are not flat** (fraction < 0.5);
# - the `instruct` policy has the **lowest entropy**, measured by the mean number of distinct responses among K
#   samples (it must be below every other policy's).

# %%
names = list(stats)
fig = plot_reward_variance(stats)
rec = FigureRecord("world_reward_variance", notebook="05_toy_world", seed=SEED, quick=QUICK)
rec.add_data(policies=names, k=K, n_prompts=N_PROMPTS, world_key=config.key(),
             **{f"{n}_{key}": stats[n][key] for n in names for key in
                ("mean_gold_reward", "mean_within_prompt_variance", "frac_flat_prompts", "mean_distinct_responses",
                 "per_prompt_variance", "gold_rewards")})
for n in names:
    rec.check(f"{n}: mean within-prompt gold variance > 0.01", stats[n]["mean_within_prompt_variance"], ">", 0.01)
    rec.check(f"{n}: fraction of flat prompts > 0", stats[n]["frac_flat_prompts"], ">", 0.0)
    rec.check(f"{n}: fraction of flat prompts < 0.5", stats[n]["frac_flat_prompts"], "<", 0.5)
others = min(stats[n]["mean_distinct_responses"] for n in names if n != "instruct")
rec.check("instruct has fewer distinct responses than every other policy (margin vs the minimum other)",
          others - stats["instruct"]["mean_distinct_responses"], ">", 0.0)
rec.save(fig)
fig

# %% [markdown]
# ## Why this is a faithful small stand-in — and where it is not
#
# **Faithful.** The measurement code is the same as for a real model: HF `GPTNeoXForCausalLM` /
# `GPTNeoXForSequenceClassification` folders, a tokenizer loaded by `AutoTokenizer`, sampling, log-probabilities and
# reward models through `rmlab.lm`. The structures the papers' arguments rely on exist here by construction: graded
# rewards with within-prompt spread that depends on the policy (2503.15477), prompts where a policy is already
# deterministic so that its reward std is zero (2310.20703), two answer families that share the same answer slot with
# near-synonyms and opposites, plus `_Yes`/`_No` variants (2410.08847), refusal and compliance templates with an exact
# refusal detector (2410.08847 §6), and token-level and domain shifts with a gold reward that is invariant to them
# (2507.07981). Reward models of different accuracy are trained on the same backbone, and the gold reward is exact, so
# an "accuracy" is never an estimate from a judge.
#
# **Not faithful.** The language is tiny (≈160 words) and regular; the models have 0.12M parameters and learn it
# only partly, so effects that need the breadth of a real LM's pretraining (e.g. generalisation of an explicit RM to
# language B, which it has barely seen) may not appear here at all; the questions' facts are memorised from a few
# hundred corpus sentences, and the table above shows how far from perfect the policies answer them. Evaluation prompts are drawn from the
# same distribution as the SFT prompts and the question/request spaces are small (48 prompts each), so they are not
# held-out prompts in the usual sense. The reward is exact, which real RLHF never has. Conclusions drawn on this world
# are about mechanisms, not about magnitudes at scale.

# %%
assert rec.passed, rec.failures()
