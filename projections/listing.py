"""Listings as rows (searches, one search's lineage, one trial, the tasks) for every
`--format`: a table for people, csv/json/jsonl for tools. Rows come from the
projections; `scope` narrows every table of a connection to one search for `audit`."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import duckdb

from domain.recipe import make_diff
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


def diff_from_seed(con: duckdb.DuckDBPyConnection, search_id: UUID, row: dict[str, Any]) -> str:
    """The unified diff from the search's seed recipe (its first baseline's) to this
    trial's recipe: it applies to the task's own recipe/ folder, whatever the parent."""
    seed = con.execute(
        "SELECT r.files FROM trials t JOIN recipes r ON r.sha256 = t.child_sha256"
        " WHERE t.search_id = ? AND t.specialist = 'baseline' ORDER BY t.seq LIMIT 1",
        [search_id],
    ).fetchone()
    child = con.execute(
        "SELECT files FROM recipes WHERE sha256 = ?", [row.get("child_sha256")]
    ).fetchone()
    if seed is None or child is None:
        return ""  # a trial refused before its edit applied has no recipe of its own
    return make_diff(json.loads(seed[0]), json.loads(child[0]))


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
