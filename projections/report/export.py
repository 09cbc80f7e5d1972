"""Export the projection tables as Parquet or CSV files, with a manifest to check them by.

The manifest records each table's columns and types, its row count, a checksum of its
rows and the sha256 of its file. The row checksum hashes every row's text form in sorted
order, so it is the same for the projection and for the file read back with the
manifest's types: `read_back` recomputes it from the files alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb

FORMATS = ("parquet", "csv")
SKIPPED = ("tracking", "read_model")  # bookkeeping: the position goes in the manifest
_CSV_OPTIONS = "HEADER, NULLSTR '\\N', FORCE_QUOTE *"  # quoted '' stays apart from NULL


class ExportError(ValueError):
    pass


def _quote(text: str) -> str:
    """A SQL string literal: COPY and the readers take file names only as literals."""
    return "'" + text.replace("'", "''") + "'"


def _utc(con: duckdb.DuckDBPyConnection) -> None:
    """Times print in the session's zone; fix it so checksums agree across machines."""
    con.execute("SET TimeZone = 'UTC'")


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        " AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows if name not in SKIPPED]


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[list[str]]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [[name, kind] for name, kind in rows]


def checksum(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[int, str]:
    """Row count and SHA-256 of the rows' text, sorted: independent of row order and format."""
    count, digest = con.execute(
        "SELECT count(*), sha256(coalesce(string_agg(line, chr(10) ORDER BY line), ''))"  # noqa: S608
        f" FROM (SELECT CAST(r AS VARCHAR) AS line FROM {relation} r)"
    ).fetchall()[0]
    return int(count), str(digest)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export(con: duckdb.DuckDBPyConnection, out_dir: Path, fmt: str = "parquet") -> Path:
    """Write one file per projection table and manifest.json; returns the manifest's path."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use parquet or csv")
    _utc(con)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create {out_dir}: {error.strerror}") from None
    options = "FORMAT parquet" if fmt == "parquet" else f"FORMAT csv, {_CSV_OPTIONS}"
    entries: dict[str, Any] = {}
    for table in tables(con):
        target = out_dir / f"{table}.{fmt}"
        try:
            con.execute(f'COPY "{table}" TO {_quote(str(target))} ({options})')
        except duckdb.Error as error:
            raise ExportError(f"{target}: {str(error).splitlines()[0]}") from None
        rows, rows_sha = checksum(con, f'"{table}"')
        entries[table] = {
            "file": target.name,
            "rows": rows,
            "rows_sha256": rows_sha,
            "file_sha256": _file_sha256(target),
            "columns": columns(con, table),
        }
    position = con.execute("SELECT max(position) FROM tracking").fetchone()
    manifest = {
        "format": fmt,
        "ledger_position": position[0] if position else None,
        "tables": entries,
    }
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def _reader(out_dir: Path, fmt: str, entry: dict[str, Any]) -> str:
    source = _quote(str(out_dir / entry["file"]))
    if fmt == "parquet":
        return f"read_parquet({source})"
    types = ", ".join(f"{_quote(name)}: {_quote(kind)}" for name, kind in entry["columns"])
    return (
        f"read_csv({source}, header = true, nullstr = '\\N', allow_quoted_nulls = false,"
        f" columns = {{{types}}})"
    )


def read_back(out_dir: Path) -> dict[str, tuple[int, str]]:
    """Each exported table's row count and row checksum, computed from its file alone."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    con = duckdb.connect()
    try:
        _utc(con)
        return {
            table: checksum(con, _reader(out_dir, manifest["format"], entry))
            for table, entry in manifest["tables"].items()
        }
    finally:
        con.close()
