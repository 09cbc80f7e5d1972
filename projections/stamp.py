"""What a projections file holds, as a stamp: the read model's code, the events' shapes and
the DuckDB storage version it is written in.

A file stamped otherwise (written by another version of autorecipe, or before stamps) is
rebuilt from the ledger, never patched in place: every table is derived from the ledger,
so a rebuild is always safe, and it is the only way a changed fold or a new event field
reaches rows projected earlier.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import duckdb

from projections import fold, fold_tables, fold_trials, schema, structs

# DuckDB 2.0 writes storage version 69+ by default, which no DuckDB 1.x client opens (the
# DuckDB shell that `pip install duckdb-cli` gives is 1.5.x). Files written for 1.5 are
# read by 1.5.x and by 2.x alike.
STORAGE_VERSION = "v1.5.0"
READ_MODEL_MODULES = (schema, fold, fold_tables, fold_trials, structs)
_TABLE = "read_model"


@functools.cache
def current() -> str:
    """The stamp this program writes: any change to the fold's SQL, the tables, the event
    shapes or the storage version gives another one."""
    digest = hashlib.sha256(STORAGE_VERSION.encode())
    for module in READ_MODEL_MODULES:
        digest.update(Path(str(module.__file__)).read_bytes())
    for kind in structs.catalogue().values():
        digest.update(f"{kind.name}:{kind.shape}".encode())
    return digest.hexdigest()[:16]


def of(con: duckdb.DuckDBPyConnection) -> str | None:
    """The file's stamp; "" for a file with tables but no stamp; None for an empty file."""
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if _TABLE in tables:
        row = con.execute(f"SELECT format FROM {_TABLE}").fetchone()  # noqa: S608 - a literal
        return str(row[0]) if row else ""
    return "" if tables else None


def matches(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the file holds this program's read model (an empty file does not yet)."""
    return of(con) == current()


def write(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {_TABLE} (format VARCHAR)")
    con.execute(f"INSERT INTO {_TABLE} VALUES (?)", [current()])  # noqa: S608 - a literal
