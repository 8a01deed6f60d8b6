"""rmlab.theory.verify: Hamiltonian-cycle graphs and checks, and Thm 1 of 2507.07981 by enumeration."""

import itertools

import numpy as np
import pytest

from rmlab.theory import verify as V


def test_planted_graph_holds_its_cycle_and_the_check_rejects_non_cycles():
    graph = V.planted_graph(8, 0.2, np.random.default_rng(3))
    assert V.is_hamiltonian_cycle(graph, graph.planted)
    assert V.is_hamiltonian_cycle(graph, graph.planted[::-1])
    assert not V.is_hamiltonian_cycle(graph, graph.planted[:-1])                  # misses a vertex
    assert not V.is_hamiltonian_cycle(graph, graph.planted[:-1] + graph.planted[:1])   # repeats one
    missing = next((u, v) for u, v in itertools.combinations(range(8), 2) if (u, v) not in graph.edges)
    others = [w for w in range(8) if w not in missing]
    assert not V.is_hamiltonian_cycle(graph, [missing[0], missing[1]] + others)


def test_cycle_count_matches_enumeration():
    for seed in range(4):
        graph = V.planted_graph(6, 0.4, np.random.default_rng(seed))
        by_enumeration = sum(V.is_hamiltonian_cycle(graph, o) for o in V.all_orderings(6))
        cycles = V.hamiltonian_cycles(graph)
        assert by_enumeration == len(cycles) * 2 * 6      # n starts x 2 directions
        writings = [w for c in cycles for w in V.cycle_writings(c)]
        assert len(set(writings)) == by_enumeration and all(V.is_hamiltonian_cycle(graph, w) for w in writings)
        assert V.uniform_success_rate(graph) == pytest.approx(by_enumeration / 720)


@pytest.mark.parametrize("random_reference", [False, True])
def test_thm1_margin_is_delta_and_generation_obeys_the_bound(random_reference):
    graph = V.planted_graph(6, 0.2, np.random.default_rng(0))
    logits = np.random.default_rng(1).normal(size=720) if random_reference else np.zeros(720)
    sweep = V.thm1_sweep(graph, np.array([0.5, 2.0, 8.0]), beta=0.01,
                         log_pi_ref=logits - np.logaddexp.reduce(logits))
    assert np.all(sweep["accuracy"] == 1.0)
    assert np.allclose(sweep["margin"], [0.005, 0.02, 0.08], rtol=0, atol=1e-12)
    assert np.allclose(sweep["pi_correct"], sweep["closed_form"], rtol=0, atol=1e-12)
    assert np.all(sweep["pi_correct"] <= sweep["bound"]) and np.all(sweep["pi_correct"] > sweep["pi_ref_correct"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="n >= 3"):
        V.planted_graph(2, 0.2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="> 0"):
        V.thm1_construction(V.planted_graph(4, 0.2, np.random.default_rng(0)), delta=0.0, beta=0.01)
