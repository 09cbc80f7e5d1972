"""Re-judging a recorded search (#18 item 1): a tighter size cap marks exactly the keeps
whose recorded artifacts exceed it, with no training, in a derived search that verifies
and replays; the source stays byte for byte; bad input is refused whole."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from domain import trial as t
from domain.labels import FailureLabel
from domain.progress import fold
from domain.rejudge import RuleChange
from ledger.counterfactual import counterfactual_config
from ledger.recording import Recording
from ledger.rejudge import DerivationError, rejudge, rules_for
from ledger.replay import replay, search_events
from ledger.rerun import Rerun
from ledger.verify import verify
from projections import canned
from projections.db import connect, rebuild
from tests.support import by_lr, failed, forge_a_discard_as_keep, scripted_loop

CAP = 1000  # TINY_TASK's size cap


def sized(job):
    """`by_lr`, with an artifact between 900 and 999 bytes that the recipe decides."""
    outcome = by_lr(job)
    if outcome.label is not None:
        return outcome
    digest = hashlib.sha256(job.recipe["train.py"].encode()).digest()
    size = 900.0 + digest[0] % 100
    return outcome.model_copy(
        update={"measurements": {**outcome.measurements, "artifact_bytes": size}}
    )


class Counting:
    def __init__(self) -> None:
        self.trained = 0

    def __call__(self, job):
        self.trained += 1
        return sized(job)


@pytest.fixture
def source(tmp_path):
    script = Counting()
    loop, store, location = scripted_loop(tmp_path, trials=10, script=script)
    loop.run()
    return store, loop.state.started.id, location, script


def _stored(location):
    with sqlite3.connect(location) as con:
        return con.execute("SELECT * FROM stored_events ORDER BY rowid").fetchall()


def _sizes(store, sid):
    events = store.stream(sid)
    seq = {e.originator_id: e.sequence for e in events if isinstance(e, t.TrialProposed)}
    return {
        seq[e.originator_id]: e.measurements["artifact_bytes"]
        for e in events
        if isinstance(e, t.TrialScored)
    }


def test_a_cap_two_percent_lower_marks_exactly_the_keeps_over_it(source):
    store, sid, location, script = source
    before, trained = _stored(location), script.trained
    task = Recording.of(search_events(store, sid)).task()
    derived = rejudge(store, sid, task, RuleChange(size_cap_scale=0.98))
    assert script.trained == trained  # nothing was trained
    assert _stored(location)[: len(before)] == before  # the source is untouched
    cap = int(CAP * 0.98)
    old, new = fold(store.stream(sid)), fold(store.stream(derived.search_id))
    sizes = _sizes(store, sid)
    keeps = {tr.sequence for tr in old.trials.values() if tr.verdict == "keep"}
    blocked = {tr.sequence for tr in new.trials.values() if tr.label == FailureLabel.SIZE_BLOCKED}
    over = {seq for seq, size in sizes.items() if size > cap}
    assert over & keeps, "the fixture must have a keep over the tighter cap"
    assert blocked == over  # every scored run over the cap, and nothing else
    assert {seq for seq in keeps if seq in blocked} == keeps & over
    assert derived.rules_version == "tiny/1+size_cap_bytes=980"
    assert {(seq, now) for seq, _, now in derived.changed} >= {(s, "size_blocked") for s in over}
    assert verify(store.read_all()).ok
    report = replay(search_events(store, derived.search_id))
    assert report.ok, report.divergence
    started = store.stream(derived.search_id)[0]
    assert started.config["derived_from"]["search"] == str(sid)
    assert (
        started.config["derived_from"]["head"] == verify(store.stream_records(sid)).heads[str(sid)]
    )
    path = Path(location).with_name("read.duckdb")
    rebuild(store, path)
    with connect(path, read_only=True) as con:
        gone = con.execute(canned.load("keeps_no_longer_standing").sql).fetchall()
    assert {row[3] for row in gone} == keeps & over
    assert {row[6] for row in gone} == {"size_blocked"}


def test_a_looser_cap_on_a_blocked_trial_needs_its_task_folder_else_writes_nothing(tmp_path):
    def blocked(job):
        if job.sequence == 2:
            out = failed(FailureLabel.SIZE_BLOCKED, "artifact 1,200 B over the 1,000 B cap")
            return out.model_copy(update={"measurements": {"artifact_bytes": 1200.0}})
        return sized(job)

    loop, store, location = scripted_loop(tmp_path, trials=4, script=blocked)
    loop.run()
    sid = loop.state.started.id
    before = _stored(location)
    task = Recording.of(search_events(store, sid)).task()
    with pytest.raises(DerivationError, match=r"trial 2 ended size_blocked.*needs the task folder"):
        rejudge(store, sid, task, RuleChange(size_cap_bytes=2000))
    elsewhere = Rerun(
        SimpleNamespace(task=task.model_copy(update={"rules_version": "tiny/2"})), None
    )
    with pytest.raises(
        DerivationError, match="re-run under tiny/1, but the task folder holds tiny/2"
    ):
        rejudge(store, sid, task, RuleChange(size_cap_bytes=2000), lambda: elsewhere)
    assert _stored(location) == before


def test_an_unknown_rules_version_is_refused(source):
    store, sid, _, _ = source
    task = Recording.of(search_events(store, sid)).task()
    with pytest.raises(DerivationError, match="defines no rules version 'tiny/9'"):
        rules_for(task, None, "tiny/9")
    newer = task.model_copy(update={"rules_version": "tiny/2"})
    assert rules_for(task, newer, "tiny/2") is newer


def test_a_source_that_fails_verify_is_refused(source):
    store, sid, location, _ = source
    forge_a_discard_as_keep(location)
    before = _stored(location)
    task = Recording.of(search_events(store, sid)).task()
    with pytest.raises(DerivationError, match="fails verify"):
        rejudge(store, sid, task, RuleChange(size_cap_scale=0.98))
    assert _stored(location) == before


def test_an_unfinished_source_is_refused_and_a_rejudgement_has_no_counterfactual(source, tmp_path):
    store, sid, _, _ = source
    task = Recording.of(search_events(store, sid)).task()
    derived = rejudge(store, sid, task, RuleChange(size_cap_scale=0.98))
    with pytest.raises(DerivationError, match="is a re-judgement"):
        counterfactual_config(store, derived.search_id, "random")
    assert counterfactual_config(store, sid, "random").derived_from["search"] == str(sid)
    loop, running, _ = scripted_loop(tmp_path / "other", trials=2)
    with pytest.raises(DerivationError, match="has not finished"):
        rejudge(running, loop.state.started.id, task, RuleChange(size_cap_scale=0.98))
