"""PostgreSQL ledger URLs: `postgresql://user@host:port/db?schema=NAME`.

The optional `schema` parameter lets several ledgers share one database, one schema
each (the table is `<schema>.ledger_events`); tests use a fresh schema apiece. libpq
refuses parameters it does not know, so connections made here and by the lease get the
URL without it, and eventsourcing gets the schema through `POSTGRES_SCHEMA`.
"""

from __future__ import annotations

import contextlib
import re
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


def create_schema(url: str) -> None:
    """Create the URL's schema if it is missing: eventsourcing creates tables, not schemas."""
    name = schema_of(url)
    if not name:
        return
    if not SCHEMA_NAME.fullmatch(name):
        raise BadSchemaError(f"the schema {name!r} is not a plain name (letters, digits, _)")
    import psycopg  # an optional extra: imported only for PostgreSQL ledgers
    from psycopg import errors, sql

    with (
        psycopg.connect(conninfo(url), autocommit=True) as con,
        contextlib.suppress(errors.UniqueViolation),  # a concurrent opener created it first
    ):
        con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
