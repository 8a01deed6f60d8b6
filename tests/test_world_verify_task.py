"""rmlab.world.verify_task: the Hamiltonian-cycle format, its check, the pairs, and a tiny end-to-end run."""

import dataclasses

import numpy as np

from rmlab.theory.verify import planted_graph
from rmlab.world import verify_task as T


def test_walk_text_round_trips_and_the_check_needs_every_edge_in_the_graph():
    graph = planted_graph(7, 0.2, np.random.default_rng(0))
    text = T.walk_text(graph.planted)
    assert T.is_correct(graph, text)
    assert T.walk_order(" ".join(text.split()[:-1]), 7) is None                  # not closed
    assert T.walk_order("e01 e01 e01 e01 e01 e01 e01", 7) is None               # does not visit every vertex
    assert T.walk_order("x01 " + " ".join(text.split()[1:]), 7) is None          # not an edge token
    complete_walk = T.walk_text(range(7))
    assert T.walk_order(complete_walk, 7) == list(range(7))
    assert T.is_correct(graph, complete_walk) == all(graph.has_edge(i, (i + 1) % 7) for i in range(7))


def test_pairs_prefer_a_cycle_of_the_graph_to_a_walk_that_is_not_one_and_tokenise_to_known_words():
    config = T.quick_verify_config()
    split = T.make_split(config, 20, "test")
    tokenizer = T.build_tokenizer(config.n_vertices)
    for graph, row in zip(split.graphs, split.pairs):
        assert T.is_correct(graph, row["chosen"]) and not T.is_correct(graph, row["rejected"])
        assert T.walk_order(row["rejected"], graph.n) is not None                 # well-formed, only wrong edges
        ids = tokenizer(row["prompt"] + " " + row["chosen"])["input_ids"]
        assert tokenizer.unk_token_id not in ids
    assert T.make_split(config, 20, "test").pairs.to_list() == split.pairs.to_list()          # seeded
    assert T.make_split(config, 20, "train").pairs.to_list() != split.pairs.to_list()


def test_a_tiny_run_measures_what_it_reports():
    config = dataclasses.replace(T.quick_verify_config(), n_vertices=5, train_pairs=16, test_pairs=8,
                                 reference_docs=32, reference_steps=3, rm_epochs=1, batch_size=8, d_model=16)
    result = T.verify_without_generating(config)
    assert 0 <= result.rm_metrics["accuracy"] <= 1 and len(result.chosen_rewards) == 8
    for rates in (result.policy, result.reference):
        assert set(rates) == {"probability", "success", "well_formed"} and 0 < rates["probability"] < 1
    assert 0 < result.uniform_rate < 1 and len(result.training_loss) == 2
