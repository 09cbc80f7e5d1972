"""The Trial aggregate, given-when-then: fold events with `project_trial`, run a
command, assert the event it returns or the domain error it raises."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from domain import trial as t
from domain.base import DomainEvent
from domain.labels import FailureLabel, TrialStatus, Verdict
from domain.recipe import text_sha256
from domain.search import search_id

SEARCH = search_id(0, "tiny", 0)

Command = Callable[[t.Trial], DomainEvent]


def given(*events: DomainEvent) -> t.Trial:
    return t.project_trial(list(events))


def proposed(sequence: int = 1) -> t.TrialProposed:
    return t.propose(
        SEARCH,
        sequence,
        specialist="opt",
        agent="offline",
        parent_id=None,
        hypothesis="raise the learning rate",
        lineage_view="VIEW",
        lineage_view_sha256=text_sha256("VIEW"),
    )


def edited(trial: t.Trial) -> t.RecipeEdited:
    return t.edit(trial, diff="--- a/x\n", parent_sha256="p" * 64, child_sha256="c" * 64)


def launched(trial: t.Trial) -> t.TrialLaunched:
    return t.launch(
        trial,
        runner="local",
        host="box",
        seeds=(0, 1),
        threads=1,
        budgets={"train_s": 10.0},
        sandbox="bwrap",
        rules_version="tiny/1",
        recipe_sha256="c" * 64,
        deterministic=True,
        clock="cpu",
    )


def progressed(trial: t.Trial) -> t.TrainingProgressed:
    sample = t.ProgressSample(step=5, loss=0.5, elapsed_s=1.0)
    return t.record_progress(trial, seed=0, samples=(sample,))


def scored(trial: t.Trial) -> t.TrialScored:
    return t.record_score(
        trial,
        metric="loss",
        lower_is_better=True,
        score=1.25,
        measurements={"train_s": 1.0},
        rules_version="tiny/1",
    )


def judged(trial: t.Trial) -> t.TrialJudged:
    return t.judge(
        trial,
        verdict=Verdict.DISCARD,
        rule="noise_floor",
        score=1.25,
        best_before_id=None,
        best_before_score=None,
        delta=None,
    )


def crashed(trial: t.Trial) -> t.TrialFailed:
    return t.record_failure(trial, FailureLabel.CRASH, reason="loss went to NaN")


def aborted(trial: t.Trial) -> t.TrialFailed:
    return t.record_failure(trial, FailureLabel.HARNESS_ABORT, reason="runner died")


def reproduced(trial: t.Trial) -> t.TrialReproduced:
    return t.record_reproduction(
        trial,
        outcome="scored",
        score=1.25,
        recorded_score=1.25,
        identical=True,
        within_noise=True,
        tolerance=0.0,
    )


def history(*commands: Command) -> list[DomainEvent]:
    """The proposal, then each command run on the state folded so far."""
    events: list[DomainEvent] = [proposed()]
    for command in commands:
        events.append(command(t.project_trial(events)))
    return events


REACH: dict[TrialStatus, tuple[Command, ...]] = {
    TrialStatus.PROPOSED: (),
    TrialStatus.EDITED: (edited,),
    TrialStatus.LAUNCHED: (edited, launched),
    TrialStatus.SCORED: (edited, launched, scored),
    TrialStatus.JUDGED: (edited, launched, scored, judged),
    TrialStatus.FAILED: (edited, crashed),
}


def at(status: TrialStatus) -> t.Trial:
    trial = given(*history(*REACH[status]))
    assert trial.status is status
    return trial


# Ids:


def test_trial_id_is_a_function_of_search_and_sequence() -> None:
    other = search_id(1, "tiny", 0)

    assert t.trial_id(SEARCH, 3) == t.trial_id(SEARCH, 3)
    assert t.trial_id(SEARCH, 3) != t.trial_id(SEARCH, 4)
    assert t.trial_id(SEARCH, 3) != t.trial_id(other, 3)


def test_propose_names_the_trial_by_search_and_sequence_at_version_one() -> None:
    event = proposed(sequence=7)

    assert event.originator_id == t.trial_id(SEARCH, 7)
    assert event.originator_version == 1
    assert (event.search_id, event.sequence) == (SEARCH, 7)


# Happy path:


def test_happy_path_walks_every_status_and_keeps_the_facts() -> None:
    events = history(edited, launched, progressed, progressed, scored, judged)
    statuses = [given(*events[: n + 1]).status for n in range(len(events))]

    assert statuses == [
        TrialStatus.PROPOSED,
        TrialStatus.EDITED,
        TrialStatus.LAUNCHED,
        TrialStatus.LAUNCHED,
        TrialStatus.LAUNCHED,
        TrialStatus.SCORED,
        TrialStatus.JUDGED,
    ]
    trial = given(*events)
    assert trial.id == t.trial_id(SEARCH, 1)
    assert (trial.score, trial.verdict, trial.label) == (1.25, Verdict.DISCARD, None)
    assert trial.child_sha256 == "c" * 64
    assert (trial.specialist, trial.sequence, trial.parent_id) == ("opt", 1, None)


def test_each_event_is_the_next_version_of_the_same_trial() -> None:
    events = history(edited, launched, progressed, scored, judged, reproduced)

    assert [e.originator_version for e in events] == [1, 2, 3, 4, 5, 6, 7]
    assert {e.originator_id for e in events} == {t.trial_id(SEARCH, 1)}
    assert given(*events).version == 7


def test_progress_changes_only_the_version() -> None:
    before = at(TrialStatus.LAUNCHED)

    after = given(*history(edited, launched, progressed))

    assert after == before.model_copy(update={"version": before.version + 1})


def test_progress_sample_stores_a_non_finite_loss_as_none() -> None:
    assert t.ProgressSample(step=1, loss=float("nan"), elapsed_s=0.1).loss is None
    assert t.ProgressSample(step=1, loss=float("inf"), elapsed_s=0.1).loss is None
    assert t.ProgressSample(step=1, loss=0.25, elapsed_s=0.1).loss == 0.25


# Invalid transitions:


def test_scoring_twice_is_refused() -> None:
    trial = at(TrialStatus.SCORED)

    with pytest.raises(t.TrialAlreadyScoredError, match="cannot score: it was scored"):
        scored(trial)


def test_launching_a_failed_trial_is_refused() -> None:
    trial = at(TrialStatus.FAILED)

    with pytest.raises(t.TrialFinishedError, match=r"\(failed\): cannot launch: .*ended"):
        launched(trial)


@pytest.mark.parametrize("status", [TrialStatus.PROPOSED, TrialStatus.LAUNCHED])
def test_judging_an_unscored_trial_is_refused(status: TrialStatus) -> None:
    trial = at(status)

    with pytest.raises(t.TrialNotScoredError, match="cannot judge: it has no score"):
        judged(trial)


@pytest.mark.parametrize("status", [TrialStatus.PROPOSED, TrialStatus.EDITED])
def test_progress_before_launch_is_refused(status: TrialStatus) -> None:
    trial = at(status)

    with pytest.raises(t.TrialNotLaunchedError, match="record progress: it was never"):
        progressed(trial)


def test_scoring_before_launch_is_refused() -> None:
    trial = at(TrialStatus.EDITED)

    with pytest.raises(t.TrialNotLaunchedError, match="cannot score: it was never"):
        scored(trial)


def test_editing_twice_is_refused() -> None:
    trial = at(TrialStatus.EDITED)

    with pytest.raises(t.TrialError, match="cannot edit: needs status proposed") as err:
        edited(trial)
    assert type(err.value) is t.TrialError
    assert err.value.trial_id == trial.id


def test_launching_before_the_edit_is_refused() -> None:
    trial = at(TrialStatus.PROPOSED)

    with pytest.raises(t.TrialError, match="cannot launch: needs status edited"):
        launched(trial)


@pytest.mark.parametrize("command", [crashed, aborted])
def test_failing_after_the_verdict_is_refused(command: Command) -> None:
    trial = at(TrialStatus.JUDGED)

    with pytest.raises(t.TrialFinishedError, match=r"trial 1 \(judged\): cannot fail"):
        command(trial)


@pytest.mark.parametrize("command", [edited, launched, scored, judged, crashed])
def test_nothing_follows_a_failure(command: Command) -> None:
    trial = at(TrialStatus.FAILED)

    with pytest.raises(t.TrialFinishedError, match="the trial already ended"):
        command(trial)


@pytest.mark.parametrize(
    "status",
    [
        TrialStatus.PROPOSED,
        TrialStatus.EDITED,
        TrialStatus.LAUNCHED,
        TrialStatus.SCORED,
    ],
)
def test_harness_abort_ends_any_open_trial(status: TrialStatus) -> None:
    trial = at(status)

    event = aborted(trial)

    assert event.label is FailureLabel.HARNESS_ABORT
    assert event.originator_version == trial.version + 1
    after = t.mutate(event, trial)
    assert (after.status, after.label) == (
        TrialStatus.FAILED,
        FailureLabel.HARNESS_ABORT,
    )


@pytest.mark.parametrize("status", [TrialStatus.PROPOSED, TrialStatus.LAUNCHED])
def test_a_normal_failure_label_ends_an_unscored_trial(status: TrialStatus) -> None:
    event = crashed(at(status))

    assert (event.label, event.reason) == (FailureLabel.CRASH, "loss went to NaN")


def test_a_normal_failure_label_cannot_end_a_scored_trial() -> None:
    trial = at(TrialStatus.SCORED)

    with pytest.raises(t.TrialError, match="cannot fail with crash: needs status") as err:
        crashed(trial)
    assert type(err.value) is t.TrialError


# Reproduction:


@pytest.mark.parametrize(
    "status",
    [
        TrialStatus.PROPOSED,
        TrialStatus.EDITED,
        TrialStatus.LAUNCHED,
        TrialStatus.SCORED,
    ],
)
def test_reproduction_before_a_terminal_state_is_refused(status: TrialStatus) -> None:
    trial = at(status)

    with pytest.raises(t.TrialError, match="cannot reproduce: the trial has not ended"):
        reproduced(trial)


@pytest.mark.parametrize("status", [TrialStatus.JUDGED, TrialStatus.FAILED])
def test_reproduction_after_a_terminal_state_keeps_the_status(
    status: TrialStatus,
) -> None:
    trial = at(status)

    event = reproduced(trial)
    after = t.mutate(event, trial)

    assert event.originator_version == trial.version + 1
    assert after == trial.model_copy(update={"version": trial.version + 1})


# Folding:


def test_fold_rejects_an_empty_history_and_foreign_events() -> None:
    class Foreign(DomainEvent):
        pass

    with pytest.raises(ValueError, match="no events to fold"):
        t.project_trial([])
    with pytest.raises(TypeError, match="not a trial event: Foreign"):
        t.mutate(Foreign(originator_id=UUID(int=1), originator_version=1), None)
