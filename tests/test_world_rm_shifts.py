"""rmlab.world.rm_shifts: the EX-RM vs IM-RM shift grid on a stand-in world (tiny model, hand-made datasets)."""

import datasets
import pytest

from rmlab.world import rm_shifts
from tiny_models import random_pairs, tiny, write_jsonl  # noqa: F401  (tiny is a fixture)


class StandInWorld:
    """What the grid uses of a World: ``path``, ``models``, ``datasets`` and ``preferences``."""

    def __init__(self, folder, backbone):
        self.path, self.models = folder, {"base": backbone}
        rows = [{"prompt": r["prompt"], "chosen": r["chosen"] + " good", "rejected": r["rejected"] + " bad"}
                for r in random_pairs(40, seed=1, max_words=3)]
        synonyms = [{**r, "chosen": r["chosen"].replace("good", "great")} for r in rows]
        domain = [{"prompt": "robot " + r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
                  for r in random_pairs(10, seed=2, max_words=3)]
        self.datasets = {name: write_jsonl(folder / f"{name}.jsonl", data) for name, data in (
            ("prefs_off_policy", rows[:30]), ("prefs_on_policy", rows[30:]), ("prefs_shift_synonyms", synonyms),
            ("prefs_domain_shift", domain))}

    def preferences(self, name):
        return datasets.Dataset.from_json(str(self.datasets[name]))


def test_split_holds_out_prompts_and_drops_trained_prompts_from_every_evaluation_set(tiny, tmp_path):
    world = StandInWorld(tmp_path, tiny.causal_lm("gpt_neox", tokenizer="bos"))
    train, evals = rm_shifts.split_pairs(world, rm_shifts.ShiftGridConfig(
        train_sets=("prefs_off_policy", "prefs_on_policy"), held_out_fraction=0.4))
    trained = set(train["prompt"])
    assert len(train) > 0 and len(evals[rm_shifts.IN_DISTRIBUTION]) > 0
    assert len(train) + len(evals[rm_shifts.IN_DISTRIBUTION]) == 40
    for pairs in evals.values():
        assert not trained & set(pairs["prompt"])
    assert len(evals["domain shift"]) == 10 and 0 < len(evals["token-level shift"]) < 40


def test_grid_has_one_row_per_seed_kind_and_set_with_metrics_in_range(tiny, tmp_path):
    world = StandInWorld(tmp_path, tiny.causal_lm("gpt_neox", tokenizer="bos"))
    table = rm_shifts.shift_grid(world, rm_shifts.ShiftGridConfig(seeds=(0, 1), epochs=1, lr=1e-3,
                                                                  held_out_fraction=0.4))
    assert len(table) == 2 * 2 * 3
    assert table.accuracy.between(0, 1).all() and (table.normalized_margin >= 0).all()
    assert set(rm_shifts.per_seed_gap(table, "domain shift").index) == {0, 1}
    assert rm_shifts.summarize(table).shape == (6, 4)


def test_unknown_dataset_names_are_named(tiny, tmp_path):
    world = StandInWorld(tmp_path, tiny.causal_lm("gpt_neox", tokenizer="bos"))
    with pytest.raises(KeyError, match="prefs_nope"):
        rm_shifts.split_pairs(world, rm_shifts.ShiftGridConfig(eval_sets=(("x", "prefs_nope"),)))
