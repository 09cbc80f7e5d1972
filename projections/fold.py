"""The fold: stored envelopes in, read-model rows out, in SQL inside DuckDB.

One step (`fold_step`) takes a chunk of stored rows as text and, inside the caller's
transaction:
1. stages them (one appender into a temp table) and cuts `hash`, `prev`, `stream` and
   the class version from each canonical envelope's fixed tail (docs/LEDGER.md), with
   string offsets and no JSON parse (the view `chunk`: cheaper than a copy of the bodies);
2. upcasts the bodies of events stored at an older class version (domain/events.py, in
   Python: rare) into the `upcasts` table;
3. adds, for every trial, search and session the chunk touches that began earlier, its
   earlier events from `events`;
4. parses each event type once, into its typed struct (projections/structs.py): the temp
   table `p_<event>` (`new` marks the chunk's own events);
5. derives every table from those (fold_tables.py, fold_trials.py), set-based.
A rebuild and the live projector run this same step on chunks of different sizes; since
each re-derived row is a function of all of its aggregate's events, they agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import duckdb

from domain.envelope import canonical
from domain.events import upcast
from projections import fold_tables, fold_trials
from projections.structs import EventType

TextRow = tuple[int, str, int, str, str]  # position, aggregate id, version, topic, state

# Re-derived from all of an aggregate's events, so earlier ones are read back.
REFOLDED = fold_trials.TRIAL_EVENTS | fold_tables.SEARCH_EVENTS | fold_tables.SESSION_EVENTS
# (event types whose arrival runs the statements, the statements), in order.
DERIVATIONS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset({"TrialProposed"}), (fold_tables.VIEWS, fold_trials.LINEAGE)),
    (fold_trials.TRIAL_EVENTS, fold_trials.TRIALS),
    (frozenset({"TrainingProgressed"}), (fold_tables.PROGRESS,)),
    (fold_tables.SEARCH_EVENTS, fold_tables.SEARCHES),
    (fold_tables.SESSION_EVENTS, fold_tables.SESSIONS),
    (frozenset({"AgentExchanged", "AgentCallFailed"}), (fold_tables.EXCHANGES,)),
    (frozenset({"ContextStored"}), (fold_tables.CONTEXTS,)),
)
TEMP_TABLES = ("staged", "earlier")

_STAGED = (
    "CREATE OR REPLACE TEMP TABLE staged (position BIGINT, aggregate_id VARCHAR,"
    " version BIGINT, topic VARCHAR, state VARCHAR)"
)
# `..."stream":"<36>","v":<digits>}`: the colon before the digits is found in the last 8
# characters; every other field sits at a fixed distance before it. Envelopes are ASCII.
_CUT = """
CREATE OR REPLACE TEMP VIEW chunk AS
WITH tail AS (
    SELECT *, strlen(state) - strpos(reverse(substr(state, strlen(state) - 7)), ':') + 1
        AS colon
    FROM staged)
SELECT position, CAST(aggregate_id AS UUID) AS aggregate_id, version, topic,
       regexp_extract(topic, '[^:.]+$') AS type,
       CAST(substr(state, colon + 1, strlen(state) - colon - 1) AS INTEGER) AS class_version,
       CAST(substr(state, colon - 41, 36) AS UUID) AS stream,
       substr(state, colon - 117, 64) AS prev_hash,
       substr(state, colon - 191, 64) AS hash,
       substr(state, 10, colon - 210) AS payload
FROM tail
"""
_EARLIER = """
CREATE OR REPLACE TEMP TABLE earlier AS
SELECT e.position, e.search_id AS stream, e.aggregate_id, e.type,
       coalesce(u.payload, e.payload) AS payload
FROM events e LEFT JOIN upcasts u USING (position)
WHERE e.type IN (SELECT unnest(?))
  AND e.aggregate_id IN (SELECT aggregate_id FROM chunk GROUP BY ALL HAVING min(version) > 1)
"""
_TABLE_NAME = re.compile(r"\bp_[a-z_]+\b")


def fold_step(
    con: duckdb.DuckDBPyConnection, kinds: dict[str, EventType], rows: Sequence[TextRow]
) -> set[str]:
    """Project one chunk of stored rows (in ledger order) into every table; returns the
    temp tables it made."""
    con.execute(_STAGED)
    with con.appender("staged") as appender:
        appender.append_rows(rows)
    con.execute(_CUT)
    upcasts = _upcast(con, kinds)
    con.execute(_EARLIER, [sorted(REFOLDED)])
    arrived = _types(con, "chunk")
    present = [kinds[name] for name in sorted(arrived | _types(con, "earlier")) if name in kinds]
    for kind in present:
        _parse(con, kind, upcasts)
    names = {kind.table for kind in present}
    bind = {kind.table: _empty(kind) for kind in kinds.values() if kind.table not in names}
    _insert_events(con, [kind for kind in present if kind.name in arrived])
    for needs, statements in DERIVATIONS:
        if needs & arrived:
            for sql in statements:
                con.execute(_bound(sql, bind))
    if "RecipeEdited" in arrived:
        fold_trials.add_recipes(con, con.execute(_bound(fold_trials.NEW_RECIPES, bind)).fetchall())
    return {*TEMP_TABLES, *names}


def release(con: duckdb.DuckDBPyConnection, tables: set[str]) -> None:
    """Drop the steps' temp tables, so a connection kept open holds no chunk in memory."""
    con.execute("DROP VIEW IF EXISTS temp.chunk")
    for table in sorted(tables):
        con.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _types(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {row[0] for row in con.execute(f"SELECT DISTINCT type FROM {table}").fetchall()}  # noqa: S608


def _upcast(con: duckdb.DuckDBPyConnection, kinds: dict[str, EventType]) -> bool:
    """Store the current-version body of every event stored at an older version."""
    older = " OR ".join(
        f"(type = '{k.name}' AND class_version < {k.version})"
        for k in kinds.values()
        if k.version > 1
    )
    if not older:
        return False
    rows = con.execute(
        "SELECT position, type, class_version, payload FROM chunk"  # noqa: S608
        f" WHERE type IN (SELECT unnest(?)) AND ({older}) ORDER BY position",
        [[k.name for k in kinds.values() if k.version > 1]],
    ).fetchall()
    if not rows:
        return False
    bodies = [
        canonical(upcast(kinds[kind].cls, json.loads(body), version)).decode()
        for _, kind, version, body in rows
    ]
    con.execute("INSERT INTO upcasts SELECT unnest(?), unnest(?)", [[r[0] for r in rows], bodies])
    return True


def _parse(con: duckdb.DuckDBPyConnection, kind: EventType, upcasts: bool) -> None:
    """`p_<event>`: the chunk's events of one type and the earlier ones read back, typed."""
    body = "coalesce(u.payload, c.payload)" if upcasts else "c.payload"
    join = " LEFT JOIN upcasts u ON u.position = c.position" if upcasts else ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {kind.table} AS"  # noqa: S608
        " SELECT position, stream, aggregate_id, new, e.timestamp AS time, e FROM ("
        f" SELECT c.position, c.stream, c.aggregate_id, true AS new, {kind.parse(body)} AS e"
        f" FROM chunk c{join} WHERE c.type = '{kind.name}'"
        " UNION ALL SELECT position, stream, aggregate_id, false,"
        f" {kind.parse('payload')} FROM earlier WHERE type = '{kind.name}')"
        " ORDER BY position"
    )


def _empty(kind: EventType) -> str:
    """A relation shaped like `p_<event>` with no rows, for a type this step lacks."""
    shaped = kind.parse("'{}'")
    return (
        "(SELECT NULL::BIGINT AS position, NULL::UUID AS stream, NULL::UUID AS aggregate_id,"
        f" NULL::BOOLEAN AS new, NULL::TIMESTAMPTZ AS time, {shaped} AS e"
        f" LIMIT 0) AS {kind.table}"
    )


def _bound(sql: str, bind: dict[str, str]) -> str:
    return _TABLE_NAME.sub(lambda m: bind.get(m.group(0), m.group(0)), sql)


def _insert_events(con: duckdb.DuckDBPyConnection, arrived: list[EventType]) -> None:
    """Every row of the chunk, its body as stored; its time from the parsed struct (a
    type the catalogue lacks is still stored, its time read from the JSON)."""
    times = " UNION ALL ".join(
        f"SELECT position, time FROM {kind.table} WHERE new"  # noqa: S608
        for kind in arrived
    )
    con.execute(
        "INSERT INTO events SELECT c.position, c.stream, c.aggregate_id, c.version, c.type,"  # noqa: S608
        " CASE WHEN t.time IS NULL"
        " THEN CAST(json_extract_string(c.payload, '$.timestamp') AS TIMESTAMPTZ)"
        " ELSE t.time END, c.payload, c.hash, c.prev_hash, c.topic, c.class_version"
        f" FROM chunk c LEFT JOIN ({times or 'SELECT 0 AS position, NULL AS time LIMIT 0'}) t"
        " ON t.position = c.position ORDER BY c.position"
    )
