"""CHES math and the edit-distance baseline against direct formulas."""

import random

import numpy as np
import pytest
import torch

from rmlab.measure.ches import (ches_from_sums, levenshtein, levenshtein_batch, normalized_edit_distance,
                                normalized_edit_distances, span_sums)


def _levenshtein_reference(a, b):
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[-1][-1]


def test_levenshtein_matches_the_textbook_dynamic_program_one_pair_and_batched():
    rng = random.Random(0)
    seqs_a = [[rng.randrange(4) for _ in range(rng.randrange(9))] for _ in range(500)]
    seqs_b = [[rng.randrange(4) for _ in range(rng.randrange(9))] for _ in range(500)]
    expected = [_levenshtein_reference(a, b) for a, b in zip(seqs_a, seqs_b)]
    assert levenshtein_batch(seqs_a, seqs_b).tolist() == expected                  # mixed lengths in one batch
    assert [levenshtein(a, b) for a, b in zip(seqs_a[:50], seqs_b[:50])] == expected[:50]


def test_normalized_edit_distance_values():
    assert normalized_edit_distance([1, 2, 3], [1, 2, 3]) == 0.0
    assert normalized_edit_distance([1, 2], [3, 4, 5, 6]) == 1.0
    assert normalized_edit_distance([1, 2, 3], [1, 5, 3, 4]) == 0.5
    assert normalized_edit_distance([], []) == 0.0
    assert normalized_edit_distances([[1, 2], []], [[1, 3], [4]]).tolist() == [0.5, 1.0]


def test_ches_from_sums_matches_the_definition():
    rng = np.random.default_rng(0)
    s_pos, s_neg = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    n_pos, n_neg = np.array([1, 2, 3, 4]), np.array([5, 1, 2, 7])
    ches, ln_ches = ches_from_sums(torch.tensor(s_pos), torch.tensor(s_neg), n_pos, n_neg)
    for b in range(4):
        assert ches[b].item() == pytest.approx(s_pos[b] @ s_neg[b] - s_pos[b] @ s_pos[b], rel=1e-12)
        mean_pos, mean_neg = s_pos[b] / n_pos[b], s_neg[b] / n_neg[b]
        assert ln_ches[b].item() == pytest.approx(mean_pos @ mean_neg - mean_pos @ mean_pos, rel=1e-12)
    same, _ = ches_from_sums(torch.tensor(s_pos), torch.tensor(s_pos), n_pos, n_pos)
    assert torch.all(same == 0)


def test_span_sums_ignore_everything_outside_the_span_even_nan():
    hidden = torch.full((2, 5, 3), float("nan"))
    hidden[0, 1:3] = torch.tensor([[1.0, 2, 3], [4, 5, 6]])
    hidden[1, 4] = torch.tensor([7.0, 8, 9])
    sums = span_sums(hidden, torch.tensor([1, 4]), torch.tensor([2, 1]))
    assert sums.dtype == torch.float64
    assert sums.tolist() == [[5.0, 7.0, 9.0], [7.0, 8.0, 9.0]]
