"""Opening the projections file: one writer at a time, brief holds, and safe read-only use.

DuckDB lets one process hold a file read-write and locks out every other process, so
each command holds it only while it catches up or queries, and waits briefly for a
holder (the running search) to let go. Deleting the file is always safe: the next
command rebuilds it from the ledger.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from projections import schema
from projections.projector import EventReader, catch_up

EXTRA_DDL: list[str] = []  # tables added by other projections (costs, ...)


class ProjectionsBusyError(Exception):
    pass


def projections_path(ledger_location: str) -> Path:
    """The DuckDB file beside a SQLite ledger; under runs/ for a PostgreSQL URL."""
    if "://" in ledger_location:
        safe = "".join(c if c.isalnum() else "_" for c in ledger_location.split("@")[-1])
        return Path("runs") / f"{safe}.duckdb"
    return Path(ledger_location).with_suffix(".duckdb")


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    if read_only:
        return duckdb.connect(str(path), read_only=True, config={"enable_external_access": False})
    return duckdb.connect(str(path))


@contextlib.contextmanager
def connect(
    path: Path, read_only: bool = False, wait_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection, retried while another process holds the file."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            con = _connect(path, read_only)
            break
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise ProjectionsBusyError(
                    f"the projections file {path} is busy: {str(error).splitlines()[0]}"
                ) from None
            time.sleep(0.2)
    try:
        yield con
    finally:
        con.close()


class Projections:
    """A projections file kept open across nested uses, e.g. for the whole of one proposal.

    The outermost `open()` connects, creates the tables and catches up; nested ones reuse
    the connection and only catch up. When the outermost one ends the file is released,
    so `cli.py audit` in another process can read it between proposals.
    """

    def __init__(self, reader: EventReader, path: Path) -> None:
        self.reader, self.path = reader, path
        self._con: duckdb.DuckDBPyConnection | None = None

    @contextlib.contextmanager
    def open(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._con is not None:
            catch_up(self.reader, self._con)
            yield self._con
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with connect(self.path) as con:
            schema.create(con, tuple(EXTRA_DDL))
            catch_up(self.reader, con)
            self._con = con
            try:
                yield con
            finally:
                self._con = None


def refresh(reader: EventReader, path: Path, until: int | None = None) -> int:
    """Create the tables if needed and project every new event; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as con:
        schema.create(con, tuple(EXTRA_DDL))
        return catch_up(reader, con, until=until)


def rebuild(reader: EventReader, path: Path) -> int:
    """Delete the file and project the whole ledger again."""
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as con:
        # A fresh file has nothing to protect: checkpoint once at the end rather than every
        # few batches (the checkpoints were a quarter of a million-event rebuild).
        con.execute("SET checkpoint_threshold = '1TB'")
        schema.create(con, tuple(EXTRA_DDL))
        count = catch_up(reader, con)
        con.execute("CHECKPOINT")
        con.execute("RESET checkpoint_threshold")
    return count
