"""A field added to a domain event reaches the projections with no read-side code."""

from __future__ import annotations

from domain import events as ev
from domain import trial as t
from ledger.store import open_ledger
from projections.db import connect, rebuild
from tests.support import scripted_loop


class TrialJudged(t.TrialJudged):
    """TrialJudged as a later branch might extend it: one field more."""

    paired_p: float | None = None


def test_a_new_field_of_an_event_is_a_column_of_its_view(tmp_path, monkeypatch):
    loop, store, location = scripted_loop(tmp_path, trials=1)
    loop.run()
    judged = next(e for e in store.stream(loop.state.started.id) if isinstance(e, t.TrialJudged))
    catalogue = [TrialJudged if cls is t.TrialJudged else cls for cls in ev.ALL_EVENTS]
    monkeypatch.setattr(ev, "ALL_EVENTS", catalogue)
    monkeypatch.setattr("projections.structs.ALL_EVENTS", catalogue)
    monkeypatch.setitem(ev.EVENTS_BY_NAME, "TrialJudged", TrialJudged)
    again = TrialJudged(
        **{**judged.model_dump(), "originator_version": 99, "paired_p": 0.0123},
    )
    store = open_ledger(location)
    store.append(loop.state.started.id, [again])
    path = tmp_path / "fresh.duckdb"
    rebuild(store, path)
    with connect(path, read_only=True) as con:
        rows = con.execute(
            "SELECT originator_version, paired_p FROM ev_trial_judged ORDER BY position"
        ).fetchall()
    assert rows[-1] == (99, 0.0123)
    assert {p for v, p in rows[:-1]} == {None}  # stored before the field existed
