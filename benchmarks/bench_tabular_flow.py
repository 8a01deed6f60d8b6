"""Batched exact tabular dynamics vs a per-instance torch-autograd loop, on the same trajectories.

Both sides integrate the gradient flow of phi_RLHF (Eq. 1 of arXiv 2503.15477, KL coefficient lam, reference policy
different from the start) with the same fixed-step RK4 integrator (``rmlab.theory.flow.fixed_step_flow``):

* batched: one call of the closed-form Lemma 7 gradient on all instances at once (numpy, [B, S, N]);
* loop: for each instance, torch autograd of the objective written out with torch ops.

The script asserts that both give the same trajectories (values and final logits) to 1e-8 and prints the speed
ratio. Usage: ``python benchmarks/bench_tabular_flow.py [--quick]`` (well under a minute either way).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rmlab.theory.flow import fixed_step_flow, tabular_gradient_ascent, tabular_time_to_gain


def autograd_problem(theta0, r_rm, r_gold, lam, theta_ref):
    """Gradient / value functions of ONE instance ([S, N]) via torch autograd (the straightforward baseline)."""
    shape = theta0.shape
    r, g = torch.tensor(r_rm), torch.tensor(r_gold)
    logp_ref = torch.log_softmax(torch.tensor(theta_ref), -1)

    def grad_fn(flat):
        theta = torch.tensor(flat.reshape(shape), requires_grad=True)
        logp = torch.log_softmax(theta, -1)
        p = logp.exp()
        objective = ((p * r).sum(-1) - lam * (p * (logp - logp_ref)).sum(-1)).mean()
        (grad,) = torch.autograd.grad(objective, theta)
        return grad.numpy().ravel()

    def value_fn(flat):
        return (torch.softmax(torch.tensor(flat.reshape(shape)), -1) * g).sum(-1).numpy()

    return grad_fn, value_fn


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer instances and steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    B, S, N, n_steps = (40, 2, 20, 100) if args.quick else (200, 2, 20, 200)
    step, lam, gamma = 0.05, 0.1, 0.05

    rng = np.random.default_rng(args.seed)
    theta0 = rng.normal(0, 1.5, (B, S, N))
    theta_ref = theta0 + rng.normal(0, 0.3, theta0.shape)
    r_gold = rng.uniform(-1, 1, (B, S, N))
    r_rm = r_gold + rng.normal(0, 0.3, r_gold.shape)

    start = time.perf_counter()
    batched = tabular_gradient_ascent(theta0, r_rm, r_gold, gamma, step, n_steps, lam=lam, theta_ref=theta_ref,
                                      method="rk4", stop_when_reached=False)
    t_batched = time.perf_counter() - start

    start = time.perf_counter()
    loop_values, loop_theta = [], []
    for b in range(B):
        grad_fn, value_fn = autograd_problem(theta0[b], r_rm[b], r_gold[b], lam, theta_ref[b])
        res = fixed_step_flow(grad_fn, value_fn, theta0[b].ravel(), gamma, step, n_steps, method="rk4",
                              stop_when_reached=False)
        loop_values.append(res.values)
        loop_theta.append(res.theta_final.reshape(S, N))
    t_loop = time.perf_counter() - start

    diff_values = np.max(np.abs(np.stack(loop_values, 1) - batched.values))      # [K, B, S]
    diff_theta = np.max(np.abs(np.stack(loop_theta) - batched.theta_final))
    agreement = max(diff_values, diff_theta)
    ratio = t_loop / t_batched
    print(f"{B} instances x {S} prompts x {N} outputs, {n_steps} RK4 steps of {step} (lam = {lam}), "
          f"{batched.n_grad_evals} gradient evaluations per instance")
    print(f"batched exact dynamics : {t_batched:8.3f} s")
    print(f"per-instance autograd  : {t_loop:8.3f} s")
    print(f"speed ratio            : {ratio:8.1f}x   (target >= 50x)")
    print(f"max |difference|       : {agreement:.2e}   (values {diff_values:.1e}, logits {diff_theta:.1e})")
    assert agreement <= 1e-8, f"batched and autograd trajectories differ by {agreement:.3g} > 1e-8"

    start = time.perf_counter()
    ode = tabular_time_to_gain(theta0, r_rm, r_gold, gamma, lam=lam, theta_ref=theta_ref, t_max=1e4)
    print(f"adaptive DOP853 t_gamma for all {B * S} prompts in one solve: {time.perf_counter() - start:.3f} s "
          f"({ode.reached.mean():.0%} reached, median t_gamma {np.median(ode.t_gamma[ode.reached]):.2f})")
    if ratio < 50:
        print("WARNING: speed ratio below the 50x target on this machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
