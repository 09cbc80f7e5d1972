"""When a re-run reproduces a failed trial: its label and its deciding numbers."""

from __future__ import annotations

from domain import reproduction as r

GATE = {"gate_metric": "accuracy", "mean": 0.41, "threshold": 0.5, "margin": -0.09}


def test_the_same_label_and_numbers_reproduce_identically():
    match = r.of_failures("disqualified", GATE, "disqualified", dict(GATE))
    assert match.identical
    assert match.within
    assert match.numbers == {"mean": (0.41, 0.41), "threshold": (0.5, 0.5)}


def test_a_number_moved_within_one_percent_reproduces_but_not_identically():
    match = r.of_failures("disqualified", GATE, "disqualified", {**GATE, "mean": 0.412})
    assert not match.identical
    assert match.within
    assert r.failure_lines(match, "disqualified", "disqualified")[2]


def test_a_number_moved_further_does_not_reproduce():
    match = r.of_failures("disqualified", GATE, "disqualified", {**GATE, "mean": 0.45})
    assert not match.within
    _head, why, ok = r.failure_lines(match, "disqualified", "disqualified")
    assert not ok
    assert "differ by more than 1%" in why


def test_another_label_or_a_valid_run_does_not_reproduce_a_failure():
    assert not r.of_failures("disqualified", GATE, "crash", {}).within
    _head, why, ok = r.failure_lines(
        r.of_failures("disqualified", GATE, None, {}), "disqualified", None
    )
    assert not ok
    assert why == "the reproduction ended valid, where the trial recorded disqualified"


def test_a_deciding_number_the_re_run_lacks_does_not_reproduce():
    cap = {"limit": "bytes", "measured": 9000.0, "cap": 8000.0}
    assert not r.of_failures("size_blocked", cap, "size_blocked", {"measured": 9000.0}).within


def test_a_label_without_numbers_reproduces_by_its_label():
    match = r.of_failures("crash", {"exit": "1"}, "crash", {})
    assert match.within
    assert r.failure_lines(match, "crash", "crash")[1].endswith("no number decides this label")


def test_scores_reproduce_bit_for_bit_or_within_the_noise_floor():
    assert r.of_scores(1.0, 1.0, 0.1).identical
    assert r.of_scores(1.0, 1.05, 0.1).within
    assert not r.of_scores(1.0, 1.2, 0.1).within
    assert not r.of_scores(None, None, 0.1).within
