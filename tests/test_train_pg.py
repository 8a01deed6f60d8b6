"""rmlab.train.pg and ``rmlab rloo`` on tiny models: reproducibility, reward normalisation, what is logged, refusals.
(That RLOO raises the world's gold reward is tested with the world, in test_world_build.py.)"""

import json

import numpy as np
import pytest
import torch

from rmlab._threads import single_torch_thread
from rmlab.cli import main
from rmlab.errors import UserError
from rmlab.lm.load import load_causal_lm
from rmlab.lm.sample import decode_response, eos_token_ids, sample_token_ids
from rmlab.measure.variance import within_group_std_summary
from rmlab.train.pg import PGConfig, _step_seed, normalization_samples, reward_normalization, train_pg
from tiny_models import PAIRS, count_yes, tiny  # noqa: F401  (tiny is a fixture)

PROMPTS = [p for p, _, _ in PAIRS] * 2


class Recorder:
    """A reward function that remembers what it was asked and answered."""

    def __init__(self, fn=count_yes):
        self.fn, self.calls = fn, []

    def __call__(self, prompts, responses):
        values = np.asarray(self.fn(prompts, responses), dtype=np.float64)
        self.calls.append((list(prompts), list(responses), values))
        return values


def run(tiny, config, reward=count_yes, **kwargs):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("llama", tokenizer="bos")))
    with single_torch_thread():
        return model, tokenizer, train_pg(model, tokenizer, PROMPTS, reward, config, progress=False, **kwargs)


CONFIG = PGConfig(k=3, batch_prompts=4, steps=4, max_new_tokens=6, lr=1e-3, normalization_prompts=5)


def test_same_seed_gives_identical_metrics_and_weights(tiny):
    first, _, a = run(tiny, CONFIG)
    second, _, b = run(tiny, CONFIG)
    assert a.metrics == b.metrics and a.normalization == b.normalization
    assert all(torch.equal(x, y) for x, y in zip(first.state_dict().values(), second.state_dict().values()))
    _, _, other = run(tiny, PGConfig(**{**a.config, "seed": 1}))
    assert other.metrics != a.metrics


def test_normalisation_is_the_initial_policys_reward_mean_and_std(tiny):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("llama", tokenizer="bos")))
    ids = sample_token_ids(model, tokenizer, PROMPTS[:5], 3, max_new_tokens=6, seed=_step_seed(0, 0), progress=False)
    texts = [decode_response(tokenizer, r, eos_token_ids(model, tokenizer)) for group in ids for r in group]
    values = np.array(count_yes(None, texts))
    _, _, result = run(tiny, CONFIG)
    assert result.normalization["shift"] == pytest.approx(values.mean())
    assert result.normalization["scale"] == pytest.approx(np.sqrt(values.var(ddof=1) + 1e-8))
    _, _, raw = run(tiny, PGConfig(**{**CONFIG.__dict__, "normalize_rewards": False}))
    assert raw.normalization == {"shift": 0.0, "scale": 1.0}


def test_a_normalization_measured_beforehand_on_shared_samples_gives_the_same_run(tiny):
    model, tokenizer = load_causal_lm(str(tiny.causal_lm("llama", tokenizer="bos")))
    with single_torch_thread():
        samples = normalization_samples(model, tokenizer, PROMPTS, CONFIG)
    assert samples[0] == [p for p in PROMPTS[:5] for _ in range(3)] and len(samples[1]) == 15
    _, _, measured = run(tiny, CONFIG)
    _, _, given = run(tiny, CONFIG, normalization=reward_normalization(count_yes, *samples))
    assert given.metrics == measured.metrics and given.normalization == measured.normalization
    with pytest.raises(ValueError, match="normalize_rewards is off"):
        run(tiny, PGConfig(**{**CONFIG.__dict__, "normalize_rewards": False}), normalization=(0.0, 1.0))


def test_logged_statistics_are_those_of_the_raw_task_reward_within_groups(tiny):
    recorder = Recorder(lambda p, r: [float(len(x.split())) for x in r])
    _, _, result = run(tiny, PGConfig(**{**CONFIG.__dict__, "algo": "grpo", "scale": "none", "kl_coef": 0.1}),
                       reward=recorder)
    step_calls = recorder.calls[1:]                              # the first call is the normalisation
    assert len(step_calls) == len(result.metrics) == 4
    for (prompts, responses, values), metrics in zip(step_calls, result.metrics):
        assert len(prompts) == 4 * 3 and all(prompts[i] == prompts[i - i % 3] for i in range(12))   # k per prompt
        assert metrics["reward"] == pytest.approx(values.mean())
        for name, value in within_group_std_summary(values.reshape(4, 3)).items():
            assert metrics[name] == pytest.approx(value)
        assert metrics["kl"] >= 0 and metrics["response_length"] > 0
    assert result.metrics[0]["kl"] == pytest.approx(0.0, abs=1e-5)      # the policy starts as its reference


def test_the_entropy_bonus_alone_raises_the_entropy(tiny):
    constant = lambda p, r: [0.0] * len(r)             # noqa: E731  zero advantages: only the bonus can move
    config = PGConfig(**{**CONFIG.__dict__, "steps": 6, "lr": 1e-2, "kl_coef": 0.0})
    frozen, _, plain = run(tiny, config, reward=constant)
    start, _ = load_causal_lm(str(tiny.causal_lm("llama", tokenizer="bos")))
    assert all(torch.equal(a, b) for a, b in zip(frozen.state_dict().values(), start.state_dict().values()))
    _, _, bonus = run(tiny, PGConfig(**{**config.__dict__, "entropy_coef": 1.0}), reward=constant)
    assert bonus.metrics[0]["entropy"] == pytest.approx(plain.metrics[0]["entropy"])
    assert bonus.metrics[-1]["entropy"] > bonus.metrics[0]["entropy"] + 1e-3


def test_a_tempered_policy_is_its_own_reference_at_the_first_step(tiny):
    _, _, plain = run(tiny, CONFIG)
    _, _, hot = run(tiny, PGConfig(**{**CONFIG.__dict__, "temperature": 2.0}))
    assert hot.metrics[0]["kl"] == pytest.approx(0.0, abs=1e-5)       # both sides scored at T = 2
    assert hot.metrics[0]["entropy"] > plain.metrics[0]["entropy"]


@pytest.mark.parametrize("reward, words", [
    (lambda p, r: [float("nan")] * len(r), "NaN or infinite"), (lambda p, r: [1.0], "returned shape")])
def test_a_reward_that_returns_nonsense_is_named(tiny, reward, words):
    with pytest.raises(UserError, match=words):
        run(tiny, CONFIG, reward=reward)


@pytest.mark.parametrize("change, words", [(dict(k=1), "k must be an integer >= 2"), (dict(lr=0.0), "lr must be"),
                                           (dict(algo="ppo"), "algo must be one of"), (dict(top_p=0.0), "top_p"),
                                           (dict(entropy_coef=-0.1), "entropy_coef must be")])
def test_bad_configuration_is_refused(change, words):
    with pytest.raises(UserError, match=words):
        PGConfig(**change)


# ------------------------------------------------------------------------------------------------ command line
def _cli(tiny, tmp_path, *extra):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    policy = str(tiny.causal_lm("llama", tokenizer="bos"))
    return main(["rloo", "--policy", policy, "--rm", "yes=py:tiny_models:count_yes",
                 "--gold", "py:tiny_models:count_yes", "--prompts", str(prompts), "--out", str(tmp_path / "run"),
                 "--k", "2", "--steps", "3", "--batch-prompts", "2", "--max-new-tokens", "5", "--quiet", *extra])


def test_cli_writes_the_model_metrics_and_config(tiny, tmp_path, capsys):
    assert _cli(tiny, tmp_path, "--algo", "grpo", "--scale", "none") == 0
    out = tmp_path / "run"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metrics.jsonl", "model"]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert {"loss", "reward", "gold_reward", "kl", "within_std_mean", "within_std_p10", "within_std_p50",
            "within_std_p90", "frac_zero_std", "response_length"} <= set(metrics[0])
    assert all(m["reward"] == m["gold_reward"] for m in metrics)        # the same function as RM and gold
    config = json.loads((out / "config.json").read_text())
    assert config["grpo"]["scale"] == "none" and set(config["normalization"]) == {"shift", "scale"}
    assert "3 steps" in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [
    (["--k", "1"], "--k must be an integer >= 2"), (["--lr", "-1"], "--lr must be a finite number > 0"),
    (["--entropy-coef", "-1"], "--entropy-coef must be a finite number >= 0"),
    (["--rm", "x=py:tiny_models:nope"], "nope")])
def test_cli_bad_input_names_it_and_writes_nothing(tiny, tmp_path, capsys, extra, words):
    assert _cli(tiny, tmp_path, *extra) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "run").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
