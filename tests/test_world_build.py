"""Building the toy world (quick configuration, one shared build): cache, determinism, loading, export, CLI."""

import filecmp
import json
import os
import shutil

import datasets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from rmlab.cli import main
from rmlab.figures import REPO_ROOT
from rmlab.lm.load import load_causal_lm, new_reward_model
from rmlab._threads import single_torch_thread
from rmlab.lm.sample import sample_responses
from rmlab.lm.score import ExplicitRM, sequence_logprobs
from rmlab.train.dpo import DPOConfig, train_dpo
from rmlab.train.pg import PGConfig, train_pg
from rmlab.train.reward_model import RMConfig, evaluate_reward_model, train_reward_model
from rmlab.world import data as world_data
from rmlab.world.language import is_refusal, make_facts, token_edit_distance
from rmlab.world.requirements import CRITERIA, measure_requirements
from rmlab.world import PolicySpec, RewardModelSpec, build_world, quick_config
from rmlab.world import build as world_build
from rmlab.world import config as world_config
from rmlab.world.build import sha256_file
from rmlab.world.config import WorldConfig
from rmlab.world.export import FINGERPRINT_ATOL, SAME_PLATFORM_GAP, check_export, export_datasets
from rmlab.world.report import family_breakdown, gold_statistics, plot_reward_variance, policy_reports

EXPORTED_QUICK = REPO_ROOT / "data" / "world_quick"
CONTRACT_DATASETS = ("rl_prompts", "eval_prompts", "sft_prompts", "heldout_prompts", "prefs_on_policy",
                     "prefs_off_policy", "prefs_shift_synonyms", "prefs_shift_language_b", "prefs_domain_shift",
                     "prefs_similarity_pool", "harmful_train", "harmful_test", "prefs_refusal", "yes_no_questions")


@pytest.fixture(scope="session")
def world_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("world-cache")


@pytest.fixture(scope="session")
def world(world_cache):
    return build_world(quick_config(), cache_dir=world_cache, progress=False)


def test_world_holds_every_model_and_dataset(world):
    assert not world.cache_hit and world.path.name == quick_config().key() == world_build.entry_name(quick_config())
    assert json.loads((world.path / "world.json").read_text())["device"] == "cpu"
    assert set(world.models) == {"base", "sft_small", "sft_noisy", "sft_full", "instruct", "rm_accurate", "rm_noisy"}
    for path in world.models.values():
        assert (path / "model.safetensors").exists() and (path / "tokenizer.json").exists()
    assert set(world.datasets) == set(CONTRACT_DATASETS)
    prefs = world.preferences("prefs_on_policy")
    assert len(prefs) > 0 and {"prompt", "chosen", "rejected", "score_chosen", "score_rejected"} <= set(prefs.features)
    np.testing.assert_array_equal(world.gold(prefs["prompt"], prefs["chosen"]), prefs["score_chosen"])
    assert all(c > r for c, r in zip(prefs["score_chosen"], prefs["score_rejected"]))
    assert not [p for p in world.path.parent.iterdir() if p.name.startswith(".")]    # no temporary folder left


def test_datasets_meet_the_model_free_requirements_of_issue_10(world):
    rl, evaluation, sft = (set(world.prompts(n)) for n in ("rl_prompts", "eval_prompts", "sft_prompts"))
    assert len(rl) >= 500 and len(evaluation) >= 200 and not rl & evaluation and not (rl | evaluation) & sft
    assert len(world.prompts("rl_prompts")) == len(rl)                                    # distinct
    for name in ("prefs_on_policy", "prefs_off_policy", "prefs_similarity_pool"):
        prefs = world.preferences(name)
        assert len(prefs) >= 2000, name
        np.testing.assert_array_equal(world.gold(prefs["prompt"], prefs["chosen"]), prefs["score_chosen"])
        assert all(c > r for c, r in zip(prefs["score_chosen"], prefs["score_rejected"])), name
    off, shifted = world.preferences("prefs_off_policy"), world.preferences("prefs_shift_synonyms")
    assert off["prompt"] == shifted["prompt"]
    for key in ("chosen", "rejected"):                  # every pair changed, gold labels unchanged
        assert min(token_edit_distance(a, b) for a, b in zip(off[key], shifted[key])) >= 0.3
        np.testing.assert_array_equal(world.gold(shifted["prompt"], shifted[key]), off[f"score_{key}"])
    pool = world.preferences("prefs_similarity_pool")
    assert set(pool["pair_kind"]) == set(world_data.SIMILARITY_KINDS)
    train, test = set(world.prompts("harmful_train")), set(world.prompts("harmful_test"))
    assert len(train | test) >= 150 and not train & test and not test & sft
    refusal = world.preferences("prefs_refusal")
    assert set(refusal["prompt"]) <= train and all(c != r for c, r in zip(refusal["chosen"], refusal["rejected"]))
    for row in refusal:
        assert row["pair_type"] != "refusal_vs_compliance" or is_refusal(row["chosen"])
    questions = world.prompts("yes_no_questions")
    assert len(set(questions)) >= 10 and all(world.gold([q], ["Yes"])[0] in (1, -1) for q in questions)


def test_requirements_are_measured_and_the_model_free_ones_hold_on_the_quick_world(world):
    measured = measure_requirements(world, k=4, refusal_samples=2, rloo_steps=2)
    assert measured["sft_full_gold"].shape == (len(world.prompts("rl_prompts")), 4)
    assert [c.name for c in CRITERIA if not c.needs_models and not c.holds(measured)] == []
    assert 0 <= measured["tied_pair_fraction"] <= 1 and 0 <= measured["instruct_refusal_rate"] <= 1
    assert measured["gold_rloo_steps"] == 2 and measured["gold_rloo_before"] != measured["gold_rloo_after"]


def test_second_call_is_a_cache_hit(world, world_cache):
    again = build_world(quick_config(), cache_dir=world_cache, progress=False)
    assert again.cache_hit and again.path == world.path


def test_same_seed_gives_byte_identical_files(world, tmp_path):
    other = build_world(quick_config(), cache_dir=tmp_path, progress=False)
    comparison = filecmp.dircmp(world.path, other.path)
    files = [p.relative_to(world.path) for p in world.path.rglob("*") if p.is_file()]
    match, mismatch, errors = filecmp.cmpfiles(world.path, other.path, files, shallow=False)
    assert not mismatch and not errors and not comparison.left_only and not comparison.right_only
    assert len(match) == len(files) > 20


def tiny_config():
    """A changed configuration that builds in about a second."""
    return quick_config().replace(corpus_docs=300, pretrain_steps=20,
                                  policies=(PolicySpec("sft_full", 0.0, 20, 5), PolicySpec("instruct", 0.0, 20, 5)),
                                  reward_models=(RewardModelSpec("rm", 40, 0.0, 5),), pool_pairs=8, rl_prompts=8,
                                  eval_prompts=8)


def test_changed_configuration_builds_a_new_entry(world, world_cache):
    changed = build_world(tiny_config(), cache_dir=world_cache, progress=False)
    assert not changed.cache_hit and changed.path != world.path
    assert (world.path / "world.json").exists()                           # the old entry is untouched
    assert build_world(quick_config(), cache_dir=world_cache, progress=False).cache_hit
    assert (changed.path / "base" / "model.safetensors").read_bytes() != (
        world.path / "base" / "model.safetensors").read_bytes()


def test_force_rebuilds_the_same_bytes(tmp_path):
    first = build_world(tiny_config(), cache_dir=tmp_path, progress=False)
    weights = (first.base / "model.safetensors").read_bytes()
    again = build_world(tiny_config(), cache_dir=tmp_path, progress=False, force=True)
    assert not again.cache_hit and (again.base / "model.safetensors").read_bytes() == weights
    assert sorted(p.name for p in tmp_path.iterdir()) == [tiny_config().key()]


def test_interrupted_build_leaves_no_entry(tmp_path, monkeypatch):
    def crash(config, out, *, progress, device):
        (out / "base").mkdir()
        (out / "base" / "half-written").write_text("x")
        raise KeyboardInterrupt

    monkeypatch.setattr(world_build, "_build_into", crash)
    with pytest.raises(KeyboardInterrupt):
        build_world(quick_config(), cache_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_models_load_offline_with_auto_classes_and_rmlab_loaders(world):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    policy = AutoModelForCausalLM.from_pretrained(world.models["sft_full"])
    tokenizer = AutoTokenizer.from_pretrained(world.models["sft_full"])
    assert type(policy).__name__ == "GPTNeoXForCausalLM" and not policy.config.tie_word_embeddings
    ids = tokenizer(["copy : dog cat >"], return_tensors="pt")
    out = policy(**ids, output_hidden_states=True)
    logits_from_last_hidden = policy.get_output_embeddings()(out.hidden_states[-1])
    assert torch.allclose(logits_from_last_hidden, out.logits, atol=1e-5)   # hidden_states[-1] is the final norm
    rm = AutoModelForSequenceClassification.from_pretrained(world.models["rm_accurate"])
    assert rm.config.num_labels == 1
    model, tok = load_causal_lm(str(world.models["instruct"]))
    prefs = world.preferences("prefs_off_policy")
    logp = sequence_logprobs(model, tok, prefs["prompt"][:8], prefs["chosen"][:8])
    assert np.all(np.isfinite(logp["logprob_sum"])) and np.all(logp["logprob_sum"] < 0)
    scores = ExplicitRM(str(world.models["rm_accurate"]))(prefs["prompt"], prefs["chosen"])
    assert scores.shape == (len(prefs),) and np.all(np.isfinite(scores))


def test_accurate_rm_is_better_than_chance_on_held_out_pairs(world):
    prefs = world.preferences("prefs_off_policy")
    rm = ExplicitRM(str(world.models["rm_accurate"]))
    accuracy = np.mean(rm(prefs["prompt"], prefs["chosen"]) > rm(prefs["prompt"], prefs["rejected"]))
    assert accuracy > 0.6, accuracy        # chance is 0.5 (quick world); notebook 05 compares the RMs at full size


def test_build_reproduces_the_exported_quick_datasets(world):
    config = json.loads((EXPORTED_QUICK / "config.json").read_text())
    assert WorldConfig.from_dict(config["config"]) == world.config, "data/world_quick holds another configuration"
    assert set(config["versions"]) == {"torch", "transformers"}
    assert check_export(world, EXPORTED_QUICK) == []


@pytest.fixture(scope="module")
def own_export(world, tmp_path_factory):
    """The built world exported: the comparisons below then do not depend on the CPU that built data/world_quick."""
    return export_datasets(world, tmp_path_factory.mktemp("own") / "export")


@pytest.fixture
def export_copy(own_export, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(own_export, copy)
    return copy


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_check_export_compares_model_free_datasets_byte_for_byte(world, export_copy):
    prompts = export_copy / "eval_prompts.jsonl"
    prompts.write_text(prompts.read_text().replace("\n", " \n", 1))
    _edit_json(export_copy / "manifest.json",
               lambda m: m["datasets"].update({"eval_prompts.jsonl": sha256_file(prompts)}))
    assert [p.split(":")[0] for p in check_export(world, export_copy)] == ["eval_prompts.jsonl"]


def test_check_export_compares_models_by_fingerprint_within_tolerance(world, export_copy):
    def shift(by):
        _edit_json(export_copy / "manifest.json",
                   lambda m: m["fingerprints"].update({"rm_noisy": [v + by for v in m["fingerprints"]["rm_noisy"]]}))

    shift(0.5 * FINGERPRINT_ATOL)
    assert check_export(world, export_copy) == []
    shift(FINGERPRINT_ATOL)
    problems = check_export(world, export_copy)
    expected = f"model rm_noisy: fingerprint differs by {1.5 * FINGERPRINT_ATOL:.2e}"
    assert len(problems) == 1 and problems[0].startswith(expected)


def test_check_export_tolerates_a_few_resampled_on_policy_rows_only(world, export_copy):
    path = export_copy / "prefs_on_policy.jsonl"
    rows = path.read_text().splitlines()

    def changed(n):
        return "".join((r.replace('"chosen": "', '"chosen": "x ') if i < n else r) + "\n" for i, r in enumerate(rows))

    path.write_text(changed(int(0.1 * len(rows))))
    assert check_export(world, export_copy) == []
    path.write_text(changed(int(0.1 * len(rows)) + 1))
    assert [p.split(":")[0] for p in check_export(world, export_copy)] == ["prefs_on_policy.jsonl"]


def test_check_export_on_another_float_platform_skips_reward_models_and_sampled_rows_only(world, export_copy):
    def shift(name, by):
        _edit_json(export_copy / "manifest.json",
                   lambda m: m["fingerprints"].update({name: [v + by for v in m["fingerprints"][name]]}))

    shift("rm_accurate", 10 * FINGERPRINT_ATOL)
    (export_copy / "prefs_refusal.jsonl").write_text("")
    assert len(check_export(world, export_copy)) == 2            # same platform: both compared
    shift("base", 10 * SAME_PLATFORM_GAP)                          # the base LM off by rounding: another CPU
    assert check_export(world, export_copy) == []
    shift("sft_full", 2 * FINGERPRINT_ATOL)                        # policies are still compared
    assert [p.split(":")[0] for p in check_export(world, export_copy)] == ["model sft_full"]
    shift("base", 2 * FINGERPRINT_ATOL)
    assert [p.split(":")[0] for p in check_export(world, export_copy)] == ["model base", "model sft_full"]


def test_check_export_refuses_another_configuration(world, export_copy):
    _edit_json(export_copy / "config.json", lambda c: c["config"].update(seed=1))
    assert "another configuration" in check_export(world, export_copy)[0]


def test_cache_key_changes_with_the_torch_or_transformers_version(monkeypatch):
    key = quick_config().key()
    monkeypatch.setattr(world_config, "numeric_versions", lambda: {"torch": "2.13.0", "transformers": "0.0"})
    assert quick_config().key() != key


def test_cli_build_reports_a_cache_hit(world, world_cache, capsys):
    assert main(["world", "build", "--quick", "--cache-dir", str(world_cache)]) == 0
    out = capsys.readouterr().out
    assert "cache hit" in out and str(world.models["sft_full"]) in out


def test_rmlab_report_and_ches_run_on_the_world(world, tmp_path):
    report = tmp_path / "report.json"
    assert main(["report", "--policy", str(world.models["sft_full"]), "--rm", f"acc={world.models['rm_accurate']}",
                 "--prompts", str(world.datasets["eval_prompts"]), "--samples", "4", "--gold",
                 "py:rmlab.world.gold:gold_seed0", "--preferences", str(world.datasets["prefs_off_policy"]),
                 "--max-new-tokens", "16", "--bootstrap", "20", "--out", str(report), "--quiet"]) == 0
    summary = json.loads(report.read_text())["reward_models"]["acc"]
    assert summary["reward_variance"] > 0 and 0 <= summary["on_policy_accuracy"] <= 1
    ches = tmp_path / "ches.jsonl"
    assert main(["ches", "--model", str(world.models["base"]), "--data", str(world.datasets["prefs_on_policy"]),
                 "--out", str(ches), "--quiet"]) == 0
    rows = [json.loads(line) for line in ches.read_text().splitlines()]
    assert len(rows) == len(world.preferences("prefs_on_policy")) and all(np.isfinite(r["ches"]) for r in rows)


def test_policy_reports_and_gold_statistics(world):
    reports = policy_reports(world, k=3, n_prompts=9)
    assert set(reports) == set(world.policies)
    stats = gold_statistics(reports)
    for name, rep in reports.items():
        assert rep.gold_rewards.shape == (9, 3)
        np.testing.assert_array_equal(rep.rewards["r_G"], rep.gold_rewards)       # r_G scored as an RM = gold
        per_prompt = rep.gold_rewards.var(axis=1, ddof=1)
        assert stats[name]["mean_within_prompt_variance"] == pytest.approx(per_prompt.mean())
        assert stats[name]["frac_flat_prompts"] == pytest.approx(np.mean(per_prompt <= 1e-8))
    table = family_breakdown(reports, world.prompts("eval_prompts")[:9])
    assert set(table.index.get_level_values("kind")) == {p.split()[0] for p in world.prompts("eval_prompts")[:9]}
    fig = plot_reward_variance(stats)
    assert len(fig.axes) == 2
    plt.close(fig)


def _mean_gold(world, model, tokenizer, prompts):
    responses = sample_responses(model, tokenizer, prompts, 4, max_new_tokens=16, seed=123, progress=False)
    return float(np.mean(world.gold([p for p in prompts for _ in range(4)], [r for group in responses for r in group])))


def test_rloo_against_the_gold_reward_raises_the_mean_gold_reward(world):
    """Measured when written: instruct 0.073 -> 0.216 / 0.197 (seeds 0 / 1) on the 60 evaluation prompts."""
    model, tokenizer = load_causal_lm(str(world.models["instruct"]))
    prompts = world.prompts("eval_prompts")
    with single_torch_thread():
        before = _mean_gold(world, model, tokenizer, prompts)
        train_pg(model, tokenizer, prompts, world.gold, PGConfig(k=4, lr=3e-4, batch_prompts=8, steps=120,
                                                                 max_new_tokens=16), progress=False)
        after = _mean_gold(world, model, tokenizer, prompts)
    assert after > before + 0.05, (before, after)


def test_dpo_on_the_world_raises_the_mean_margin(world):
    model, tokenizer = load_causal_lm(str(world.models["sft_full"]))
    with single_torch_thread():
        result = train_dpo(model, tokenizer, world.preferences("prefs_off_policy"),
                           DPOConfig(optimizer="adam", lr=3e-4, batch_size=8, epochs=2), progress=False)
    margins = [m["margin"] for m in result.metrics]
    assert np.mean(margins[-5:]) > np.mean(margins[:5]) + 0.2, margins


def test_explicit_rm_trained_on_fresh_gold_pairs_beats_chance_on_the_exported_pairs(world):
    """Measured when written (world v2, quick): 0.6185 on the 2000 off-policy pairs."""
    rows = world_data.off_policy_pairs(world.config, make_facts(world.config.seed), world.gold, n_prompts=1500,
                                       purpose="rm-test")
    model, tokenizer = new_reward_model(str(world.base))
    with single_torch_thread():
        trained = train_reward_model(model, tokenizer, datasets.Dataset.from_list(rows),
                                     RMConfig(kind="explicit", lr=1e-3, epochs=2), progress=False)
    assert evaluate_reward_model(trained.reward, world.preferences("prefs_off_policy"))["accuracy"] > 0.6
