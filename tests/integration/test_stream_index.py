"""The stream index: kept by the store in the append's transaction, backfilled for a
ledger written before it, and what finds one search's events, its head and the searches."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from domain.envelope import open_envelope
from ledger.replay import search_events
from ledger.store import open_ledger
from ledger.verify import verify
from tests.integration.test_verify import _independent
from tests.support import scripted_loop


def _two_searches(tmp_path: Path) -> tuple[str, list]:
    first, _, location = scripted_loop(tmp_path, trials=3)
    first.run()
    second, _, _ = scripted_loop(tmp_path, trials=2)
    second.run()
    return location, [first.state.started.id, second.state.started.id]


def _by_scan(location: str) -> dict[str, list[int]]:
    """What the index must say, from decoding every envelope."""
    found: dict[str, list[int]] = {}
    for record in open_ledger(location).read_all():
        found.setdefault(open_envelope(record.state).stream, []).append(record.position)
    return found


def _index(location: str) -> dict[str, list[int]]:
    with sqlite3.connect(location) as con:
        rows = con.execute("SELECT stream, position FROM stream_positions ORDER BY 2").fetchall()
    found: dict[str, list[int]] = {}
    for stream, position in rows:
        found.setdefault(stream, []).append(position)
    return found


def test_every_append_is_indexed_in_its_transaction(tmp_path):
    location, _ = _two_searches(tmp_path)
    assert _index(location) == _by_scan(location)


def test_an_old_ledger_is_backfilled_and_still_verifies(tmp_path):
    location, _ = _two_searches(tmp_path)
    with sqlite3.connect(location) as con:  # as a ledger written before the index
        con.execute("DROP TRIGGER stream_positions")
        con.execute("DROP TABLE stream_positions")
    store = open_ledger(location)
    assert _index(location) == _by_scan(location)
    assert verify(store.read_all()).ok
    assert _independent(Path(location)).returncode == 0


def test_one_search_is_read_through_the_index(tmp_path):
    location, (first, second) = _two_searches(tmp_path)
    store = open_ledger(location)
    assert store.searches() == [(first, True), (second, True)]
    for sid in (first, second):
        records = store.stream_records(sid)
        assert [r.position for r in records] == _by_scan(location)[str(sid)]
        assert store.head(sid) == open_envelope(records[-1].state).hash
        assert [p for p, _ in search_events(store, sid)] == [r.position for r in records]
        assert [type(e) for e in store.stream(sid)] == [
            type(e) for _, e in search_events(store, sid)
        ]
