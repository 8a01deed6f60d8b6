"""A teacher score: how fast a reward model should raise the gold reward of a policy, computed *before* training from
the initial policy's samples only (the same ``[n_prompts, k]`` RM and gold rewards the reward report uses).

    teacher_score = mean over prompts x of Cov_{y ~ pi(.|x)}( r~_RM(x, y), r_G(x, y) )

with ``r~_RM`` the RM's rewards whitened by their global mean and unbiased std over all n·k samples (the
normalisation RLOO training applies, arXiv 2503.15477 §4.4) and the unbiased within-prompt covariance.

Why this number. For a softmax policy updated along the natural gradient (the tabular parameterisation of
2503.15477 §3.3, where a step moves the logits by ``eta * A(x, y)``), the first-order change of the expected gold
reward of prompt x is ``eta * Cov_pi(r_G, A)``; with RLOO/GRPO the advantage ``A`` is the normalised RM reward minus a
baseline, which the covariance ignores. So the score is the rate at which the first steps raise the *gold* reward,
and it factorises into the three quantities the paper separates::

    Cov_x = corr_x(r~_RM, r_G) * std_x(r~_RM) * std_x(r_G)

the within-prompt correlation with the gold reward (a graded on-policy accuracy), the RM's whitened within-prompt
std (the square root of the paper's reward variance: how fast the policy can move at all), and the gold reward's
within-prompt std under the policy (how much the policy can still gain on x). Variance alone ignores direction;
accuracy alone ignores speed; neither sees the policy's headroom, which differs between initial policies.

>>> import numpy as np
>>> gold = np.array([[0.0, 1.0], [1.0, 1.0]])
>>> float(teacher_score(gold, gold)) > float(teacher_score(-gold, gold))    # a reversed RM teaches the wrong way
True
"""

from __future__ import annotations

import numpy as np

from rmlab.measure.variance import _check_rewards, whiten


def per_prompt_teacher_score(rm_rewards, gold_rewards) -> np.ndarray:
    """Unbiased within-prompt covariance of the whitened RM rewards and the gold rewards: ``[..., n, k]`` x2 ->
    ``[..., n]`` (NaN when the RM is constant over all samples: it cannot be whitened)."""
    rm, gold = _check_rewards(rm_rewards, "rm_rewards"), _check_rewards(gold_rewards, "gold_rewards")
    if rm.shape != gold.shape:
        raise ValueError(f"rm_rewards and gold_rewards must have the same shape, got {rm.shape} and {gold.shape}")
    w = whiten(rm)
    centred_w = w - w.mean(axis=-1, keepdims=True)
    centred_g = gold - gold.mean(axis=-1, keepdims=True)
    return (centred_w * centred_g).sum(axis=-1) / (rm.shape[-1] - 1)


def teacher_score(rm_rewards, gold_rewards) -> np.ndarray:
    """The teacher score (module docstring): mean over prompts of :func:`per_prompt_teacher_score`.
    ``[..., n, k]`` x2 -> ``[...]``."""
    return per_prompt_teacher_score(rm_rewards, gold_rewards).mean(axis=-1)
