"""PostgreSQL ledger URLs: `postgresql://user@host:port/db?schema=NAME`.

The optional `schema` parameter lets several ledgers share one database, one schema
each (the table is `<schema>.ledger_events`); tests use a fresh schema apiece. libpq
refuses parameters it does not know, so connections made here and by the lease get the
URL without it, and eventsourcing gets the schema through `POSTGRES_SCHEMA`. Processes
that open one ledger at the same moment take turns to create it (see `creating`), and
its stream index (`PostgresIndex`, `<schema>.ledger_stream_positions`) with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse
from uuid import UUID

from domain.envelope import StoredRecord
from ledger.stream_index import PG_STREAM, STREAMS, TextRow

SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # an unquoted identifier


class BadSchemaError(ValueError):
    pass


def schema_of(url: str) -> str:
    """The URL's schema, or "" for eventsourcing's default (public)."""
    return dict(parse_qsl(urlparse(url).query)).get("schema", "")


def conninfo(url: str) -> str:
    """The URL as libpq takes it: every parameter but `schema`."""
    parts = urlparse(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "schema"])
    return parts._replace(query=query).geturl()


@contextlib.contextmanager
def creating(url: str) -> Iterator[None]:
    """Hold the ledger's creation lock, with its schema made, while its table is created.

    eventsourcing creates its table, type and insert function (CREATE OR REPLACE) each
    time a ledger is opened; two processes doing so at once fail with "tuple concurrently
    updated", so openers of one ledger take turns here, a fraction of a second each.
    """
    name = schema_of(url)
    if name and not SCHEMA_NAME.fullmatch(name):
        raise BadSchemaError(f"the schema {name!r} is not a plain name (letters, digits, _)")
    import psycopg  # an optional extra: imported only for PostgreSQL ledgers
    from psycopg import sql

    digest = hashlib.sha256(f"autorecipe/create/{name}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with psycopg.connect(conninfo(url), autocommit=True) as con:
        con.execute("SELECT pg_advisory_lock(%s)", [key])
        try:
            if name:
                con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
            yield
        finally:
            con.execute("SELECT pg_advisory_unlock(%s)", [key])


class PostgresIndex:
    """The stream index on PostgreSQL (see ledger/stream_index.py): a trigger on
    `ledger_events` fills `ledger_stream_positions` in the append's transaction."""

    def __init__(self, url: str) -> None:
        from psycopg import sql

        self.url = url
        schema = sql.Identifier(schema_of(url) or "public")
        self.events = sql.SQL("{}.ledger_events").format(schema)
        self.index = sql.SQL("{}.ledger_stream_positions").format(schema)
        self.function = sql.SQL("{}.ledger_stream_position").format(schema)
        self.schema = schema_of(url) or "public"

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg

        with psycopg.connect(conninfo(self.url)) as con:
            yield con

    def ensure(self) -> None:
        """Create the table, function and trigger and index every stored event, once.
        Called while `creating` holds the ledger's creation lock."""
        from psycopg import sql

        with self._connection() as con:
            if self._has_trigger(con):
                return
            con.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self.events))
            con.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (stream uuid NOT NULL, position bigint"
                    " NOT NULL, PRIMARY KEY (stream, position))"
                ).format(self.index)
            )
            stream = sql.SQL(PG_STREAM.format(s="NEW.state"))
            con.execute(
                sql.SQL(
                    "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$"
                    " BEGIN INSERT INTO {} VALUES ({}, NEW.notification_id); RETURN NULL;"
                    " END $$"
                ).format(self.function, self.index, stream)
            )
            con.execute(
                sql.SQL(
                    "CREATE TRIGGER ledger_stream_positions AFTER INSERT ON {}"
                    " FOR EACH ROW EXECUTE FUNCTION {}()"
                ).format(self.events, self.function)
            )
            con.execute(
                sql.SQL("INSERT INTO {} SELECT {}, notification_id FROM {}").format(
                    self.index, sql.SQL(PG_STREAM.format(s="state")), self.events
                )
            )

    def _has_trigger(self, con: Any) -> bool:
        row = con.execute(
            "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE t.tgname = 'ledger_stream_positions' AND c.relname = 'ledger_events'"
            " AND n.nspname = %s",
            [self.schema],
        ).fetchone()
        return row is not None

    def records(self, stream: UUID, last_only: bool = False) -> list[StoredRecord]:
        from psycopg import sql

        order = sql.SQL("DESC LIMIT 1" if last_only else "")
        with self._connection() as con:
            rows = con.execute(
                sql.SQL(
                    "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic,"
                    " e.state FROM {} p JOIN {} e ON e.notification_id = p.position"
                    " WHERE p.stream = %s ORDER BY p.position {}"
                ).format(self.index, self.events, order),
                [stream],
            ).fetchall()
        return [StoredRecord(p, str(a), v, t, bytes(s)) for p, a, v, t, s in rows]

    def streams(self) -> list[tuple[UUID, str]]:
        from psycopg import sql

        with self._connection() as con:
            starts = con.execute(sql.SQL(STREAMS).format(index=self.index)).fetchall()
            return [(stream, self._last_topic(con, stream)) for stream, _ in starts]

    def _last_topic(self, con: Any, search: UUID) -> str:
        from psycopg import sql

        row = con.execute(
            sql.SQL(
                "SELECT topic FROM {} WHERE originator_id = %s"
                " ORDER BY originator_version DESC LIMIT 1"
            ).format(self.events),
            [search],
        ).fetchone()
        return str(row[0]) if row else ""

    def text_rows(self, after: int, limit: int) -> list[TextRow]:
        from psycopg import sql

        with self._connection() as con:
            rows = con.execute(
                sql.SQL(
                    "SELECT notification_id, originator_id::text, originator_version, topic,"
                    " convert_from(state, 'UTF8') FROM {} WHERE notification_id > %s"
                    " ORDER BY notification_id LIMIT %s"
                ).format(self.events),
                [after, limit],
            ).fetchall()
        return [(p, a, v, t, s) for p, a, v, t, s in rows]
