"""The SQLite event store: chained, atomic appends; one writer at a time; clear errors."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat

import pytest

from domain import search as s
from domain import trial as t
from domain.envelope import GENESIS, chain_hash, open_envelope
from domain.events import decode
from domain.keep import KeepRule
from ledger.lease import LedgerInUseError, lease
from ledger.store import ConcurrentWriteError, LedgerError, open_ledger


def _started(ordinal: int = 0) -> s.SearchStarted:
    return s.start(
        ordinal,
        "tiny",
        0,
        task_sha256="0" * 64,
        rules_version="tiny/1",
        metric="loss",
        lower_is_better=True,
        roster=("opt",),
        policy="specialists",
        agent="offline",
        lineage=True,
        keep_rule=KeepRule(),
        config={},
        environment={},
    )


def _proposed(search: s.SearchStarted, seq: int) -> t.TrialProposed:
    return t.propose(
        search.originator_id,
        seq,
        specialist="opt",
        agent="offline",
        parent_id=None,
        hypothesis=f"idea {seq}",
        lineage_view_sha256="0" * 64,
        lineage_view="v",
    )


def test_appended_events_form_a_hash_chain_per_search(tmp_path):
    store = open_ledger(str(tmp_path / "l.sqlite"))
    started = _started()
    store.append(started.originator_id, [started, _proposed(started, 0)])
    store.append(started.originator_id, [_proposed(started, 1)])
    records = list(store.read_all())
    prev = GENESIS
    for record in records:
        opened = open_envelope(record.state)
        assert opened.prev == prev
        envelope = json.loads(record.state)
        assert (
            chain_hash(envelope, record.topic, record.aggregate_id, record.version) == opened.hash
        )
        prev = opened.hash
    assert [decode(r).originator_version for r in records] == [1, 1, 1]


def test_a_second_search_starts_its_own_chain(tmp_path):
    store = open_ledger(str(tmp_path / "l.sqlite"))
    first, second = _started(0), _started(1)
    store.append(first.originator_id, [first])
    store.append(second.originator_id, [second])
    assert open_envelope(list(store.read_all())[1].state).prev == GENESIS


def test_the_chain_head_is_reloaded_by_a_new_process(tmp_path):
    location = str(tmp_path / "l.sqlite")
    started = _started()
    open_ledger(location).append(started.originator_id, [started])
    again = open_ledger(location)
    again.append(started.originator_id, [_proposed(started, 0)])
    first, second = (open_envelope(r.state) for r in again.read_all())
    assert second.prev == first.hash


def test_a_step_is_stored_whole_or_not_at_all(tmp_path):
    store = open_ledger(str(tmp_path / "l.sqlite"))
    started = _started()
    store.append(started.originator_id, [started])
    duplicate = _proposed(started, 0)
    with pytest.raises(ConcurrentWriteError):
        store.append(started.originator_id, [_proposed(started, 1), duplicate, duplicate])
    assert store.max_position() == 1
    store.append(started.originator_id, [_proposed(started, 1)])  # the chain head did not move
    assert (
        open_envelope(list(store.read_all())[1].state).prev
        == open_envelope(next(iter(store.read_all())).state).hash
    )


def test_direct_saves_that_bypass_the_chain_are_refused(tmp_path):
    store = open_ledger(str(tmp_path / "l.sqlite"))
    with pytest.raises(LedgerError, match=r"Ledger\.append"):
        store.save()


def test_a_second_writer_is_refused_with_who_holds_the_lease(tmp_path):
    location = str(tmp_path / "l.sqlite")
    with (
        lease(location),
        pytest.raises(LedgerInUseError, match=re.escape(f"pid {os.getpid()}")),
        lease(location),
    ):
        pass
    with lease(location):  # released on exit
        pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_ledger_folder_is_one_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(LedgerError, match="not writable"):
        open_ledger(str(folder / "l.sqlite"))


def test_a_ledger_path_under_a_file_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="cannot create the ledger folder"):
        open_ledger(str(blocker / "sub" / "l.sqlite"))


def test_stored_rows_are_plain_sqlite_readable_json(tmp_path):
    location = tmp_path / "l.sqlite"
    store = open_ledger(str(location))
    started = _started()
    store.append(started.originator_id, [started])
    with sqlite3.connect(location) as con:
        topic, state = con.execute("SELECT topic, state FROM stored_events").fetchone()
    assert topic == "domain.search:SearchStarted"
    assert json.loads(state)["event"]["task_id"] == "tiny"
