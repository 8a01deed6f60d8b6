"""Training losses and advantages as pure tensor functions: one value per example, reduced by the caller.

Conventions. A sequence log-probability ``logp`` is ``log pi(y|x)`` summed over the response tokens and the EOS (the
``logprob_sum`` of :mod:`rmlab.lm.score`, TRL's ``logps/chosen``); tensors hold one entry per example. Token-level
inputs are ``[B, T]`` with a ``[B, T]`` mask that is 1 on response positions. Rewards of a policy-gradient batch are
``[P, K]``: P prompts (groups), K samples each.

>>> import torch
>>> zero = torch.zeros(2)
>>> dpo_loss(zero, zero, zero, zero, beta=0.1)       # policy = reference: ln 2 per pair
tensor([0.6931, 0.6931])
>>> rloo_advantages(torch.tensor([[1.0, 0.0, 0.0]]))
tensor([[ 1.0000, -0.5000, -0.5000]])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GRPO_SCALES = ("none", "group", "batch")
GRPO_STD_EPS = 1e-4      # TRL GRPOTrainer adds this to the std it divides by


def sft_nll(token_logps: torch.Tensor, mask: torch.Tensor, *, reduction: str = "sum") -> torch.Tensor:
    """Negative log-likelihood of each response: ``-sum_t log pi(y_t|x, y_<t)`` (``reduction="sum"``) or that sum
    divided by the response's token count (``"mean"``, per-token). ``[B, T]`` token log-probs and mask -> ``[B]``."""
    total = -(token_logps * mask).sum(dim=-1)
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / mask.sum(dim=-1).clamp(min=1)
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


def expected_policy_gradient_loss(logits: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """REINFORCE with the expectation over outputs taken exactly, for a single-step softmax policy: the surrogate
    ``-sum_y p(y) (r(y) - V) log p(y)`` with ``p`` and ``V = sum_y p(y) r(y)`` held constant, whose gradient is
    exactly ``-grad V`` (the ``expected_reinforce`` objective of 2310.20703's controlled experiments; the baseline
    ``V`` leaves the gradient unchanged). ``[B, Y]`` logits and rewards -> ``[B]``; only its gradient is meaningful.

    >>> logits = torch.tensor([[0.0, 1.0]], requires_grad=True)
    >>> expected_policy_gradient_loss(logits, torch.tensor([[1.0, -1.0]])).sum().backward()
    >>> logits.grad    # -grad of 2 p(y_0) - 1 with p(y_0) = 0.269
    tensor([[-0.3932,  0.3932]])
    """
    logp = torch.log_softmax(logits, dim=-1)
    probs = logp.exp().detach()
    value = (probs * rewards).sum(dim=-1, keepdim=True)
    return -(probs * (rewards - value) * logp).sum(dim=-1)


def bradley_terry_loss(reward_chosen: torch.Tensor, reward_rejected: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry negative log-likelihood ``-log sigmoid(r(x, y+) - r(x, y-))`` of the preference (Ouyang et al.
    2022, Eq. 1; the loss of TRL's ``RewardTrainer`` without margin)."""
    return -F.logsigmoid(reward_chosen - reward_rejected)


def log_ratio_margin(policy_chosen, policy_rejected, ref_chosen, ref_rejected) -> torch.Tensor:
    """``(log pi(y+) - log pi_ref(y+)) - (log pi(y-) - log pi_ref(y-))``: the implicit reward margin divided by beta."""
    return (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, *, beta: float) -> torch.Tensor:
    """DPO (sigmoid) loss ``-log sigmoid(beta * margin)`` with the :func:`log_ratio_margin` of summed sequence
    log-probs (Rafailov et al. 2023, Eq. 7). Equals ``ln 2`` when the policy is the reference."""
    return -F.logsigmoid(beta * log_ratio_margin(policy_chosen, policy_rejected, ref_chosen, ref_rejected))


def ipo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, *, tau: float) -> torch.Tensor:
    """IPO in the paper's form ``(margin - 1/(2 tau))^2`` with the :func:`log_ratio_margin` of *summed* sequence
    log-probs (Azar et al. 2023, Eq. 17; 2410.08847 uses tau = 0.01, a target margin of 50)."""
    return (log_ratio_margin(policy_chosen, policy_rejected, ref_chosen, ref_rejected) - 1 / (2 * tau)) ** 2


def ipo_loss_length_normalized(policy_chosen, policy_rejected, ref_chosen, ref_rejected, n_chosen, n_rejected, *,
                               tau: float) -> torch.Tensor:
    """IPO as TRL's ``DPOTrainer(loss_type="ipo")`` computes it: every sequence log-prob divided by its token count
    ``n`` (response + EOS) before the margin, then ``(margin - 1/(2 tau))^2`` with ``tau`` = TRL's ``beta``."""
    return ipo_loss(policy_chosen / n_chosen, policy_rejected / n_rejected, ref_chosen / n_chosen,
                    ref_rejected / n_rejected, tau=tau)


def dpo_sft_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, *, beta: float,
                 sft_coef: float) -> torch.Tensor:
    """DPO plus an SFT term on the preferred response, ``dpo_loss - lambda * log pi(y+|x)`` with the summed sequence
    log-prob (2410.08847 §6 and its Prop. 1, the official ``--sft_coeff``; TRL's ``loss_type=["sigmoid", "sft"]``
    uses a per-token mean instead)."""
    return (dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=beta)
            - sft_coef * policy_chosen)


def _check_groups(rewards: torch.Tensor) -> None:
    if rewards.ndim != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be [prompts, samples] with >= 2 samples per prompt, got {tuple(rewards.shape)}")


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """REINFORCE leave-one-out advantages ``r_i - mean_{j != i} r_j`` within each group (Kool et al. 2019; Ahmadian
    et al. 2024; TRL's ``RLOOTrainer``). ``[P, K]`` -> ``[P, K]``, summing to zero per group."""
    _check_groups(rewards)
    k = rewards.shape[1]
    baseline = (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)
    return rewards - baseline


def grpo_advantages(rewards: torch.Tensor, *, scale: str = "group") -> torch.Tensor:
    """GRPO advantages ``r - mean_group(r)`` (Shao et al. 2024), divided by ``std + 1e-4`` as TRL's ``GRPOTrainer``
    does: the unbiased std of each group (``scale="group"``), of the whole batch (``"batch"``, PPO-Lite), or not at
    all (``"none"``, Dr. GRPO: the std division up-weights near-flat prompts). ``[P, K]`` -> ``[P, K]``."""
    _check_groups(rewards)
    if scale not in GRPO_SCALES:
        raise ValueError(f"scale must be one of {GRPO_SCALES}, got {scale!r}")
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if scale == "none":
        return centred
    std = rewards.std(dim=1, keepdim=True) if scale == "group" else rewards.std()
    return centred / (std + GRPO_STD_EPS)


def kl_k1(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token k1 estimate of KL(pi || pi_ref) on samples of pi: ``log pi - log pi_ref`` (unbiased, can be
    negative; Schulman 2020, "Approximating KL divergence")."""
    return logps - ref_logps


def kl_k3(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate ``exp(log pi_ref - log pi) - (log pi_ref - log pi) - 1`` (unbiased, never negative;
    Schulman 2020; the KL of TRL's GRPO and of 2503.15477's RLOO code)."""
    log_ratio = ref_logps - logps
    return torch.expm1(log_ratio) - log_ratio
