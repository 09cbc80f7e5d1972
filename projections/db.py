"""Opening the projections file: one writer process, held for a whole search, and read-only
commands that never wait on, or fail because of, another process's connection.

DuckDB lets one process hold a file read-write, and that locks out every other process,
read-only ones included; a file held only read-only can be opened read-only by others. So:
- the search holds its projections read-write for the whole search (`Projections`): the
  tables are created once, and every read catches up first;
- a read-only command (`reading`) gets one read-only connection to projections that are
  current with the ledger: the file itself (caught up first when no one holds it, or as
  it is when others only read it and it is current), else the readers' copy beside it
  (`<name>.readers.duckdb`, caught up from the ledger, started from a copy of the file
  when that is safe), else a private rebuild. A notebook or a DuckDB shell holding the
  file, or a running search, only sends the command to the next of these.
Deleting either file is always safe: it is rebuilt from the ledger.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from domain.location import LedgerLocation
from projections import schema, stamp
from projections.projector import EventReader, catch_up, position

READERS_WAIT_S = 10.0  # other commands hold the readers' copy for a fraction of a second


class ProjectionsBusyError(Exception):
    pass


def projections_path(ledger_location: str | LedgerLocation) -> Path:
    """The DuckDB file beside a SQLite ledger; under runs/ for a PostgreSQL URL (the
    location is parsed, and the place decided, in domain/location.py)."""
    return LedgerLocation.parse(ledger_location).projections


def readers_path(path: Path) -> Path:
    return path.with_name(path.stem + ".readers.duckdb")


def _connect(path: Path, read_only: bool, files: bool = False) -> duckdb.DuckDBPyConnection:
    if read_only:
        config: dict[str, str | bool | int | float | list[str]] = (
            {} if files else {"enable_external_access": False}
        )
        return duckdb.connect(str(path), read_only=True, config=config)
    return duckdb.connect(
        str(path), config={"storage_compatibility_version": stamp.STORAGE_VERSION}
    )


def _busy(error: duckdb.Error) -> bool:
    """Another process holds the file, or this one holds it in another mode."""
    text = str(error).lower()
    return (isinstance(error, duckdb.IOException) and "lock" in text) or (
        isinstance(error, duckdb.ConnectionException) and "different configuration" in text
    )


def _waiting(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """A connection, retried while another process holds the file."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return _connect(path, read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as error:
            if not _busy(error) or time.monotonic() >= deadline:
                raise ProjectionsBusyError(
                    f"the projections file {path} is busy: {str(error).splitlines()[0]}"
                ) from None
            time.sleep(0.2)


@contextlib.contextmanager
def connect(
    path: Path, read_only: bool = False, wait_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    with contextlib.closing(_waiting(path, read_only, wait_s)) as con:
        yield con


def refresh(reader: EventReader, path: Path, until: int | None = None, wait_s: float = 60.0) -> int:
    """Create the tables if needed and project every new event; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(_writable(path, wait_s)) as con:
        return catch_up(reader, con, until=until)


def _writable(path: Path, wait_s: float) -> duckdb.DuckDBPyConnection:
    """A read-write connection to a file that holds this program's read model: one stamped
    otherwise (another version wrote it) is deleted first, and rebuilt by catching up."""
    con = _waiting(path, read_only=False, wait_s=wait_s)
    found = stamp.of(con)
    if found is not None and found != stamp.current():
        con.close()
        _delete(path)
        con = _waiting(path, read_only=False, wait_s=wait_s)
    schema.create(con)
    if found != stamp.current():
        stamp.write(con)
    return con


def _delete(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)


def rebuild(reader: EventReader, path: Path) -> int:
    """Delete the file and project the whole ledger again."""
    _delete(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(_writable(path, 60.0)) as con:
        # A fresh file has nothing to protect: checkpoint once at the end rather than
        # every few chunks.
        con.execute("SET checkpoint_threshold = '1TB'")
        count = catch_up(reader, con)
        con.execute("CHECKPOINT")
        con.execute("RESET checkpoint_threshold")
    return count


class Projections:
    """A projections file held read-write by this process until `close()` (for a search:
    until it finishes). The tables are created once; `connection()` catches up first,
    and only `until` a ledger position if one is given."""

    def __init__(self, reader: EventReader, path: Path, until: int | None = None) -> None:
        self.reader, self.path, self.until = reader, path, until
        self._con: duckdb.DuckDBPyConnection | None = None

    def connection(self) -> duckdb.DuckDBPyConnection:
        con = self._opened()
        catch_up(self.reader, con, until=self.until)
        return con

    def refresh(self) -> int:
        """Project every new event (up to `until`); returns how many."""
        return catch_up(self.reader, self._opened(), until=self.until)

    def _opened(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = self._open()
        return self._con

    def _open(self) -> duckdb.DuckDBPyConnection:
        """The file, else the readers' copy if someone holds the file, else wait for it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for candidate in (self.path, readers_path(self.path)):
            with contextlib.suppress(ProjectionsBusyError):
                return _writable(candidate, wait_s=0.0)
        return _writable(self.path, wait_s=60.0)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


@contextlib.contextmanager
def reading(
    reader: EventReader, path: Path, files: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One read-only connection to projections current with the ledger (see the module
    docstring for where it comes from); `files` lets it write files (COPY for export)."""
    current = _current(reader, path, files, wait_s=0.0)
    if current is None:
        _seed_readers(path)
        current = _current(reader, readers_path(path), files, wait_s=READERS_WAIT_S)
    if current is not None:
        try:
            yield current
        finally:
            current.close()
        return
    with tempfile.TemporaryDirectory(prefix="projections-") as tmp:
        private = Path(tmp) / path.name
        rebuild(reader, private)
        with contextlib.closing(_connect(private, read_only=True, files=files)) as con:
            yield con


def _current(
    reader: EventReader, path: Path, files: bool, wait_s: float
) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection to `path` caught up with the ledger, or None if another
    process's connection stands in the way."""
    with contextlib.suppress(ProjectionsBusyError):
        refresh(reader, path, wait_s=wait_s)
    try:
        con = _connect(path, read_only=True, files=files)
    except (duckdb.IOException, duckdb.ConnectionException) as error:
        if _busy(error) or not path.exists():
            return None
        raise
    if _position(con) >= reader.max_position() and stamp.matches(con):
        return con
    con.close()  # held read-only by someone else, and behind the ledger or another format
    return None


def _position(con: duckdb.DuckDBPyConnection) -> int:
    try:
        return position(con)
    except duckdb.CatalogException:
        return -1  # not a projections file yet


def _seed_readers(path: Path) -> None:
    """Start the readers' copy from a copy of the file, if it has none yet and no process
    writes the file: holding it read-only ourselves keeps writers out while we copy."""
    target = readers_path(path)
    if target.exists() or not path.exists():
        return
    try:
        con = _connect(path, read_only=True)
    except duckdb.Error:
        return
    with contextlib.closing(con):
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, partial.with_name(partial.name + ".wal"))
            partial.with_name(partial.name + ".wal").rename(target.with_name(target.name + ".wal"))
        partial.rename(target)
