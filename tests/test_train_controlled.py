"""rmlab.train.controlled: the exact expected policy gradient, the relabelled task, determinism, and the paper's
separation (RFT leaves the low-std images alone, SFT fits them) at a small scale."""

import pytest
import torch

from rmlab._threads import single_torch_thread
from rmlab.errors import UserError
from rmlab.train.controlled import (N_CLASSES, ControlledConfig, evaluate, finetune, label_rewards, make_mlp,
                                    make_task, method_loss, pretrain, summarize, task_rewards)
from rmlab.train.losses import expected_policy_gradient_loss

SMALL = ControlledConfig(n_train=300, hidden=(64,), batch_size=300, pretrain_epochs=600, pretrain_lr=1e-2,
                         epochs=1000, lr=1e-3, log_every=50)


def _grads(loss, parameters):
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, parameters)])


def test_expected_policy_gradient_is_the_gradient_of_the_expected_reward():
    gen = torch.Generator().manual_seed(0)
    model = make_mlp((16, 8), seed=1, n_in=5)
    x = torch.randn(7, 5, generator=gen)
    rewards = torch.rand(7, N_CLASSES, generator=gen) * 2 - 1
    parameters = list(model.parameters())
    surrogate = _grads(expected_policy_gradient_loss(model(x), rewards).mean(), parameters)
    expected_reward = _grads((torch.softmax(model(x), dim=-1) * rewards).sum(dim=-1).mean(), parameters)
    torch.testing.assert_close(surrogate, -expected_reward, rtol=1e-5, atol=1e-7)
    assert expected_reward.norm() > 1e-3        # a real gradient, not two zeros


@pytest.mark.parametrize("temperature, entropy_coef", [(2.0, 0.0), (1.0, 0.1), (1.5, 0.01)])
def test_rft_with_a_temperature_and_an_entropy_bonus_follows_its_regularised_objective(temperature, entropy_coef):
    gen = torch.Generator().manual_seed(2)
    model = make_mlp((16,), seed=3, n_in=5)
    x, labels = torch.randn(6, 5, generator=gen), torch.randint(0, N_CLASSES, (6,), generator=gen)
    parameters = list(model.parameters())
    surrogate = _grads(method_loss("rft", model(x), labels, temperature=temperature, entropy_coef=entropy_coef)
                       .mean(), parameters)
    log_probs = torch.log_softmax(model(x) / temperature, dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
    objective = (log_probs.exp() * label_rewards(labels)).sum(dim=-1) + entropy_coef * entropy
    torch.testing.assert_close(surrogate, -_grads(objective.mean(), parameters), rtol=1e-5, atol=1e-7)


def test_the_relabelled_images_get_a_label_outside_their_class_set():
    task = make_task(ControlledConfig(n_train=500, frac_modified=0.1, seed=3))
    assert int(task.modified.sum()) == 50 and task.x.shape == (500, 64) and 0 <= task.x.min() <= task.x.max() <= 1
    in_set = (task.label_sets == task.labels[:, None]).any(dim=1)
    assert not in_set[task.modified].any()
    assert torch.equal(task.labels[~task.modified], task.label_sets[~task.modified, 0])     # own class kept
    assert all(len(set(row.tolist())) == 5 for row in task.label_sets)
    assert torch.equal(label_rewards(torch.tensor([2])), torch.tensor([[-1.0, -1, 1] + [-1.0] * 7]))


def test_same_seed_same_run_other_seed_other_run():
    config = ControlledConfig(n_train=80, hidden=(16,), batch_size=32, pretrain_epochs=3, epochs=3, log_every=1)

    def run(cfg):
        task = make_task(cfg)
        with single_torch_thread():
            return finetune(pretrain(task, cfg), task, "rft", cfg)

    first = run(config)
    assert first == run(config) and len(first) == 4
    assert first != run(config.replace(seed=1))


def test_pretraining_spreads_the_mass_over_the_class_set_and_leaves_the_relabelled_images_flat():
    task = make_task(SMALL)
    with single_torch_thread():
        model = pretrain(task, SMALL)
    before = evaluate(model, task, "rft")
    assert before["acc_modified"] == 0.0 and before["reward_modified"] < -0.99
    assert before["reward_std_modified"] < 0.1 < 0.5 < before["reward_std_unmodified"]


def test_rft_leaves_the_low_std_images_and_sft_fits_them():
    task = make_task(SMALL)
    with single_torch_thread():
        model = pretrain(task, SMALL)
        rft, sft = finetune(model, task, "rft", SMALL), finetune(model, task, "sft", SMALL)
    assert rft[-1]["epoch"] == sft[-1]["epoch"] == SMALL.epochs
    summary = summarize({"rft": rft, "sft": sft})
    assert summary["rft_acc_modified"] < 0.1 and summary["rft_acc_unmodified"] > 0.95
    assert summary["sft_acc_modified"] > 0.95
    assert summary["rft_max_reward_std_modified"] < 0.1 < summary["sft_max_reward_std_modified"]
    assert summary["rft_mean_relative_grad_norm_modified"] < 0.1 < summary["sft_mean_relative_grad_norm_modified"]
    epoch_sft = summary["sft_first_epoch_acc_modified_above_0.9"]
    assert summary["rft_first_epoch_acc_modified_above_0.9"] is None and 0 < epoch_sft <= SMALL.epochs
    row = next(row for row in sft if row["epoch"] == epoch_sft)
    assert row["acc_modified"] > 0.9 and all(r["acc_modified"] <= 0.9 for r in sft if r["epoch"] < epoch_sft)


def test_the_high_initial_reward_variant_rewards_wrong_predictions_on_modified_images_only():
    task = make_task(SMALL)
    rewards = task_rewards(task, 0.5)
    correct = torch.nn.functional.one_hot(task.labels, N_CLASSES).bool()
    assert (rewards[correct] == 1).all()
    assert (rewards[task.modified][~correct[task.modified]] == 0.5).all()
    assert (rewards[~task.modified][~correct[~task.modified]] == -1).all()
    assert torch.equal(task_rewards(task), label_rewards(task.labels))


def test_rft_leaves_the_low_std_images_with_a_high_initial_reward_too():
    """The official high-initial-reward plans: a wrong prediction on a modified image earns 0.5, so the expected
    reward there starts near 0.5 (far from the optimum 1, but not the minimum) and its std stays near zero."""
    config = SMALL.replace(modified_incorrect_reward=0.5)
    task = make_task(config)
    with single_torch_thread():
        model = pretrain(task, config)
        rft = finetune(model, task, "rft", config)
    assert 0.49 < rft[0]["reward_modified"] < 0.6 and rft[0]["reward_std_modified"] < 0.05
    assert rft[-1]["acc_modified"] < 0.1 and rft[-1]["acc_unmodified"] > 0.95


@pytest.mark.parametrize("change, words", [
    (dict(labels_per_class=10), "labels_per_class must be < 10"), (dict(frac_modified=0.0), "frac_modified"),
    (dict(n_train=5000), "at most 1797"), (dict(optimizer="lbfgs"), "optimizer must be one of"),
    (dict(lr=-1.0), "lr must be"), (dict(temperature=0.0), "temperature"), (dict(entropy_coef=-0.1), "entropy_coef"),
    (dict(modified_incorrect_reward=1.0), "modified_incorrect_reward must be in")])
def test_bad_configuration_is_refused(change, words):
    with pytest.raises(UserError, match=words):
        ControlledConfig(**change)


def test_unknown_method_is_refused():
    config = ControlledConfig(n_train=20, hidden=(4,), pretrain_epochs=1, epochs=1)
    task = make_task(config)
    with pytest.raises(UserError, match="method must be one of"):
        finetune(make_mlp((4,), 0), task, "ppo", config)
