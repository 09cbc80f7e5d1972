"""DuckDB projections: identical on rebuild, exactly once, atomic with their position."""

from __future__ import annotations

from uuid import UUID

import pytest

from projections import fold, projector, schema
from projections.db import connect, rebuild, refresh
from projections.lineage import DuckLineage
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
