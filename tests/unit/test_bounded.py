"""Every failure event is bounded, whatever its producer put in it (domain.bounded)."""

from __future__ import annotations

import json

from domain import bounded
from domain import trial as t
from domain.labels import FailureLabel
from tests.unit.test_domain_trial import given, proposed


def test_a_failure_with_megabytes_of_file_names_is_cut_to_its_bounds():
    names = {f"{'w' * 120}{i}": 0 for i in range(20_000)}  # ~2.5 MB, as the issue saw
    trial = given(proposed())
    event = t.record_failure(
        trial,
        FailureLabel.SIZE_BLOCKED,
        reason="x" * 50_000,
        evidence={"files": names, "deep": [[[[["five levels"]]]]], "exception": {"m": "y" * 9000}},
        log_excerpt="z" * 9000 + "END",
    )
    assert len(event.reason) == bounded.REASON_CHARS
    assert event.reason.endswith(bounded.CUT)
    assert event.log_excerpt.endswith("END")  # the end of a log is what says why
    assert len(event.log_excerpt) == bounded.EXCERPT_CHARS
    assert len(json.dumps(event.evidence)) <= bounded.EVIDENCE_BYTES
    assert len(json.dumps(event.model_dump(mode="json"))) < 40_000


def test_evidence_within_the_bounds_is_kept_exactly():
    evidence = {"files": {"model.py": 1200, "weights.bin": 9000}, "seed": 0, "ok": None}
    assert bounded.evidence(evidence) == evidence


def test_long_lists_and_mappings_say_how_much_was_left_out():
    out = bounded.evidence({"names": list(range(100)), "map": {str(i): i for i in range(70)}})
    assert out["names"][-1] == f"{bounded.CUT} 36 more items left out"
    assert len(out["names"]) == bounded.ITEMS + 1
    assert out["map"][bounded.CUT] == "6 more entries left out"
    nested = bounded.evidence({"a": {"b": {"c": {"d": {"e": 1}}}}})
    assert nested["a"]["b"]["c"]["d"] == f"{bounded.CUT} nested deeper than 4 levels"
