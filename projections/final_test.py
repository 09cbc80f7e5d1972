"""The final test as people read it: one line that the leaderboard, `cli.py show` and the
report give first, and the per-seed numbers behind it.

It reads `searches.test_status` and `searches.final_test` (the FinalTested event whole,
domain/final_test.py states its rules); a live search's observer passes the event's own
JSON form, which has the same keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import duckdb

RESUME = "`cli.py search --resume` runs it"
REASON_CHARS = 160  # of a failure's reason, in the one line


@dataclass(frozen=True)
class FinalTest:
    """A search's final test as projected: its status, the event, and how the search
    ended (for a test not run, or cut off)."""

    status: str | None
    event: dict[str, Any] | None
    finish_reason: str | None

    @property
    def sides(self) -> tuple[int, ...]:
        """The trial numbers the test ran: the best's and the seed recipe's."""
        if self.event is None:
            return ()
        runs = (self.event.get("best"), self.event.get("seed_recipe"))
        return tuple(run["sequence"] for run in runs if run)


def read(con: duckdb.DuckDBPyConnection, search_id: UUID) -> FinalTest:
    row = con.execute(
        "SELECT test_status, final_test, finish_reason FROM searches WHERE search_id = ?",
        [search_id],
    ).fetchone()
    if row is None:
        return FinalTest(None, None, None)
    status, event, reason = row
    return FinalTest(status, json.loads(event) if event else None, reason)


def line(test: FinalTest) -> str:
    """`test split: best #7 2.61000 vs seed 2.74000, Δ −0.13000 [−0.16000, −0.10000], held`."""
    event = test.event
    if event is None:
        return "test split: " + _not_run(test.status, test.finish_reason)
    status, reason = event["status"], _short(event["reason"])
    if status in ("held", "not_held") and event.get("delta") is not None:
        best, seed = event["best"], event["seed_recipe"]
        low, high = event["interval"] or (event["delta"], event["delta"])
        return (
            f"test split: best #{best['sequence']} {best['score']:.5f} vs seed"
            f" {seed['score']:.5f}, Δ {_signed(event['delta'])}"
            f" [{_signed(low)}, {_signed(high)}], {status.replace('_', ' ')}"
        )
    words = {"not_held": "not held", "no_keep": "not run", "skipped": "none"}
    return f"test split: {words.get(status, status)}: {reason}"


def _not_run(status: str | None, finished: str | None) -> str:
    if status == "launched" and finished is None:
        return f"the final test is running, or was cut off ({RESUME} again)"
    if status == "launched":
        return f"the final test was {finished} ({RESUME} again)"
    if finished is None:
        return "pending: the search is still running"
    if finished in ("interrupted", "harness_faults"):
        return f"not run: the search ended {finished} ({RESUME} at the search's end)"
    return f"not run: the search ended {finished}"


def _signed(value: float) -> str:
    return f"{value:+.5f}".replace("-", "−")


def _short(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def seed_rows(event: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(name, cells) rows: the test seeds, each side's score on them, and the difference."""
    best, seed = event.get("best") or {}, event.get("seed_recipe") or {}
    by_seed = [
        {r["seed"]: r["score"] for r in run.get("per_seed") or () if r["score"] is not None}
        for run in (best, seed)
    ]
    rows = [("seed", [str(s) for s in event["seeds"]])]
    for run, scores in zip((best, seed), by_seed, strict=True):
        if run:
            name = "best" if run is best else "seed recipe"
            cells = [_cell(scores.get(s)) for s in event["seeds"]]
            rows.append((f"{name} #{run['sequence']}", cells))
    if event.get("differences"):
        rows.append(("Δ best − seed", [_signed(d) for d in event["differences"]]))
    return rows


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.5f}"
