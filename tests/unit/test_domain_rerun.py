"""Which trials a resume re-runs (domain/rerun.py): those a Ctrl-C or a crash cut short,
never a runner's fault nor the baseline; older resumes and proposals upcast to none."""

from __future__ import annotations

from uuid import UUID

from domain import search as s
from domain import trial as t
from domain.events import upcast
from domain.labels import FinishReason, Verdict
from domain.rerun import rerun_proposal
from domain.steps import abort_events
from ledger.recovery import ABANDONED, recovery_events
from tests.unit.test_domain_progress import Scenario

CTRL_C = "interrupted by the user (Ctrl-C)"


def _searching() -> Scenario:
    run = Scenario()
    run.judged(1.0, Verdict.KEEP)  # the baseline
    return run


def _launched(run: Scenario) -> UUID:
    tid = run.propose()
    run.launch(tid)
    return tid


def _interrupt(run: Scenario, *trials: UUID, why: str = CTRL_C) -> None:
    for tid in trials:
        abort_events(run.state, tid, why)
    run.state.apply(
        s.finish(
            run.state.started,
            FinishReason.INTERRUPTED,
            trials=0,
            best_trial_id=None,
            best_score=None,
        )
    )


def test_a_resume_reruns_what_a_ctrl_c_ended_and_not_a_runner_fault() -> None:
    run = _searching()
    faulted, cut = _launched(run), _launched(run)
    abort_events(run.state, faulted, "runner failed: OSError")
    _interrupt(run, cut)

    (resumed,) = recovery_events(run.state, "host-b")

    assert isinstance(resumed, s.SearchResumed)
    assert resumed.reruns == (cut,)
    assert run.state.reruns.next() == cut


def test_a_resume_reruns_the_trials_a_crash_left_in_flight_but_never_the_baseline() -> None:
    run = Scenario()
    baseline = _launched(run)
    (resumed, abort) = recovery_events(run.state, "host-b")
    assert isinstance(resumed, s.SearchResumed)
    assert resumed.reruns == ()
    assert isinstance(abort, t.TrialFailed)
    assert abort.reason == ABANDONED
    assert baseline not in run.state.reruns.queue

    run.judged(1.0, Verdict.KEEP)
    in_flight = _launched(run)
    resumed, _abort = recovery_events(run.state, "host-c")
    assert isinstance(resumed, s.SearchResumed)
    assert resumed.reruns == (in_flight,)


def test_the_rerun_copies_the_proposal_and_takes_the_trial_off_the_queue() -> None:
    run = _searching()
    cut = _launched(run)
    _interrupt(run, cut)
    recovery_events(run.state, "host-b")

    again = rerun_proposal(run.state.reruns, cut, {"train.py": "x"})
    assert (again.specialist, again.hypothesis, again.agent) == ("opt", "h", "harness")
    assert again.recipe == {"train.py": "x"}
    event = t.propose(
        run.state.started.id,
        run.state.next_sequence,
        specialist=again.specialist,
        agent=again.agent,
        parent_id=again.parent_id,
        hypothesis=again.hypothesis,
        lineage_view=again.view_text,
        lineage_view_sha256="",
        reruns=cut,
    )
    run.state.apply(event)
    assert run.state.reruns.next() is None
    assert cut not in run.state.reruns.proposals


def test_a_rerun_still_queued_at_the_next_stop_is_queued_again() -> None:
    run = _searching()
    cut = _launched(run)
    _interrupt(run, cut)
    recovery_events(run.state, "host-b")
    _interrupt(run)  # stopped again before the re-run was proposed

    (resumed,) = recovery_events(run.state, "host-c")
    assert isinstance(resumed, s.SearchResumed)
    assert resumed.reruns == (cut,)


def test_a_replayed_resume_from_before_reruns_queues_nothing() -> None:
    run = _searching()
    cut = _launched(run)
    _interrupt(run, cut)

    (resumed,) = recovery_events(run.state, "host-b", rerun=False)
    assert isinstance(resumed, s.SearchResumed)
    assert resumed.reruns is None
    assert run.state.reruns.next() is None


def test_old_resumes_and_proposals_upcast_to_no_reruns() -> None:
    resumed = {"abandoned": [], "host": "h", "config": {}}
    assert upcast(s.SearchResumed, resumed, 1)["reruns"] is None
    proposed = {"specialist": "opt", "hypothesis": "h"}
    assert upcast(t.TrialProposed, proposed, 1)["reruns"] is None
