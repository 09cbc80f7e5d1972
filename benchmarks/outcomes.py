"""Reading benchmark ledgers: best-so-far curves, improvement, labels, repeated failures.

Reads each SQLite ledger with sqlite3 and json only, so the numbers do not depend on the
code under test. Improvement is relative to the search's own seed recipe, in percent,
positive when better (lower for minimised metrics).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

VALID = ("keep", "discard")
EXHAUSTED = "none"  # before SpecialistYielded: the idea key of a specialist out of ideas


def search_record(ledger: Path) -> dict[str, Any]:
    with sqlite3.connect(ledger) as con:
        rows = con.execute("SELECT topic, state FROM stored_events ORDER BY rowid").fetchall()
    trials: dict[str, dict[str, Any]] = {}
    lower, yields = True, 0
    for topic, state in rows:
        name, e = topic.rsplit(":", 1)[-1], json.loads(state)["event"]
        if name == "SearchStarted":
            lower = e["lower_is_better"]
        elif name == "SpecialistYielded":
            yields += 1
        elif name == "TrialProposed":
            trials[e["originator_id"]] = {
                "seq": e["sequence"],
                "specialist": e["specialist"],
                "parent": e["parent_id"],
                "idea": e["idea"],
                "status": "open",
            }
        elif name == "RecipeEdited":
            trials[e["originator_id"]]["child"] = e["child_sha256"]
        elif name == "TrialFailed":
            trials[e["originator_id"]]["status"] = e["label"]
        elif name == "TrialJudged":
            trials[e["originator_id"]].update(status=e["verdict"], score=e["score"])
    ordered = sorted(trials.values(), key=lambda t: t["seq"])
    return {"lower_is_better": lower, "trials": ordered, "yields": yields}


def curve(record: dict[str, Any]) -> list[float]:
    """Best score after each non-baseline trial (the baseline's before any)."""
    best: float | None = None
    out: list[float] = []
    for trial in record["trials"]:
        if trial["status"] == "keep":
            best = trial["score"]
        if trial["specialist"] != "baseline" and best is not None:
            out.append(best)
    return out


def improvement(record: dict[str, Any]) -> float | None:
    baseline = next(
        (t["score"] for t in record["trials"] if t["specialist"] == "baseline" and "score" in t),
        None,
    )
    points = curve(record)
    if baseline is None or not points:
        return None
    change = (baseline - points[-1]) if record["lower_is_better"] else (points[-1] - baseline)
    return 100.0 * change / abs(baseline)


def failed_repeats(record: dict[str, Any]) -> int:
    """Trials that re-ran an edit already failed on the same parent (same resulting
    recipe, or the same idea key), harness aborts aside. A specialist with nothing left to
    propose is not an idea: `exhausted` counts those."""
    failed: set[tuple[Any, Any]] = set()
    repeats = 0
    for trial in record["trials"]:
        if trial["idea"] == EXHAUSTED:
            continue
        keys = {(trial["parent"], trial.get("child")), (trial["parent"], trial["idea"])}
        if keys & failed:
            repeats += 1
        if trial["status"] not in (*VALID, "open", "harness_abort"):
            failed |= keys
    return repeats


def summarise(ledgers: dict[tuple[str, str, int], Path], out: Path) -> dict[str, Any]:
    per_run: dict[str, Any] = {}
    for (task, arm, seed), ledger in ledgers.items():
        if not ledger.exists():
            continue
        record = search_record(ledger)
        labels = Counter(t["status"] for t in record["trials"] if t["specialist"] != "baseline")
        per_run[f"{Path(task).name}/{arm}/{seed}"] = {
            "task": Path(task).name,
            "arm": arm,
            "seed": seed,
            "curve": curve(record),
            "improvement_pct": improvement(record),
            "labels": dict(labels),
            "failed_repeats": failed_repeats(record),
            "exhausted": record["yields"] + sum(t["idea"] == EXHAUSTED for t in record["trials"]),
        }
    table = _table(per_run)
    _plots(per_run, out)
    return {"runs": per_run, "table": table}


def _table(per_run: dict[str, Any]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for run in per_run.values():
        table.setdefault(run["task"], {}).setdefault(run["arm"], []).append(run)
    rows: dict[str, Any] = {}
    for task, arms in table.items():
        for arm, runs in arms.items():
            gains = [r["improvement_pct"] for r in runs if r["improvement_pct"] is not None]
            labels: Counter[str] = Counter()
            for r in runs:
                labels.update(r["labels"])
            rows.setdefault(task, {})[arm] = {
                "improvement_mean_pct": statistics.fmean(gains) if gains else None,
                "improvement_sd_pct": statistics.stdev(gains) if len(gains) > 1 else 0.0,
                "improvements_pct": gains,
                "labels": dict(labels),
                "failed_repeats": sum(r["failed_repeats"] for r in runs),
                "exhausted": sum(r["exhausted"] for r in runs),
                "searches": len(runs),
            }
    return rows


def _plots(per_run: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in per_run.values()})
    for task in tasks:
        fig, ax = plt.subplots(figsize=(6, 4))
        for arm in sorted({r["arm"] for r in per_run.values() if r["task"] == task}):
            curves = [
                r["curve"]
                for r in per_run.values()
                if r["task"] == task and r["arm"] == arm and r["curve"]
            ]
            if not curves:
                continue
            width = min(len(c) for c in curves)
            mean = [statistics.fmean(c[i] for c in curves) for i in range(width)]
            ax.plot(range(1, width + 1), mean, label=arm)
        ax.set_xlabel("trial")
        ax.set_ylabel("best score so far (mean over seeds)")
        ax.set_title(task)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"best-so-far-{task}.png", dpi=110)
        plt.close(fig)
