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
GRID_SIZE = 61 if QUICK else 121          # Fig. 1 surfaces: grid points per parameter
N_INSTANCES = 8 if QUICK else 30          # random (pi_0, r_G) draws per model in the time-vs-variance sweep
MLP_INSTANCES = 3 if QUICK else 10        # ... and AR toys with tiny-MLP logits shared by 2 prompts (J computed)
GAMMA = 0.1                               # t_gamma: time for E[r_G] to gain GAMMA
LAM = 0.0                                 # KL coefficient of the RLHF objective (reference = pi_0)
KL_LAMS = (0.01, 0.1)                     # extra sweeps with a KL term: bounds only (strongly scaled RMs stall)
KL_T_MAX = 1e5                            # ... stalled runs are integrated up to this time, then t_gamma = inf

# %% [markdown]
# # Flat landscapes: why a low-variance reward model is a slow teacher
#
# Razin et al., *What Makes a Reward Model a Good Teacher?* (arXiv 2503.15477), §3.2. Under exact gradient flow on
# $\phi_{\mathrm{RLHF}}(\theta)=\mathbb{E}_x\big[\mathbb{E}_{y\sim\pi_\theta}[r_{RM}(x,y)]-\lambda\,\mathrm{KL}(\pi_\theta\Vert\pi_{\mathrm{ref}})\big]$,
# the time $t_\gamma$ for the expected reward — of *any* reward, the ground truth $r_G$ included — to rise by $\gamma$
# is bounded below by the reward variance of $r_{RM}$ under the *initial* policy:
#
# * Thm 4 (general autoregressive policies): $t_\gamma \ge \dfrac{\min\{1-e^{-\gamma/9},\,1-e^{-7/(3\lambda)}\}}{8L^2J^2\,\mathbb{E}_x[\mathrm{Var}_{\pi_0}[r_{RM}]]^{1/3}}$;
# * Prop. 3 (tabular policies): $t_\gamma \ge 2|S|(1-e^{-\gamma/2})/\sqrt{\mathrm{Var}_{\pi_0}[r_{RM}]}$.
#
# Fig. 1 of the paper illustrates why: **accuracy** decides where the RM's landscape peaks, **variance** decides how
# flat it is around the initial policy.
#
# **Where this differs from the paper.** Fig. 1 is an illustration without data in the paper; here the surfaces are
# computed exactly for a concrete two-parameter family of our choice. Training is exact gradient flow (an ODE solver
# with event detection), not RLOO with Adam; policies are tiny (27 outputs). Under Adam a *global* rescaling of the
# reward is almost irrelevant, so the scaled RMs below illustrate the theorems, not the paper's experiments.

# %%
import numpy as np

from rmlab import plotting
from rmlab.figures import FigureRecord
from rmlab.plotting import Slider, explore
from rmlab.theory import landscape
from rmlab.theory.plots_gradients import plot_landscape, plot_time_vs_variance

plotting.use_style()

# %% [markdown]
# ## 1. Fig. 1: the objective landscape of a two-parameter policy family
#
# Outputs sit at positions $x_y\in[-1,1]$ and $\pi_\theta(y)\propto\exp(\theta_1x_y-\theta_2x_y^2)$: $\theta_1$ moves
# the policy, $\theta_2$ sharpens it. The ground truth $r_G$ peaks at $x\approx0.5$; $\pi_{\mathrm{init}}$ (white ×)
# sits on poor outputs around $x=-0.4$.
#
# * **Accuracy axis (top row):** RMs whose bump is moved away from $r_G$'s. Their pairwise accuracy drops and the
#   peak (red ★) moves away from the ground-truth peak: training on them goes to the wrong place.
# * **Variance axis (bottom row):** $r_G$ with the rewards of its poor outputs compressed (a strictly increasing map,
#   so accuracy stays exactly 1). The peak stays put, but $\pi_{\mathrm{init}}$ sees less reward variance and the
#   landscape around it flattens: $\lVert\nabla\phi(\theta_{\mathrm{init}})\rVert$ (last panel) shrinks.

# %%
ls = landscape.landscape_panels(landscape.LandscapeConfig(grid_size=GRID_SIZE))
for p in ls.panels:
    print(f"{p.name:18s} {p.axis:9s} accuracy {p.accuracy:.3f}  Var_init {p.variance_init:.2e}  "
          f"|grad phi(theta_init)| {p.grad_norm_init:.2e}  peak at x = {p.peak_position:+.3f}")

# %%
gold = ls.panels[0]
acc_axis = [p for p in ls.panels if p.axis == "accuracy"]
var_axis = [p for p in ls.panels if p.axis == "variance"]
grad_along_variance = np.array([gold.grad_norm_init] + [p.grad_norm_init for p in var_axis])
acc_along_accuracy = np.array([gold.accuracy] + [p.accuracy for p in acc_axis])
peak_shift = np.array([abs(p.peak_position - gold.peak_position) for p in [gold] + acc_axis])
var_peak_shift = np.array([abs(p.peak_position - gold.peak_position) for p in var_axis])

rec_land = FigureRecord("fig1_landscape", notebook="01_flat_landscape", seed=SEED, quick=QUICK)
fig = plot_landscape(ls)
rec_land.add_data(positions=ls.family.positions, theta_init=ls.theta_init,
                  theta1=ls.theta_grid[:, 0, 0], theta2=ls.theta_grid[0, :, 1],
                  panels=[dict(name=p.name, axis=p.axis, reward=p.reward, accuracy=p.accuracy,
                               variance_init=p.variance_init, grad_norm_init=p.grad_norm_init,
                               argmax_theta=p.argmax_theta, peak_position=p.peak_position,
                               surface=np.round(p.surface, 6))
                          for p in ls.panels])
rec_land.check("variance axis: ||grad phi(theta_init)|| strictly decreasing (max step)",
               np.diff(grad_along_variance).max(), "<", 0.0)
rec_land.check("variance axis: every RM perfectly accurate (min accuracy)", min(p.accuracy for p in var_axis),
               "==", 1.0)
rec_land.check("variance axis: peak stays put (max |shift| in x)", var_peak_shift.max(), "<=", 0.05)
rec_land.check("accuracy axis: accuracy strictly decreasing (max step)", np.diff(acc_along_accuracy).max(), "<", 0.0)
rec_land.check("accuracy axis: peak moves away from the r_G peak (min step of |shift|)", np.diff(peak_shift).min(),
               ">", 0.0)
rec_land.save(fig)
fig

# %% [markdown]
# ## 2. Thm 1/4 and Prop. 3: time to gain $\gamma$ vs initial reward variance
#
# Many random instances of two models, each trained on reward models of shrinking variance under $\pi_0$, with
# $t_\gamma$ measured on $r_G$ ($\gamma=0.1$):
#
# * an **exact autoregressive toy** ($V=L=3$, one free logit vector per prefix, so $J=1$): Thm 4 bound (dashed);
# * the same toy with **tiny-MLP logits shared by $|S|=2$ prompts** (the setting of Thm 4, with
#   $\mathbb{E}_x[\mathrm{Var}_0]$ over both prompts and $t_\gamma$ on the first): its $J$ is the largest logit-Jacobian
#   norm seen along the trajectory, and it is drawn as $t_\gamma J^2$ so that the $J=1$ curve is its bound too;
# * **tabular softmax** policies ($N=27$, $|S|\in\{1,4\}$ prompts): Prop. 3 bound (dashed / dotted).
#
# Two RM families, both perfectly accurate: **scaled** $c\cdot r_G$ with $c\in\{1,10^{-1},10^{-2},10^{-3}\}$ and
# **compressed** $r_G$ (the spread of the outputs holding 90 % of $\pi_0$'s mass shrunk by $1, 0.3, 0.1, 0.03$).
# **What to look at:** every point lies above its bound; $t_\gamma$ grows as the variance shrinks. For scaled RMs at
# $\lambda=0$ the flow is an exact time rescaling, so $t_\gamma\propto\mathrm{Var}^{-1/2}$ within an instance; the
# general Thm 4 only promises $\mathrm{Var}^{-1/3}$, and the bound is loose by orders of magnitude.

# %%
runs = landscape.time_vs_variance(landscape.TimeVsVarianceConfig(num_instances=N_INSTANCES, gamma=GAMMA, lam=LAM,
                                                                  mlp_instances=MLP_INSTANCES), seed=SEED)
MODELS = ("autoregressive", "autoregressive_mlp", "tabular")
BOUND_NAMES = {"autoregressive": "Thm 4", "autoregressive_mlp": "Thm 4 (J along the trajectory)",
               "tabular": "Prop. 3"}
slopes, respected, reached = {}, {}, {}
for model in MODELS:
    m = runs.model == model
    respected[model] = float(runs.respects_bound[m].mean())
    reached[model] = float(np.isfinite(runs.t_gamma[m]).mean())
    for family in ("scaled", "compressed"):
        slopes[f"{model}_{family}"] = landscape.within_instance_slope(runs, m & (runs.family == family))
scaled_ar = (runs.model == "autoregressive") & (runs.family == "scaled")
t_sqrt_var = (runs.t_gamma * np.sqrt(runs.variance0))[scaled_ar].reshape(len(runs.config.scales), -1)  # [c, inst]
scaled_spread = float(np.max(np.abs(t_sqrt_var / t_sqrt_var[0] - 1)))
finite = np.isfinite(runs.t_gamma) & (runs.variance0 > 0)
pooled_slope = float(np.polyfit(np.log(runs.variance0[finite]), np.log(runs.t_gamma[finite]), 1)[0])
print("within-instance slopes of log t_gamma vs log Var_0:", {k: round(v, 4) for k, v in slopes.items()})
print(f"pooled slope {pooled_slope:.3f}; share of runs above the bound {respected}; share reached {reached}")
mlp = runs.model == "autoregressive_mlp"
print(f"tiny MLP: J along the trajectories in [{runs.jacobian[mlp].min():.2f}, {runs.jacobian[mlp].max():.2f}]")
print(f"AR toy, scaled RMs: t_gamma * Var^(1/2) per instance = {np.round(t_sqrt_var[0], 3)} "
      f"(max relative change across c: {scaled_spread:.1e}); min t_gamma / bound = "
      f"{np.min(runs.t_gamma / runs.bound):.1f}")

# %% [markdown]
# With a KL term ($\lambda>0$) the same bounds must hold. Strongly scaled RMs then stall before gaining $\gamma$
# (the KL-regularised optimum $\pi^*\propto\pi_0e^{r_{RM}/\lambda}$ barely moves when $c/\lambda$ is small), so
# their $t_\gamma=\infty$ satisfies the bound trivially; the counts of reached runs are printed and stored.

# %%
kl_runs = {lam: landscape.time_vs_variance(landscape.TimeVsVarianceConfig(num_instances=N_INSTANCES, gamma=GAMMA,
                                                                          lam=lam, t_max=KL_T_MAX), seed=SEED + 1)
           for lam in KL_LAMS}
for lam, r in kl_runs.items():
    fin = np.isfinite(r.t_gamma)
    print(f"lambda={lam}: {fin.sum()}/{fin.size} runs reached gamma; all above their bound: "
          f"{bool(r.respects_bound.all())}; min t_gamma / bound over reached runs = "
          f"{np.min(r.t_gamma[fin] / r.bound[fin]):.1f}")

# %%
rec_time = FigureRecord("thm1_time_vs_variance", notebook="01_flat_landscape", seed=SEED, quick=QUICK)
fig = plot_time_vs_variance(runs)
rec_time.add_data(config=vars(runs.config),
                  points=dict(model=runs.model, family=runs.family, prompts=runs.prompts, instance=runs.instance,
                              prompt=runs.prompt, knob=runs.knob, accuracy=runs.accuracy, variance0=runs.variance0,
                              t_gamma=runs.t_gamma, jacobian=runs.jacobian, bound=runs.bound,
                              respects_bound=runs.respects_bound),
                  within_instance_slopes=slopes, pooled_slope=pooled_slope,
                  every_point_respects_its_bound=bool(runs.respects_bound.all()),
                  ar_scaled_t_times_sqrt_var=t_sqrt_var[0],
                  kl_runs={str(lam): dict(model=r.model, family=r.family, knob=r.knob, variance0=r.variance0,
                                          t_gamma=r.t_gamma, bound=r.bound) for lam, r in kl_runs.items()})
for model in MODELS:
    rec_time.check(f"{model}: share of runs above the {BOUND_NAMES[model]} bound", respected[model], "==", 1.0)
    rec_time.check(f"{model}: share of runs that reached gamma (the slopes use these)", reached[model], ">=", 0.9)
for name, slope in slopes.items():
    rec_time.check(f"{name}: slope of log t_gamma vs log Var_0", slope, "<=", -1 / 3)
for lam, r in kl_runs.items():
    rec_time.check(f"lambda={lam}: share of runs above their bound (t_gamma = inf counts as above)",
                   r.respects_bound.mean(), "==", 1.0)
    rec_time.check(f"lambda={lam}: share of reached runs above their bound",
                   r.respects_bound[np.isfinite(r.t_gamma)].mean(), "==", 1.0)
rec_time.check("tabular compressed RMs: slope <= -1/2 (Prop. 3 exponent)", slopes["tabular_compressed"], "<=", -0.5)
rec_time.check("AR scaled RMs: t_gamma * Var^(1/2) constant per instance (max relative change)", scaled_spread,
               "<=", 1e-6)
rec_time.save(fig)
fig

# %% [markdown]
# ## Explore: move the RM's peak, compress its low end, change $\pi_{\mathrm{init}}$'s temperature
#
# `rm_center` moves one RM's bump (accuracy axis), `compress_factor` shrinks the spread of $r_G$ below 0.8
# (variance axis), `init_temperature` flattens ($>1$) or sharpens ($<1$) the initial policy. A sharper
# $\pi_{\mathrm{init}}$ sees less reward variance and a flatter landscape under every RM.

# %%
def landscape_explorer(rm_center: float = -0.1, compress_factor: float = 0.1, init_temperature: float = 1.0):
    base = landscape.LandscapeConfig()
    config = landscape.LandscapeConfig(
        rm_centers=(rm_center,), compress_factors=(compress_factor,), grid_size=41,
        theta_init=(base.theta_init[0] / init_temperature, base.theta_init[1] / init_temperature))
    return plot_landscape(landscape.landscape_panels(config))


landscape_explorer()

# %%
explore(landscape_explorer, rm_center=Slider(-1.0, 1.0, -0.1, step=0.1),
        compress_factor=Slider(-3, 0, 0.1, log=True), init_temperature=Slider(-1, 1, 1.0, log=True));

# %% [markdown]
# ## Pass criteria

# %%
assert rec_land.passed, rec_land.failures()
assert rec_time.passed, rec_time.failures()
