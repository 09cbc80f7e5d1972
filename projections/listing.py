"""Listings as rows (searches, one search's lineage, one trial, the tasks) for every
`--format`: a table for people, csv/json/jsonl for tools. Rows come from the
projections; `scope` narrows every table of a connection to one search for `audit`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import duckdb

from projections.audit import Result

FORMATS = ("table", "csv", "json", "jsonl")
SEARCH_COLUMNS = ("search_id", "task", "policy", "started_at", "status", "trials", "best_score")


def searches(con: duckdb.DuckDBPyConnection) -> Result:
    """Every search, oldest first: `status` is its ending, or `running` (or a process
    that died: `search --resume` tells which)."""
    rows = con.execute(
        "SELECT search_id, task, policy, started_at, coalesce(finish_reason, 'running'),"
        " (SELECT count(*) FROM trials t WHERE t.search_id = s.search_id"
        "  AND t.specialist <> 'baseline' AND t.status <> 'harness_abort'),"
        " best_score FROM searches s ORDER BY ordinal"
    ).fetchall()
    return Result(list(SEARCH_COLUMNS), rows)


def lineage(con: duckdb.DuckDBPyConnection, search_id: UUID) -> Result:
    cursor = con.execute(
        "SELECT seq, parent_seq, specialist, status, score, delta, hypothesis"
        " FROM trials WHERE search_id = ? ORDER BY seq",
        [search_id],
    )
    return Result([d[0] for d in cursor.description or []], cursor.fetchall())


def one_row(row: dict[str, Any]) -> Result:
    return Result(list(row), [tuple(row.values())])


def scope(con: duckdb.DuckDBPyConnection, search_id: UUID) -> list[str]:
    """Shadow every table and view with a `search_id` column (or, lacking one, a
    `trial_id` column) by a temporary view of that search's rows, so unqualified names in
    a query see one search only. Returns the names it narrowed."""
    catalog = con.execute("SELECT current_database()").fetchone()
    main = f'"{catalog[0] if catalog else "main"}".main'
    columns = con.execute(
        "SELECT table_name, list(column_name) FROM information_schema.columns"
        " WHERE table_schema = 'main' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    literal = f"'{UUID(str(search_id))}'"  # a parsed UUID: safe inside the view's SQL
    trials = f"SELECT trial_id FROM {main}.trials WHERE search_id = {literal}"  # noqa: S608
    narrowed = []
    for name, names in columns:
        if "search_id" in names:
            where = f"search_id = {literal}"
        elif "trial_id" in names:
            where = f"trial_id IN ({trials})"
        else:
            continue
        # Names from the file's own catalog, the id a parsed UUID: nothing from the user.
        view = f'CREATE TEMP VIEW "{name}" AS SELECT * FROM {main}."{name}" WHERE {where}'  # noqa: S608
        con.execute(view)
        narrowed.append(name)
    return narrowed
