"""A search that ended harness_faults (trial after trial killed: an OOM killer, a flaky
host) is continued by a resume, which names the ending it reopened and starts the count
of aborts again; an ending that says the search ran its course stays final."""

from __future__ import annotations

import pytest
import typer

from cli_wiring import HARNESS_FAULTS_EXIT, summary
from domain import search as s
from domain.labels import FailureLabel, FinishReason
from domain.progress import MAX_ABORTS_IN_A_ROW, fold
from ledger import session
from ledger.recovery import NothingToResumeError, recovery_events
from ledger.replay import replay, search_events
from ledger.workspace import Ran
from projections.lineage import DuckLineage
from tests.support import (
    ScriptedEvaluator,
    StepProposer,
    SyncExecutor,
    by_lr,
    failed,
    scripted_loop,
)

KILLED = "the trial pipeline exited -9 without a report: killed by the OOM killer"


@pytest.fixture
def faulted(tmp_path):
    """A search whose trials after the baseline were all killed, until it gave up."""
    down = [True]

    def script(job):
        if down[0] and job.sequence >= 1:
            return failed(FailureLabel.HARNESS_ABORT, KILLED)
        return by_lr(job)

    loop, store, _location = scripted_loop(tmp_path, trials=4, script=script)
    assert loop.run() is FinishReason.HARNESS_FAULTS
    down[0] = False  # the machine is fixed
    return store, loop.state.started.id


def test_a_search_that_ended_harness_faults_exits_75_and_says_how_to_go_on(faulted, capsys):
    """Not a success (0) nor a recipe's failure (1): EX_TEMPFAIL, so a script retries."""
    store, sid = faulted
    with pytest.raises(typer.Exit) as stopped:
        summary(store, Ran(sid, FinishReason.HARNESS_FAULTS, reused=0))
    assert stopped.value.exit_code == HARNESS_FAULTS_EXIT == 75
    err = capsys.readouterr().err
    assert "aborted by the machine or an API" in err
    assert "`cli.py search --resume` reopens it" in err


def _continue(tmp_path, store, sid):
    state = fold(store.stream(sid))
    recovery = recovery_events(state, "host-b")
    store.append(sid, recovery)
    loop = session.build_loop(
        state, store, ScriptedEvaluator(tmp_path), SyncExecutor(by_lr), StepProposer(),
        DuckLineage(store, tmp_path / "ledger.duckdb"), session.config_of(state), "sync",
        "host-b",
    )  # fmt: skip
    return recovery, state, loop


def test_a_harness_faults_search_is_picked_and_reopened_by_a_resume(tmp_path, faulted):
    store, sid = faulted
    assert session.pick_search(store, None, unfinished=True) == sid
    recovery, state, loop = _continue(tmp_path, store, sid)
    resumed = recovery[0]
    assert isinstance(resumed, s.SearchResumed)
    assert resumed.reopened is FinishReason.HARNESS_FAULTS
    assert state.started.finished is None
    assert state.aborts_in_a_row == 0  # the count starts again
    assert loop.run() is FinishReason.TRIAL_BUDGET  # the four trials now run
    assert state.proposals == 4


def test_a_reopened_search_replays_without_divergence(tmp_path, faulted):
    store, sid = faulted
    _recovery, _state, loop = _continue(tmp_path, store, sid)
    loop.run()
    report = replay(search_events(store, sid))
    assert report.ok, report.divergence
    assert report.compared == report.events - 1


def test_a_search_that_ran_its_course_stays_final(tmp_path, faulted):
    store, sid = faulted
    _recovery, state, loop = _continue(tmp_path, store, sid)
    loop.run()
    assert state.started.finished is FinishReason.TRIAL_BUDGET
    with pytest.raises(NothingToResumeError, match="reopens only harness_faults"):
        recovery_events(fold(store.stream(sid)), "host-c")
    with pytest.raises(ValueError, match="no unfinished search"):
        session.pick_search(store, None, unfinished=True)


def test_the_abort_count_restarts_only_on_a_reopening_resume(faulted):
    store, sid = faulted
    events = store.stream(sid)
    assert isinstance(events[-1], s.SearchFinished)
    crashed = fold(events[:-1])  # as if the process had died before it gave up
    assert crashed.aborts_in_a_row == MAX_ABORTS_IN_A_ROW
    (resumed,) = recovery_events(crashed, "host-b")
    assert resumed.reopened is None
    assert crashed.aborts_in_a_row == MAX_ABORTS_IN_A_ROW  # a crash resume keeps counting
    reopened = fold(events)
    recovery_events(reopened, "host-b")  # folds the resume into the state
    assert reopened.aborts_in_a_row == 0


@pytest.mark.parametrize("ending", list(FinishReason))
def test_which_endings_a_resume_may_reopen_is_one_rule(faulted, ending):
    store, sid = faulted
    search = fold(store.stream(sid)).started.model_copy(update={"finished": ending})
    assert s.resumable(search) is (ending in s.REOPENABLE)
    if ending in s.REOPENABLE:
        assert s.resume(search, abandoned=(), host="h").reopened is ending
    else:
        with pytest.raises(s.SearchFinishedError):
            s.resume(search, abandoned=(), host="h")
