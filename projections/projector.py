"""The polling projector: ledger rows in, DuckDB rows out, exactly once.

The SQLite store has no subscriptions, so the projector pulls: it reads a chunk of stored
rows (as text) after its tracking position, folds it with SQL (projections/fold.py), and
commits the rows and the new position in one DuckDB transaction. A crash mid-chunk rolls
back both; running again continues where the last commit ended, so catching up twice is
a no-op. While DuckDB folds one chunk, a thread reads the next one from the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import duckdb

from domain import faults
from projections import fold
from projections.structs import EventType, catalogue

APP = "ledger"
CHUNK = 122_880  # rows per transaction: a DuckDB row group, written straight to the file


class EventReader(Protocol):
    def read_text(self, after: int, limit: int) -> Sequence[fold.TextRow]:
        """Stored rows after a position, in ledger order: (position, aggregate id,
        version, topic, state as text)."""
        ...

    def max_position(self) -> int: ...


def position(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT position FROM tracking WHERE app = ?", [APP]).fetchone()
    return int(row[0]) if row else 0


def catch_up(
    reader: EventReader,
    con: duckdb.DuckDBPyConnection,
    until: int | None = None,
    batch: int = CHUNK,
) -> int:
    """Project every event after the tracking position (up to `until`); returns the count."""
    kinds = catalogue()
    done = 0
    made: set[str] = set()
    try:
        for rows in _chunks(reader, position(con), until, batch):
            made |= _project(con, kinds, rows)
            done += len(rows)
    finally:
        if made:
            fold.release(con, made)
    return done


def _chunks(
    reader: EventReader, after: int, until: int | None, batch: int
) -> Iterator[Sequence[fold.TextRow]]:
    """Chunks in order, the next one read on a thread while the caller folds this one
    (the driver and DuckDB both let go of the GIL while they work)."""

    def read(start: int) -> Sequence[fold.TextRow]:
        rows = reader.read_text(start, batch)
        return [r for r in rows if r[0] <= until] if until is not None else rows

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-read") as pool:
        pending: Future[Sequence[fold.TextRow]] = pool.submit(read, after)
        while rows := pending.result():
            pending = pool.submit(read, rows[-1][0]) if len(rows) == batch else _done()
            yield rows


def _done() -> Future[Sequence[fold.TextRow]]:
    finished: Future[Sequence[fold.TextRow]] = Future()
    finished.set_result([])
    return finished


def _project(
    con: duckdb.DuckDBPyConnection, kinds: dict[str, EventType], rows: Sequence[fold.TextRow]
) -> set[str]:
    con.begin()
    try:
        made = fold.fold_step(con, kinds, rows)
        faults.point("project")  # a kill here must leave neither rows nor position
        con.execute("INSERT OR REPLACE INTO tracking VALUES (?, ?)", [APP, rows[-1][0]])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return made
