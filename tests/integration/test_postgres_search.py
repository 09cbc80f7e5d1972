"""Whole searches on a PostgreSQL ledger: the same projections as on SQLite, and verify,
replay and audit through the real CLI; several searches sharing one ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.config import SearchConfig
from ledger import session
from ledger.claim import new_search
from ledger.store import open_ledger
from projections.db import connect, projections_path, refresh
from projections.lineage import DuckLineage
from projections.schema import content_hash
from tests.golf_support import tiny_golf
from tests.postgres_support import fresh_ledger_url
from tests.support import ScriptedEvaluator, StepProposer, SyncExecutor, by_lr
from tests.test_cli import cli


class _Clock(datetime):
    """Event timestamps one second apart from a fixed start, so two runs store equal bytes."""

    ticks = 0

    @classmethod
    def now(cls, tz: object = None) -> datetime:
        cls.ticks += 1
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=cls.ticks)


@pytest.fixture
def url():
    with fresh_ledger_url() as fresh:
        yield fresh


def _scripted_search(location: str, tmp: Path, monkeypatch, seed: int = 0) -> Path:
    """A scripted search (real loop, ledger and projections) on `location`; its projections."""
    monkeypatch.setattr("domain.base.datetime", _Clock)
    _Clock.ticks = 0
    store, evaluator, proposer = open_ledger(location), ScriptedEvaluator(tmp), StepProposer()
    config = SearchConfig(task="tiny", trials=6, seed=seed)
    with new_search(store, config, evaluator, proposer) as state:
        lineage = DuckLineage(store, projections_path(location))
        session.build_loop(
            state, store, evaluator, SyncExecutor(by_lr), proposer, lineage, config, "sync", "host"
        ).run()
    refresh(store, projections_path(location))
    return projections_path(location)


def _hash(path: Path) -> str:
    with connect(path, read_only=True) as con:
        return content_hash(con)


def test_a_search_on_postgres_projects_exactly_as_on_sqlite(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a PostgreSQL ledger's projections go under ./runs
    on_sqlite = _scripted_search(str(tmp_path / "ledger.sqlite"), tmp_path, monkeypatch)
    on_postgres = _scripted_search(url, tmp_path, monkeypatch)
    assert on_postgres.resolve().parent == tmp_path.resolve() / "runs"
    assert _hash(on_postgres) == _hash(on_sqlite)
    verified = cli("verify", "--ledger", url, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: ")
    assert "in 1 searches" in verified.stdout
    replayed = cli("replay", "--ledger", url, cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert "identical to the live ones" in replayed.stdout
    assert "no divergence" in replayed.stdout
    query = "select seq, status, score from trials order by seq"
    audits = [
        cli("audit", query, "--format", "csv", "--ledger", where, cwd=tmp_path).stdout
        for where in (url, str(tmp_path / "ledger.sqlite"))
    ]
    assert audits[0] == audits[1]
    assert audits[0].count("\n") == 8


def test_several_searches_share_one_postgres_ledger(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _scripted_search(url, tmp_path, monkeypatch, seed=0)
    _scripted_search(url, tmp_path, monkeypatch, seed=0)  # same task and seed: ordinal 1
    _scripted_search(url, tmp_path, monkeypatch, seed=3)
    verified = cli("verify", "--ledger", url, cwd=tmp_path)
    assert "in 3 searches" in verified.stdout, verified.stderr
    listing = cli("audit", "select search_id from searches", "--format", "json",
                  "--ledger", url, cwd=tmp_path)  # fmt: skip
    ids = [row["search_id"] for row in json.loads(listing.stdout)]
    assert len(set(ids)) == 3
    for sid in ids:
        replayed = cli("replay", "--search", sid[:8], "--ledger", url, cwd=tmp_path)
        assert replayed.returncode == 0, replayed.stderr
        assert f"search {sid}: no divergence" in replayed.stdout


def test_a_real_search_on_postgres_through_the_cli(url, tmp_path):
    task = tiny_golf(tmp_path, split_bytes=8192)
    done = cli("search", "--task", str(task), "--trials", "1", "--ledger", url,
               cwd=tmp_path, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "finished (trial_budget)" in done.stdout
    counts = cli("audit", "select count(*) filter (where score is not null) scored from trials",
                 "--format", "json", "--ledger", url, cwd=tmp_path)  # fmt: skip
    assert json.loads(counts.stdout)[0]["scored"] == 2  # the baseline and trial 1 both ran
    for command in ("verify", "replay"):
        checked = cli(command, "--ledger", url, cwd=tmp_path)
        assert checked.returncode == 0, checked.stderr
