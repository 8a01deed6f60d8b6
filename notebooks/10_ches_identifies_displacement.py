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
POLICY = "sft_full"                    # the world model DPO starts from (its frozen copy is the reference)
POOL = "prefs_similarity_pool"         # the world's pool of pairs spanning chosen/rejected similarity
WINDOW = 100 if QUICK else 200         # pairs per quantile window (the paper: 512 of 5,000)
SEEDS = (0,) if QUICK else (0, 1, 2)   # DPO runs per window (batch order); the paper: 3 runs, min/max bars
OPTIMIZER, LR = "sgd", 0.1             # plain gradient steps, the discretisation of the paper's theory; see the text
BATCH_SIZE = 32                        # the paper's 4 x 8

# %% [markdown]
# # 10 · CHES identifies the pairs that displace the preferred response
#
# Razin et al., *Unintentional Unalignment: Likelihood Displacement in Direct Preference Optimization* (arXiv
# 2410.08847), §5 and Figure 2. DPO raises the *margin* $\ln\pi(y^+|x)-\ln\pi(y^-|x)$, yet $\ln\pi(y^+|x)$ itself
# often falls. The paper's **CHES** score (centered hidden embedding similarity),
#
# $$\mathrm{CHES}_x(y^+,y^-)=\Big\langle \sum_k h_{x,y^+_{<k}},\ \sum_k h_{x,y^-_{<k}}\Big\rangle-\Big\lVert\sum_k h_{x,y^+_{<k}}\Big\rVert^2,$$
#
# with $h$ the last hidden states that predict each response token, says how strongly the gradient of $y^-$ pulls
# down $y^+$. The experiment: sort a pool of pairs by a similarity measure, take a window of pairs around each
# quantile (the official `__quantile_slice`: the window at $q=0$ holds the least similar pairs, at $q=1$ the most
# similar), run one epoch of DPO on each window from the same model, and record the mean change of
# $\ln\pi(y^+|x)$ over the window. CHES should rank the windows — the most CHES-similar pairs displace, the least
# similar ones do not — while two natural baselines (minus the normalised token edit distance, and the inner product
# of the last hidden states) should not.
#
# **Where this differs from the paper.** The paper used UltraFeedback/AlpacaFarm with OLMo-1B, Gemma-2B and
# Llama-3-8B, 512-pair windows of 5,000 pairs and RMSprop at lr 1e-7. Here: the toy world's pool (pairs of the same
# family and of different families, short and long, near-duplicates and unrelated), its 0.12M-parameter models,
# smaller windows, and **plain SGD instead of RMSprop**. CHES comes from the gradient-flow analysis; RMSprop divides
# each weight's step by a running RMS of its gradient, which changes which pairs pull $y^+$ down. Measured on the
# default world (one seed, 200-pair windows): with RMSprop the CHES ranking did not appear — Spearman −0.3 (base
# model, lr 3e-6) and −0.1 (lr 1e-5) — while with SGD (lr 0.1, `sft_full`) it was −0.9. The paper's runs used
# RMSprop on 1–8B models; at this scale only the gradient-descent version shows the effect, and we say so.

# %%
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from rmlab import plotting
from rmlab.figures import FigureRecord, criteria_summary
from rmlab.lm.ches import ches_scores, thm6_signs
from rmlab.lm.load import load_causal_lm
from rmlab.theory import multi_token
from rmlab.theory.plots_displacement import plot_ches_premise
from rmlab.train.dpo import DPOConfig
from rmlab.train.similarity_quantiles import (check_window_checklist, plot_quantile_windows, quantile_dpo_runs,
                                              quantile_spearman, quantile_summary)
from rmlab.world import WorldConfig, build_world, quick_config

plotting.use_style()
world = build_world(quick_config(SEED) if QUICK else WorldConfig(seed=SEED))
pool = world.preferences(POOL)
policy, tokenizer = load_causal_lm(str(world.models[POLICY]))
print(f"{len(pool)} pairs in {POOL}; DPO from {POLICY!r}")

# %% [markdown]
# ## The similarity scores
#
# `rmlab.lm.ches.ches_scores` computes CHES, its length-normalised version LN-CHES, the normalised token edit
# distance and the last-hidden-state inner product of every pair in one batched pass. The paper's Tables 14/15: the
# highest-CHES pairs have a *longer* rejected response, the lowest-CHES pairs a longer preferred one.

# %%
scores = ches_scores(policy, tokenizer, pool)
lengths = pd.DataFrame({"ches": scores["ches"].to_numpy(),
                        "rejected_minus_chosen_words": [len(r.split()) - len(c.split())
                                                        for c, r in zip(pool["chosen"], pool["rejected"])]})
deciles = pd.qcut(lengths.ches.rank(method="first"), 10, labels=False)
length_gap = lengths.groupby(deciles).rejected_minus_chosen_words.mean()
length_gap.rename_axis("CHES decile").to_frame("mean |y-| - |y+| (words)").T.round(2)

# %% [markdown]
# ## One epoch of DPO per quantile window

# %%
config = DPOConfig(loss="dpo", beta=0.1, optimizer=OPTIMIZER, lr=LR, batch_size=BATCH_SIZE, epochs=1)
runs = quantile_dpo_runs(policy, tokenizer, pool, scores, config, window=WINDOW, seeds=SEEDS)
summary = quantile_summary(runs)
spearman = quantile_spearman(runs)
summary.pivot(index="quantile", columns="measure", values="mean").round(4)

# %%
fig = plot_quantile_windows(summary, spearman)
fig

# %% [markdown]
# **Criteria for `fig2_ches_quantiles`** (the issue's, never loosened): Spearman(CHES percentile, mean Δ ln π(y⁺))
# ≤ −0.9, and the highest-CHES window displaces more than the lowest (its mean change is lower). The baselines'
# Spearman correlations are recorded beside it; the paper expects them to rank displacement poorly.
#
# The reproduction checklist (`../shared/papers/03_likelihood_displacement_ches.md` §10) is stricter, and its
# criteria are recorded too, each marked "checklist": Spearman exactly −1 over the five windows; the lowest-CHES window
# raises ln π(y⁺) on average and the highest lowers it; each baseline ranks poorly (Spearman above −0.6: weak, or of
# the wrong sign); and Tables 14/15's lengths (the top CHES decile has the longer rejected responses, the bottom
# decile the longer preferred ones). In the quick world the last-hidden inner product ranks the windows well too
# (Spearman −0.8): that baseline criterion is relaxed in quick mode (its JSON says so) and asserted in full mode,
# where it measures −0.5. Measured in full mode: the lowest-CHES window +5.87, the highest −0.50; Spearman of
# −edit distance +0.4, of the last-hidden inner product −0.5; |y⁻| − |y⁺| of +7.67 words in the top CHES decile and
# −5.46 in the bottom one (quick mode: +5.74 and −2.13; +0.1 and −0.8; +6.85 and −5.27).

# %%
rec = FigureRecord("fig2_ches_quantiles", notebook="10_ches_identifies_displacement", seed=SEED, quick=QUICK)
by_q = summary.pivot(index="quantile", columns="measure", values="mean")
rec.add_data(policy=POLICY, pool=POOL, n_pairs=len(pool), window=WINDOW, seeds=list(SEEDS), dpo=config.__dict__,
             runs=runs.to_dict("records"), spearman=spearman, length_gap_by_ches_decile=length_gap.tolist())
rec.check("Spearman(CHES percentile, mean Δ ln π(y+))", spearman["ches"], "<=", -0.9)
rec.check("mean Δ ln π(y+): highest-CHES window minus lowest", by_q["ches"].iloc[-1] - by_q["ches"].iloc[0], "<", 0.0)
BASELINES_RELAXED = "in the quick world the last-hidden inner product also ranks the windows (-0.8)"
check_window_checklist(rec, summary, spearman, quick_relaxed={"minus_edit_distance": BASELINES_RELAXED,
                                                              "last_hidden_inner_product": BASELINES_RELAXED})
rec.check("checklist: mean |y-| - |y+| (words), top CHES decile", length_gap.iloc[-1], ">", 0.0)
rec.check("checklist: mean |y-| - |y+| (words), bottom CHES decile", length_gap.iloc[0], "<", 0.0)
rec.save(fig)
pd.DataFrame(rec.criteria)

# %% [markdown]
# ## The same with IPO (the checklist's "repeat with IPO"; the paper's Figures 6–7 use IPO too)
#
# IPO's loss $((\Delta - \Delta_{\mathrm{ref}}) - 1/(2\tau))^2$, τ = 0.01, on the same windows and seeds. With
# plain SGD the step scales with the loss's gradient, and at the start every pair's weight is $\beta/2 = 0.05$ under
# DPO but $1/\tau = 100$ under IPO, so IPO runs at the rate that makes its first step DPO's:
# $0.1 \times 0.05 / 100 = 5\cdot10^{-5}$ (chosen before the run, not tuned). After the first step the two differ:
# DPO's weight shrinks as a pair's margin grows, IPO's only once the margin nears its target of 50.

# %%
IPO_TAU = 0.01
ipo_config = DPOConfig(loss="ipo", beta=IPO_TAU, optimizer=OPTIMIZER, lr=LR * (0.1 / 2) * IPO_TAU,
                       batch_size=BATCH_SIZE, epochs=1)
ipo_runs = quantile_dpo_runs(policy, tokenizer, pool, scores, ipo_config, window=WINDOW, seeds=SEEDS)
ipo_summary, ipo_spearman = quantile_summary(ipo_runs), quantile_spearman(ipo_runs)
ipo_by_q = ipo_summary.pivot(index="quantile", columns="measure", values="mean")
print("Spearman(percentile, mean Δ ln π(y+)), IPO:", {m: round(v, 2) for m, v in ipo_spearman.items()})
rec_ipo = FigureRecord("fig2_ches_quantiles_ipo", notebook="10_ches_identifies_displacement", seed=SEED, quick=QUICK)
fig = plot_quantile_windows(ipo_summary, ipo_spearman, title="IPO, τ = 0.01")
rec_ipo.add_data(policy=POLICY, pool=POOL, window=WINDOW, seeds=list(SEEDS), ipo=ipo_config.__dict__,
                 runs=ipo_runs.to_dict("records"), spearman=ipo_spearman)
check_window_checklist(rec_ipo, ipo_summary, ipo_spearman, label="IPO",
                       quick_relaxed={"ches": "quick world, one seed, 100-pair windows: -0.5",
                                      "highest": "quick world, one seed, 100-pair windows: +1.49"})
rec_ipo.save(fig)
display(ipo_by_q.round(4))  # noqa: F821  (IPython's display)
fig

# %% [markdown]
# *Measured (2026-11-30):* full mode (3 seeds, 200-pair windows): CHES ranks the IPO windows exactly (Spearman −1),
# from +6.86 in the lowest-CHES window down to −0.20 in the highest (its three seeds −0.70 to +0.66), so IPO
# displaces on the most CHES-similar pairs as DPO does. The edit distance does not rank them (+0.3); the last-hidden
# inner product does, more than under DPO (−0.7 against −0.5), so the checklist's "baselines rank poorly" fails for it
# here (recorded, not asserted). Quick mode (the quick world, one seed, 100-pair windows) shows less: CHES −0.5, the
# highest-CHES window +1.49 (no displacement), the last-hidden inner product −0.9; the first two are relaxed in quick
# mode only, as the DPO figure's baseline criterion is.

# %% [markdown]
# ## A second dataset (the checklist's "repeat with ... a second dataset"; the paper's Figure 2 has two)
#
# The same DPO protocol (windows, seeds, rate) on another of the world's preference sets, `prefs_off_policy`: per
# prompt, two responses of a generator other than the policy, gold-labelled. Unlike the similarity pool it was not
# built to span similarity. The paper's second dataset (AlpacaFarm beside UltraFeedback) is likewise an ordinary
# preference set. Chosen before the run; the checklist's criteria as for the first dataset.

# %%
SECOND_POOL = "prefs_off_policy"
second_pool = world.preferences(SECOND_POOL)
second_scores = ches_scores(policy, tokenizer, second_pool)
second_runs = quantile_dpo_runs(policy, tokenizer, second_pool, second_scores, config, window=WINDOW, seeds=SEEDS)
second_summary, second_spearman = quantile_summary(second_runs), quantile_spearman(second_runs)
second_by_q = second_summary.pivot(index="quantile", columns="measure", values="mean")
print(f"{len(second_pool)} pairs in {SECOND_POOL}; Spearman(percentile, mean Δ ln π(y+)):",
      {m: round(v, 2) for m, v in second_spearman.items()})
rec_second = FigureRecord("fig2_ches_quantiles_second_dataset", notebook="10_ches_identifies_displacement", seed=SEED,
                          quick=QUICK)
fig = plot_quantile_windows(second_summary, second_spearman, title=f"DPO on {SECOND_POOL}")
rec_second.add_data(policy=POLICY, pool=SECOND_POOL, n_pairs=len(second_pool), window=WINDOW, seeds=list(SEEDS),
                    dpo=config.__dict__, runs=second_runs.to_dict("records"), spearman=second_spearman)
check_window_checklist(rec_second, second_summary, second_spearman, label="second dataset",
                       quick_relaxed={"minus_edit_distance": "quick world, one seed, 100-pair windows: -0.6, the "
                                                             "bound itself"})
rec_second.save(fig)
display(second_by_q.round(4))  # noqa: F821  (IPython's display)
fig

# %% [markdown]
# *Measured (2026-12-01).* Full mode (3 seeds, 200-pair windows): the highest-CHES window displaces most, in every
# seed (mean Δ ln π(y⁺) −5.91; seeds −4.77, −2.54, −10.41). The other four windows are not ordered: −0.40, +1.62,
# −2.06 and +0.18 from the lowest CHES up, so the Spearman is −0.5 (the checklist's −1 fails). The lowest window's
# seeds give +0.78, +0.26 and −2.24, so its mean is below 0 (the checklist's "> 0" fails). Both are recorded, not
# asserted. The baselines rank poorly, as the checklist expects (−edit distance +0.4, last-hidden inner product +0.1).
# These pairs span a narrower CHES range than the pool built to span similarity (window means −1,574 to +368,
# against −3,258 to +845), and outside the top window their differences change Δ ln π(y⁺) less than the seed does.
# Quick mode (the quick world, one seed, 100-pair windows): CHES −0.9, from +2.53 in the lowest window to −24.88 in
# the highest; −edit distance −0.6 (on the bound; relaxed in quick mode only), last-hidden −0.2.

# %% [markdown]
# ## Why CHES: the premise of Thm 6 (the checklist's "Thm 6 / CHES premise")
#
# For one pair with multi-token responses, Thm 6 gives the rate of $\ln\pi(y^+|x)$ under DPO's gradient flow in
# the unconstrained-features model (a free hidden state per prefix, a free unembedding). Beside terms from the
# hidden states' own moves, it holds $\sum_{k,k'}\alpha^+_{kk'}\langle h^+_k, h^+_{k'}\rangle -
# \sum_{k,k'}\alpha^-_{kk'}\langle h^+_k, h^-_{k'}\rangle$, with $\alpha^-_{kk'} = \langle e_{y^+_k} -
# \pi(\cdot|x, y^+_{<k}),\, e_{y^-_{k'}} - \pi(\cdot|x, y^-_{<k'})\rangle$ (and $\alpha^+$ likewise). With every
# $\alpha$ set to 1 that part is exactly $-$CHES. So CHES should rank pairs by their rate when most $\alpha$ are
# positive (the paper: over 69 % in OLMo-1B, Gemma-2B and Llama-3-8B) and most hidden states have positive inner
# products (over 99 %). Two checks (`ches_premise`):
#
# - **The model.** `rmlab.theory.multi_token`: Thm 6's rate (equal to autograd's to about 1e-16 in
#   `tests/test_theory_multi_token.py`) against CHES over 300 random pairs (responses of 2–6 tokens, 30 tokens,
#   $d = 16$), with isotropic hidden states and with anisotropic ones (a shared direction) whose rejected response
#   repeats half of the preferred one's later tokens in similar contexts. Checklist: Spearman ≤ −0.5 in the
#   anisotropic case.
# - **The world's model.** `rmlab.lm.ches.thm6_signs`: per pair of the pool, under the policy above, the share of
#   positive $\alpha$ (both kinds, every $(k, k')$) and of positive $\langle h^+_k, h^-_{k'}\rangle$ at the positions
#   CHES sums. Checklist: mean shares ≥ 0.6 and ≥ 0.9 (the paper's > 69 % and > 99 %, with some room for a toy
#   model). Notebook 06 measures the same on SmolLM2.

# %%
ufm_settings = {"isotropic": dict(anisotropy=0.0, overlap=0.0), "anisotropic + overlap": dict(anisotropy=1.0,
                                                                                              overlap=0.5)}
ufm = {}
for name, setting in ufm_settings.items():
    pairs_ufm = multi_token.random_pairs(300, seed=SEED, **setting)
    ufm[name] = (np.array([multi_token.ches(p) for p in pairs_ufm]),
                 np.array([multi_token.rate_preferred(p, ell_prime=-0.05) for p in pairs_ufm]))
ufm_spearman = {name: float(spearmanr(*values)[0]) for name, values in ufm.items()}
signs = thm6_signs(policy, tokenizer, pool)
shares = {"α > 0": signs["alpha_positive"].to_numpy(), "⟨h⁺, h⁻⟩ > 0": signs["inner_positive"].to_numpy()}
print("Spearman(CHES, Thm 6 rate):", {k: round(v, 3) for k, v in ufm_spearman.items()})
print(f"world pool ({len(signs)} pairs, {POLICY}): mean share of positive alpha {shares['α > 0'].mean():.3f} "
      f"(alpha- {signs['alpha_minus_positive'].mean():.3f}, alpha+ {signs['alpha_plus_positive'].mean():.3f}), "
      f"of positive <h+, h-> {shares['⟨h⁺, h⁻⟩ > 0'].mean():.3f}")

# %%
rec_premise = FigureRecord("ches_premise", notebook="10_ches_identifies_displacement", seed=SEED, quick=QUICK)
fig = plot_ches_premise(ufm, shares, paper={"α > 0": 0.69, "⟨h⁺, h⁻⟩ > 0": 0.99})
rec_premise.add_data(ufm_settings=ufm_settings, ufm={k: {"ches": c, "rate": r} for k, (c, r) in ufm.items()},
                     ufm_spearman=ufm_spearman, policy=POLICY, pool=POOL, signs=signs.to_dict("list"))
rec_premise.check("checklist: UFM, anisotropic + overlap: Spearman(CHES, Thm 6 rate)",
                  ufm_spearman["anisotropic + overlap"], "<=", -0.5)
rec_premise.check("checklist: world model, mean share of positive alpha per pair", shares["α > 0"].mean(), ">=", 0.6)
rec_premise.check("checklist: world model, mean share of positive <h+_k, h-_k'> per pair",
                  shares["⟨h⁺, h⁻⟩ > 0"].mean(), ">=", 0.9)
rec_premise.save(fig)
fig

# %% [markdown]
# *Measured (2026-11-30):* in the model, Spearman(CHES, rate) is −0.65 in the anisotropic case (passes) and −0.67 with
# isotropic hidden states: much of the ranking comes from $-\lVert S^+\rVert^2$, which grows with the preferred
# response's length as the rate does, so CHES ranks these random pairs as well without the shared direction. In the
# world's model the premise holds only in part. Over the pool's 2,000 pairs (full mode) the mean share of positive
# $\alpha$ is 0.58 ($\alpha^-$ 0.59, $\alpha^+$ 0.60) and of positive $\langle h^+_k, h^-_{k'}\rangle$ 0.80; in
# the quick world 0.51 and 0.84. Both checklist criteria fail in both modes and are recorded, not asserted. On
# SmolLM2 (notebook 06) the inner products are positive almost everywhere (above 99.9 %, as the paper reports for
# its models) but the $\alpha$ are not mostly positive either (0.50). CHES still ranks the world's windows here
# (Spearman −1 above): the ranking does not need the premise to hold pair by pair.

# %%
EXPECTED_FAILURES = {("ches_premise", "checklist: world model, mean share of positive alpha per pair"),
                     ("fig2_ches_quantiles_ipo",
                      "checklist: Spearman(last_hidden_inner_product percentile, mean Δ ln π(y+)) (IPO)"),
                     ("ches_premise", "checklist: world model, mean share of positive <h+_k, h-_k'> per pair"),
                     # the second dataset: CHES ranks its windows at -0.5 (full) and -0.9 (quick), and in full mode
                     # the lowest-CHES window lowers ln pi(y+) too
                     ("fig2_ches_quantiles_second_dataset",
                      "checklist: Spearman(CHES percentile, mean Δ ln π(y+)) is -1 (second dataset)"),
                     ("fig2_ches_quantiles_second_dataset",
                      "checklist: mean Δ ln π(y+), lowest-CHES window (second dataset)")}
unexpected = criteria_summary([rec, rec_ipo, rec_second, rec_premise], EXPECTED_FAILURES)
assert not unexpected, unexpected
