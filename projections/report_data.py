"""What the HTML report shows, read from the projections: one search, its trials, its costs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import duckdb

from projections import final_test
from projections.derived import Derived, read_derived

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
    " s.finished_at, s.finish_reason, b.seq, s.best_score"
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
    outcome: str  # keep, discard, a failure label, or the status of a trial still running
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
    derived: Derived | None = None  # its source, if this search derives


def load(con: duckdb.DuckDBPyConnection, search_id: UUID) -> ReportData:
    return ReportData(
        _search(con, search_id),
        _trials(con, search_id),
        _costs(con, search_id),
        final_test.read(con, search_id),
        read_derived(con, search_id),
    )


def _search(con: duckdb.DuckDBPyConnection, search_id: UUID) -> Search:
    row = con.execute(_SEARCH_SQL, [search_id]).fetchone()
    if row is None:
        raise LookupError(f"no search {search_id} in the projections")
    (sid, ordinal, task, task_sha, rules, metric, lower, policy, agent, lineage, floor) = row[:11]
    started, finished, reason, best_seq, best_score = row[11:]
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
    )


def _time(value: Any) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _trials(con: duckdb.DuckDBPyConnection, search_id: UUID) -> tuple[Trial, ...]:
    return tuple(_trial(row) for row in con.execute(_TRIAL_SQL, [search_id]).fetchall())


def _trial(row: tuple[Any, ...]) -> Trial:
    (seq, tid, parent_seq, depth, specialist, agent, status, score, delta, expected) = row[:10]
    (hypothesis, idea, reason, evidence, measurements, rule, numbers, excerpt) = row[10:18]
    diff, surfaces, touched, rules, finished_position, view = row[18:]
    return Trial(
        seq=seq,
        trial_id=str(tid),
        parent_seq=parent_seq,
        depth=depth or 0,
        specialist=specialist or "",
        agent=agent or "",
        outcome=status or "",
        score=score,
        delta=delta,
        expected_delta=expected,
        hypothesis=hypothesis or "",
        idea=idea or "",
        reason=reason or "",
        evidence=_json(evidence),
        measurements=_json(measurements),
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
