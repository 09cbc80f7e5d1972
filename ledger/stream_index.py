"""The stream index: which ledger positions belong to which search, kept by the store itself.

`stream_positions(stream, position)` (PostgreSQL: `ledger_stream_positions`) has one row
per event, keyed by (stream, position). An AFTER INSERT trigger fills it in the same
transaction as the append, cutting the stream from the canonical envelope's fixed tail
(`..."stream":"<36 chars>","v":<digits>}`) without parsing JSON. A ledger written before
the index existed is backfilled in the transaction that creates the trigger, so a ledger
with the trigger is always fully indexed. Finding one search's events, its last event or
the list of searches then costs in proportion to what is asked, not to the ledger.

It also hands the projector the stored rows as text in bulk (`text_rows`), straight from
the database driver: the JSON is parsed inside DuckDB.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from domain.envelope import StoredRecord

TextRow = tuple[int, str, int, str, str]  # position, aggregate id, version, topic, state

# The stream of a stored state, from its tail: the last 8 bytes hold `"v":<digits>}`,
# and the stream's 36 characters end 6 bytes before the colon there. Byte offsets.
_SQLITE_STREAM = "CAST(substr({s}, length({s}) - 49 + instr(substr({s}, -8), ':'), 36) AS TEXT)"
PG_STREAM = (
    "convert_from(substr({s}, length({s}) - 49"
    " + position(':'::bytea in substr({s}, length({s}) - 7)), 36), 'UTF8')::uuid"
)
# Every distinct stream with its first position, by a loose index scan: one index seek
# per search rather than a pass over the whole index.
STREAMS = (
    "WITH RECURSIVE s(stream) AS ("
    " SELECT stream FROM (SELECT stream FROM {index} ORDER BY stream LIMIT 1) AS least"
    " UNION ALL SELECT (SELECT i.stream FROM {index} i WHERE i.stream > s.stream"
    " ORDER BY i.stream LIMIT 1) FROM s WHERE s.stream IS NOT NULL)"
    " SELECT stream, (SELECT i.position FROM {index} i WHERE i.stream = s.stream"
    " ORDER BY i.position LIMIT 1) AS first FROM s WHERE stream IS NOT NULL ORDER BY first"
)


class StreamIndex(Protocol):
    def ensure(self) -> None: ...
    def records(self, stream: UUID, last_only: bool = False) -> list[StoredRecord]: ...
    def streams(self) -> list[tuple[UUID, str]]:
        """Every search id in start order, with the topic of its search's latest event."""
        ...

    def text_rows(self, after: int, limit: int) -> list[TextRow]: ...


class SqliteIndex:
    TABLE = "stream_positions"

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield con
        finally:
            con.close()

    def ensure(self) -> None:
        """Create the table and trigger, and index every stored event, once."""
        trigger = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?"
        with self._connection() as con:
            if con.execute(trigger, [self.TABLE]).fetchone():
                return
            con.execute("BEGIN IMMEDIATE")  # no event is appended between backfill and trigger
            try:
                if not con.execute(trigger, [self.TABLE]).fetchone():
                    self._create(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _create(self, con: sqlite3.Connection) -> None:
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {self.TABLE} (stream TEXT NOT NULL,"
            " position INTEGER NOT NULL, PRIMARY KEY (stream, position)) WITHOUT ROWID"
        )
        con.execute(
            f"CREATE TRIGGER {self.TABLE} AFTER INSERT ON stored_events BEGIN"  # noqa: S608
            f" INSERT INTO {self.TABLE} VALUES ({_SQLITE_STREAM.format(s='NEW.state')},"
            " NEW.rowid); END"
        )
        con.execute(
            f"INSERT OR IGNORE INTO {self.TABLE} SELECT {_SQLITE_STREAM.format(s='state')},"  # noqa: S608
            " rowid FROM stored_events"
        )

    def records(self, stream: UUID, last_only: bool = False) -> list[StoredRecord]:
        order = "DESC LIMIT 1" if last_only else ""
        with self._connection() as con:
            rows = con.execute(
                "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state"  # noqa: S608
                f" FROM {self.TABLE} p JOIN stored_events e ON e.rowid = p.position"
                f" WHERE p.stream = ? ORDER BY p.position {order}",
                [str(stream)],
            ).fetchall()
        return [_record(*row) for row in rows]

    def streams(self) -> list[tuple[UUID, str]]:
        with self._connection() as con:
            starts = con.execute(STREAMS.format(index=self.TABLE)).fetchall()
            return [(UUID(stream), self._last_topic(con, UUID(stream))) for stream, _ in starts]

    @staticmethod
    def _last_topic(con: sqlite3.Connection, search: UUID) -> str:
        row = con.execute(
            "SELECT topic FROM stored_events WHERE originator_id = ?"
            " ORDER BY originator_version DESC LIMIT 1",
            [search.hex],
        ).fetchone()
        return str(row[0]) if row else ""

    def text_rows(self, after: int, limit: int) -> list[TextRow]:
        with self._connection() as con:
            return con.execute(
                "SELECT rowid, originator_id, originator_version, topic, CAST(state AS TEXT)"
                " FROM stored_events WHERE rowid > ? ORDER BY rowid LIMIT ?",
                [after, limit],
            ).fetchall()


def _record(position: int, aggregate: Any, version: int, topic: str, state: bytes) -> StoredRecord:
    return StoredRecord(position, str(UUID(str(aggregate))), version, topic, bytes(state))
