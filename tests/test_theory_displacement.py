"""Likelihood displacement in the unconstrained-features model (rmlab.theory.displacement): Thm 4/5 of 2410.08847
against autograd and against the simulated flow."""

import numpy as np
import pytest
import torch

from rmlab.theory import displacement as D


def _autograd_rates(h, W, plus, minus, beta, sft_coef=0.0, weights=(1.0, 1.0)):
    """d/dt ln pi(z) = <grad ln pi(z), -grad L> with torch autograd (DPO, reference = the initial model; with
    ``sft_coef`` = lambda, of L - lambda ln pi(y+); with ``weights`` = (lambda+, lambda-), of Prop. 2's weighted
    loss)."""
    rates = []
    for b in range(len(h)):
        hb = torch.tensor(h[b], requires_grad=True)
        Wb = torch.tensor(W[b], requires_grad=True)
        logp = torch.log_softmax(Wb @ hb, -1)
        delta = weights[0] * logp[plus[b]] - weights[1] * logp[minus[b]]
        loss = -torch.nn.functional.logsigmoid(beta * (delta - delta.detach())) - sft_coef * logp[plus[b]]
        gh, gW = torch.autograd.grad(loss, (hb, Wb), retain_graph=True)
        row = []
        for z in range(W.shape[1]):
            zh, zW = torch.autograd.grad(logp[z], (hb, Wb), retain_graph=True)
            row.append(-(zh @ gh + (zW * gW).sum()).item())
        rates.append(row)
    return np.array(rates)


def test_closed_forms_match_autograd():
    h, W, plus, minus = D.random_instances(5, vocab=9, dim=5, w_scale=2.0, seed=1)
    ell = D.initial_ell_prime(h, W, plus, minus, beta=0.1)
    truth = _autograd_rates(h, W, plus, minus, beta=0.1)
    np.testing.assert_allclose(D.exact_rates(h, W, plus, minus, ell), truth, rtol=1e-10, atol=1e-12)
    rows = np.arange(5)
    np.testing.assert_allclose(D.rate_preferred(h, W, plus, minus, ell), truth[rows, plus], rtol=1e-10, atol=1e-12)
    others = D.rate_other_tokens(h, W, plus, minus, ell)
    off = np.ones_like(truth, dtype=bool)
    off[rows, plus] = off[rows, minus] = False
    np.testing.assert_allclose(others[off], truth[off], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sft_coef", [0.1, 1.0])
def test_the_sft_term_adds_lambda_times_the_squared_gradient_norm(sft_coef):
    """Prop. 1: with L_S = L - lambda ln pi(y+), d/dt ln pi(y+) gains exactly lambda ||grad ln pi(y+)||^2 >= 0."""
    h, W, plus, minus = D.random_instances(5, vocab=9, dim=5, w_scale=2.0, seed=3)
    ell = D.initial_ell_prime(h, W, plus, minus, beta=0.1)
    rows = np.arange(5)
    truth = _autograd_rates(h, W, plus, minus, beta=0.1, sft_coef=sft_coef)
    np.testing.assert_allclose(D.exact_rates(h, W, plus, minus, ell, sft_coef=sft_coef), truth, rtol=1e-10,
                               atol=1e-12)
    added = D.rate_preferred(h, W, plus, minus, ell) + sft_coef * D.sft_term_rate(h, W, plus)
    np.testing.assert_allclose(added, truth[rows, plus], rtol=1e-10, atol=1e-12)
    assert (D.sft_term_rate(h, W, plus) > 0).all()


@pytest.mark.parametrize("loss", ["dpo", "ipo"])
def test_theorem4_matches_simulated_dynamics_on_100_instances(loss):
    h, W, plus, minus = D.random_instances(120, w_scale=3.0, seed=2)
    beta = 0.1 if loss == "dpo" else 0.01
    closed = D.rate_preferred(h, W, plus, minus, D.initial_ell_prime(h, W, plus, minus, loss=loss, beta=beta))
    simulated = D.simulated_rates(h, W, plus, minus, loss=loss, beta=beta)[np.arange(120), plus]
    assert np.max(np.abs(closed - simulated) / np.maximum(1.0, np.abs(simulated))) < 1e-6


def test_theorem5_other_tokens_follow_alignment():
    h, W, plus, minus = D.random_instances(20, seed=3)
    rates = D.simulated_rates(h, W, plus, minus)
    align = D.alignment(W, plus, minus)
    for b in range(20):
        keep = np.setdiff1d(np.arange(W.shape[1]), [plus[b], minus[b]])
        assert np.corrcoef(align[b, keep], rates[b, keep])[0, 1] > 0.99


def test_fixed_hidden_state_cannot_displace():
    """Prop. 3 (v4): with h frozen, d/dt ln pi(y+) = -l' (1 - pi+ + pi-) ||h||^2 > 0 -- here via the W-only part."""
    h, W, plus, minus = D.random_instances(30, w_scale=5.0, seed=4)
    ell = D.initial_ell_prime(h, W, plus, minus)
    pi = np.exp(D.log_probs(h, W))
    rows = np.arange(30)
    _, dW = D.velocity(h, W, plus, minus, ell)
    moved = np.einsum("bvd,bd->bv", dW, h)
    w_only = moved[rows, plus] - np.einsum("bv,bv->b", pi, moved)
    expected = -ell * (1 - pi[rows, plus] + pi[rows, minus]) * np.sum(h ** 2, -1)
    np.testing.assert_allclose(w_only, expected, rtol=1e-12)
    assert np.all(w_only > 0)


def test_handbuilt_geometry_displaces_to_the_opposite_family():
    h, W = D.handbuilt_geometry(scale=8.0)
    plus, minus = np.array([0]), np.array([1])                       # No > Never
    rates = D.simulated_rates(h, W, plus, minus)[0]
    gainers = [D.HANDBUILT_TOKENS[i] for i in np.argsort(-rates) if i not in (0, 1)][:2]
    assert set(gainers) == {"Yes", "yes"}
    geometry = D.projections(W[0, 0], W[0, 1])
    assert geometry["orth"] > geometry["proj"]
    flow = D.simulate_flow(h, W, plus, minus, dt=0.2, steps=100, method="euler")
    probs = np.exp(flow.log_probs[:, 0])
    assert np.all(np.diff(flow.loss[:, 0]) < 0)                      # the loss falls at every step ...
    assert D.peak_to_trough(probs[:, 0])[0] > 0.2                    # ... while pi(No) is displaced
    assert D.HANDBUILT_TOKENS[int(np.argmax(probs[-1]))] == "Yes"    # catastrophically
    reverse = D.simulate_flow(h, W, np.array([2]), np.array([0]), dt=0.2, steps=100, method="euler")
    assert D.peak_to_trough(np.exp(reverse.log_probs[:, 0, 2]))[0] < 1e-3   # Yes > No: no displacement


def test_flow_decreases_the_loss_and_euler_is_gradient_descent():
    h, W, plus, minus = D.random_instances(4, seed=5)
    flow = D.simulate_flow(h, W, plus, minus, dt=0.5, steps=20, method="euler")
    assert np.all(np.diff(flow.loss, axis=0) <= 1e-12)
    ell = D.initial_ell_prime(h, W, plus, minus)
    dh, _ = D.velocity(h, W, plus, minus, ell)
    one = D.simulate_flow(h, W, plus, minus, dt=0.5, steps=1, method="euler")
    np.testing.assert_allclose(one.h, h + 0.5 * dh)


def test_peak_to_trough_is_the_largest_later_drop():
    assert D.peak_to_trough([0.1, 0.2, 0.3]) == (0.0, 0, 0)
    values = np.random.default_rng(0).random(30)
    brute = max(values[i] - values[j] for i in range(30) for j in range(i + 1, 30))
    assert D.peak_to_trough(values)[0] == pytest.approx(max(brute, 0.0))


def test_bad_loss_name_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        D.loss_derivative(np.zeros(1), np.zeros(1), loss="slic")


def test_explorer_defaults_show_the_displacement_and_name_every_token():
    from rmlab.theory.plots_displacement import displacement_explorer

    ax = displacement_explorer().axes[0]
    prob_no, _, prob_yes = (line.get_ydata() for line in ax.lines[:3])
    drop, peak, trough = D.peak_to_trough(prob_no)
    assert drop > 0.1 and 0 < peak < trough and prob_yes[-1] - prob_yes[0] > 0.1
    assert [t.get_text().strip() for t in ax.get_legend().get_texts()] == list(D.HANDBUILT_TOKENS[:5])  # "_No" too


def test_run_drops_match_each_instance_run_alone():
    h, W, plus, minus = D.random_instances(5, w_scale=6.0, seed=2)
    drops = D.run_drops(h, W, plus, minus, dt=0.3, steps=40)
    for b in range(5):
        alone = D.simulate_flow(h[b:b + 1], W[b:b + 1], plus[b:b + 1], minus[b:b + 1], dt=0.3, steps=40,
                                method="euler")
        assert drops[b] == pytest.approx(D.peak_to_trough(np.exp(alone.log_probs[:, 0, plus[b]]))[0], abs=1e-12)


def test_outgrown_is_some_other_token_more_aligned_than_y_plus():
    h, W, plus, minus = D.random_instances(50, seed=3)
    align = D.alignment(W, plus, minus)
    expected = [max(a for z, a in enumerate(align[b]) if z not in (plus[b], minus[b])) > align[b, plus[b]]
                for b in range(50)]
    assert D.outgrown(W, plus, minus).tolist() == expected
    assert 0 < sum(expected) < 50


def test_phase_diagram_cells_are_the_handbuilt_runs():
    diagram = D.phase_diagram([0.0, 1.0], [0.2, 0.8], [1.0, 8.0], steps=50)
    assert diagram["drop"].shape == diagram["initial_rate"].shape == (2, 2, 2)
    h, W = D.handbuilt_geometry(scale=8.0, kappa=1.0, orth=0.8)
    alone = D.simulate_flow(h, W, np.array([0]), np.array([1]), dt=0.2, steps=50, method="euler")
    assert diagram["drop"][1, 1, 1] == pytest.approx(D.peak_to_trough(np.exp(alone.log_probs[:, 0, 0]))[0])
    assert diagram["drop"][1, 1, 1] > 0.2 and np.all(diagram["drop"][0] < 0.2)   # only the large scale displaces
    assert diagram["prob_start"][1, 1, 1] == pytest.approx(0.55, abs=1e-6)
    assert diagram["outgrown"][1, 1, 1] and not diagram["outgrown"][1, 0, 0]    # kappa 0: W+ - W- still favours y+
    with pytest.raises(ValueError, match="loss must be one of"):
        D.phase_diagram([1.0], [0.8], [8.0], loss="slic")


def test_phase_diagram_figure_has_one_panel_per_scale_with_its_count():
    from rmlab.theory.plots_displacement import plot_phase_diagram

    diagram = D.phase_diagram([0.0, 1.0], [0.2, 0.8], [1.0, 8.0], steps=50)
    panels = [ax for ax in plot_phase_diagram(diagram).axes if ax.images]
    assert [ax.get_title().splitlines()[1] for ax in panels] == ["0 of 4 cells displace", "1 of 4 cells displace"]


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.5, 1.0), (1.0, 2.0)])
def test_prop2_weighted_rate_matches_autograd_and_the_flow(weights):
    h, W, plus, minus = D.random_instances(6, vocab=7, dim=4, w_scale=2.0, seed=3)
    mu = D.initial_ell_prime(h, W, plus, minus, beta=0.1)
    auto = _autograd_rates(h, W, plus, minus, beta=0.1, weights=weights)
    rows = np.arange(len(h))
    np.testing.assert_allclose(D.weighted_exact_rates(h, W, plus, minus, mu, *weights), auto, rtol=1e-10, atol=1e-12)
    closed = D.weighted_rate_preferred(h, W, plus, minus, mu, *weights)
    np.testing.assert_allclose(closed, auto[rows, plus], rtol=1e-10, atol=1e-12)
    assert D.relative_error(closed, D.simulated_rates(h, W, plus, minus, weights=weights)[rows, plus]).max() < 1e-6


def test_prop2_gamma_adds_the_squared_gradient_norm_when_plus_weighs_more():
    h, W, plus, minus = D.random_instances(20, w_scale=3.0, seed=4)
    mu = D.initial_ell_prime(h, W, plus, minus)
    extra = D.weighted_rate_preferred(h, W, plus, minus, mu, 1.5, 1.0) - D.rate_preferred(h, W, plus, minus, mu)
    np.testing.assert_allclose(extra, 0.5 * (-mu) * D.sft_term_rate(h, W, plus), rtol=1e-12)
    assert (extra > 0).all()
    plain = D.weighted_velocity(h, W, plus, minus, mu, 1.0, 1.0)
    for got, want in zip(plain, D.velocity(h, W, plus, minus, mu)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_weighted_log_ratio_and_flow():
    h, W, plus, minus = D.random_instances(3, seed=5)
    logp = D.log_probs(h, W)
    rows = np.arange(3)
    np.testing.assert_allclose(D.weighted_log_ratio(h, W, plus, minus, 2.0, 0.5),
                               2.0 * logp[rows, plus] - 0.5 * logp[rows, minus], rtol=1e-12)
    assert np.array_equal(D.weighted_log_ratio(h, W, plus, minus), D.log_ratio(h, W, plus, minus))
    flow = D.simulate_flow(h, W, plus, minus, dt=0.1, steps=20, method="euler", weights=(2.0, 1.0))
    assert (np.diff(flow.loss, axis=0) < 0).all()                      # gradient descent on the weighted loss


def test_weighting_y_plus_more_shrinks_the_handbuilt_displacement():
    from rmlab.theory.plots_displacement import plot_weighted_loss

    hb_h, hb_W = D.handbuilt_geometry(scale=8.0)
    curves = {w: np.exp(D.simulate_flow(hb_h, hb_W, np.array([0]), np.array([1]), dt=0.2, steps=60, method="euler",
                                        weights=w).log_probs[:, 0, 0]) for w in [(1.0, 1.0), (2.0, 1.0)]}
    drops = {w: D.peak_to_trough(p)[0] for w, p in curves.items()}
    assert drops[(1.0, 1.0)] > 0.4 > 0.1 > drops[(2.0, 1.0)]
    diagrams = {str(w): D.phase_diagram([1.0], [0.8], [8.0], steps=60, weights=w) for w in curves}
    assert diagrams[str((1.0, 1.0))]["drop"].item() == pytest.approx(D.phase_diagram([1.0], [0.8], [8.0],
                                                                                     steps=60)["drop"].item())
    fig = plot_weighted_loss({str(w): p for w, p in curves.items()}, diagrams)
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].patches) == 2
