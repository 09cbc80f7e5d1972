"""PostgreSQL ledger URLs: `postgresql://user@host:port/db?schema=NAME`.

The optional `schema` parameter lets several ledgers share one database, one schema
each (the table is `<schema>.ledger_events`); tests use a fresh schema apiece. libpq
refuses parameters it does not know, so connections made here and by the lease get the
URL without it, and eventsourcing gets the schema through `POSTGRES_SCHEMA`. Processes
that open one ledger at the same moment take turns to create it (see `creating`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlparse

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
