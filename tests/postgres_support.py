"""The real PostgreSQL server for tests: a fresh schema per ledger, dropped afterwards.

`AUTORECIPE_TEST_POSTGRES` names the server (CI: postgresql://root@127.0.0.1:5432/test).
Without it the PostgreSQL tests skip with that reason, unless
`AUTORECIPE_REQUIRE_POSTGRES=1`, which CI sets: then they fail instead of skipping.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlparse
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

DSN = "AUTORECIPE_TEST_POSTGRES"
REQUIRE = "AUTORECIPE_REQUIRE_POSTGRES"


def server() -> str:
    dsn = os.environ.get(DSN, "")
    if not dsn:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {DSN} is not set")
        pytest.skip(f"no PostgreSQL server: set {DSN}=postgresql://user@host:port/db")
    return dsn


def with_schema(dsn: str, schema: str) -> str:
    parts = urlparse(dsn)
    query = [*parse_qsl(parts.query), ("schema", schema)]
    return parts._replace(query=urlencode(query)).geturl()


@contextlib.contextmanager
def fresh_ledger_url() -> Iterator[str]:
    """A ledger URL in a schema of its own; the schema is dropped when the block ends."""
    dsn = server()
    schema = f"test_{uuid4().hex[:16]}"
    try:
        yield with_schema(dsn, schema)
    finally:
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    """Run one query against the ledger's schema, straight through psycopg."""
    from ledger.postgres import conninfo, schema_of

    with psycopg.connect(conninfo(url), autocommit=True) as con:
        con.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(url))))
        return con.execute(query).fetchall()  # type: ignore[arg-type]
