"""rmlab.integrations.trl with TRL on CPU on the quick world's models: the within-group stats a GRPO run logs equal
the report's statistics (rmlab.measure.summary) on the same samples, the DPO probe callback's Δ log-probs equal a
recomputation, and a GRPO run on a variance-filtered dataset runs end to end. rmlab itself imports without TRL.

TRL's calls into transformers raise FutureWarnings (TRL's, not rmlab's): they are silenced around TRL alone."""

import copy
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import datasets
import numpy as np
import pytest

from rmlab._threads import single_torch_thread
from rmlab.lm.load import load_causal_lm
from rmlab.lm.score import ExplicitRM, sequence_logprobs
from rmlab.measure.summary import summarize

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def world():
    from rmlab.world import build_world, quick_config

    return build_world(quick_config(), progress=False)      # in $RMLAB_CACHE (conftest): the README example's too


def _trl(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return make()


def grpo_trainer(world, tmp_path, reward, prompts, *, num_generations=4, steps=2):
    import trl

    policy, tokenizer = load_causal_lm(str(world.models["sft_full"]))
    args = _trl(lambda: trl.GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=2 * num_generations, num_generations=num_generations,
        max_completion_length=12, max_steps=steps, logging_steps=1, report_to=[], use_cpu=True, bf16=False, seed=0,
        learning_rate=1e-3, save_strategy="no", temperature=1.0, top_k=0, top_p=1.0, disable_dropout=True))
    train = datasets.Dataset.from_dict({"prompt": list(prompts)})
    return _trl(lambda: trl.GRPOTrainer(model=policy, reward_funcs=reward, args=args, train_dataset=train,
                                        processing_class=tokenizer))


def test_logged_within_group_stats_equal_the_reports_on_the_same_samples(world, tmp_path):
    from rmlab.integrations.trl import STAT_NAMES, WithinGroupRewardStats, as_trl_reward

    rm = ExplicitRM(str(world.models["rm_accurate"]))
    seen = []

    def task_reward(prompts, completions, **kwargs):
        rewards = as_trl_reward(rm, name="rm_accurate")(prompts, completions, **kwargs)
        seen.append((list(prompts), list(completions)))
        return rewards

    wrapper = WithinGroupRewardStats(task_reward, num_generations=4)
    trainer = grpo_trainer(world, tmp_path, wrapper, world.prompts()[:8])
    with single_torch_thread():
        _trl(trainer.train)
    logged = [entry for entry in trainer.state.log_history if "within_group/std_mean" in entry]
    assert len(logged) == len(seen) == 2
    for entry, (prompts, completions) in zip(logged, seen):
        rescored = ExplicitRM(str(world.models["rm_accurate"]))(prompts, completions).reshape(-1, 4)
        summary, per_prompt, _ = summarize({"rm": rescored}, n_bootstrap=10)
        report = summary.loc["rm"]
        std = np.sqrt(per_prompt["reward_variance"].to_numpy())
        expected = {"std_mean": std.mean(), "std_p10": np.percentile(std, 10), "std_p50": np.median(std),
                    "std_p90": np.percentile(std, 90), "frac_zero_std": report["frac_zero_variance"],
                    "within_prompt_variance": report["within_prompt_variance"],
                    "between_prompt_variance": report["between_prompt_variance"],
                    "total_variance": report["total_variance"]}
        for name in STAT_NAMES:
            assert entry[f"within_group/{name}"] == pytest.approx(expected[name], rel=1e-6, abs=1e-9), name
        assert entry["within_group/std_mean"] > 0
        # TRL's own reward_std is the batch std: it includes the between-prompt spread
        assert entry["reward_std"] == pytest.approx(np.std(rescored, ddof=1), rel=1e-4)


def test_the_dpo_probe_callbacks_deltas_equal_a_recomputation(world, tmp_path):
    import trl

    from rmlab.integrations.trl import DPOProbeCallback

    prefs = world.preferences("prefs_off_policy").select_columns(["prompt", "chosen", "rejected"])
    train, probe = prefs.select(range(16)), prefs.select(range(16, 22))
    policy, tokenizer = load_causal_lm(str(world.models["sft_full"]))
    start = copy.deepcopy(policy)
    args = _trl(lambda: trl.DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, beta=0.1, report_to=[],
                                      bf16=False, use_cpu=True, max_length=None, disable_dropout=True, max_steps=4,
                                      logging_steps=2, learning_rate=1e-3, save_strategy="no", seed=0))
    trainer = _trl(lambda: trl.DPOTrainer(model=policy, ref_model=copy.deepcopy(policy), args=args,
                                          train_dataset=train, processing_class=tokenizer))
    table = tmp_path / "probe.jsonl"
    callback = DPOProbeCallback(probe, tokenizer, every=2, out=table).attach(trainer)
    with single_torch_thread():
        _trl(trainer.train)
    rows = [json.loads(line) for line in table.read_text().splitlines()]
    assert sorted({r["step"] for r in rows}) == [0, 2, 4] and len(rows) == 3 * len(probe)
    assert set(rows[0]) >= {"step", "index", "logp_chosen", "logp_rejected", "n_tokens_chosen", "n_tokens_rejected"}
    policy.eval()
    before = {c: sequence_logprobs(start, tokenizer, probe["prompt"], probe[c])["logprob_sum"]
              for c in ("chosen", "rejected")}
    after = {c: sequence_logprobs(policy, tokenizer, probe["prompt"], probe[c])["logprob_sum"]
             for c in ("chosen", "rejected")}
    delta = after["chosen"] - before["chosen"]
    assert np.abs(delta).max() > 1e-3                                  # training moved the probe's log-probs
    final = callback.metrics[-1]
    assert final["step"] == 4
    assert final["chosen_delta_mean"] == pytest.approx(delta.mean(), abs=1e-4)
    assert final["chosen_delta_worst"] == pytest.approx(delta.min(), abs=1e-4)
    assert final["frac_chosen_fell"] == pytest.approx((delta < 0).mean())
    assert final["rejected_delta_mean"] == pytest.approx((after["rejected"] - before["rejected"]).mean(), abs=1e-4)
    logged = [e for e in trainer.state.log_history if "probe/chosen_delta_mean" in e]
    assert logged and logged[-1]["probe/chosen_delta_mean"] == pytest.approx(final["chosen_delta_mean"])


def test_a_grpo_run_on_a_variance_filtered_dataset_runs_end_to_end(world, tmp_path):
    from rmlab.integrations.trl import RewardVarianceFilter, WithinGroupRewardStats, as_trl_reward

    policy, tokenizer = load_causal_lm(str(world.models["sft_full"]))
    prompts = datasets.Dataset.from_dict({"prompt": world.prompts()[:12]})
    with single_torch_thread():
        keep = RewardVarianceFilter(policy, tokenizer, world.gold, k=4, top_fraction=0.5, max_new_tokens=12)
        kept = keep(prompts)
        again = keep(prompts)
    assert len(kept) == 6 and kept["prompt"] == again["prompt"]
    assert min(kept["reward_std"]) >= np.sort(keep.reward_std(list(prompts["prompt"])))[-6]
    wrapper = WithinGroupRewardStats(as_trl_reward(world.gold, name="gold"), num_generations=4)
    trainer = grpo_trainer(world, tmp_path, wrapper, kept["prompt"], steps=1)
    with single_torch_thread():
        _trl(trainer.train)
    assert trainer.state.global_step == 1 and len(wrapper.history) == 1
    assert set(kept["prompt"]) >= set(wrapper.last_prompts)


def test_the_wrapper_refuses_batches_that_are_not_whole_groups():
    from rmlab.errors import UserError
    from rmlab.integrations.trl import WithinGroupRewardStats

    wrapper = WithinGroupRewardStats(lambda prompts, completions, **_: [0.0] * len(prompts), num_generations=2)
    with pytest.raises(UserError, match="do not share one prompt"):
        wrapper(prompts=["a", "b", "b", "b"], completions=["x"] * 4)
    with pytest.raises(UserError, match="not whole groups"):
        wrapper(prompts=["a", "a", "b"], completions=["x"] * 3)


BLOCK_TRL = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "trl" or name.startswith("trl."):
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
import rmlab
names = [m.name for m in pkgutil.walk_packages(rmlab.__path__, "rmlab.")
         if not m.name.startswith("rmlab.integrations") and m.name != "rmlab.__main__"]
for name in names:
    importlib.import_module(name)
from rmlab.cli import build_parser
build_parser()
assert "trl" not in sys.modules
try:
    import rmlab.integrations.trl
except ImportError as err:
    print("integration:", err)
print(len(names), "modules")
"""


def test_rmlab_and_every_other_module_import_without_trl():
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", BLOCK_TRL], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "integration: rmlab.integrations.trl needs TRL: pip install 'rmlab[trl]'" in done.stdout
    assert int(done.stdout.split()[-2]) > 40


def test_the_readme_example_runs(world, tmp_path):
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Using rmlab with TRL")
    code = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]
    env = {**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning", "OMP_NUM_THREADS": "1"}
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "within_group/std_mean" in done.stdout
