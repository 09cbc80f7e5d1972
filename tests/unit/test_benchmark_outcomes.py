"""The effectiveness benchmark's ledger reader: given a ledger's rows, then one search's
record: a reused run is neither trained nor charged CPU, an interrupted search is not
finished until a resume ends it for good, and searches sharing a ledger stay apart."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from benchmarks.outcomes import finished, read_searches, search_result

CONFIG = {"policy": "specialists", "lineage": True, "seed": 0, "trials": 2}


def ledger_with(path: Path, events: list[tuple[str, dict]]) -> Path:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE stored_events (topic TEXT, state TEXT)")
        con.executemany(
            "INSERT INTO stored_events VALUES (?, ?)",
            [(f"domain.x:{name}", json.dumps({"event": event})) for name, event in events],
        )
    return path


def search(sid: str, seed: int, trial_prefix: str, end: str | None) -> list[tuple[str, dict]]:
    started = {"originator_id": sid, "config": {**CONFIG, "seed": seed}}
    started.update(lower_is_better=True, metric="val_bpb")
    base, child = f"{trial_prefix}0", f"{trial_prefix}1"
    events = [
        ("SearchStarted", started),
        ("TrialProposed", proposed(base, sid, 0, "baseline")),
        ("TrialReused", {"originator_id": base}),  # the baseline came from the cache
        ("TrialScored", {"originator_id": base, "measurements": {"cpu_s": 50.0}}),
        ("TrialJudged", {"originator_id": base, "verdict": "keep", "score": 2.0}),
        ("TrialProposed", proposed(child, sid, 1, "opt")),
        ("TrialScored", {"originator_id": child, "measurements": {"cpu_s": 7.5}}),
        ("TrialJudged", {"originator_id": child, "verdict": "keep", "score": 1.5}),
    ]
    if end:
        events.append(("SearchFinished", {"originator_id": sid, "reason": end}))
    return events


def proposed(tid: str, sid: str, seq: int, who: str) -> dict:
    return {"originator_id": tid, "search_id": sid, "sequence": seq, "specialist": who,
            "idea": who, "parent_id": None}  # fmt: skip


def test_a_reused_run_is_neither_trained_nor_charged(tmp_path):
    ledger = ledger_with(tmp_path / "l.sqlite", search("s1", 0, "a", "trial_budget"))
    result = search_result(read_searches(ledger)["s1"], "golf-cpu")
    assert result["runs"] == {"trained": 1, "reused": 1, "remeasured_seeds": 0}
    assert result["cpu_s"]["trials"] == 7.5
    assert result["curve"] == [1.5]
    assert result["val_improvement_pct"] == 25.0
    assert (result["arm"], result["keeps"]) == ("specialists", 1)


def test_an_interrupted_search_is_not_finished_until_a_resume_ends_it(tmp_path):
    events = search("s1", 0, "a", "interrupted")
    ledger = ledger_with(tmp_path / "l.sqlite", events)
    assert not finished(read_searches(ledger)["s1"])
    resumed = [("SearchResumed", {"originator_id": "s1"})]
    ledger = ledger_with(tmp_path / "m.sqlite", [*events, *resumed])
    assert not finished(read_searches(ledger)["s1"])
    ends = [("SearchFinished", {"originator_id": "s1", "reason": "trial_budget"})]
    ledger = ledger_with(tmp_path / "n.sqlite", [*events, *resumed, *ends])
    assert finished(read_searches(ledger)["s1"])


def test_searches_sharing_a_ledger_keep_their_own_trials(tmp_path):
    both = search("s1", 0, "a", "trial_budget") + search("s2", 1, "b", None)
    searches = read_searches(ledger_with(tmp_path / "l.sqlite", both))
    assert [len(searches[s]["trials"]) for s in ("s1", "s2")] == [2, 2]
    assert finished(searches["s1"])
    assert not finished(searches["s2"])
    assert search_result(searches["s2"], "golf-cpu")["seed"] == 1


def test_a_final_test_side_the_cache_copied_is_counted_reused_not_charged(tmp_path):
    ran = {"score": 1.4, "measurements": {"cpu_s": 30.0}}
    copied = {"score": 2.1, "measurements": {"cpu_s": 29.0}, "reused_from_search_id": "s0"}
    final = {"originator_id": "s1", "status": "held", "held": True, "delta": -0.7}
    final.update(best=ran, seed_recipe=copied)
    events = search("s1", 0, "a", None)
    events += [("FinalTested", final)]
    events += [("SearchFinished", {"originator_id": "s1", "reason": "trial_budget"})]
    result = search_result(read_searches(ledger_with(tmp_path / "l.sqlite", events))["s1"], "t")
    assert result["runs"] == {"trained": 2, "reused": 2, "remeasured_seeds": 0}
    assert result["cpu_s"]["final_test"] == 30.0
    assert result["test"]["improvement_pct"] == pytest.approx(100.0 * 0.7 / 2.1)


def test_seeds_measured_more_than_once_are_counted(tmp_path):
    """An overrun lists its measurements; a valid seed held on a re-measure says so."""
    sid = "s1"
    events = search(sid, 0, "a", None)
    held = {"cpu_s": 7.5, "train_runs": 2.0}
    events[6] = ("TrialScored", {"originator_id": "a1", "measurements": {"cpu_s": 7.5},
                                 "per_seed": [{"measurements": held}]})  # fmt: skip
    events += [
        ("TrialProposed", proposed("a2", sid, 2, "opt")),
        (
            "TrialFailed",
            {
                "originator_id": "a2",
                "label": "train_budget_overrun",
                "evidence": {"measured_cpu_s": [9.0, 9.1, 9.2]},
            },
        ),
        ("SearchFinished", {"originator_id": sid, "reason": "trial_budget"}),
    ]
    result = search_result(
        read_searches(ledger_with(tmp_path / "l.sqlite", events))[sid], "golf-cpu"
    )
    assert result["runs"]["remeasured_seeds"] == 2
    assert [t["remeasured"] for t in result["trials"]] == [0, 1, 1]
