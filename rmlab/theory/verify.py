"""arXiv 2507.07981 Thm 1: an implicit reward model can verify without generating -- Hamiltonian cycles, exactly.

A graph on ``n`` vertices holds a planted Hamiltonian cycle plus each other edge with probability ``p`` (the paper's
Sec. 3.2 generator). A response is an ordering of the vertices, read as the closed walk through them; it is correct
iff every consecutive pair, the wrap-around included, is an edge. Checking is ``n`` look-ups; generating is the
Hamiltonian-cycle problem.

Construction (consistent with the paper's statement, re-derived): with ``C`` the correct responses and any
reference ``pi_ref``, the policy ``pi(y) ∝ pi_ref(y) exp((delta / beta) 1[y in C])`` has the implicit reward
``r(y) = beta ln pi(y)/pi_ref(y) = delta 1[y in C] - beta ln Z``: every correct response beats every incorrect one by
exactly ``delta`` (accuracy 1), while ``pi(C) = q e^{delta/beta} / (q e^{delta/beta} + 1 - q) <= e^{delta/beta} q``
with ``q = pi_ref(C)``. :func:`thm1_construction` enumerates all ``n!`` orderings and checks both.

>>> graph = planted_graph(6, 0.2, np.random.default_rng(0))
>>> out = thm1_construction(graph, delta=0.02, beta=0.01)
>>> out["accuracy"], abs(out["margin"] - 0.02) < 1e-12, out["pi_correct"] <= out["bound"]
(1.0, True, True)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Graph:
    """``n`` vertices ``0 .. n-1``; ``edges`` as sorted pairs; ``planted``: the planted Hamiltonian cycle."""

    n: int
    edges: frozenset
    planted: tuple

    def has_edge(self, u: int, v: int) -> bool:
        return (min(u, v), max(u, v)) in self.edges


def cycle_edges(order) -> list[tuple[int, int]]:
    """The edges (sorted pairs) of the closed walk through ``order``, in walk order."""
    order = list(order)
    return [(min(a, b), max(a, b)) for a, b in zip(order, order[1:] + order[:1])]


def planted_graph(n: int, p: float, rng: np.random.Generator) -> Graph:
    """A random Hamiltonian cycle on ``n`` vertices plus every other pair as an edge with probability ``p``."""
    if n < 3 or not 0 <= p <= 1:
        raise ValueError(f"need n >= 3 and 0 <= p <= 1, got n={n}, p={p}")
    planted = tuple(int(v) for v in rng.permutation(n))
    edges = set(cycle_edges(planted))
    edges |= {(u, v) for u, v in itertools.combinations(range(n), 2) if (u, v) not in edges and rng.random() < p}
    return Graph(n, frozenset(edges), planted)


def is_hamiltonian_cycle(graph: Graph, order) -> bool:
    """Whether ``order`` visits every vertex once and each step (wrap-around included) is an edge of ``graph``."""
    order = list(order)
    return sorted(order) == list(range(graph.n)) and all(e in graph.edges for e in cycle_edges(order))


def hamiltonian_cycles(graph: Graph) -> list[tuple[int, ...]]:
    """Every Hamiltonian cycle of ``graph`` once (as an ordering from vertex 0, in the direction whose second vertex
    is the smaller neighbour), by backtracking.

    >>> hamiltonian_cycles(Graph(4, frozenset(itertools.combinations(range(4), 2)), (0, 1, 2, 3)))  # K4
    [(0, 1, 2, 3), (0, 1, 3, 2), (0, 2, 1, 3)]
    """
    neighbours = {v: [u for u in range(graph.n) if graph.has_edge(u, v)] for v in range(graph.n)}
    found = []

    def extend(path: list[int]) -> None:
        if len(path) == graph.n:
            if graph.has_edge(path[-1], 0) and path[1] < path[-1]:
                found.append(tuple(path))
            return
        for u in neighbours[path[-1]]:
            if u not in path:
                extend(path + [u])
    extend([0])
    return found


def cycle_writings(cycle) -> list[tuple[int, ...]]:
    """The ``2n`` orderings that walk ``cycle``: every start, both directions."""
    n = len(cycle)
    return [tuple(cycle[(start + step * i) % n] for i in range(n)) for start in range(n) for step in (1, -1)]


def all_orderings(n: int) -> np.ndarray:
    """Every ordering of ``n`` vertices: [n!, n]."""
    return np.array(list(itertools.permutations(range(n))))


def uniform_success_rate(graph: Graph) -> float:
    """Chance that a uniformly random ordering is a Hamiltonian cycle: #cycles * 2n / n! (by enumeration)."""
    orderings = all_orderings(graph.n)
    return float(np.mean([is_hamiltonian_cycle(graph, o) for o in orderings]))


def tilted_log_policy(log_pi_ref: np.ndarray, correct: np.ndarray, delta: float, beta: float) -> np.ndarray:
    """``ln pi`` with ``pi ∝ pi_ref exp((delta/beta) 1[correct])`` (normalised)."""
    logits = log_pi_ref + (delta / beta) * correct
    return logits - np.logaddexp.reduce(logits)


def thm1_construction(graph: Graph, *, delta: float, beta: float, log_pi_ref: np.ndarray | None = None) -> dict:
    """Thm 1 on ``graph`` by enumeration (``log_pi_ref`` over :func:`all_orderings`; default uniform): the tilted
    policy's implicit-RM ``accuracy`` over all (correct, incorrect) pairs, its ``margin`` (min over correct minus
    max over incorrect rewards), ``pi_correct`` = pi(C), the ``closed_form`` pi(C), ``pi_ref_correct`` and the
    ``bound`` e^{delta/beta} pi_ref(C)."""
    if delta <= 0 or beta <= 0:
        raise ValueError(f"delta and beta must be > 0, got {delta}, {beta}")
    orderings = all_orderings(graph.n)
    correct = np.array([is_hamiltonian_cycle(graph, o) for o in orderings])
    if log_pi_ref is None:
        log_pi_ref = np.full(len(orderings), -np.log(len(orderings)))
    log_pi = tilted_log_policy(log_pi_ref, correct.astype(float), delta, beta)
    reward = beta * (log_pi - log_pi_ref)
    r_correct, r_wrong = reward[correct], reward[~correct]
    accuracy = np.mean((r_correct[:, None] > r_wrong[None, :]) + 0.5 * (r_correct[:, None] == r_wrong[None, :]))
    q = float(np.exp(np.logaddexp.reduce(log_pi_ref[correct])))
    tilt = float(np.exp(delta / beta))
    return {"accuracy": float(accuracy), "margin": float(r_correct.min() - r_wrong.max()),
            "pi_correct": float(np.exp(np.logaddexp.reduce(log_pi[correct]))),
            "closed_form": q * tilt / (q * tilt + 1 - q), "pi_ref_correct": q, "bound": tilt * q,
            "n_correct": int(correct.sum()), "n_responses": len(orderings)}


def thm1_sweep(graph: Graph, delta_over_beta: np.ndarray, *, beta: float = 0.01,
               log_pi_ref: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`thm1_construction` along ``delta/beta``: one array per key."""
    rows = [thm1_construction(graph, delta=float(k * beta), beta=beta, log_pi_ref=log_pi_ref)
            for k in delta_over_beta]
    return {key: np.array([row[key] for row in rows]) for key in rows[0]} | {"delta_over_beta": delta_over_beta}
