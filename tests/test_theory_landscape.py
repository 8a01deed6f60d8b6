"""Fig. 1 landscapes and the time-vs-variance sweep."""

import numpy as np
import pytest
import torch

from rmlab.theory import landscape
from rmlab.theory.accuracy import pairwise_accuracy
from rmlab.theory.tabular import probabilities


def test_objective_gradient_matches_autograd_and_finite_differences():
    fam = landscape.TwoParamFamily.on_line(21)
    rng = np.random.default_rng(0)
    thetas = rng.uniform(-6, 6, size=(20, 2))
    r = rng.uniform(-1, 1, size=21)
    g = landscape.objective_gradient(fam, thetas, r)
    t = torch.tensor(thetas, requires_grad=True)
    logits = t[:, :1] * torch.tensor(fam.u) + t[:, 1:] * torch.tensor(fam.v)
    (g_auto,) = torch.autograd.grad((torch.softmax(logits, -1) * torch.tensor(r)).sum(), t)
    assert np.max(np.abs(g - g_auto.numpy())) <= 1e-10
    eps = 1e-6
    fd = np.stack([(landscape.objective(fam, thetas + eps * e, r) - landscape.objective(fam, thetas - eps * e, r))
                   / (2 * eps) for e in np.eye(2)], -1)
    assert np.max(np.abs(g - fd)) < 1e-8


def test_compress_below_keeps_the_ranking():
    r = np.random.default_rng(1).uniform(-1, 1, size=200)
    for factor in (1.0, 0.1, 0.01):
        c = landscape.compress_below(r, 0.3, factor)
        assert pairwise_accuracy(c, r) == 1.0
        np.testing.assert_array_equal(c[r >= 0.3], r[r >= 0.3])
    with pytest.raises(ValueError, match="factor"):
        landscape.compress_below(r, 0.0, 0.0)


def test_compress_likely_shrinks_variance_on_likely_outputs_only():
    rng = np.random.default_rng(2)
    r = rng.uniform(-1, 1, size=(5, 30))
    p = probabilities(rng.standard_normal((5, 30)))
    c = landscape.compress_likely(r, p, 0.1, likely_mass=0.9)
    assert np.all(pairwise_accuracy(c, r) == 1.0)
    tau = np.where(c == r, r, np.inf).min(-1, keepdims=True)                  # compression is towards tau
    likely = r <= tau
    assert np.all((p * likely).sum(-1) >= 0.9 - 1e-12)                          # >= 90 % of pi_0's mass ...
    np.testing.assert_allclose(np.where(likely, c - tau, 0), np.where(likely, 0.1 * (r - tau), 0), atol=1e-15)
    np.testing.assert_array_equal(c[~likely], r[~likely])                        # ... and only it is compressed
    var = lambda x: (p * (x - (p * x).sum(-1, keepdims=True)) ** 2).sum(-1)    # noqa: E731
    assert np.all(var(c) < var(r))


def test_default_landscape_shows_both_axes():
    ls = landscape.landscape_panels(landscape.LandscapeConfig(grid_size=41))
    gold = ls.panels[0]
    var_axis = [gold] + [p for p in ls.panels if p.axis == "variance"]
    acc_axis = [gold] + [p for p in ls.panels if p.axis == "accuracy"]
    assert np.all(np.diff([p.grad_norm_init for p in var_axis]) < 0)
    assert np.all(np.diff([p.variance_init for p in var_axis]) < 0)
    assert all(p.accuracy == 1.0 for p in var_axis)
    assert np.all(np.diff([p.accuracy for p in acc_axis]) < 0)
    assert np.all(np.diff([abs(p.peak_position - gold.peak_position) for p in acc_axis]) > 0)


def test_time_vs_variance_respects_bounds_and_scaling():
    cfg = landscape.TimeVsVarianceConfig(vocab_size=2, length=3, num_instances=3, tabular_outputs=8,
                                         scales=(1.0, 0.1), compress_factors=(1.0, 0.1))
    runs = landscape.time_vs_variance(cfg, seed=3)
    assert np.all(np.isfinite(runs.t_gamma)) and runs.respects_bound.all()
    assert np.all(runs.accuracy == 1.0)
    for model in ("autoregressive", "tabular"):
        m = (runs.model == model) & (runs.family == "scaled")
        assert landscape.within_instance_slope(runs, m) == pytest.approx(-0.5, abs=1e-6)


def test_within_instance_slope_recovers_an_exact_power_law():
    cfg = landscape.TimeVsVarianceConfig()
    var = np.array([1e-1, 1e-2, 1e-3, 2e-1, 2e-2, 2e-3])
    runs = landscape.TimeRuns(model=np.array(["tabular"] * 6), family=np.array(["scaled"] * 6),
                              prompts=np.ones(6, int), instance=np.repeat([0, 1], 3), prompt=np.zeros(6, int),
                              knob=np.ones(6), accuracy=np.ones(6), variance0=var,
                              t_gamma=np.repeat([3.0, 7.0], 3) * var ** -0.8, jacobian=np.ones(6), bound=np.zeros(6),
                              config=cfg)
    assert landscape.within_instance_slope(runs, np.ones(6, bool)) == pytest.approx(-0.8, abs=1e-12)


def test_invalid_inputs_raise_clear_errors():
    fam = landscape.TwoParamFamily.on_line(5)
    with pytest.raises(ValueError, match="theta"):
        fam.logits(np.zeros(3))
    with pytest.raises(ValueError, match="width"):
        landscape.bump_reward(fam.positions, 0.0, 0.0)
    with pytest.raises(ValueError, match="NaN"):
        landscape.objective(fam, np.zeros(2), np.array([0.0, np.nan, 0, 0, 0]))
    with pytest.raises(ValueError, match="same length"):
        landscape.TwoParamFamily(np.zeros(3), np.zeros(4))


@pytest.mark.parametrize("rm_centers,compress_factors", [((-0.1,), (0.1,)), ((0.2, -0.1, -0.4), (0.3, 0.1, 0.03))],
                         ids=["explorer", "fig1"])
def test_landscape_figure_has_no_colliding_text(rm_centers, compress_factors):
    """Panel titles keep a visible gap between them, and the tick labels of the log axis of ||grad phi|| per panel do
    not run into each other."""
    from itertools import combinations

    from rmlab.theory.plots_gradients import plot_landscape

    fig = plot_landscape(landscape.landscape_panels(landscape.LandscapeConfig(
        rm_centers=rm_centers, compress_factors=compress_factors, grid_size=11)))
    fig.draw_without_rendering()      # lays the figure out (constrained layout) as saving it does
    titles = [ax.title.get_window_extent().padded(4) for ax in fig.axes if ax.get_title()]   # 8 px apart at least
    bars = next(ax for ax in fig.axes if "per panel" in ax.get_title())
    ticks = [t.get_window_extent() for t in bars.get_xticklabels() + bars.get_xticklabels(minor=True)
             if t.get_text() and t.get_visible()]
    for group in (titles, ticks):
        assert not [(a, b) for a, b in combinations(group, 2) if a.overlaps(b)]
