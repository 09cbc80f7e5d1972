"""Schema evolution: a ledger written by the previous program (TrialLaunched v1, without
`deterministic`) still verifies, loads, projects and replays with today's code."""

from __future__ import annotations

import json

from domain import trial as t
from domain.events import decode
from ledger.replay import replay, search_events
from ledger.store import open_ledger
from ledger.verify import verify
from projections.db import connect, rebuild
from tests.mixed_ledger import as_written_by_v1
from tests.support import scripted_loop


def test_an_older_ledger_still_verifies_loads_projects_and_replays(tmp_path):
    loop, _store, location = scripted_loop(tmp_path, trials=4, threads=1)
    loop.run()
    assert as_written_by_v1(location) == 5
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
