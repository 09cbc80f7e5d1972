"""The polling projector: ledger notifications in, DuckDB rows out, exactly once.

The SQLite store has no subscriptions, so the projector pulls: it reads a batch after its
tracking position, folds it in Python, and writes the rows and the new position in one
DuckDB transaction. A crash mid-batch rolls back both; re-running continues where the
last commit ended, so catching up twice is a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

import duckdb

from domain import faults
from domain.envelope import StoredRecord, topic_name
from domain.events import EVENTS_BY_NAME, upcast
from projections.legacy import costs as _costs  # noqa: F401 - registers the agent-event handlers
from projections.legacy import fold, schema

APP = "ledger"
_BODY_END = b',"hash":"'  # canonical envelopes sort "event" first and "hash" right after it


class EventReader(Protocol):
    def read(self, after: int, limit: int) -> Sequence[StoredRecord]: ...


class Decoded:
    __slots__ = ("body", "body_json", "class_version", "hashes", "meta", "name", "record")

    def __init__(self, record: StoredRecord) -> None:
        self.record = record
        state = record.state
        cut = state.rfind(_BODY_END)
        self.body_json = state[9:cut].decode()  # the slice after '{"event":'
        envelope = json.loads(state)
        self.name = topic_name(record.topic)
        cls = EVENTS_BY_NAME.get(self.name)
        body = envelope["event"]
        self.body = upcast(cls, body, envelope["v"]) if cls is not None else body
        self.meta = fold.Meta(
            record.position,
            envelope["stream"],
            record.aggregate_id,
            datetime.fromisoformat(self.body["timestamp"]),
        )
        self.hashes = (envelope["hash"], envelope["prev"])
        self.class_version = int(envelope["v"])


def position(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT position FROM tracking WHERE app = ?", [APP]).fetchone()
    return int(row[0]) if row else 0


def catch_up(
    reader: EventReader,
    con: duckdb.DuckDBPyConnection,
    until: int | None = None,
    batch: int = 20_000,
) -> int:
    """Project every event after the tracking position (up to `until`); returns the count."""
    done = 0
    last = position(con)
    while until is None or last < until:
        limit = batch if until is None else min(batch, until - last)
        records = reader.read(last, limit)
        if not records:
            break
        _project(con, [Decoded(r) for r in records])
        last = records[-1].position
        done += len(records)
    return done


def _project(con: duckdb.DuckDBPyConnection, items: list[Decoded]) -> None:
    work = _load(con, items)
    for item in items:
        handler = fold.HANDLERS.get(item.name)
        if handler is not None:
            handler(work, item.body, item.meta)
    con.begin()
    try:
        _write(con, items, work)
        faults.point("project")  # a kill here must leave neither rows nor position
        con.execute(
            "INSERT OR REPLACE INTO tracking VALUES (?, ?)",
            [APP, items[-1].record.position],
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _load(con: duckdb.DuckDBPyConnection, items: list[Decoded]) -> fold.Batch:
    """Fetch the existing rows this batch will update, in one query per table."""
    trial_ids: set[str] = set()
    search_ids: set[str] = set()
    shas: set[str] = set()
    for item in items:
        if item.name in fold.TRIAL_EVENT_NAMES:
            trial_ids.add(item.record.aggregate_id)
        elif item.name in fold.SEARCH_EVENT_NAMES:
            search_ids.add(item.record.aggregate_id)
        elif item.name == "TrialProposed" and item.body["parent_id"]:
            trial_ids.add(item.body["parent_id"])
        if item.name == "RecipeEdited":
            shas.add(item.body["parent_sha256"])
    return fold.Batch(
        trials=_rows(con, "trials", "trial_id", schema.TRIAL_COLUMNS, trial_ids),
        searches=_rows(con, "searches", "search_id", schema.SEARCH_COLUMNS, search_ids),
        lineage=_lineage(con, trial_ids),
        recipes=_recipes(con, shas),
    )


def _rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    columns: tuple[tuple[str, str], ...],
    ids: Iterable[str],
) -> dict[str, fold.Row]:
    wanted = [UUID(i) for i in ids]
    if not wanted:
        return {}
    names = [name for name, _ in columns]
    sql = f"SELECT {', '.join(names)} FROM {table} WHERE {key} IN (SELECT unnest(?))"  # noqa: S608
    rows = con.execute(sql, [wanted]).fetchall()
    return {str(row[0]): _plain(dict(zip(names, row, strict=True))) for row in rows}


def _plain(row: fold.Row) -> fold.Row:
    """UUIDs back to strings, as handlers see them in event bodies."""
    return {k: (str(v) if isinstance(v, UUID) else v) for k, v in row.items()}


def _lineage(con: duckdb.DuckDBPyConnection, ids: set[str]) -> dict[str, fold.Row]:
    if not ids:
        return {}
    rows = con.execute(
        "SELECT trial_id, path, ancestors FROM lineage WHERE trial_id IN (SELECT unnest(?))",
        [[UUID(i) for i in ids]],
    ).fetchall()
    return {str(r[0]): {"path": r[1], "ancestors": [str(a) for a in r[2]]} for r in rows}


def _recipes(con: duckdb.DuckDBPyConnection, shas: set[str]) -> dict[str, dict[str, str]]:
    if not shas:
        return {}
    rows = con.execute(
        "SELECT sha256, files FROM recipes WHERE sha256 IN (SELECT unnest(?))",
        [list(shas)],
    ).fetchall()
    return {r[0]: json.loads(r[1]) for r in rows}


def _write(con: duckdb.DuckDBPyConnection, items: list[Decoded], work: fold.Batch) -> None:
    _append(con, "events", [_event_row(item) for item in items])
    _append(con, "progress", work.progress)
    _upsert(
        con,
        "trials",
        schema.TRIAL_COLUMNS,
        [work.trials[i] for i in sorted(work.touched_trials)],
    )
    _upsert(
        con,
        "searches",
        schema.SEARCH_COLUMNS,
        [work.searches[i] for i in sorted(work.touched_searches)],
    )
    _append(
        con,
        "lineage",
        [
            (r["trial_id"], r["search_id"], r["depth"], r["path"], r["ancestors"])
            for r in work.new_lineage
        ],
    )
    _append(
        con,
        "recipes",
        [(sha, fold.dumps(f)) for sha, f in sorted(work.new_recipes.items())],
        action="upsert",
    )
    _append(con, "views", sorted(work.views.items()), action="upsert")
    for sql, params in work.statements:
        con.execute(sql, params)


def _event_row(item: Decoded) -> tuple[Any, ...]:
    m = item.meta
    return (
        m.position,
        m.stream,
        m.aggregate_id,
        item.record.version,
        item.name,
        m.time,
        item.body_json,  # as stored (before upcasting), so its hash can be re-checked
        *item.hashes,
        item.record.topic,
        item.class_version,
    )


def _append(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[Any],
    action: Literal["upsert"] | None = None,
) -> None:
    if not rows:
        return
    appender = con.appender(table, action=action) if action else con.appender(table)
    with appender:
        appender.append_rows(rows)


def _upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[tuple[str, str], ...],
    rows: list[fold.Row],
) -> None:
    names = [name for name, _ in columns]
    _append(con, table, [tuple(row[n] for n in names) for row in rows], action="upsert")
