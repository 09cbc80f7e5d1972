"""Schema evolution: a ledger written by the previous program (TrialLaunched v1, without
`deterministic`) still verifies, loads, projects and replays with today's code."""

from __future__ import annotations

import json
import sqlite3
from uuid import UUID

from domain import trial as t
from domain.envelope import GENESIS, seal
from domain.events import decode
from ledger.replay import replay, search_events
from ledger.store import open_ledger
from ledger.verify import verify
from projections.db import connect, rebuild
from tests.support import scripted_loop


def _as_written_by_v1(path) -> int:
    """Rewrite every TrialLaunched as the v1 program stored it, resealing the chain."""
    with sqlite3.connect(path) as con:
        rows = con.execute(
            "SELECT rowid, originator_id, originator_version, topic, state"
            " FROM stored_events ORDER BY rowid"
        ).fetchall()
        heads: dict[str, str] = {}
        rewritten = 0
        for rowid, aggregate, version, topic, state in rows:
            envelope = json.loads(state)
            body, v = envelope["event"], envelope["v"]
            if topic.endswith(":TrialLaunched"):
                del body["deterministic"]
                v, rewritten = 1, rewritten + 1
            stream = envelope["stream"]
            new_state, heads[stream] = seal(
                body, v, stream, heads.get(stream, GENESIS), topic, str(UUID(aggregate)), version
            )
            con.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", [new_state, rowid])
    return rewritten


def test_an_older_ledger_still_verifies_loads_projects_and_replays(tmp_path):
    loop, _store, location = scripted_loop(tmp_path, trials=4, threads=1)
    loop.run()
    assert _as_written_by_v1(location) == 5
    store = open_ledger(location)  # a fresh process reading the old file

    assert verify(store.read_all()).ok
    launched = [decode(r) for r in store.read_all() if r.topic.endswith(":TrialLaunched")]
    assert all(isinstance(e, t.TrialLaunched) and e.deterministic for e in launched)
    first = next(r for r in store.read_all() if r.topic.endswith(":TrialLaunched"))
    assert json.loads(first.state)["v"] == 1  # stored as v1, upcast when read

    path = tmp_path / "rebuilt.duckdb"
    rebuild(store, path)
    with connect(path, read_only=True) as con:
        assert (
            con.execute(
                "SELECT count(*) FROM trials WHERE status IN ('keep', 'discard', 'crash')"
            ).fetchone()[0]
            == 5
        )
        assert (
            con.execute(
                "SELECT min(class_version) FROM events WHERE type = 'TrialLaunched'"
            ).fetchone()[0]
            == 1
        )

    report = replay(search_events(store, loop.state.started.id))
    assert report.ok, report.divergence


def test_the_upcaster_derives_the_new_field_from_the_old_ones():
    launched = t.TrialLaunched.upcasters[1]
    old = {"threads": 2}
    launched(old)
    assert old["deterministic"] is False
