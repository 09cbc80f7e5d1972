"""Reading benchmark ledgers: one result per search, as the JSON the effectiveness
benchmark commits.

Reads each SQLite ledger with sqlite3 and json only, so the numbers do not depend on the
code under test. A ledger may hold many searches (the effectiveness benchmark runs a
task's searches one after another in one ledger, so its trial cache spans them); each
search's trials are found through their TrialProposed's search_id. Improvements are
relative to the search's own seed recipe, in percent, positive when better (lower for
minimised metrics).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

VALID = ("keep", "discard")
OUTCOMES = ("TrialScored", "TrialFailed")
REOPENABLE = ("interrupted", "harness_faults")  # endings a `search --resume` goes on from


def arm_of(config: dict[str, Any]) -> str:
    """The benchmark's name for a search's policy: specialists with or without lineage,
    else the policy itself (generalist, random, optuna)."""
    if config["policy"] != "specialists":
        return str(config["policy"])
    return "specialists" if config["lineage"] else "no-lineage"


def read_searches(ledger: Path) -> dict[str, dict[str, Any]]:
    """Every search in the ledger, by id: its start, trials, runs, final test and end."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT topic, state FROM stored_events ORDER BY rowid").fetchall()
    searches: dict[str, dict[str, Any]] = {}
    trials: dict[str, dict[str, Any]] = {}  # trial id -> its record (shared with its search)
    for topic, state in rows:
        _read(topic.rsplit(":", 1)[-1], json.loads(state)["event"], searches, trials)
    return searches


def _read(name: str, e: dict[str, Any], searches: dict[str, Any], trials: dict[str, Any]) -> None:
    oid = e["originator_id"]
    if name == "SearchStarted":
        searches[oid] = {"started": e, "trials": [], "yields": 0, "final": None, "end": None}
    elif name == "SpecialistYielded":
        searches[oid]["yields"] += 1
    elif name == "FinalTested":
        searches[oid]["final"] = e
    elif name == "SearchFinished":
        searches[oid]["end"] = e
    elif name == "SearchResumed":
        searches[oid]["end"] = None
    elif name == "TrialProposed":
        trial = {"seq": e["sequence"], "specialist": e["specialist"], "idea": e["idea"]}
        trial.update(parent=e["parent_id"], status="open", trained=0, reused=0, cpu_s=0.0)
        trials[oid] = trial
        searches[e["search_id"]]["trials"].append(trial)
    elif oid in trials:
        _trial_event(name, e, trials[oid])


def _trial_event(name: str, e: dict[str, Any], trial: dict[str, Any]) -> None:
    if name == "RecipeEdited":
        trial["child"] = e["child_sha256"]
    elif name == "TrialReused":
        trial["reused"] += 1
        trial["reusing"] = True  # the outcome that follows is the source's: nothing trained
    elif name in OUTCOMES:
        if not trial.pop("reusing", False):
            trial["trained"] += 1
            trial["cpu_s"] += _cpu(e)
            trial["remeasured"] = trial.get("remeasured", 0) + remeasured_seeds(e)
        if name == "TrialFailed":
            trial["status"] = e["label"]
            trial["failed_score"] = e.get("score")
    elif name == "TrialJudged":
        trial.update(status=e["verdict"], score=e["score"])


def remeasured_seeds(outcome: dict[str, Any]) -> int:
    """Seeds of a trained run whose training was measured more than once: an overrun's
    list of measurements, or a valid seed's `train_runs` (evaluators/remeasure.py)."""
    if outcome.get("evidence", {}).get("measured_cpu_s"):
        return 1
    return sum(
        1 for seed in outcome.get("per_seed", []) if seed["measurements"].get("train_runs", 1) > 1
    )


def finished(search: dict[str, Any]) -> bool:
    """Ended for good: not running, and not paused in a way a resume goes on from."""
    end = search["end"]
    return end is not None and end["reason"] not in REOPENABLE


def curve(trials: list[dict[str, Any]]) -> list[float]:
    """Best score after each non-baseline trial (the baseline's before any)."""
    best: float | None = None
    out: list[float] = []
    for trial in sorted(trials, key=lambda t: t["seq"]):
        if trial["status"] == "keep":
            best = trial["score"]
        if trial["specialist"] != "baseline" and best is not None:
            out.append(best)
    return out


def percent_better(new: float, old: float, lower_is_better: bool) -> float:
    change = (old - new) if lower_is_better else (new - old)
    return 100.0 * change / abs(old)


def failed_repeats(trials: list[dict[str, Any]]) -> int:
    """Trials that re-ran an edit already failed on the same parent (same resulting
    recipe, or the same idea key), harness aborts aside."""
    failed: set[tuple[Any, Any]] = set()
    repeats = 0
    for trial in sorted(trials, key=lambda t: t["seq"]):
        keys = {(trial["parent"], trial.get("child")), (trial["parent"], trial["idea"])}
        if keys & failed:
            repeats += 1
        if trial["status"] not in (*VALID, "open", "harness_abort"):
            failed |= keys
    return repeats


def search_result(search: dict[str, Any], task: str) -> dict[str, Any]:
    """The committed record of one finished search: enough to recompute every table."""
    started, trials = search["started"], search["trials"]
    config, lower = started["config"], started["lower_is_better"]
    points = curve(trials)
    baseline = next((t.get("score") for t in trials if t["specialist"] == "baseline"), None)
    others = [t for t in trials if t["specialist"] != "baseline"]
    val = percent_better(points[-1], baseline, lower) if baseline and points else None
    return {
        "task": task,
        "arm": arm_of(config),
        "seed": config["seed"],
        "search_id": started["originator_id"],
        "rules_version": started.get("rules_version"),
        "trials_asked": config["trials"],
        "metric": started.get("metric"),
        "lower_is_better": lower,
        "ending": (search["end"] or {}).get("reason"),
        "baseline_score": baseline,
        "curve": points,
        "val_improvement_pct": val,
        "test": final_test(search["final"], lower),
        "keeps": sum(t["status"] == "keep" for t in others),
        "labels": dict(Counter(t["status"] for t in others)),
        "exhausted": search["yields"],
        "failed_repeats": failed_repeats(trials),
        "runs": {
            "trained": sum(t["trained"] for t in trials) + len(_final_sides(search, copied=False)),
            "reused": sum(t["reused"] for t in trials) + len(_final_sides(search, copied=True)),
            "remeasured_seeds": sum(t.get("remeasured", 0) for t in trials),
        },
        "cpu_s": {
            "trials": round(sum(t["cpu_s"] for t in trials), 3),
            "final_test": round(sum(_cpu(side) for side in _final_sides(search, False)), 3),
        },
        "trials": [_trial_row(t) for t in sorted(trials, key=lambda t: t["seq"])],
    }


def final_test(final: dict[str, Any] | None, lower: bool) -> dict[str, Any] | None:
    """The test-split comparison of the best against the seed recipe. `no_keep`: the
    best is the seed recipe itself, so the improvement is 0 by definition."""
    if final is None:
        return None
    best, seed = final.get("best") or {}, final.get("seed_recipe") or {}
    row: dict[str, Any] = {
        "status": final["status"],
        "held": final["held"],
        "best_score": best.get("score"),
        "seed_score": seed.get("score"),
        "delta": final.get("delta"),
        "interval": final.get("interval"),
        "seeds": final.get("seeds"),
        "improvement_pct": 0.0 if final["status"] == "no_keep" else None,
        "best_failed": best.get("label"),  # e.g. train_budget_overrun on the test seeds
        "reason": final.get("reason", ""),
    }
    if row["best_score"] is not None and row["seed_score"]:
        row["improvement_pct"] = percent_better(row["best_score"], row["seed_score"], lower)
    return row


def _final_sides(search: dict[str, Any], copied: bool) -> list[dict[str, Any]]:
    """The final test's sides that ran (copied=False) or that the trial cache copied
    from an earlier final test (their measurements are the source's, not spent here)."""
    final = search["final"] or {}
    sides = [final.get("best"), final.get("seed_recipe")]
    return [s for s in sides if s and bool(s.get("reused_from_search_id")) == copied]


def _cpu(side: dict[str, Any]) -> float:
    return float(side.get("measurements", {}).get("cpu_s", 0.0))


def _trial_row(trial: dict[str, Any]) -> dict[str, Any]:
    keys = ("seq", "specialist", "idea", "status", "score", "failed_score", "child")
    row = {key: trial.get(key) for key in keys}
    row.update(trained=trial["trained"], reused=trial["reused"], cpu_s=round(trial["cpu_s"], 3))
    row["remeasured"] = trial.get("remeasured", 0)
    return row
