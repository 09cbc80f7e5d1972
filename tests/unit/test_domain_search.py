"""The Search aggregate, given-when-then: a deterministic start, a noise floor
measured once, nothing after the finish."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain import search as s
from domain.base import DomainEvent
from domain.keep import KeepRule, NoiseFloor
from domain.labels import FinishReason

NOISE = NoiseFloor(k=2, scores=(1.0, 1.5), sigma=0.35, floor=0.7, seeds_per_trial=1)
BASELINE = UUID(int=7)


def started(ordinal: int = 0, task: str = "tiny", seed: int = 3) -> s.SearchStarted:
    return s.start(
        ordinal,
        task,
        seed,
        task_sha256="0" * 64,
        rules_version="tiny/1",
        metric="loss",
        lower_is_better=True,
        roster=("opt", "arch"),
        policy="specialists",
        agent="offline",
        lineage=True,
        keep_rule=KeepRule(sigmas=3.0),
        config={"trials": 5},
        environment={"python": "3.11"},
    )


def given(*events: DomainEvent) -> s.Search:
    return s.project_search(list(events))


def test_start_names_the_search_by_ordinal_task_and_seed() -> None:
    event = started()

    assert event.originator_id == s.search_id(0, "tiny", 3) == started().originator_id
    assert event.originator_version == 1
    assert (event.ordinal, event.task_id, event.seed) == (0, "tiny", 3)
    assert (
        len(
            {
                s.search_id(*key)
                for key in [
                    (0, "tiny", 3),
                    (1, "tiny", 3),
                    (0, "other", 3),
                    (0, "tiny", 4),
                ]
            }
        )
        == 4
    )


def test_a_started_search_holds_the_recorded_options() -> None:
    search = given(started())

    assert search.id == s.search_id(0, "tiny", 3)
    assert search.version == 1
    assert search.roster == ("opt", "arch")
    assert search.keep_rule == KeepRule(sigmas=3.0)
    assert (search.metric, search.lower_is_better, search.lineage) == (
        "loss",
        True,
        True,
    )
    assert search.config == {"trials": 5}
    assert (search.noise_floor, search.finished) == (None, None)


def test_the_noise_floor_is_measured_as_the_next_version() -> None:
    search = given(started())

    event = s.measure_noise_floor(search, BASELINE, NOISE)

    assert event.originator_id == search.id
    assert event.originator_version == 2
    assert (event.baseline_trial_id, event.noise) == (BASELINE, NOISE)
    assert given(started(), event).noise_floor == NOISE


def test_the_noise_floor_is_measured_once() -> None:
    first = given(started())
    search = given(started(), s.measure_noise_floor(first, BASELINE, NOISE))

    with pytest.raises(s.NoiseFloorKnownError, match="the noise floor is measured once"):
        s.measure_noise_floor(search, BASELINE, NOISE)


def test_resume_and_finish_advance_the_version() -> None:
    events: list[DomainEvent] = [started()]
    events.append(s.resume(given(*events), abandoned=(BASELINE,), host="box"))
    events.append(
        s.finish(
            given(*events),
            FinishReason.TRIAL_BUDGET,
            trials=5,
            best_trial_id=BASELINE,
            best_score=1.0,
        )
    )

    assert [e.originator_version for e in events] == [1, 2, 3]
    assert events[2].reason is FinishReason.TRIAL_BUDGET
    assert given(*events).finished is FinishReason.TRIAL_BUDGET
    assert given(*events).version == 3


def finished() -> s.Search:
    first = given(started())
    done = s.finish(first, FinishReason.DEADLINE, trials=2, best_trial_id=None, best_score=None)
    return given(started(), done)


def test_nothing_is_recorded_after_the_finish() -> None:
    search = finished()

    with pytest.raises(s.SearchFinishedError, match=r"ended \(deadline\): cannot resume"):
        s.resume(search, abandoned=(), host="box")
    with pytest.raises(s.SearchFinishedError, match="cannot finish"):
        s.finish(
            search,
            FinishReason.INTERRUPTED,
            trials=2,
            best_trial_id=None,
            best_score=None,
        )
    with pytest.raises(s.SearchFinishedError, match="cannot measure the noise floor"):
        s.measure_noise_floor(search, BASELINE, NOISE)


def test_fold_rejects_an_empty_history_and_foreign_events() -> None:
    class Foreign(DomainEvent):
        pass

    with pytest.raises(ValueError, match="no events to fold"):
        s.project_search([])
    with pytest.raises(TypeError, match="not a search event: Foreign"):
        s.mutate(Foreign(originator_id=UUID(int=1), originator_version=1), None)
