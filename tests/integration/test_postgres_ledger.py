"""The PostgreSQL ledger on the real server: chained atomic appends in ledger order, the
per-search lease, concurrent writers of different searches, and racing search starts."""

from __future__ import annotations

import itertools
import multiprocessing
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from domain import search as s
from domain import trial as t
from domain.config import SearchConfig
from domain.envelope import GENESIS, open_envelope
from domain.keep import KeepRule
from ledger import session
from ledger.claim import new_search
from ledger.lease import LedgerInUseError, lease
from ledger.postgres import conninfo, schema_of
from ledger.store import ConcurrentWriteError, LedgerError, open_ledger
from ledger.verify import verify
from tests.postgres_support import fresh_ledger_url, rows
from tests.support import ScriptedEvaluator, StepProposer
from tests.test_cli import assert_one_line_error, cli

ORDINALS = (
    "SELECT convert_from(state, 'UTF8')::json->'event'->>'ordinal', notification_id"
    " FROM ledger_events WHERE topic LIKE '%SearchStarted' ORDER BY notification_id"
)


@pytest.fixture
def url():
    with fresh_ledger_url() as fresh:
        yield fresh


def _started(ordinal: int) -> s.SearchStarted:
    return s.start(
        ordinal, "tiny", 0, task_sha256="0" * 64, rules_version="tiny/1", metric="loss",
        lower_is_better=True, roster=("opt",), policy="specialists", agent="offline",
        lineage=True, keep_rule=KeepRule(), config={}, environment={},
    )  # fmt: skip


def _proposed(search: s.SearchStarted, seq: int) -> t.TrialProposed:
    return t.propose(
        search.originator_id, seq, specialist="opt", agent="offline", parent_id=None,
        hypothesis=f"idea {seq}", lineage_view_sha256="0" * 64, lineage_view="v",
    )  # fmt: skip


def _claim(url: str, tmp: Path, store: Any = None) -> Any:
    return new_search(
        store or open_ledger(url), SearchConfig(task="tiny", trials=0),
        ScriptedEvaluator(tmp), StepProposer(),
    )  # fmt: skip


def test_steps_are_chained_atomic_and_read_in_ledger_order(url):
    store = open_ledger(url)
    started = _started(0)
    assert store.append(started.originator_id, [started, _proposed(started, 0)]) == [1, 2]
    duplicate = _proposed(started, 0)
    with pytest.raises(ConcurrentWriteError):
        store.append(started.originator_id, [_proposed(started, 1), duplicate])
    store.append(started.originator_id, [_proposed(started, 1)])
    records = list(open_ledger(url).read_all())  # a new process reads what was committed
    assert [r.aggregate_id for r in records] == [
        str(e.originator_id) for e in (started, duplicate, _proposed(started, 1))
    ]
    assert [r.position for r in records] == sorted(r.position for r in records)
    assert open_envelope(records[0].state).prev == GENESIS
    verdict = verify(records)
    assert verdict.ok, verdict.problem
    assert (verdict.events, verdict.streams) == (3, 1)
    table = rows(url, "SELECT count(*) FROM ledger_events")
    assert table == [(3,)]  # the failed step left nothing behind


def test_the_schema_parameter_keeps_ledgers_and_their_leases_apart(url):
    with fresh_ledger_url() as other:
        started = _started(0)
        for location in (url, other):
            with lease(location, started.originator_id):  # both held at once: no clash
                open_ledger(location).append(started.originator_id, [started])
        assert [r.position for r in open_ledger(other).read_all()] == [1]


def test_a_bad_schema_name_is_one_clear_error(url):
    with pytest.raises(LedgerError, match="not a plain name"):
        open_ledger(url.replace("schema=", "schema=x;drop"))


def test_a_second_writer_of_a_search_is_refused_in_one_line(url, tmp_path):
    with _claim(url, tmp_path) as state:
        sid = state.started.id
    with lease(url, sid):
        with pytest.raises(LedgerInUseError, match=f"search {sid}"), lease(url, sid):
            pass
        done = cli("search", "--resume", "--ledger", url, cwd=tmp_path)
        assert_one_line_error(done, f"search {sid}", "being written by another process")
        with lease(url, _started(7).originator_id):  # another search is free meanwhile
            pass


def test_a_held_id_makes_a_new_search_take_the_next_ordinal(url, tmp_path):
    taken = s.search_id(0, "tiny", 0)
    with lease(url, taken), _claim(url, tmp_path) as state:
        assert state.started.id == s.search_id(1, "tiny", 0)


def test_an_id_stored_first_by_another_process_moves_on_after_the_integrity_error(
    url, tmp_path, monkeypatch
):
    store = open_ledger(url)
    store.append(s.search_id(0, "tiny", 0), [_started(0)])
    monkeypatch.setattr(session, "count_searches", lambda ledger: 0)  # a stale count
    with _claim(url, tmp_path) as state:
        assert state.started.id == s.search_id(1, "tiny", 0)
    assert verify(store.read_all()).ok


def test_sqlite_refuses_a_busy_ledger_without_trying_other_ids(tmp_path):
    location = str(tmp_path / "l.sqlite")
    with lease(location), pytest.raises(LedgerInUseError), _claim(location, tmp_path):
        pass


def _start_racing(url: str, tmp: str, barrier: Any, winner_done: Any, late: bool, out: Any) -> None:
    """Start a search after every racer has counted the searches (so all pick ordinal 0);
    a late racer also waits until the first one has finished its start."""
    count, first = session.count_searches, [True]

    def count_then_wait(ledger: Any) -> int:
        found = count(ledger)
        if first.pop() if first else False:
            barrier.wait()
            if late:
                winner_done.wait(timeout=60)
        return found

    session.count_searches = count_then_wait  # in this spawned process only
    with _claim(url, Path(tmp)) as state:
        time.sleep(0 if late else 0.5)  # together: the loser meets the winner's lease
    winner_done.set()
    out.put(str(state.started.id))


def _race(url: str, tmp: Path, late: tuple[bool, ...]) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    barrier, winner_done, out = ctx.Barrier(len(late)), ctx.Event(), ctx.Queue()
    racers = [
        ctx.Process(target=_start_racing, args=(url, str(tmp), barrier, winner_done, is_late, out))
        for is_late in late
    ]
    for racer in racers:
        racer.start()
    ids = [out.get(timeout=90) for _ in racers]
    for racer in racers:
        racer.join(timeout=30)
        assert racer.exitcode == 0
    return ids


def test_processes_that_start_searches_at_once_take_distinct_ordinals(url, tmp_path):
    open_ledger(url)  # the table exists before the race: creating it is not what is tested
    ids = _race(url, tmp_path, late=(False, False, False))
    assert sorted(ids) == sorted(str(s.search_id(n, "tiny", 0)) for n in range(3))
    assert verify(open_ledger(url).read_all()).ok


def test_late_starters_with_a_stale_count_move_on_after_the_integrity_error(url, tmp_path):
    open_ledger(url)
    ids = _race(url, tmp_path, late=(False, True, True))
    assert sorted(ids) == sorted(str(s.search_id(n, "tiny", 0)) for n in range(3))
    ordinals = rows(url, ORDINALS)
    assert sorted(int(r[0]) for r in ordinals) == [0, 1, 2]
    assert ordinals[-1][1] > 3  # ids used up by rejected inserts: the IntegrityError happened
    assert verify(open_ledger(url).read_all()).ok


def _write_steps(url: str, ordinal: int, steps: int, barrier: Any) -> None:
    store, started = open_ledger(url), _started(ordinal)
    with lease(url, started.originator_id):
        store.append(started.originator_id, [started])
        barrier.wait()
        for seq in range(steps):
            store.append(started.originator_id, [_proposed(started, seq)])


def test_concurrent_writers_of_different_searches_keep_each_chain(url):
    open_ledger(url)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    writers = [ctx.Process(target=_write_steps, args=(url, n, 60, barrier)) for n in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    records = list(open_ledger(url).read_all())
    verdict = verify(records)
    assert verdict.ok, verdict.problem
    assert (verdict.events, verdict.streams) == (122, 2)
    streams = [open_envelope(r.state).stream for r in records]
    switches = sum(1 for a, b in itertools.pairwise(streams) if a != b)
    assert switches > 2  # the two searches' appends really interleaved


def test_the_stream_index_is_kept_and_backfilled(url):
    store = open_ledger(url)
    one, two = _started(0), _started(1)
    store.append(one.originator_id, [one, _proposed(one, 0)])
    store.append(two.originator_id, [two])
    store.append(one.originator_id, [_proposed(one, 1)])
    indexed = "SELECT stream, position FROM ledger_stream_positions ORDER BY position"
    expected = [(one.originator_id, 1), (one.originator_id, 2), (two.originator_id, 3),
                (one.originator_id, 4)]  # fmt: skip
    assert rows(url, indexed) == expected
    with psycopg.connect(conninfo(url), autocommit=True) as con:  # as an old ledger
        con.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(url))))
        con.execute("DROP FUNCTION ledger_stream_position CASCADE")
        con.execute("DROP TABLE ledger_stream_positions")
    reopened = open_ledger(url)
    assert rows(url, indexed) == expected
    assert [r.position for r in reopened.stream_records(one.originator_id)] == [1, 2, 4]
    assert reopened.searches() == [(one.originator_id, False), (two.originator_id, False)]
    assert (
        reopened.head(two.originator_id)
        == open_envelope(reopened.stream_records(two.originator_id)[-1].state).hash
    )
    assert verify(reopened.read_all()).ok
