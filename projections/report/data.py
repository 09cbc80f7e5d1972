"""What the HTML report shows, read from the projections: one search, its trials, its costs."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import duckdb

from domain.labels import (
    BASELINE,  # the seed run's specialist; its outcome here too
    FailureLabel,
    Verdict,
)
from projections import final_test
from projections.derived import Derived, read_derived
from projections.display import resolve_search
from projections.report import knobs as report_knobs
from projections.report import series as report_series

_TRIAL_SQL = (
    "SELECT t.seq, t.trial_id, t.parent_seq, t.depth, t.specialist, t.agent, t.status,"
    " t.score, t.delta, t.expected_delta, t.hypothesis, t.idea, t.reason, t.evidence,"
    " t.measurements, t.judge_rule, t.judge_numbers, t.log_excerpt, t.diff, t.surfaces,"
    " t.surfaces_touched, t.rules_version, t.finished_position, v.text"
    " FROM trials t LEFT JOIN views v ON v.sha256 = t.lineage_view_sha256"
    " WHERE t.search_id = ? ORDER BY t.seq"
)
_SEARCH_SQL = (
    "SELECT s.search_id, s.ordinal, s.task, s.task_sha256, s.rules_version, s.metric,"
    " s.lower_is_better, s.policy, s.agent, s.lineage, s.noise_floor, s.started_at,"
    " s.finished_at, s.finish_reason, b.seq, s.best_score, s.noise_sigma, len(s.noise_scores)"
    " FROM searches s LEFT JOIN trials b ON b.trial_id = s.best_trial WHERE s.search_id = ?"
)
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


@dataclass(frozen=True)
class Trial:
    seq: int
    trial_id: str
    parent_seq: int | None
    depth: int
    specialist: str
    agent: str
    # keep, discard, baseline (the seed recipe's run), a failure label, or the status of a
    # trial still running
    outcome: str
    score: float | None
    delta: float | None
    expected_delta: float | None
    hypothesis: str
    idea: str
    reason: str
    evidence: dict[str, Any]
    measurements: dict[str, Any]
    judge_rule: str
    judge_numbers: dict[str, Any]
    log_excerpt: str
    diff: str
    surfaces: tuple[str, ...]
    surfaces_touched: tuple[str, ...]
    rules_version: str
    finished: bool
    view: str  # the lineage view the proposer was shown

    @property
    def gate_failed(self) -> bool:
        """Disqualified with a score: it ran, but missed the accuracy gate."""
        return self.outcome == FailureLabel.DISQUALIFIED and self.score is not None

    @property
    def anchor(self) -> str:
        return f"trial-{self.seq}"


@dataclass(frozen=True)
class Search:
    search_id: str
    ordinal: int
    task: str
    task_sha256: str
    rules_version: str
    metric: str
    lower_is_better: bool
    policy: str
    agent: str
    lineage: bool
    noise_floor: float | None
    started_at: str
    finished_at: str
    finish_reason: str
    best_seq: int | None
    best_score: float | None
    noise_sigma: float | None  # one run's spread between training seeds (the noise model)
    noise_runs: int  # how many seed-recipe runs measured it


@dataclass(frozen=True)
class Costs:
    """A costs table summed per specialist; only present when the search has model costs."""

    columns: tuple[str, ...]  # "specialist", then the summed numeric columns
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class ReportData:
    search: Search
    trials: tuple[Trial, ...]
    costs: Costs | None
    final_test: final_test.FinalTest
    curves: dict[int, report_series.Curve]  # by trial number
    resumes: tuple[report_series.Resume, ...]
    knobs: report_knobs.Knobs
    derived: Derived | None = None  # its source, if this search derives


def load(con: duckdb.DuckDBPyConnection, search_id: UUID) -> ReportData:
    search = _search(con, search_id)
    trials = _trials(con, search_id, search.metric)
    return ReportData(
        search,
        trials,
        _costs(con, search_id),
        final_test.read(con, search_id),
        report_series.curves(con, search_id),
        report_series.resumes(con, search_id),
        report_knobs.knobs(con, search_id),
        read_derived(con, search_id),
    )


def select(con: duckdb.DuckDBPyConnection, prefixes: Sequence[str], every: bool) -> list[UUID]:
    """The searches to report: every one in order, or each prefix's one (default: latest).

    Raises display.UnknownSearchError for a prefix that names no single search."""
    if every:
        rows = con.execute("SELECT search_id FROM searches ORDER BY ordinal").fetchall()
        return [UUID(str(r[0])) for r in rows]
    found = [resolve_search(con, p) for p in prefixes] or [resolve_search(con, None)]
    return list(dict.fromkeys(found))  # the same search named twice is shown once


def _search(con: duckdb.DuckDBPyConnection, search_id: UUID) -> Search:
    row = con.execute(_SEARCH_SQL, [search_id]).fetchone()
    if row is None:
        raise LookupError(f"no search {search_id} in the projections")
    (sid, ordinal, task, task_sha, rules, metric, lower, policy, agent, lineage, floor) = row[:11]
    started, finished, reason, best_seq, best_score, sigma, runs = row[11:]
    return Search(
        search_id=str(sid),
        ordinal=ordinal,
        task=task,
        task_sha256=task_sha,
        rules_version=rules,
        metric=metric,
        lower_is_better=bool(lower),
        policy=policy or "",
        agent=agent or "",
        lineage=bool(lineage),
        noise_floor=floor,
        started_at=_time(started),
        finished_at=_time(finished),
        finish_reason=reason or "",
        best_seq=best_seq,
        best_score=best_score,
        noise_sigma=sigma,
        noise_runs=runs or 0,
    )


def _time(value: Any) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _trials(con: duckdb.DuckDBPyConnection, search_id: UUID, metric: str) -> tuple[Trial, ...]:
    rows = con.execute(_TRIAL_SQL, [search_id]).fetchall()
    return tuple(_trial(row, metric) for row in rows)


def _trial(row: tuple[Any, ...], metric: str) -> Trial:
    (seq, tid, parent_seq, depth, specialist, agent, status, score, delta, expected) = row[:10]
    (hypothesis, idea, reason, evidence, measurements, rule, numbers, excerpt) = row[10:18]
    diff, surfaces, touched, rules, finished_position, view = row[18:]
    measured = _json(measurements)
    return Trial(
        seq=seq,
        trial_id=str(tid),
        parent_seq=parent_seq,
        depth=depth or 0,
        specialist=specialist or "",
        agent=agent or "",
        outcome=_outcome(specialist, status),
        score=score if score is not None else gate_score(status, measured, metric),
        delta=delta,
        expected_delta=expected,
        hypothesis=hypothesis or "",
        idea=idea or "",
        reason=reason or "",
        evidence=_json(evidence),
        measurements=measured,
        judge_rule=rule or "",
        judge_numbers=_json(numbers),
        log_excerpt=excerpt or "",
        diff=diff or "",
        surfaces=tuple(surfaces or ()),
        surfaces_touched=tuple(touched or ()),
        rules_version=rules or "",
        finished=finished_position is not None,
        view=view or "",
    )


def _outcome(specialist: str | None, status: str | None) -> str:
    """The seed recipe's run is the reference every keep is measured against, not a keep."""
    if specialist == BASELINE and status == Verdict.KEEP:
        return BASELINE
    return status or ""


def gate_score(status: str | None, measured: dict[str, Any], metric: str) -> float | None:
    """A gate miss's score, from its recorded measurements (under the metric's name, or
    `score`): the trial ran to the end, so how close it came is worth showing."""
    if status != FailureLabel.DISQUALIFIED:
        return None
    value = measured.get(metric, measured.get("score"))
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _json(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {"value": value}


def _costs(con: duckdb.DuckDBPyConnection, search_id: UUID) -> Costs | None:
    """Sum a `costs` table's numeric columns per specialist, whatever else it holds."""
    described = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'main' AND table_name = 'costs' ORDER BY ordinal_position"
    ).fetchall()
    if not described:
        return None
    names = {name for name, _ in described}
    summed = [n for n, kind in described if kind.startswith(_NUMERIC) and n not in ("seq", "turn")]
    if "specialist" in names:
        source, who = "costs c", "c.specialist"
    elif "trial_id" in names:  # attribute each row to its trial's specialist
        source, who = "costs c LEFT JOIN trials t ON t.trial_id = c.trial_id", "t.specialist"
    else:
        source, who = "costs c", "'(all)'"
    where = "WHERE c.search_id = ?" if "search_id" in names else ""
    sums = "".join(f', sum(c."{name}")' for name in summed)
    # Names come from the table's own schema, quoted; no value is spliced in.
    sql = f"SELECT coalesce({who}, '(none)'){sums} FROM {source} {where} GROUP BY 1 ORDER BY 1"  # noqa: S608
    rows = con.execute(sql, [search_id] if where else []).fetchall()
    if not rows:  # a search without model calls (the costs view always exists)
        return None
    return Costs(("specialist", *summed), tuple(tuple(r) for r in rows))
