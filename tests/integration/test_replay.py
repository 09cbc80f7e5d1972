"""Decision replay and resume over the real ledger: no divergence where nothing changed,
the first changed decision named where something did."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path

from domain import trial as t
from domain.events import decode
from domain.labels import FailureLabel, FinishReason
from domain.progress import fold
from ledger import session
from ledger.executor import Finished
from ledger.recovery import ABANDONED, recovery_events
from ledger.replay import regenerate, replay, search_events
from projections.lineage import DuckLineage, DuckReadModel
from tests.support import (
    ScriptedEvaluator,
    StepProposer,
    SyncExecutor,
    by_lr,
    forge_a_discard_as_keep,
    scripted_loop,
)


def _run(tmp_path, **kwargs):
    loop, store, location = scripted_loop(tmp_path, **kwargs)
    loop.run()
    return loop, store, location


def _events(store, loop):
    return search_events(store, loop.state.started.id)


def test_a_search_replays_without_divergence(tmp_path):
    loop, store, _ = _run(tmp_path, trials=8, proposer=StepProposer(factors=(2.0, 12.0, 1.5)))
    report = replay(_events(store, loop))
    assert report.ok, report.divergence
    assert report.compared == report.events - 1
    assert report.ending == "finished"


def test_a_hand_edited_verdict_is_reported_as_a_divergence(tmp_path):
    loop, store, location = _run(tmp_path, trials=6)
    position = forge_a_discard_as_keep(location)
    report = replay(_events(store, loop))
    assert not report.ok
    assert report.divergence.position == position
    assert report.divergence.recorded == {"verdict": "keep"}
    assert report.divergence.produced == {"verdict": "discard"}


def test_an_interrupted_search_replays(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=6)
    original = loop.executor.submit

    def interrupt_at_three(trial_id, job):
        original(trial_id, job)
        if job.sequence == 3:
            loop.executor.queue.clear()
            loop.stop_requested.set()

    loop.executor.submit = interrupt_at_three
    assert loop.run() is FinishReason.INTERRUPTED
    report = replay(_events(store, loop))
    assert report.ok, report.divergence


def _crash_after(tmp_path, sequence):
    """Run until trial `sequence` is launched, then drop the process (no more events)."""
    loop, store, location = scripted_loop(tmp_path, trials=7)
    original = loop.executor.submit

    class Crash(BaseException):
        pass

    def crash(trial_id, job):
        original(trial_id, job)
        if job.sequence == sequence:
            raise Crash

    loop.executor.submit = crash
    with contextlib.suppress(Crash):
        loop.run()
    return store, location, loop.state.started.id


def _resumed_after_a_crash(tmp_path, rerun: bool = True):
    """Crash with trial 3 in flight, then resume to the end of the budget."""
    store, _location, sid = _crash_after(tmp_path, 3)
    state = fold(store.stream(sid))
    assert [tr.sequence for tr in state.in_flight()] == [3]
    store.append(sid, recovery_events(state, "host-b", rerun=rerun))
    loop = session.build_loop(
        state,
        store,
        ScriptedEvaluator(tmp_path),
        SyncExecutor(by_lr),
        StepProposer(),
        DuckLineage(store, tmp_path / "ledger.duckdb"),
        session.config_of(state),
        "sync",
        "host-b",
    )
    assert loop.run() is FinishReason.TRIAL_BUDGET
    return store, sid, [decode(r) for r in store.read_all()]


def test_resume_abandons_trials_in_flight_and_finishes_the_budget(tmp_path):
    store, sid, events = _resumed_after_a_crash(tmp_path)
    proposed = {e.sequence: e for e in events if isinstance(e, t.TrialProposed)}
    assert list(proposed) == list(range(9))  # nothing lost or repeated
    reruns = [(e.sequence, e.reruns) for e in proposed.values() if e.reruns]
    assert reruns == [(4, proposed[3].originator_id)]  # the abandoned one ran again, first
    ends = [e for e in events if isinstance(e, t.TrialFailed | t.TrialJudged)]
    assert len(ends) == 9  # every trial has exactly one terminal event
    aborted = [
        e for e in events if isinstance(e, t.TrialFailed) and e.label is FailureLabel.HARNESS_ABORT
    ]
    assert [e.reason for e in aborted] == [ABANDONED]
    report = replay(search_events(store, sid))
    assert report.ok, report.divergence


def test_a_resume_recorded_before_reruns_replays_as_it_ran(tmp_path):
    """A SearchResumed from before re-runs (v1, upcast to `reruns` None) asked the agents
    again: replay re-derives that resume as it ran, not with today's re-runs."""
    store, sid, events = _resumed_after_a_crash(tmp_path, rerun=False)
    assert not [e for e in events if isinstance(e, t.TrialProposed) and e.reruns]
    report = replay(search_events(store, sid))
    assert report.ok, report.divergence


def test_two_workers_replay_from_the_recorded_completion_order(tmp_path):
    class Reversed(SyncExecutor):
        """Completes the newest trial first when two are in flight."""

        def next(self, timeout):
            done = [m for m in self.queue if isinstance(m, Finished)]
            if len(done) >= 2:
                last = done[-1]
                self.queue.remove(last)
                return last
            return super().next(timeout)

    loop, store, _location = scripted_loop(tmp_path, trials=6, workers=2)
    loop.executor = Reversed(by_lr, progress=False)
    loop.run()
    events = _events(store, loop)
    finished = [e.originator_id for _, e in events if isinstance(e, t.TrialJudged | t.TrialFailed)]
    proposed = [e.originator_id for _, e in events if isinstance(e, t.TrialProposed)]
    assert finished != proposed  # out of order, so the order really was recorded
    assert replay(events).ok


def test_offline_proposals_regenerate_from_seed_and_lineage(tmp_path):
    from agents.offline import OfflineProposer
    from agents.techniques import generic_catalogue
    from tests.support import TINY_RECIPE

    proposer = OfflineProposer(generic_catalogue(TINY_RECIPE))
    loop, store, _ = _run(tmp_path, trials=5, proposer=proposer)
    events = _events(store, loop)
    assert regenerate(events, DuckReadModel(store, tmp_path / "regen.duckdb"), proposer) is None
    edited = [
        replace(t, hypothesis=t.hypothesis + " (catalogue v2)")
        for t in generic_catalogue(TINY_RECIPE)
    ]
    found = regenerate(
        events, DuckReadModel(store, tmp_path / "regen2.duckdb"), OfflineProposer(edited)
    )
    assert found is not None
    assert found.what == "trial 1's proposal differs in hypothesis"


def test_recorded_config_carries_the_task_rules(tmp_path):
    loop, store, _ = _run(tmp_path, trials=1)
    started = _events(store, loop)[0][1]
    assert json.dumps(started.config["task_spec"]["roster"])
    assert Path(tmp_path / "ledger.sqlite").exists()
