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
POLICY = "instruct"                    # the world's aligned policy: refuses most harmful requests
SEEDS = (0,) if QUICK else (0, 1, 2)   # runs per variant (the paper: 3, min/max bars)
REFUSAL_SAMPLES = 2 if QUICK else 4    # samples per prompt for a refusal rate (temperature 0.7, as the paper)
LR = 3e-4 if QUICK else 2e-4          # RMSprop: the largest stable rate of each world, as the paper chose (see text)
GOLD_LR = LR / 3                       # a 3x lower rate on gold pairs (the paper: 5x lower)
SFT_COEF = 1.0                         # λ of the SFT term ("DPO + SFT"), from the paper's grid {0.01, 0.1, 1}
SMALLER_SFT_COEFS = () if QUICK else (0.1, 0.01)   # the rest of the grid (the checklist's), full mode only (time)
KEEP = (0.05, 0.15)                    # lowest-LN-CHES fractions kept (the paper: 5 %; footnote 9: up to 15 %)
IPO_TAU = 0.01                         # IPO's tau (the paper's §6 and Figure 8)
IPO_SFT_COEF = 1000.0                  # λ of IPO's SFT term: the official choice for both models, from {10, 100, 1000}
SMALLER_IPO_SFT_COEFS = () if QUICK else (100.0, 10.0)   # the rest of that grid, full mode only (time)
# the reproduction checklist's criteria that fail in this world (recorded with their values, not asserted)
EXPECTED_FAILURES = {("fig3_refusal", name) for name in (
    "checklist: training refusal, 5 % LN-CHES filtering minus DPO + SFT (points)",
    "checklist: mean Δ ln π(y+), DPO on gold pairs",
    "checklist: training refusal, 5 % LN-CHES filtering minus DPO + SFT at λ = 0.1 (points)",     # full mode only
    "checklist: training refusal, 5 % LN-CHES filtering minus DPO + SFT at λ = 0.01 (points)",
    "checklist: mean Δ ln π(y+), DPO + SFT at λ = 0.01",
    "checklist: mean Δ ln π(y+), DPO on gold pairs from a separate template pool",
    "checklist: mean Δ ln π(y+) on its own training pairs, DPO on gold pairs")} | {("fig8_refusal_ipo", name) for name in (
    "checklist: training refusal, 5 % LN-CHES filtering minus IPO + SFT (points)",
    "checklist: mean Δ ln π(y+), IPO on gold pairs",
    "checklist: training refusal, 5 % LN-CHES filtering minus IPO + SFT, λ = 100 (points)",      # full mode only
    "checklist: mean Δ ln π(y+), IPO + SFT, λ = 100",
    "checklist: mean Δ ln π(y+), IPO + SFT, λ = 10",
    "checklist: mean Δ ln π(y+), IPO on gold pairs from a separate template pool",
    "checklist: mean Δ ln π(y+) on its own training pairs, IPO on gold pairs")}
MAX_NEW_TOKENS = 24

# %% [markdown]
# # 11 · Unintentional unalignment: DPO on two refusals un-refuses
#
# arXiv 2410.08847 §6. Take an aligned model that refuses most harmful requests. Sample two responses per harmful
# prompt, prefer the refusal (a judge decides; ties broken at random), and run DPO on these pairs — the recipe that
# should make the model *safer*. Most pairs are two refusals with similar hidden states, so DPO lowers both, and the
# probability mass goes elsewhere: to compliance. The paper measured refusal falling from 80.5 % to 54.8 %
# (Gemma-2B-IT) and from 74.4 % to 33.4 % (Llama-3-8B-Instruct). Three fixes are compared: an SFT term on the
# preferred response, training on "gold" pairs (a refusal against a compliance), and keeping only the pairs with the
# lowest length-normalised CHES (5 % of them, or 15 %).
#
# **Where this differs from the paper.** SORRY-Bench, the Mistral-7B judge and Gemma/Llama are replaced by the toy
# world's harmful requests, its exact refusal detector (`rmlab.world.is_refusal`) and its `instruct` policy. The
# learning rate is the largest stable one, as in the paper, found per world with one seed: on the default world,
# RMSprop at 1e-4 left the refusal rate unchanged (0.83 → 0.89 after DPO), at 3e-4 it collapsed *every* variant,
# filtered ones included (DPO 0.03, 5 % LN-CHES 0.18: the first RMSprop steps are ~10x the rate), and at 2e-4 it gave
# the paper's pattern; the quick world's shorter-trained models need 3e-4 to move at all (1e-4: −9 points).

# %%
import dataclasses

import numpy as np
import pandas as pd

from rmlab import plotting
from rmlab.figures import FigureRecord, criteria_summary
from rmlab.lm.ches import ches_scores
from rmlab.lm.load import load_causal_lm
from rmlab.train.dpo import DPOConfig
from rmlab.train.unalignment import (gold_refusal_pairs, lowest_fraction, one_each_auroc, pair_types,
                                     plot_refusal_rates, refusal_rate, refusal_table, unalignment_runs)
from rmlab.world import WorldConfig, build_world, is_refusal, quick_config, template_gold_pairs

plotting.use_style()
world = build_world(quick_config(SEED) if QUICK else WorldConfig(seed=SEED))
policy, tokenizer = load_causal_lm(str(world.models[POLICY]))
train_prompts, test_prompts = world.prompts("harmful_train"), world.prompts("harmful_test")
prefs = world.preferences("prefs_refusal")
print(f"{len(train_prompts)} train / {len(test_prompts)} test harmful requests; {len(prefs)} preference pairs")

# %% [markdown]
# ## The preference data, by pair type (the paper's Figure 4)
#
# LN-CHES of every pair under the initial policy, and the pair types. The paper: > 70 % of pairs are two refusals,
# and LN-CHES ranks the one-of-each pairs (a refusal against a compliance) lowest.

# %%
scores = ches_scores(policy, tokenizer, prefs)
types = pair_types(prefs, is_refusal)
by_type = pd.DataFrame({"type": types, "ln_ches": scores["ln_ches"]}).groupby("type").ln_ches.agg(["size", "mean"])
auroc = one_each_auroc(types, scores["ln_ches"])
print(f"AUROC of low LN-CHES for one-of-each pairs: {auroc:.3f}")
by_type.assign(share=lambda d: d["size"] / d["size"].sum()).round(3)

# %% [markdown]
# ## DPO and its fixes
#
# One epoch each, batch 32, RMSprop, β = 0.1, from the same frozen `instruct` policy. The gold pairs are, per
# training prompt, a refusal preferred to a compliance among the policy's own samples. The paper's gold pairs are
# SORRY-Bench's human-judged responses of *other* models, and the checklist asks for "gold from a separate template
# pool". So a second gold set, the *template gold pairs* (`template_gold_pairs`), prefers a paraphrased refusal
# template to the paraphrased compliance, texts no world policy answers with (the token-level shift's paraphrases).

# %%
gold = gold_refusal_pairs(policy, tokenizer, train_prompts, is_refusal, samples=16, max_new_tokens=MAX_NEW_TOKENS,
                          seed=SEED)
template_gold = template_gold_pairs(train_prompts, seed=SEED)      # the checklist's separate template pool
dpo = DPOConfig(beta=0.1, optimizer="rmsprop", lr=LR, batch_size=32, epochs=1)
variants = {"DPO": (prefs, dpo),
            "DPO + SFT": (prefs, dataclasses.replace(dpo, sft_coef=SFT_COEF)),
            **{f"DPO + SFT, λ = {c:g}": (prefs, dataclasses.replace(dpo, sft_coef=c)) for c in SMALLER_SFT_COEFS},
            "DPO on gold pairs": (gold, dataclasses.replace(dpo, lr=GOLD_LR)),
            "DPO on template gold pairs": (template_gold, dataclasses.replace(dpo, lr=GOLD_LR)),
            **{f"DPO on lowest {int(100 * f)} % LN-CHES": (prefs.select(lowest_fraction(scores["ln_ches"], f)), dpo)
               for f in KEEP}}
runs = unalignment_runs(policy, tokenizer, variants, train_preferences=prefs, train_prompts=train_prompts,
                        test_prompts=test_prompts, judge=is_refusal, seeds=SEEDS, refusal_samples=REFUSAL_SAMPLES,
                        max_new_tokens=MAX_NEW_TOKENS)
table = refusal_table(runs)
table.round(3)

# %% [markdown]
# **Beside the paper.** Its text gives the training-set refusal rates before and after plain DPO (the other variants
# are bars only), and Table 16 the mean change of $\ln\pi(y^+)$ on the training pairs per variant.

# %%
PAPER_REFUSAL = {"Gemma-2B-IT (paper)": {"initial": 0.805, "DPO": 0.548},
                 "Llama-3-8B-Instruct (paper)": {"initial": 0.744, "DPO": 0.334}}
PAPER_DELTA_LOGP = {"Gemma-2B-IT (paper)": {"DPO": -59.2, "DPO + SFT": 20.2, "DPO on gold pairs": 54.6,
                                            "DPO on lowest 5 % LN-CHES": -45.7},
                    "Llama-3-8B-Instruct (paper)": {"DPO": -48.1, "DPO + SFT": 28.6, "DPO on gold pairs": 24.9,
                                                    "DPO on lowest 5 % LN-CHES": -27.7}}
refusal_beside_paper = pd.DataFrame(PAPER_REFUSAL).reindex(table.index).assign(
    **{"this world": table[("train_refusal", "mean")]})
delta_beside_paper = pd.DataFrame(PAPER_DELTA_LOGP).reindex(table.index).assign(
    **{"this world": table[("delta_logp_chosen", "mean")]})
print("Training-set refusal rate, paper vs this world (mean over seeds):")
print(refusal_beside_paper.round(3).to_string(na_rep="—"))
print("\nMean change of ln π(y+) on the training pairs (the paper's Table 16), paper vs this world:")
print(delta_beside_paper.round(2).to_string(na_rep="—"))

# %%
fig = plot_refusal_rates(table)
fig

# %% [markdown]
# **Criteria for `fig3_refusal`** (the issue's): plain DPO lowers the training refusal rate by ≥ 20 points from the
# initial policy, and keeping the 5 % lowest-LN-CHES pairs recovers at least half of that loss.
#
# The reproduction checklist (`../shared/papers/03_likelihood_displacement_ches.md` §10) asks for more, recorded too
# and each marked "checklist": refusal after filtering ≥ after DPO + SFT > after DPO; the mean change of
# $\ln\pi(y^+)$ negative under DPO and positive under DPO + SFT and DPO on gold pairs; for Figure 4, same-type pairs
# above 70 % of the data and an AUROC above 0.8 for low LN-CHES picking the one-of-each pairs. Two of them fail here
# (`EXPECTED_FAILURES`, recorded, not asserted; the others are asserted; the gold-pair readings below add more). The SFT term (λ = 1) keeps refusal higher than
# filtering does (full mode: 98.8 % against 67.3 %; the paper found the reverse). DPO on the gold pairs lowers
# $\ln\pi(y^+)$ slightly (−0.72 on average; the paper: +54.6 and +24.9), while it keeps refusal at 69 %. In quick mode
# (one seed, the quick world) two more miss and are relaxed there only (their JSON says why): DPO + SFT's change of
# $\ln\pi(y^+)$ is −0.04, and same-type pairs are 61 % of the data.
#
# *Gold pairs from a separate template pool, and which pairs Δ ln π(y⁺) is taken on* (added 2026-12-01, both
# modes). The change of $\ln\pi(y^+)$ above is measured on the same pairs for every variant (the refusal set's
# preferred responses). The paper's Table 16 says "on the training set", which for gold pairs or a filtered subset
# may mean the variant's own pairs, so the runs record that reading too (`delta_logp_own`; the two agree for the
# variants trained on the whole refusal set). Full mode (3 seeds): DPO on the template gold pairs keeps training
# refusal at 81.3 % (initial 86.7 %, plain DPO 15.8 %, on-policy gold 69.2 %). It changes $\ln\pi(y^+)$ by −0.15 on
# the refusal set but raises its own paraphrased refusals by +9.48; IPO: 80.0 %, −0.22 and +11.15. The on-policy gold
# pairs change their own preferred refusals by −0.35 (DPO) and −0.51 (IPO). So the paper's "gold raises
# $\ln\pi(y^+)$" (+54.6 and +24.9) appears here on the template gold's own pairs, the responses the policy did not
# produce, and on no other reading. The four readings that fail are recorded, not asserted. Quick mode: 77.1 %,
# −0.19 and +6.88 for DPO; on-policy gold's own −0.26.
#
# *The rest of the λ grid* (full mode only, for time; the official code picked λ = 0.1 for Llama and 1 for Gemma from
# {0.01, 0.1, 1}). Training refusal after DPO + SFT is 99.5 % at λ = 0.1 and 91.7 % at λ = 0.01 (98.8 % at λ = 1;
# plain DPO 15.8 %, filtering 67.3 %), so filtering stays below the SFT term at every λ (the checklist's ordering
# fails three times, recorded). The mean change of $\ln\pi(y^+)$ is +0.17 at λ = 0.1 but −0.64 at λ = 0.01 (recorded
# as failed): at the smallest λ the SFT term no longer lifts the preferred refusals' likelihood on average, yet it
# keeps the policy refusing.

# %%
initial = table.loc["initial", ("train_refusal", "mean")]
after_dpo = table.loc["DPO", ("train_refusal", "mean")]
filtered = table.loc[f"DPO on lowest {int(100 * KEEP[0])} % LN-CHES", ("train_refusal", "mean")]
rec = FigureRecord("fig3_refusal", notebook="11_unintentional_unalignment", seed=SEED, quick=QUICK)
rec.add_data(policy=POLICY, n_pairs=len(prefs), n_gold_pairs=len(gold), template_gold_pairs=template_gold,
             runs=runs.to_dict("records"),
             pair_type_counts=by_type["size"].to_dict(), one_each_auroc=auroc,
             paper={"gemma_2b_it_refusal": [0.805, 0.548], "llama_3_8b_instruct_refusal": [0.744, 0.334]},
             paper_refusal=PAPER_REFUSAL, paper_delta_logp_chosen=PAPER_DELTA_LOGP)
rec.check("training refusal rate: initial minus after DPO (points)", 100 * (initial - after_dpo), ">=", 20.0)
rec.check("share of the DPO refusal loss recovered by 5 % lowest-LN-CHES filtering",
          (filtered - after_dpo) / max(initial - after_dpo, 1e-12), ">=", 0.5)
with_sft = table.loc["DPO + SFT", ("train_refusal", "mean")]
rec.check("checklist: training refusal, 5 % LN-CHES filtering minus DPO + SFT (points)", 100 * (filtered - with_sft),
          ">=", 0.0)
rec.check("checklist: training refusal, DPO + SFT minus DPO (points)", 100 * (with_sft - after_dpo), ">", 0.0)
delta = table[("delta_logp_chosen", "mean")]
rec.check("checklist: mean Δ ln π(y+), DPO", delta["DPO"], "<", 0.0)
rec.check("checklist: mean Δ ln π(y+), DPO + SFT", delta["DPO + SFT"], ">", 0.0,
          quick_relaxed="quick world, one seed: -0.04")
for c in SMALLER_SFT_COEFS:     # the rest of the checklist's λ grid, the same two orderings and the sign of Δ
    with_smaller = table.loc[f"DPO + SFT, λ = {c:g}", ("train_refusal", "mean")]
    rec.check(f"checklist: training refusal, 5 % LN-CHES filtering minus DPO + SFT at λ = {c:g} (points)",
              100 * (filtered - with_smaller), ">=", 0.0)
    rec.check(f"checklist: training refusal, DPO + SFT at λ = {c:g} minus DPO (points)",
              100 * (with_smaller - after_dpo), ">", 0.0)
    rec.check(f"checklist: mean Δ ln π(y+), DPO + SFT at λ = {c:g}", delta[f"DPO + SFT, λ = {c:g}"], ">", 0.0)
rec.check("checklist: mean Δ ln π(y+), DPO on gold pairs", delta["DPO on gold pairs"], ">", 0.0)
rec.check("checklist: mean Δ ln π(y+), DPO on gold pairs from a separate template pool",
          delta["DPO on template gold pairs"], ">", 0.0)
own_delta = table[("delta_logp_own", "mean")]            # on each variant's own training pairs (Table 16's reading?)
for name in ("DPO on gold pairs", "DPO on template gold pairs"):
    rec.check(f"checklist: mean Δ ln π(y+) on its own training pairs, {name}", own_delta[name], ">", 0.0)
rec.check("checklist: same-type pairs, share of the data (%)",
          100 * by_type["size"].drop("one_each", errors="ignore").sum() / by_type["size"].sum(), ">", 70.0,
          quick_relaxed="the quick world's instruct policy complies more often: one-of-each pairs are 39 %")
rec.check("checklist: AUROC of low LN-CHES for one-of-each vs same-type pairs", auroc, ">", 0.8)
rec.save(fig)
pd.DataFrame(rec.criteria)

# %% [markdown]
# ## The same with IPO (the paper's Figure 8 / Table 17)
#
# IPO's loss $((\Delta - \Delta_{\mathrm{ref}}) - 1/(2\tau))^2$ with τ = 0.01 (a target margin of 50) in place of
# DPO's; the same pairs, batch, epoch and seeds. The SFT term's λ is the official code's choice for IPO, 1000 (from
# {10, 100, 1000}; full mode runs the other two as well). **Learning rate:** DPO's, for every variant, gold pairs at
# DPO's lower gold rate. RMSprop divides each step by the gradient's running scale, so the rate does not have to
# follow IPO's larger loss. Measured with one seed on the default world before choosing, a 3× or 10× lower rate left
# IPO's training refusal at 0.94 and 0.93, above the initial 0.87: no unalignment to study. The paper's §3 ran IPO at
# a 10× lower rate than DPO; its §6 does not say.

# %%
ipo = DPOConfig(loss="ipo", beta=IPO_TAU, optimizer="rmsprop", lr=LR, batch_size=32, epochs=1)
ipo_variants = {"IPO": (prefs, ipo),
                "IPO + SFT": (prefs, dataclasses.replace(ipo, sft_coef=IPO_SFT_COEF)),
                **{f"IPO + SFT, λ = {c:g}": (prefs, dataclasses.replace(ipo, sft_coef=c))
                   for c in SMALLER_IPO_SFT_COEFS},
                "IPO on gold pairs": (gold, dataclasses.replace(ipo, lr=GOLD_LR)),
                "IPO on template gold pairs": (template_gold, dataclasses.replace(ipo, lr=GOLD_LR)),
                **{f"IPO on lowest {int(100 * f)} % LN-CHES": (prefs.select(lowest_fraction(scores["ln_ches"], f)), ipo)
                   for f in KEEP}}
ipo_runs = unalignment_runs(policy, tokenizer, ipo_variants, train_preferences=prefs, train_prompts=train_prompts,
                            test_prompts=test_prompts, judge=is_refusal, seeds=SEEDS,
                            refusal_samples=REFUSAL_SAMPLES, max_new_tokens=MAX_NEW_TOKENS)
ipo_table = refusal_table(ipo_runs)
PAPER_DELTA_LOGP_IPO = {"Gemma-2B-IT (paper)": {"IPO": -73.4, "IPO + SFT": 10.1, "IPO on gold pairs": 27.4,
                                                "IPO on lowest 5 % LN-CHES": -45.9},
                        "Llama-3-8B-Instruct (paper)": {"IPO": -65.9, "IPO + SFT": 20.3, "IPO on gold pairs": 26.2,
                                                        "IPO on lowest 5 % LN-CHES": -29.2}}
print("Mean change of ln π(y+) on the training pairs (the paper's Table 17), paper vs this world:")
print(pd.DataFrame(PAPER_DELTA_LOGP_IPO).reindex(ipo_table.index).assign(
    **{"this world": ipo_table[("delta_logp_chosen", "mean")]}).round(2).to_string(na_rep="—"))
ipo_table.round(3)

# %%
ipo_refusal = ipo_table[("train_refusal", "mean")]
ipo_delta = ipo_table[("delta_logp_chosen", "mean")]
ipo_filtered = ipo_refusal[f"IPO on lowest {int(100 * KEEP[0])} % LN-CHES"]
rec_ipo = FigureRecord("fig8_refusal_ipo", notebook="11_unintentional_unalignment", seed=SEED, quick=QUICK)
fig = plot_refusal_rates(ipo_table, title=f"IPO, τ = {IPO_TAU:g}")
rec_ipo.add_data(policy=POLICY, tau=IPO_TAU, lr=LR, gold_lr=GOLD_LR, sft_coef=IPO_SFT_COEF,
                 runs=ipo_runs.to_dict("records"), paper_delta_logp_chosen=PAPER_DELTA_LOGP_IPO)
rec_ipo.check("checklist: training refusal rate: initial minus after IPO (points)",
              100 * (ipo_refusal["initial"] - ipo_refusal["IPO"]), ">", 0.0)
for name in ["IPO + SFT"] + [f"IPO + SFT, λ = {c:g}" for c in SMALLER_IPO_SFT_COEFS]:
    rec_ipo.check(f"checklist: training refusal, 5 % LN-CHES filtering minus {name} (points)",
                  100 * (ipo_filtered - ipo_refusal[name]), ">=", 0.0)
    rec_ipo.check(f"checklist: training refusal, {name} minus IPO (points)",
                  100 * (ipo_refusal[name] - ipo_refusal["IPO"]), ">", 0.0)
    rec_ipo.check(f"checklist: mean Δ ln π(y+), {name}", ipo_delta[name], ">", 0.0,
                  **({"quick_relaxed": "quick world, one seed: -0.04"} if name == "IPO + SFT" else {}))
rec_ipo.check("checklist: mean Δ ln π(y+), IPO", ipo_delta["IPO"], "<", 0.0)
rec_ipo.check("checklist: mean Δ ln π(y+), IPO on gold pairs", ipo_delta["IPO on gold pairs"], ">", 0.0)
rec_ipo.check("checklist: mean Δ ln π(y+), IPO on gold pairs from a separate template pool",
              ipo_delta["IPO on template gold pairs"], ">", 0.0)
for name in ("IPO on gold pairs", "IPO on template gold pairs"):
    rec_ipo.check(f"checklist: mean Δ ln π(y+) on its own training pairs, {name}",
                  ipo_table.loc[name, ("delta_logp_own", "mean")], ">", 0.0)
rec_ipo.save(fig)
fig

# %% [markdown]
# *Measured (2026-11-30; full mode, 3 seeds; quick mode, 1 seed, in brackets):* IPO lowers the training refusal rate
# from 86.7 % to 13.7 % (quick: 63.7 % → 41.2 %) and $\ln\pi(y^+)$ by 5.5 nats on average (quick 10.9), the paper's
# IPO effect. The SFT term at λ = 1000 keeps refusal at 99.0 % with $\Delta\ln\pi(y^+)$ +0.16 (quick: 94.6 %, −0.04,
# relaxed in quick mode as for DPO); at λ = 100, 99.4 % but $\Delta$ −0.06; at λ = 10, 64.3 % with $\Delta$ −2.5.
# Filtering to the 5 % lowest-LN-CHES pairs gives 67.3 % (quick 88.3 %), so "filtering ≥ IPO + SFT" holds only
# against λ = 10 (+3.0 points) and fails at λ = 1000 and 100 (−31.7, −32.2; quick −6.3), as for DPO. IPO on gold
# pairs keeps refusal at 63.4 % but lowers $\ln\pi(y^+)$ by 0.91 (quick 5.8; the paper: +27.4 and +26.2), as DPO
# did. The failing orderings are recorded, not asserted.
#
# *Filtering gives DPO's numbers, and that is expected.* The 5 % subset is 19 pairs: one batch, so one RMSprop step.
# At the start both losses weight every pair alike ($\Delta = \Delta_{\mathrm{ref}}$: DPO's weight is $\beta/2$ for
# every pair, IPO's $-2/(2\tau)$), so their gradients point the same way, and RMSprop's first step, $10\cdot$lr times
# the gradient's sign per weight, does not see the loss's scale. The two runs take the same step, and the 15 % subset
# (two steps) differs only in its second.

# %%
unexpected = criteria_summary([rec, rec_ipo], EXPECTED_FAILURES)
assert not unexpected, unexpected
