"""The blind check's pure parts: secret cuts, replaced bytes, orders, gaps and refusals."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from evaluators.serving.blind_check import (
    batches,
    gap,
    perturbed,
    refusal,
    secret_bytes,
    secret_cut,
    secret_order,
)


def test_a_cut_is_uniform_over_its_range_both_ends_included() -> None:
    counts = Counter(secret_cut(3, 6) for _ in range(4000))
    assert set(counts) == {3, 4, 5, 6}
    assert min(counts.values()) > 850  # 1,000 expected each
    assert secret_cut(5, 5) == 5
    with pytest.raises(ValueError, match="empty range"):
        secret_cut(4, 3)


def test_perturbed_keeps_bytes_up_to_j_and_replaces_the_rest_with_fresh_random_bytes() -> None:
    row = np.frombuffer(b"To be, or not to be: that is the question", dtype=np.uint8)
    changed = [perturbed(row, 9) for _ in range(200)]
    assert all((c[:10] == row[:10]).all() for c in changed)
    tails = np.stack([c[10:] for c in changed])
    assert not (tails == tails[0]).all(axis=1)[1:].any()  # every draw is different
    assert not ((tails.astype(int) - row[10:]) % 256 == 97).all(axis=1).any()  # no fixed shift
    assert (tails == row[10:]).mean() < 0.02  # independent of the truth (1/256 expected)
    assert (perturbed(row, len(row) - 1) == row).all()  # a cut at the end replaces nothing


def test_secret_bytes_cover_all_values_evenly() -> None:
    counts = np.bincount(secret_bytes(256 * 400), minlength=256)
    assert counts.min() > 280  # 400 expected each


def test_a_secret_order_is_a_fresh_permutation_each_time() -> None:
    orders = [secret_order(50) for _ in range(20)]
    assert all(sorted(order) == list(range(50)) for order in orders)
    assert len({tuple(order) for order in orders}) == 20
    assert secret_order(0) == []


def test_batches_cover_the_order_in_chunks() -> None:
    assert batches([4, 2, 0, 1, 3], 2) == [[4, 2], [0, 1], [3]]


def test_gap_is_the_largest_absolute_difference() -> None:
    first = np.array([[-1.0, -2.0], [-3.0, -4.0]])
    assert gap(first, first.copy()) == 0.0
    assert gap(first, first + np.array([[0.0, 0.5], [-2.0, 0.0]])) == 2.0
    assert gap(np.zeros(0), np.zeros(0)) == 0.0


def test_a_refusal_names_non_determinism_only_when_a_repeat_differs() -> None:
    looked = refusal("window 3", 2.5, 0.0, "it looks ahead")
    assert str(looked) == "window 3: it looks ahead (moved by 2.5)"
    noisy = refusal("window 3", 2.5, 0.1, "it looks ahead")
    assert "not deterministic" in str(noisy)
    assert "looks ahead" not in str(noisy)
