"""A teacher score: how fast a reward model should raise the gold reward of a policy, computed *before* training from
the initial policy's samples only (the same ``[n_prompts, k]`` RM and gold rewards the reward report uses).

    teacher_score = mean_x Cov_{y ~ pi(.|x)}( r_RM(x, y), r_G(x, y) ) / sqrt( mean_x Var_{y ~ pi(.|x)}( r_RM(x, y) ) )

with unbiased within-prompt (co)variances: the within-prompt covariance of the gold reward with the RM reward
standardised by its root mean within-prompt variance -- the normalisation of the paper's Table 9 ablation
(arXiv 2503.15477 App. F: each RM divided by the square root of its mean initial per-prompt variance).

Why this number. For a softmax policy updated along the natural gradient (the tabular parameterisation of
2503.15477 §3.3, where a step moves the logits by ``eta * A(x, y)``), the first-order change of the expected gold
reward of prompt x is ``eta * Cov_pi(r_G, A)``, and the step's squared length in the Fisher metric is
``eta**2 * Var_pi(A)``. With RLOO/GRPO the advantage ``A`` is the RM reward minus a per-prompt baseline, which
neither moment sees; Adam fixes the step's length whatever the reward's scale. So the rate of gold increase per
unit step is the ratio above. It is invariant to what RLOO with Adam ignores -- a shift of the RM per prompt and its
overall scale -- and it factorises as

    mean_x corr_x(r_RM, r_G) * std_x(r_RM) * std_x(r_G) / sqrt(mean_x std_x(r_RM)**2)

the within-prompt correlation with the gold reward (a graded on-policy accuracy), where the RM spends its spread
over the prompts (a prompt it leaves flat contributes nothing: the paper's reward variance, per prompt), and the
gold reward's within-prompt std under the policy (how much the policy can still gain on x). Variance alone ignores
direction; accuracy alone ignores where the RM is flat; neither sees the policy's headroom, which differs between
initial policies.

Where this departs from the paper's own whitening (global mean and std over all samples, §4.4, which the trainer
applies): a global std also counts the spread *between* prompts. Collapsing half the prompts onto a distant point
-- the paper's perfect-accuracy RM -- inflates it and shrinks the other half's whitened rewards, while RLOO's
advantages and Adam's steps on that half hardly change (World v2, ``sft_full``: this RM's gold increase after one
epoch 0.040 scaled around the gold reward's middle, 0.037 around its floor, while its globally whitened covariance
fell by a third, 0.137 -> 0.094; notebook 07).

>>> import numpy as np
>>> gold = np.array([[0.0, 1.0], [1.0, 1.0]])
>>> float(teacher_score(gold, gold)) > float(teacher_score(-gold, gold))    # a reversed RM teaches the wrong way
True
"""

from __future__ import annotations

import numpy as np

from rmlab.measure.variance import _check_rewards, reward_variance


def per_prompt_teacher_score(rm_rewards, gold_rewards) -> np.ndarray:
    """Unbiased within-prompt covariance of the gold rewards with the RM rewards divided by the RM's root mean
    within-prompt variance: ``[..., n, k]`` x2 -> ``[..., n]`` (NaN when the RM is constant within every prompt)."""
    rm, gold = _check_rewards(rm_rewards, "rm_rewards"), _check_rewards(gold_rewards, "gold_rewards")
    if rm.shape != gold.shape:
        raise ValueError(f"rm_rewards and gold_rewards must have the same shape, got {rm.shape} and {gold.shape}")
    spread = np.sqrt(reward_variance(rm))[..., None]
    centred_rm = rm - rm.mean(axis=-1, keepdims=True)
    centred_g = gold - gold.mean(axis=-1, keepdims=True)
    covariance = (centred_rm * centred_g).sum(axis=-1) / (rm.shape[-1] - 1)
    return covariance / np.where(spread > 0, spread, np.nan)


def teacher_score(rm_rewards, gold_rewards) -> np.ndarray:
    """The teacher score (module docstring): mean over prompts of :func:`per_prompt_teacher_score`.
    ``[..., n, k]`` x2 -> ``[...]``."""
    return per_prompt_teacher_score(rm_rewards, gold_rewards).mean(axis=-1)
