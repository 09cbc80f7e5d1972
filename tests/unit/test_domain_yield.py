"""Running out of ideas: a specialist yields its turn (SpecialistYielded), never a trial;
when every specialist has yielded since the last trial began or ended, the search ends
"exhausted"."""

from __future__ import annotations

import pytest

from domain import search as s
from domain.labels import FailureLabel, FinishReason, Verdict
from domain.ports import Proposal
from domain.progress import next_specialist, rotation, stop_reason
from domain.steps import proposal_events
from tests.unit.test_domain_progress import (
    NO_LIMITS,
    ROSTER,
    Scenario,
    _judged_baseline,
    at,
)


def yielded(specialist: str, view: str = "the view it saw") -> Proposal:
    return Proposal(
        specialist=specialist,
        agent="offline",
        parent_id=None,
        hypothesis="",
        yielded="no untried edit applies",
        view_text=view,
    )


def never_checked(child: object) -> None:
    raise AssertionError("a yield has no recipe to check")


def never_launched(trial_id: object) -> dict[str, object]:
    raise AssertionError("a yield launches nothing")


def yield_turn(run: Scenario) -> list[object]:
    """The loop's step for the specialist whose turn it is, when it has no idea left."""
    proposal = yielded(next_specialist(run.state))
    return proposal_events(run.state, proposal, {}, never_checked, never_launched)


def test_a_yield_is_one_search_event_and_no_trial() -> None:
    run = Scenario()
    _judged_baseline(run)
    before = (run.state.next_sequence, run.state.proposals)

    events = yield_turn(run)

    assert [type(e) for e in events] == [s.SpecialistYielded]
    event = events[0]
    assert isinstance(event, s.SpecialistYielded)
    assert event.originator_id == run.state.started.id
    assert event.originator_version == run.state.started.version
    assert event.sequence == before[0]
    assert event.reason == "no untried edit applies"
    assert event.lineage_view == "the view it saw"
    assert (run.state.next_sequence, run.state.proposals) == before  # the number is free


def test_a_yield_passes_the_turn_to_the_next_specialist() -> None:
    run = Scenario()
    _judged_baseline(run)
    order = rotation(ROSTER, 0)

    turns = []
    for _ in range(3):
        turns.append(next_specialist(run.state))
        yield_turn(run)

    assert turns == order[:3]


def test_the_search_is_exhausted_once_every_specialist_has_yielded() -> None:
    run = Scenario()
    _judged_baseline(run)
    for _ in range(len(ROSTER) - 1):
        yield_turn(run)
        assert stop_reason(run.state, NO_LIMITS, at(0)) is None

    yield_turn(run)

    assert stop_reason(run.state, NO_LIMITS, at(0)) is FinishReason.EXHAUSTED


@pytest.mark.parametrize("between", ["proposed", "ended"])
def test_a_trial_proposed_or_ended_between_yields_gives_everyone_a_new_turn(between) -> None:
    """Attack: yields spread over a search must not add up to an early ending."""
    run = Scenario()
    _judged_baseline(run)
    in_flight = run.propose() if between == "ended" else None
    for _ in range(len(ROSTER) - 1):
        yield_turn(run)
    if in_flight is None:
        run.propose()
    else:
        run.launch(in_flight)
        run.score(in_flight, 1.2)
        run.judge(in_flight, Verdict.DISCARD)
    yield_turn(run)

    assert stop_reason(run.state, NO_LIMITS, at(0)) is None


def test_a_failure_also_gives_everyone_a_new_turn() -> None:
    run = Scenario()
    _judged_baseline(run)
    for _ in range(len(ROSTER) - 1):
        yield_turn(run)
    run.failed(FailureLabel.CRASH)  # a crash to repair is a new idea
    yield_turn(run)

    assert stop_reason(run.state, NO_LIMITS, at(0)) is None


def test_the_same_specialist_yielding_again_is_not_every_specialist() -> None:
    """Attack: one specialist's repeated yields must not stand in for the others'."""
    run = Scenario()
    _judged_baseline(run)
    proposal = yielded(ROSTER[0])
    for _ in range(len(ROSTER) * 2):
        proposal_events(run.state, proposal, {}, never_checked, never_launched)

    assert stop_reason(run.state, NO_LIMITS, at(0)) is None


def test_no_turn_is_taken_after_the_search_finished() -> None:
    run = Scenario()
    _judged_baseline(run)
    run.state.apply(s.finish(run.state.started, FinishReason.TRIAL_BUDGET, trials=0,
                             best_trial_id=None, best_score=None))  # fmt: skip

    with pytest.raises(s.SearchFinishedError):
        yield_turn(run)
