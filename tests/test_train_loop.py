"""rmlab.train.loop: reproducibility, clipping, schedule, callback, configuration errors."""

import math

import pytest
import torch

from rmlab._threads import single_torch_thread
from rmlab.errors import UserError
from rmlab.train.loop import OPTIMIZERS, OptimConfig, lr_factor, train_loop

X = torch.randn(64, 5, generator=torch.Generator().manual_seed(1))
Y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])


def regression(seed: int, config: OptimConfig, **kwargs):
    torch.manual_seed(seed)
    model = torch.nn.Linear(5, 1)

    def step_loss(step, generator):
        batch = torch.randint(len(X), (8,), generator=generator)
        loss = (model(X[batch]).squeeze(-1) - Y[batch]).pow(2).mean()
        return loss, {"batch_first": int(batch[0])}

    with single_torch_thread():
        history = train_loop(model, step_loss, config, progress=False, **kwargs)
    return model, history


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_same_seed_gives_identical_weights_and_metrics_and_the_loss_falls(optimizer):
    config = OptimConfig(steps=60, optimizer=optimizer, lr=0.05 if optimizer != "rmsprop" else 0.01)
    first, history = regression(0, config)
    second, again = regression(0, config)
    assert history == again
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert history[-1]["loss"] < 0.2 * history[0]["loss"]
    other, other_history = regression(0, OptimConfig(steps=60, optimizer=optimizer, lr=config.lr, seed=1))
    assert [h["batch_first"] for h in other_history] != [h["batch_first"] for h in history]   # the loop's generator


def test_gradient_norm_is_recorded_before_clipping_and_the_update_is_clipped():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    history = train_loop(model, lambda step, gen: ((model.weight - 100.0).pow(2).sum(), {}),
                         OptimConfig(steps=1, optimizer="sgd", lr=1.0, max_grad_norm=0.5), progress=False)
    assert history[0]["grad_norm"] == pytest.approx(200.0)
    assert model.weight.item() == pytest.approx(0.5)


def test_warmup_cosine_schedule():
    config = OptimConfig(steps=100, schedule="warmup_cosine", warmup_fraction=0.1)
    assert lr_factor(0, config) == pytest.approx(0.1 * 1.0)
    assert lr_factor(9, config) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.09)))
    assert lr_factor(100, config) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(50, OptimConfig(steps=100)) == 1.0
    _, history = regression(0, OptimConfig(steps=20, lr=0.1, schedule="warmup_cosine"))
    assert history[0]["lr"] == pytest.approx(0.05) and history[1]["lr"] == pytest.approx(0.1 * lr_factor(1, OptimConfig(
        steps=20, schedule="warmup_cosine")))


def test_callback_sees_every_step_with_the_model_and_its_metrics():
    seen = []
    model, history = regression(0, OptimConfig(steps=5), callback=lambda step, m, metrics: seen.append(
        (step, m, metrics["loss"])))
    assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5] and all(m is model for _, m, _ in seen)
    assert [loss for _, _, loss in seen] == [h["loss"] for h in history]
    assert not model.training


@pytest.mark.parametrize("change, words", [
    (dict(steps=0), "steps must be an integer >= 1"), (dict(lr=0.0), "lr must be a finite number > 0"),
    (dict(lr=float("nan")), "lr must be"),
    (dict(optimizer="adagrad"), "optimizer must be one of"), (dict(schedule="linear"), "schedule must be"),
    (dict(max_grad_norm=0.0), "max_grad_norm")])
def test_bad_configuration_is_refused_with_its_field_named(change, words):
    with pytest.raises(UserError, match=words):
        OptimConfig(**{"steps": 10, **change})
