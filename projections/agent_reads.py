"""Reads an agent's tools make beyond its lineage view: one trial in full, and read-only SQL.

Both run on the connection the search already holds (DuckDB refuses a second connection to
the file from the same process), so the SQL gets the audit rules by other means: one read
statement (projections/audit.py checks it), file access switched off for the rest of the
hold, a rolled-back transaction, a time limit, and caps on rows and bytes.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from uuid import UUID

import duckdb

from domain.base import JSONValue
from projections import audit

QUERY_SECONDS = 10.0  # a runaway join must not stall the search

_TRIAL = (
    "SELECT seq, specialist, parent_seq, status, score, delta, hypothesis, expected_delta, idea,"
    " surfaces_touched, reason, evidence, measurements, log_excerpt, diff"
    " FROM trials WHERE search_id = ? AND seq = ?"
)
_JSON_COLUMNS = ("evidence", "measurements")


def trial_detail(
    con: duckdb.DuckDBPyConnection, search_id: UUID, sequence: int
) -> dict[str, JSONValue]:
    cursor = con.execute(_TRIAL, [search_id, sequence])
    names = [d[0] for d in cursor.description or []]
    row = cursor.fetchone()
    if row is None:
        raise KeyError(f"no trial #{sequence} in this search")
    detail: dict[str, Any] = dict(zip(names, row, strict=True))
    if detail["status"] == "harness_abort":  # paper: infra faults never read as failed ideas
        return {
            "seq": sequence,
            "status": "harness_abort",
            "note": "an infrastructure fault; it says nothing about the idea",
        }
    for name in _JSON_COLUMNS:
        detail[name] = json.loads(detail[name] or "{}")
    detail["surfaces_touched"] = list(detail["surfaces_touched"] or [])
    return detail


def agent_sql(con: duckdb.DuckDBPyConnection, query: str, max_rows: int, max_bytes: int) -> str:
    audit.check_query(query)
    # One-way for this database instance; the projector writes rows, never files.
    con.execute("SET enable_external_access = false")
    cursor = con.cursor()
    timer = threading.Timer(QUERY_SECONDS, cursor.interrupt)
    timer.start()
    cursor.begin()
    try:
        cursor.execute(query)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchmany(max_rows + 1)
    except duckdb.Error as error:
        raise audit.AuditQueryError(str(error).strip().splitlines()[0]) from None
    finally:
        timer.cancel()
        cursor.rollback()
        cursor.close()
    result = audit.Result(columns, rows[:max_rows], len(rows) > max_rows)
    return _capped(audit.to_jsonl(result), result, max_rows, max_bytes)


def _capped(text: str, result: audit.Result, max_rows: int, max_bytes: int) -> str:
    lines: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        if used + len(line.encode()) > max_bytes:
            return "".join(lines) + f"… cut at {max_bytes:,} bytes ({len(lines)} rows shown)\n"
        lines.append(line)
        used += len(line.encode())
    more = f"… more rows: only the first {max_rows} are shown\n" if result.truncated else ""
    return ("".join(lines) or "(no rows)\n") + more
