"""The agents' window on the lineage: LineageQuery over the DuckDB projections.

It builds the paper's view from SQL: leaderboard, root-to-best chain, the best's children,
recent activity without harness aborts, the specialist's own last trials and the
already-tried index. With lineage off, only the best's id and score remain.

The projections stay open from the first read until `close()`: a search's loop closes
them when the search finishes (ledger/session.py), so the file is connected to, and its
tables created, once per search; each proposal catches up once, when its hold begins.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from domain.base import JSONValue
from domain.lineage import LineageView, TrialLine, TriedEdit
from projections import agent_reads
from projections.db import Projections, rebuild
from projections.projector import EventReader

_LINE = (
    "SELECT t.trial_id, t.seq, t.specialist, t.parent_seq, t.depth, t.status, t.score,"
    " t.delta, t.hypothesis, t.idea, t.reason, t.log_excerpt, t.child_sha256,"
    " t.measurements, t.evidence FROM trials t"
)
_TERMINAL = "t.finished_position IS NOT NULL AND t.status <> 'harness_abort'"


class DuckLineage:
    """LineageQuery implementation; reads outside a hold catch the projections up first."""

    def __init__(
        self, reader: EventReader, path: Path, projections: Projections | None = None
    ) -> None:
        self.projections = projections or Projections(reader, path)
        self._held: duckdb.DuckDBPyConnection | None = None

    @contextlib.contextmanager
    def hold(self) -> Iterator[object]:
        """Catch up once for all the reads of one proposal."""
        if self._held is not None:
            yield self._held
            return
        self._held = self.projections.connection()
        try:
            yield self._held
        finally:
            self._held = None

    def _con(self) -> duckdb.DuckDBPyConnection:
        return self._held if self._held is not None else self.projections.connection()

    def close(self) -> None:
        self.projections.close()

    def view(self, search_id: UUID, specialist: str, lineage: bool) -> LineageView:
        return _build_view(self._con(), search_id, specialist, lineage)

    def recipe(self, trial_id: UUID) -> dict[str, str]:
        row = (
            self._con()
            .execute(
                "SELECT r.files FROM trials t JOIN recipes r ON r.sha256 = t.child_sha256"
                " WHERE t.trial_id = ?",
                [trial_id],
            )
            .fetchone()
        )
        if row is None:
            raise KeyError(f"no recipe projected for trial {trial_id}")
        return dict(json.loads(row[0]))

    def trial(self, search_id: UUID, sequence: int) -> dict[str, JSONValue]:
        return agent_reads.trial_detail(self._con(), search_id, sequence)

    def sql(self, query: str, max_rows: int, max_bytes: int) -> str:
        return agent_reads.agent_sql(self._con(), query, max_rows, max_bytes)


def _build_view(
    con: duckdb.DuckDBPyConnection, search_id: UUID, specialist: str, lineage: bool
) -> LineageView:
    search = con.execute(
        "SELECT metric, lower_is_better, config, noise_floor FROM searches WHERE search_id = ?",
        [search_id],
    ).fetchone()
    if search is None:
        raise KeyError(f"no search {search_id} in the projections")
    metric, lower, config, floor = search
    config = json.loads(config)
    best = _best(con, search_id)
    base: dict[str, Any] = {
        "search_id": search_id,
        "specialist": specialist,
        "lineage": lineage,
        "metric": metric,
        "lower_is_better": lower,
        "best": best,
        "size_cap_bytes": config.get("size_cap_bytes"),
        "budgets": _caps(config.get("budgets", {})),
    }
    if not lineage:
        return LineageView(**base)
    return LineageView(
        **base, noise_floor=floor, **_lineage(con, search_id, specialist, lower, best)
    )


def _lineage(
    con: duckdb.DuckDBPyConnection,
    search_id: UUID,
    specialist: str,
    lower: bool,
    best: TrialLine | None,
) -> dict[str, Any]:
    """What a lineage-reading specialist sees besides the best: the leaderboard, the best's
    chain and children, the recent and its own finished trials, what was tried."""
    order = "t.score" if lower else "-t.score"
    return dict(
        leaderboard=_lines(
            con,
            f"WHERE t.search_id = ? AND t.status = 'keep' ORDER BY {order}, t.seq LIMIT 20",
            [search_id],
        ),
        chain=_chain(con, best),
        best_children=_lines(con, "WHERE t.parent_id = ? ORDER BY t.seq", [best.trial_id])
        if best
        else (),
        recent=_lines(
            con,
            f"WHERE t.search_id = ? AND {_TERMINAL} ORDER BY t.finished_position DESC LIMIT 10",
            [search_id],
        ),
        mine=_lines(
            con,
            f"WHERE t.search_id = ? AND t.specialist = ? AND {_TERMINAL}"
            " ORDER BY t.finished_position DESC LIMIT 5",
            [search_id, specialist],
        ),
        tried=_tried(con, search_id),
        known_recipes=_known_recipes(con, search_id),
    )


def _caps(budgets: dict[str, Any]) -> dict[str, float]:
    """The numeric budget settings (the clock's name and an unset multiple are no caps)."""
    return {k: v for k, v in budgets.items() if isinstance(v, int | float) and v is not True}


def _best(con: duckdb.DuckDBPyConnection, search_id: UUID) -> TrialLine | None:
    found = _lines(
        con,
        "WHERE t.search_id = ? AND t.status = 'keep' ORDER BY t.finished_position DESC LIMIT 1",
        [search_id],
    )
    return found[0] if found else None


def _chain(con: duckdb.DuckDBPyConnection, best: TrialLine | None) -> tuple[TrialLine, ...]:
    if best is None:
        return ()
    row = con.execute(
        "SELECT ancestors FROM lineage WHERE trial_id = ?", [best.trial_id]
    ).fetchone()
    ancestors = list(row[0]) if row else []
    if not ancestors:
        return (best,)
    found = {
        line.trial_id: line
        for line in _lines(con, "WHERE t.trial_id IN (SELECT unnest(?))", [ancestors])
    }
    return (*(found[a] for a in ancestors if a in found), best)


def _lines(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> tuple[TrialLine, ...]:
    rows = con.execute(f"{_LINE} {where}", params).fetchall()
    return tuple(_line(row) for row in rows)


def _line(row: tuple[Any, ...]) -> TrialLine:
    (
        tid,
        seq,
        specialist,
        parent_seq,
        depth,
        status,
        score,
        delta,
        hypothesis,
        idea,
        reason,
        excerpt,
        child,
        measurements,
        evidence,
    ) = row
    return TrialLine(
        trial_id=tid,
        sequence=seq,
        specialist=specialist,
        parent_sequence=parent_seq,
        depth=depth,
        status=status,
        score=score,
        delta=delta,
        hypothesis=hypothesis or "",
        idea=idea or "",
        note=_note(reason, excerpt),
        child_sha256=child,
        measurements=_numbers(measurements, evidence),
    )


def _note(reason: str | None, excerpt: str | None) -> str:
    """The failure reason and the last line of its log excerpt, without repeats."""
    last_line = (excerpt or "").strip().splitlines()[-1:]
    parts = [part.strip() for part in [reason or "", *last_line] if part.strip()]
    return " | ".join(dict.fromkeys(parts))


def _numbers(measurements: str | None, evidence: str | None) -> dict[str, float]:
    merged: dict[str, Any] = {
        **json.loads(evidence or "{}"),
        **json.loads(measurements or "{}"),
    }
    return {
        k: float(v)
        for k, v in merged.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _tried(con: duckdb.DuckDBPyConnection, search_id: UUID) -> tuple[TriedEdit, ...]:
    rows = con.execute(
        "SELECT t.parent_seq, t.child_sha256, t.idea, t.specialist, t.status, t.seq,"  # noqa: S608
        " t.score, p.score"
        " FROM trials t LEFT JOIN trials p ON p.trial_id = t.parent_id"
        f" WHERE t.search_id = ? AND t.specialist <> 'baseline' AND {_TERMINAL} ORDER BY t.seq",
        [search_id],
    ).fetchall()
    return tuple(
        TriedEdit(
            parent_sequence=r[0],
            child_sha256=r[1],
            idea=r[2] or "",
            specialist=r[3],
            status=r[4],
            sequence=r[5],
            score=r[6],
            parent_score=r[7],
        )
        for r in rows
    )


def _known_recipes(con: duckdb.DuckDBPyConnection, search_id: UUID) -> tuple[str, ...]:
    """Every recipe this search ran or is running; a harness abort measured nothing."""
    rows = con.execute(
        "SELECT DISTINCT child_sha256 FROM trials WHERE search_id = ?"
        " AND child_sha256 IS NOT NULL AND status <> 'harness_abort' ORDER BY 1",
        [search_id],
    ).fetchall()
    return tuple(row[0] for row in rows)


class DuckReadModel:
    """The ReadModel port (domain/ports.py) over one projections file, held read-write by
    this process until `close()`. `at` positions must be asked in rising order, since the
    file is caught up step by step; once asked, the model stays at that position."""

    def __init__(self, reader: EventReader, path: Path) -> None:
        self.reader, self.path = reader, path
        self.projections = Projections(reader, path)

    def lineage(self) -> DuckLineage:
        return DuckLineage(self.reader, self.path, self.projections)

    def at(self, position: int) -> DuckLineage:
        self.projections.until = position
        return self.lineage()

    def refresh(self) -> int:
        return self.projections.refresh()

    def rebuild(self) -> int:
        self.projections.close()
        return rebuild(self.reader, self.path)

    def close(self) -> None:
        self.projections.close()
