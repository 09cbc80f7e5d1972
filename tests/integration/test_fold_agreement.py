"""The SQL fold against the per-event Python fold it replaces, on a ledger with every event
type: the same rows in every table the old fold built (JSON compared as values)."""

from __future__ import annotations

import json
from uuid import UUID

import duckdb
import pytest

from domain.envelope import topic_name
from domain.events import ALL_EVENTS
from projections.db import connect, rebuild
from projections.legacy import projector as legacy_projector
from projections.legacy import schema as legacy_schema
from tests.mixed_ledger import mixed_ledger

KEYS = {
    "events": "position",
    "searches": "search_id",
    "trials": "trial_id",
    "lineage": "trial_id",
    "recipes": "sha256",
    "views": "sha256",
    "progress": "position",
    "agent_sessions": "session_id",
    "exchanges": "session_id, turn",
    "contexts": "sha256",
}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mixed")
    return mixed_ledger(tmp), tmp


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> tuple[list[str], list[tuple]]:
    cursor = con.execute(f"SELECT * FROM {table} ORDER BY {KEYS[table]}")  # noqa: S608
    names = [d[0] for d in cursor.description]
    kinds = [str(d[1]) for d in cursor.description]
    rows = [
        tuple(
            json.loads(v) if k == "JSON" and v is not None else v
            for v, k in zip(r, kinds, strict=True)
        )
        for r in cursor.fetchall()
    ]
    return names, rows


def test_the_ledger_mixes_every_event_type(ledger):
    store, _ = ledger
    stored = {topic_name(r.topic) for r in store.read_all()}
    assert stored == {cls.__name__ for cls in ALL_EVENTS}


@pytest.mark.parametrize("table", sorted(KEYS))
def test_the_sql_fold_builds_what_the_python_fold_built(ledger, table):
    store, tmp = ledger
    old, new = tmp / f"old-{table}.duckdb", tmp / f"new-{table}.duckdb"
    with duckdb.connect(str(old)) as con:
        legacy_schema.create(con)
        legacy_projector.catch_up(store, con)
        old_names, old_rows = _rows(con, table)
    rebuild(store, new)
    with connect(new, read_only=True) as con:
        new_names, new_rows = _rows(con, table)
    assert new_names == old_names
    assert len(new_rows) == len(old_rows) > 0
    for before, after in zip(old_rows, new_rows, strict=True):
        assert after == before, (table, dict(zip(new_names, after, strict=True)))
    if table == "trials":
        assert any(isinstance(r[0], UUID) for r in new_rows)
