"""The event store: one eventsourcing Application over SQLite (default) or PostgreSQL.

Events are written only through `append`, which seals each one into the per-search hash
chain and inserts a whole step in one transaction, so a step is stored entirely or not
at all. `read` pages through the notification log in ledger order; one search's events
(`stream`, `head`, `searches`) are found through the stream index that the store keeps
in the append's transaction (ledger/stream_index.py), in proportion to that search.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain import faults
from domain.base import DomainEvent
from domain.envelope import GENESIS, StoredRecord, open_envelope, seal, topic_name
from domain.events import body_of, decode, topic_of
from domain.location import BadLocationError, LedgerLocation
from ledger.postgres import PostgresIndex, creating, schema_of
from ledger.stream_index import SqliteIndex, StreamIndex, TextRow


class LedgerError(Exception):
    """A ledger that cannot be opened or written; the CLI prints its message."""


class ConcurrentWriteError(LedgerError):
    pass


class Ledger(Application[UUID]):
    name = "ledger"
    env: ClassVar[dict[str, str]] = {"CREATE_TABLE": "true"}

    def __init__(self, env: dict[str, str], location: LedgerLocation, index: StreamIndex) -> None:
        super().__init__(env=env)
        self.location = location
        self.index = index
        index.ensure()  # after the events table exists; backfills a ledger written before it
        self._heads: dict[str, str] = {}

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        raise LedgerError("events are written with Ledger.append, which chains them")

    # Writing:

    def append(self, stream: UUID, events: Sequence[DomainEvent]) -> list[int]:
        """Seal and insert events atomically; returns their notification positions."""
        if not events:
            return []
        first = events[0]
        starts = first.originator_id == stream and first.originator_version == 1
        head = GENESIS if starts else self.head(stream)  # a new search begins its own chain
        stored: list[StoredEvent] = []
        for event in events:
            state, head = seal(
                body_of(event),
                event.class_version,
                str(stream),
                head,
                topic_of(type(event)),
                str(event.originator_id),
                event.originator_version,
            )
            stored.append(
                StoredEvent(
                    originator_id=event.originator_id,
                    originator_version=event.originator_version,
                    topic=topic_of(type(event)),
                    state=state,
                )
            )
        faults.point("append")  # a kill here, mid-step, must leave no event of the step
        try:
            positions = self.recorder.insert_events(stored) or []
        except IntegrityError as error:
            raise ConcurrentWriteError(
                f"another writer stored these aggregate versions first: {error}"
            ) from None
        self._heads[str(stream)] = head
        return list(positions)

    def head(self, stream: UUID) -> str:
        """The hash of the stream's last event (GENESIS for a new stream)."""
        key = str(stream)
        if key not in self._heads:
            last = self.index.records(stream, last_only=True)
            self._heads[key] = open_envelope(last[0].state).hash if last else GENESIS
        return self._heads[key]

    # Reading:

    def read(self, after: int, limit: int) -> list[StoredRecord]:
        notes = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        return [
            StoredRecord(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in notes
        ]

    def read_all(self, after: int = 0, batch: int = 5000) -> Iterator[StoredRecord]:
        while records := self.read(after, batch):
            yield from records
            after = records[-1].position

    def read_text(self, after: int, limit: int) -> list[TextRow]:
        """Stored rows as text (position, aggregate id, version, topic, state), for bulk
        loading: no decoding or per-row objects beyond the driver's tuples."""
        return self.index.text_rows(after, limit)

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def stream_records(self, stream: UUID) -> list[StoredRecord]:
        """Every stored event of one search, in ledger order, found through the index."""
        return self.index.records(stream)

    def stream(self, stream: UUID) -> list[DomainEvent]:
        """Every event of one search, decoded and upcast, in ledger order."""
        return [decode(record) for record in self.stream_records(stream)]

    def searches(self) -> list[tuple[UUID, bool]]:
        """Every search id in start order, and whether it finished."""
        return [
            (search, topic_name(topic) == "SearchFinished")
            for search, topic in self.index.streams()
        ]


def sqlite_env(path: Path) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def postgres_env(url: str) -> dict[str, str]:
    parts = urlparse(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or os.environ.get("USER", "postgres")),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": schema_of(url),
    }


def locate(location: str | LedgerLocation) -> LedgerLocation:
    """The parsed location (domain/location.py), a bad one as a LedgerError."""
    try:
        return LedgerLocation.parse(location)
    except BadLocationError as error:
        raise LedgerError(str(error)) from None


def open_ledger(location: str | LedgerLocation) -> Ledger:
    """Open (creating if needed) the ledger at a SQLite path or a PostgreSQL URL."""
    where = locate(location)
    if where.file is None:
        env = postgres_env(where.text)
    else:
        path = where.file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LedgerError(
                f"cannot create the ledger folder {path.parent}: {error.strerror}"
            ) from None
        if path.exists() and not os.access(path, os.W_OK):
            raise LedgerError(f"the ledger {path} is not writable")
        if not os.access(path.parent, os.W_OK):
            raise LedgerError(f"the ledger folder {path.parent} is not writable")
        env = sqlite_env(path)
    index = SqliteIndex(where.file) if where.file else PostgresIndex(where.text)
    try:
        with contextlib.nullcontext() if where.file else creating(where.text):
            return Ledger(env=env, location=where, index=index)
    except Exception as error:  # noqa: BLE001 - driver errors vary; one line for the user
        raise LedgerError(f"cannot open the ledger {where.text}: {error}") from None
