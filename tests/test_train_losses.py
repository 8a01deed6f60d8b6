"""rmlab.train.losses against closed forms computed by hand, exact expectations and autograd."""

import math

import pytest
import torch

from rmlab.train.losses import (GRPO_STD_EPS, bradley_terry_loss, dpo_loss, dpo_sft_loss, grpo_advantages,
                                ipo_loss, ipo_loss_length_normalized, kl_k1, kl_k3, log_ratio_margin,
                                rloo_advantages, sft_nll)

T = torch.tensor
# one pair: log pi(y+) = -1, log pi(y-) = -3, log pi_ref(y+) = -2, log pi_ref(y-) = -1  =>  margin = 1 - (-2) = 3
PAIR = dict(policy_chosen=T([-1.0]), policy_rejected=T([-3.0]), ref_chosen=T([-2.0]), ref_rejected=T([-1.0]))


def test_log_ratio_margin_by_hand():
    assert log_ratio_margin(**PAIR).item() == 3.0


def test_dpo_is_exactly_ln2_when_the_policy_is_the_reference():
    logps = torch.randn(5, dtype=torch.float64)
    other = torch.randn(5, dtype=torch.float64)
    ln2 = torch.full((5,), math.log(2), dtype=torch.float64)
    assert torch.equal(dpo_loss(logps, other, logps, other, beta=0.1), ln2)


def test_dpo_closed_form_and_gradient():
    assert dpo_loss(**PAIR, beta=0.5).item() == pytest.approx(math.log1p(math.exp(-1.5)))
    chosen = PAIR["policy_chosen"].clone().requires_grad_()
    dpo_loss(chosen, PAIR["policy_rejected"], PAIR["ref_chosen"], PAIR["ref_rejected"], beta=0.5).sum().backward()
    assert chosen.grad.item() == pytest.approx(-0.5 / (1 + math.exp(1.5)))     # -beta * sigmoid(-beta * margin)


def test_ipo_paper_form_and_the_length_normalised_form():
    assert ipo_loss(**PAIR, tau=0.25).item() == pytest.approx((3 - 2) ** 2)
    ones = T([1.0])
    assert ipo_loss_length_normalized(**PAIR, n_chosen=ones, n_rejected=ones, tau=0.25).item() == pytest.approx(1.0)
    # chosen over 2 tokens, rejected over 4: margin = (-0.5 + 1) - (-0.75 + 0.25) = 1.0, target 1/(2*0.1) = 5
    got = ipo_loss_length_normalized(**PAIR, n_chosen=T([2.0]), n_rejected=T([4.0]), tau=0.1)
    assert got.item() == pytest.approx((1.0 - 5.0) ** 2)


def test_dpo_plus_sft_adds_minus_lambda_log_pi_chosen():
    assert dpo_sft_loss(**PAIR, beta=0.5, sft_coef=0.1).item() == pytest.approx(math.log1p(math.exp(-1.5)) + 0.1)


def test_bradley_terry_by_hand_and_as_dpo_with_beta_one_and_no_reference():
    assert bradley_terry_loss(T([2.0]), T([0.0])).item() == pytest.approx(math.log1p(math.exp(-2.0)))
    r_c, r_r = torch.randn(6), torch.randn(6)
    zero = torch.zeros(6)
    torch.testing.assert_close(bradley_terry_loss(r_c, r_r), dpo_loss(r_c, r_r, zero, zero, beta=1.0))


def test_sft_nll_sum_and_per_token_mean_respect_the_mask():
    logps = T([[-1.0, -2.0, -9.0], [-0.5, -9.0, -9.0]])
    mask = T([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(sft_nll(logps, mask), T([3.0, 0.5]))
    torch.testing.assert_close(sft_nll(logps, mask, reduction="mean"), T([1.5, 0.5]))
    with pytest.raises(ValueError, match="reduction"):
        sft_nll(logps, mask, reduction="max")


def test_rloo_advantages_by_hand_and_zero_sum_per_group():
    torch.testing.assert_close(rloo_advantages(T([[1.0, 0.0, 0.0, 1.0]])), T([[2 / 3, -2 / 3, -2 / 3, 2 / 3]]))
    rewards = torch.randn(7, 5, dtype=torch.float64)
    advantages = rloo_advantages(rewards)
    torch.testing.assert_close(advantages.sum(dim=1), torch.zeros(7, dtype=torch.float64))
    torch.testing.assert_close(advantages, 5 / 4 * (rewards - rewards.mean(dim=1, keepdim=True)))


def test_grpo_advantages_for_each_scale():
    rewards = T([[1.0, 0.0], [3.0, 3.0]])
    torch.testing.assert_close(grpo_advantages(rewards, scale="none"), T([[0.5, -0.5], [0.0, 0.0]]))
    group_std = math.sqrt(0.5)                                   # unbiased std of (1, 0); (3, 3) has std 0
    torch.testing.assert_close(grpo_advantages(rewards), T([[0.5, -0.5], [0.0, 0.0]]) / T([[group_std + GRPO_STD_EPS],
                                                                                          [GRPO_STD_EPS]]))
    batch_std = torch.tensor([1.0, 0.0, 3.0, 3.0]).std()
    torch.testing.assert_close(grpo_advantages(rewards, scale="batch"),
                               T([[0.5, -0.5], [0.0, 0.0]]) / (batch_std + GRPO_STD_EPS))
    for scale in ("none", "group", "batch"):
        torch.testing.assert_close(grpo_advantages(torch.randn(4, 3), scale=scale).sum(dim=1), torch.zeros(4),
                                   atol=1e-5, rtol=0)


def test_grpo_with_two_samples_is_sign_only_up_to_the_epsilon():
    """2503.15477 Table 12 (the paper's notes): at k = 2 the group-std division leaves +-1/sqrt(2) per sample, the
    sign of r_i - r_j, whatever its size; exactly so once TRL's epsilon is accounted for."""
    rewards = torch.randn(1000, 2, dtype=torch.float64) * torch.logspace(-3, 2, 1000, dtype=torch.float64)[:, None]
    gap = (rewards[:, 0] - rewards[:, 1]).abs()
    advantages = grpo_advantages(rewards)
    torch.testing.assert_close(advantages.sign()[:, 0], (rewards[:, 0] - rewards[:, 1]).sign())
    torch.testing.assert_close(advantages.abs() * (1 + math.sqrt(2) * GRPO_STD_EPS / gap[:, None]),
                               torch.full_like(advantages, 1 / math.sqrt(2)), rtol=1e-12, atol=0)


@pytest.mark.parametrize("bad", [torch.zeros(3, 1), torch.zeros(4)])
def test_group_advantages_need_two_samples_per_prompt(bad):
    for advantages in (rloo_advantages, grpo_advantages):
        with pytest.raises(ValueError, match=">= 2 samples"):
            advantages(bad)
    with pytest.raises(ValueError, match="scale"):
        grpo_advantages(torch.zeros(2, 2), scale="std")


def test_k1_and_k3_are_unbiased_and_k3_is_never_negative():
    p = torch.softmax(torch.randn(10, dtype=torch.float64), 0)
    q = torch.softmax(torch.randn(10, dtype=torch.float64), 0)
    kl = (p * (p.log() - q.log())).sum()
    for estimator in (kl_k1, kl_k3):                            # exact expectation over x ~ p
        torch.testing.assert_close((p * estimator(p.log(), q.log())).sum(), kl)
    assert (kl_k3(p.log(), q.log()) >= 0).all() and (kl_k1(p.log(), q.log()) < 0).any()
