"""Read-only SQL over the projections, for people (`cli.py audit`) and for agents.

A query runs on a read-only connection with file access disabled (projections/db.py
`reading`), so it can neither write the projections nor read or write other files; only
one statement is accepted. `max_rows` fetches a first page only.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import duckdb

READ_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
}


class AuditQueryError(ValueError):
    pass


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False


def check_query(sql: str) -> duckdb.Statement:
    """One read statement, or an AuditQueryError that says what is wrong in one line."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise AuditQueryError(_first_line(error)) from None
    if len(statements) != 1:
        raise AuditQueryError(f"give exactly one statement (got {len(statements)})")
    if statements[0].type not in READ_STATEMENTS:
        raise AuditQueryError(
            f"audit is read-only: {statements[0].type.name} statements are refused"
        )
    return statements[0]


def run(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int | None = None) -> Result:
    """The query's rows, or only its first `max_rows` (and whether there were more)."""
    statement = check_query(sql)
    if max_rows and statement.type == duckdb.StatementType.SELECT:
        # A limit DuckDB can see: it keeps the top rows of an ORDER BY instead of sorting
        # every row, and reads wide columns for those rows only. Order is kept.
        sql = f"SELECT * FROM ({statement.query}) LIMIT {max_rows + 1}"  # noqa: S608
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchmany(max_rows + 1) if max_rows else cursor.fetchall()
    except duckdb.Error as error:
        raise AuditQueryError(_first_line(error)) from None
    truncated = max_rows is not None and len(rows) > max_rows
    return Result(columns, rows[:max_rows] if truncated else rows, truncated)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def plain(value: Any) -> Any:
    """A JSON-friendly value: UUIDs and times as strings, JSON columns parsed."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def to_csv(result: Result) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([[plain(v) for v in row] for row in result.rows])
    return out.getvalue()


def _objects(result: Result) -> list[dict[str, object]]:
    return [dict(zip(result.columns, (plain(v) for v in row), strict=True)) for row in result.rows]


def to_json(result: Result) -> str:
    """One JSON array of row objects (`[]` for no rows)."""
    return json.dumps(_objects(result), default=str) + "\n"


def to_jsonl(result: Result) -> str:
    """JSON lines, one object per row (`jq`-friendly); nothing for no rows."""
    return "".join(json.dumps(obj, default=str) + "\n" for obj in _objects(result))
