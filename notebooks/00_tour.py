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
N_OUTPUTS = 8            # outputs y of the toy policy
N_TEMPERATURES = 41 if QUICK else 201

# %% [markdown]
# # A tour of rmlab
#
# rmlab turns four papers by Razin et al. into code you can run, check and teach with:
#
# | paper | the quantity to watch |
# |---|---|
# | *What Makes a Reward Model a Good Teacher?* (arXiv 2503.15477) | the **reward variance** of the RM under the policy, $\mathrm{Var}_{y\sim\pi(\cdot\mid x)}[r(x,y)]$: low variance ⇒ flat objective ⇒ slow RLHF, however accurate the RM |
# | *Vanishing Gradients in RFT* (arXiv 2310.20703) | the gradient bound $\lVert\nabla_\theta V(x)\rVert \le 6\,L\,J\,\mathrm{STD}^{2/3}$ |
# | *Unintentional Unalignment* (arXiv 2410.08847) | the **CHES** score of a preference pair, which predicts likelihood displacement in DPO |
# | *Why is Your LM a Poor Implicit Reward Model?* (arXiv 2507.07981) | implicit ($\beta\log\pi/\pi_{\mathrm{ref}}$) vs explicit (linear head) rewards under token-level and domain shift |
#
# The package is layered: `rmlab.theory` (exact math on tabular and autoregressive softmax toys),
# `rmlab.measure` (model-agnostic statistics and CHES math), `rmlab.lm` (Hugging Face loading, sampling, scoring,
# reports), `rmlab.world` (a small synthetic language with tiny models trained by rmlab itself). Notebooks only call,
# plot and explain.
#
# **How figures are produced.** Every figure has a name. A notebook fills a `FigureRecord` with the plotted numbers and
# its pass criteria, and `rec.save(fig)` writes `<name>.png` and `<name>.json` into `figures/` (or the folder given to
# `rmlab reproduce --out`). The last cell of every notebook asserts the criteria, so `rmlab reproduce` (and the test
# suite, which runs every notebook in quick mode) fails loudly if a result stops holding.

# %%
import numpy as np

from rmlab import plotting
from rmlab.plotting import Slider, explore
from rmlab.figures import FigureRecord
from rmlab.theory import tabular

plotting.use_style()
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## A live example: reward variance of a softmax policy
#
# Take one prompt, $N$ outputs with rewards $r \in [-1, 1]$, and a softmax policy
# $\pi_\tau = \mathrm{softmax}(\theta/\tau)$ whose temperature $\tau$ we turn. Two facts from arXiv 2503.15477
# (Def. 2 and Lemmas 7–8) are visible at once:
#
# * the reward variance is $\mathrm{Var}_\pi[r] = \tfrac12\,\mathbb{E}_{y,y'\sim\pi}(r(y)-r(y'))^2$: it measures how
#   much the outputs the policy actually produces are *separated* by the reward;
# * the exact policy gradient of $\mathbb{E}_\pi[r]$ with respect to the logits is $\pi\odot(r-\mathbb{E}_\pi r)$, and
#   its $\ell_1$ norm is at most $\sqrt{\mathrm{Var}_\pi[r]}$. When the policy concentrates (low $\tau$), the variance
#   and hence the gradient vanish — even when the policy sits on a bad output.

# %%
theta = rng.normal(0.0, 2.0, size=N_OUTPUTS)
rewards = np.linspace(-1.0, 1.0, N_OUTPUTS)
rewards[np.argmax(theta)] = -0.8       # the policy's favourite output is a poor one
temperatures = np.logspace(-2, 2, N_TEMPERATURES)

probs = tabular.probabilities(theta[None, :] / temperatures[:, None])          # [n_temps, N]
variance = tabular.reward_variance(probs, rewards)                             # [n_temps]
gradient = tabular.policy_gradient(np.log(probs)[:, None, :], rewards)[:, 0]   # [n_temps, N] d E[r] / d logits
pairwise_variance = 0.5 * np.einsum("ti,tj,ij->t", probs, probs, (rewards[:, None] - rewards[None, :]) ** 2)


# %%
def show_policy(tau: float = 1.0):
    """The policy at temperature ``tau`` next to the reward, and where it sits on the variance curve."""
    p = tabular.probabilities(theta / tau)
    fig, (ax_policy, ax_curve) = plotting.subplots(1, 2, width=4.6)
    order = np.argsort(rewards)
    ax_policy.bar(np.arange(N_OUTPUTS), p[order], color=plotting.PALETTE[0], label=r"$\pi_\tau(y)$")
    ax_policy.plot(np.arange(N_OUTPUTS), (rewards[order] + 1) / 2, "o-", color=plotting.PALETTE[1],
                   label=r"$(r(y)+1)/2$")
    ax_policy.set(xlabel="outputs, sorted by reward", ylabel="probability", title=f"policy at τ = {tau:.3g}")
    ax_policy.legend(loc="upper left")
    ax_curve.loglog(temperatures, variance, color=plotting.PALETTE[0], lw=4, alpha=0.5, label=r"$\mathrm{Var}_\pi[r]$")
    ax_curve.loglog(temperatures, np.abs(gradient).sum(-1), color=plotting.PALETTE[2],
                    label=r"$\|\nabla_\theta \mathbb{E}_\pi r\|_1$")
    ax_curve.loglog(temperatures, np.sqrt(variance), "--", color=plotting.PALETTE[3],
                    label=r"$\sqrt{\mathrm{Var}}$ (Lemma 8 bound)")
    ax_curve.axvline(tau, color="grey", lw=1)
    ax_curve.set(xlabel="temperature τ", ylim=(1e-16, 3), title="variance sets the gradient")
    ax_curve.legend(loc="lower right")
    return fig


fig = show_policy(1.0)
fig

# %% [markdown]
# Drag the slider (in Jupyter) to move along the curve: at low temperature the policy is almost deterministic on a
# poor output, the variance collapses and so does the gradient; at high temperature the policy is uniform and the
# variance is the plain variance of the reward vector.

# %%
explore(show_policy, tau=Slider(-2, 2, 1.0, step=0.05, log=True));

# %% [markdown]
# ## The figure and its numbers
#
# The record stores the plotted series and three criteria: the two formulas for the variance agree, Lemma 8 holds at
# every temperature, and the uniform limit equals the closed-form variance of the reward vector.

# %%
rec = FigureRecord("tour_variance_vs_temperature", notebook="00_tour", seed=SEED, quick=QUICK)
rec.add_data(temperature=temperatures, reward_variance=variance, gradient_l1=np.abs(gradient).sum(-1),
             theta=theta, rewards=rewards)
rec.check("max |Var - 1/2 E(r-r')^2|", np.max(np.abs(variance - pairwise_variance)), "<=", 1e-12)
rec.check("max ||grad||_1 / sqrt(Var) (Lemma 8)", np.max(np.abs(gradient).sum(-1) / np.sqrt(variance)), "<=", 1.0)
rec.check("|Var at tau=100 - Var of uniform| ", abs(variance[-1] - np.var(rewards)), "<=", 1e-2)
rec.check("Var at tau=0.01 (collapsed policy)", variance[0], "<=", 1e-6)
rec.save(fig)
{c["name"]: round(c["value"], 6) for c in rec.criteria}

# %% [markdown]
# `rmlab reproduce --only 00_tour` writes `figures/tour_variance_vs_temperature.png` and `.json` with exactly these
# numbers. Next: `01_flat_landscape` (variance flattens the RLHF objective), `02_accuracy_is_not_enough`,
# `03_rm_depends_on_policy`, `04_vanishing_gradients`, `05_toy_world` (the embedded world the LM-scale
# measurements run on by default) and `06_real_model` (the same measurements on a real pretrained LM).

# %%
assert rec.passed, rec.failures()
