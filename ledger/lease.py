"""One writer at a time: a lease a search holds while it appends events.

SQLite: an exclusive flock on `<ledger>.lock` covers the whole file. PostgreSQL: a
session advisory lock per search, so many searches (on many hosts) share one ledger but
never write the same search's chain twice. The kernel or the server drops the lease when
the holder dies, so a killed search never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

from domain.location import LedgerLocation
from ledger.postgres import conninfo, schema_of
from ledger.store import LedgerError, locate


class LedgerInUseError(LedgerError):
    pass


@contextlib.contextmanager
def lease(location: str | LedgerLocation, search: UUID | None = None) -> Iterator[None]:
    """Hold the write lease for a ledger (SQLite) or for one search (PostgreSQL)."""
    where = locate(location)
    if where.file is None:
        with _advisory_lock(where.text, search):
            yield
    else:
        with _file_lock(where.file):
            yield


@contextlib.contextmanager
def _file_lock(ledger: Path) -> Iterator[None]:
    path = ledger.with_name(ledger.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise LedgerInUseError(
                f"the ledger {ledger} is in use by {holder}; wait for it or use --ledger"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def _lock_key(url: str, search: UUID | None) -> int:
    # Advisory locks are per database: the schema keeps two ledgers' searches apart.
    schema = schema_of(url)
    name = f"autorecipe/{schema}/{search}" if schema else f"autorecipe/{search}"
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _advisory_lock(url: str, search: UUID | None) -> Iterator[None]:
    import psycopg  # an optional extra: imported only for PostgreSQL ledgers

    with psycopg.connect(conninfo(url), autocommit=True) as con:
        row = con.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(url, search)]).fetchone()
        if not row or not row[0]:
            raise LedgerInUseError(f"search {search} on {url} is being written by another process")
        try:
            yield
        finally:
            con.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(url, search)])
