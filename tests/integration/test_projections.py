"""DuckDB projections: identical on rebuild, exactly once, atomic with their position."""

from __future__ import annotations

from uuid import UUID

import pytest

from agents.view import render_view
from domain.envelope import topic_name
from domain.events import ALL_EVENTS
from projections import db, fold, projector, schema
from projections.db import connect, projections_path, rebuild, refresh
from projections.lineage import DuckLineage
from tests.mixed_ledger import GATE_MISS, mixed_ledger
from tests.support import scripted_loop


@pytest.fixture
def finished_search(tmp_path):
    loop, store, _location = scripted_loop(tmp_path, trials=8)
    loop.run()
    return store, tmp_path


def _hash(path):
    with connect(path, read_only=True) as con:
        return schema.content_hash(con)


def _rebuilt_hash(store, path):
    rebuild(store, path)
    return _hash(path)


def test_two_rebuilds_give_identical_content(finished_search):
    store, tmp = finished_search
    a, b = tmp / "a.duckdb", tmp / "b.duckdb"
    assert rebuild(store, a) == store.max_position()
    assert rebuild(store, b) == store.max_position()
    assert _hash(a) == _hash(b)


def test_a_live_projection_equals_a_rebuild(finished_search):
    store, tmp = finished_search
    live = tmp / "ledger.duckdb"  # caught up step by step while the loop ran
    refresh(store, live)
    assert _hash(live) == _rebuilt_hash(store, tmp / "fresh.duckdb")


def test_catching_up_again_is_a_no_op(finished_search):
    store, tmp = finished_search
    path = tmp / "p.duckdb"
    refresh(store, path)
    before = _hash(path)
    assert refresh(store, path) == 0
    assert _hash(path) == before


def test_batches_of_one_give_the_same_rows_as_one_batch(finished_search):
    store, tmp = finished_search
    path = tmp / "small.duckdb"
    with connect(path) as con:
        schema.create(con)
        projector.catch_up(store, con, batch=1)
    assert _hash(path) == _rebuilt_hash(store, tmp / "big.duckdb")


def test_a_failing_batch_leaves_rows_and_position_untouched(finished_search, monkeypatch):
    store, tmp = finished_search
    path = tmp / "p.duckdb"
    refresh(store, path, until=10)
    before = _hash(path)

    def explode(*args):
        raise RuntimeError("disk full")

    # The recipes are the last rows a step writes: events and trials are in by then.
    monkeypatch.setattr(fold.fold_trials, "add_recipes", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        refresh(store, path)
    assert _hash(path) == before
    with connect(path, read_only=True) as con:
        assert projector.position(con) == 10


def test_trials_table_tells_the_story(finished_search):
    store, tmp = finished_search
    path = tmp / "p.duckdb"
    refresh(store, path)
    with connect(path, read_only=True) as con:
        rows = con.execute(
            "SELECT seq, status, depth, parent_seq FROM trials ORDER BY seq"
        ).fetchall()
        paths = dict(
            con.execute(
                "SELECT t.seq, l.path FROM lineage l JOIN trials t USING (trial_id)"
            ).fetchall()
        )
        recipes = con.execute("SELECT count(*) FROM recipes").fetchone()[0]
    assert rows[0] == (0, "keep", 0, None)
    assert all(status in ("keep", "discard", "crash") for _, status, _, _ in rows)
    assert all(
        depth == (0 if parent is None else 1 + rows[parent][2]) for _, _, depth, parent in rows
    )
    assert paths[0] == "0"
    assert all(paths[seq].endswith(f"/{seq}") for seq in paths if seq)
    assert recipes >= 2


def test_the_lineage_view_shows_the_best_and_what_was_tried(finished_search):
    store, tmp = finished_search
    search_id = next(store.read_all()).aggregate_id  # the first event is SearchStarted
    lineage = DuckLineage(store, tmp / "view.duckdb")
    view = lineage.view(UUID(search_id), "opt", lineage=True)
    assert view.best is not None
    assert view.best.status == "keep"
    assert view.chain[0].sequence == 0
    assert view.chain[-1] == view.best
    assert len(view.tried) == 8
    assert "harness_abort" not in {line.status for line in view.recent}
    blind = lineage.view(UUID(search_id), "opt", lineage=False)
    assert blind.best == view.best
    assert not blind.recent
    assert not blind.tried
    assert "LR = " in lineage.recipe(view.best.trial_id)["train.py"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Every event type, v1 TrialLaunched to upcast, LLM sessions, a resume."""
    tmp = tmp_path_factory.mktemp("mixed")
    return mixed_ledger(tmp), tmp


def test_a_ledger_with_every_event_type_rebuilds_identically(mixed):
    store, tmp = mixed
    kinds = {topic_name(r.topic) for r in store.read_all()}
    assert kinds == {cls.__name__ for cls in ALL_EVENTS}
    assert _rebuilt_hash(store, tmp / "one.duckdb") == _rebuilt_hash(store, tmp / "two.duckdb")


@pytest.mark.parametrize("step", [1, 3, 7])
def test_catching_up_in_small_steps_equals_a_rebuild(mixed, step):
    """The live projector folds a few events at a time, a trial's events spread over
    many steps; its tables must be the rebuild's, byte for byte."""
    store, tmp = mixed
    live = tmp / f"live-{step}.duckdb"
    with connect(live) as con:
        schema.create(con)
        while projector.catch_up(store, con, until=projector.position(con) + step, batch=step):
            pass
    assert _hash(live) == _rebuilt_hash(store, tmp / f"rebuilt-{step}.duckdb")


def test_old_events_are_read_upcast(mixed):
    store, tmp = mixed
    path = tmp / "upcast.duckdb"
    rebuild(store, path)
    with connect(path, read_only=True) as con:
        stored = con.execute(
            "SELECT count(*), max(class_version) FROM events WHERE type = 'TrialLaunched'"
        ).fetchone()
        upcast = con.execute(
            "SELECT count(*), bool_and(deterministic) FROM ev_trial_launched"
        ).fetchone()
    assert stored[1] == 1  # stored as v1: the field did not exist yet
    assert upcast == (stored[0], True)


def test_a_gate_miss_keeps_its_score_in_the_tables_and_in_the_agents_view(mixed):
    store, tmp = mixed
    path = tmp / "gate.duckdb"
    rebuild(store, path)
    with connect(path, read_only=True) as con:
        search_id, seq, score = con.execute(
            "SELECT search_id, seq, score FROM trials WHERE status = 'disqualified'"
        ).fetchone()
        unscored = con.execute(
            "SELECT count(*), count(score) FROM trials WHERE label IS NOT NULL"
            " AND status <> 'disqualified'"
        ).fetchone()
        old = con.execute(
            "SELECT count(*) FROM events WHERE type = 'TrialFailed' AND class_version = 1"
        ).fetchone()[0]
    assert score == GATE_MISS.score
    assert unscored[0] > 0
    assert unscored[1] == 0  # a failure that measured nothing has no score
    assert old == unscored[0]  # stored as v1, read upcast: no score
    view = DuckLineage(store, tmp / "gate-view.duckdb").view(search_id, "opt", lineage=True)
    missed = [line for line in view.recent if line.sequence == seq]
    assert [line.score for line in missed] == [GATE_MISS.score]
    assert f"disqualified, loss={GATE_MISS.score:.5f}" in render_view(view, ("opt",), 9)


def test_a_yielded_turn_is_projected_as_an_event_and_counted_on_its_search(mixed):
    store, tmp = mixed
    path = tmp / "yields.duckdb"
    rebuild(store, path)
    with connect(path, read_only=True) as con:
        yields = con.execute("SELECT yields FROM searches ORDER BY ordinal").fetchall()
        event = con.execute(
            "SELECT sequence, specialist, reason FROM ev_specialist_yielded"
        ).fetchall()
        trials = con.execute("SELECT count(*) FROM trials WHERE idea = ''").fetchone()[0]
    assert yields == [(0,), (1,)]
    assert len(event) == 1
    assert event[0][0] == 2
    assert event[0][2] == "nothing left to try"
    assert trials == 0  # the yield made no trial


def test_the_search_opens_its_projections_once(tmp_path, monkeypatch):
    opened = []
    real = db._connect

    def counting(path, read_only, files=False):
        opened.append((path, read_only))
        return real(path, read_only, files)

    monkeypatch.setattr(db, "_connect", counting)
    loop, _store, location = scripted_loop(tmp_path, trials=6)
    loop.run()
    assert opened == [(projections_path(location), False)]
    assert loop.lineage.projections._con is None  # released when the search finished
