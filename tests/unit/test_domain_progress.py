"""The search state as a fold (SearchState.apply) and the loop's decisions on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.keep import KeepRule, NoiseFloor
from domain.labels import BASELINE, FailureLabel, FinishReason, TrialStatus, Verdict
from domain.progress import (
    SearchState,
    StopLimits,
    fold,
    judgement,
    next_specialist,
    rotation,
    stop_reason,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ROSTER = ("opt", "arch", "data", "sched")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def AgentCharged(*, originator_id, originator_version, usd, **fields):
    """A model exchange that cost `usd`: the cost the cap counts."""
    from domain.agent import AgentExchanged

    return AgentExchanged(
        originator_id=originator_id,
        originator_version=originator_version,
        turn=1,
        model="m",
        request_sha256="r",
        context_sha256="c",
        response={},
        usage={},
        usd=usd,
        price_table="p",
        **fields,
    )


def started(seed: int = 0, keep_rule: KeepRule | None = None) -> s.SearchStarted:
    return s.start(
        0,
        "tiny",
        seed,
        task_sha256="0" * 64,
        rules_version="tiny/1",
        metric="loss",
        lower_is_better=True,
        roster=ROSTER,
        policy="specialists",
        agent="offline",
        lineage=True,
        keep_rule=keep_rule or KeepRule(),
        config={},
        environment={},
        timestamp=T0,
    )


def given(*events: DomainEvent) -> SearchState:
    return fold(list(events))


class Scenario:
    """Runs trial commands on a SearchState, folding each event as it is made."""

    def __init__(self, seed: int = 0, keep_rule: KeepRule | None = None) -> None:
        self.state = given(started(seed, keep_rule))
        self.clock = 0.0

    def _apply(self, event: DomainEvent) -> DomainEvent:
        self.state.apply(event)
        return event

    def tick(self, seconds: float = 1.0) -> datetime:
        self.clock += seconds
        return at(self.clock)

    def propose(self, sequence: int | None = None, specialist: str | None = None) -> UUID:
        seq = self.state.next_sequence if sequence is None else sequence
        specialist = specialist or ("baseline" if seq == 0 else "opt")
        event = t.propose(
            self.state.started.id,
            seq,
            specialist=specialist,
            agent="offline",
            parent_id=None,
            hypothesis="h",
            lineage_view="",
            lineage_view_sha256="",
            timestamp=self.tick(),
        )
        self._apply(event)
        return event.originator_id

    def launch(self, tid: UUID) -> None:
        self._apply(
            t.edit(
                self.state.trials[tid],
                diff="",
                parent_sha256="p",
                child_sha256="c",
                timestamp=self.tick(),
            )
        )
        self._apply(
            t.launch(
                self.state.trials[tid],
                runner="local",
                host="h",
                seeds=(0,),
                threads=1,
                budgets={},
                sandbox="none",
                rules_version="tiny/1",
                recipe_sha256="c",
                deterministic=True,
                clock="cpu",
                timestamp=self.tick(),
            )
        )

    def score(self, tid: UUID, score: float, *per_seed: t.SeedResult) -> None:
        self._apply(
            t.record_score(
                self.state.trials[tid],
                metric="loss",
                lower_is_better=True,
                score=score,
                measurements={},
                per_seed=per_seed,
                rules_version="tiny/1",
                timestamp=self.tick(),
            )
        )

    def judge(self, tid: UUID, verdict: Verdict) -> None:
        trial = self.state.trials[tid]
        self._apply(
            t.judge(
                trial,
                verdict=verdict,
                rule="test",
                score=trial.score or 0.0,
                best_before_id=None,
                best_before_score=None,
                delta=None,
                timestamp=self.tick(),
            )
        )

    def fail(self, tid: UUID, label: FailureLabel = FailureLabel.CRASH) -> None:
        self._apply(
            t.record_failure(self.state.trials[tid], label, reason="r", timestamp=self.tick())
        )

    def noise(self, baseline: UUID, floor: float) -> None:
        noise = NoiseFloor(k=2, scores=(1.0, 1.0), sigma=0.0, floor=floor, seeds_per_trial=1)
        self._apply(s.measure_noise_floor(self.state.started, baseline, noise))

    def judged(self, score: float, verdict: Verdict) -> UUID:
        tid = self.propose()
        self.launch(tid)
        self.score(tid, score)
        self.judge(tid, verdict)
        return tid

    def failed(self, label: FailureLabel = FailureLabel.CRASH) -> UUID:
        tid = self.propose()
        self.fail(tid, label)
        return tid


# Folding:


def test_best_moves_only_on_a_keep() -> None:
    run = Scenario()
    baseline = run.judged(1.0, Verdict.KEEP)
    assert run.state.best_id == baseline

    run.judged(0.9, Verdict.DISCARD)
    run.failed()
    assert run.state.best_id == baseline

    better = run.judged(0.5, Verdict.KEEP)
    run.judged(0.4, Verdict.DISCARD)
    assert run.state.best is not None
    assert (run.state.best.id, run.state.best.score) == (better, 0.5)


def test_ended_since_keep_counts_discards_and_failures_but_not_harness_aborts() -> None:
    run = Scenario()
    run.judged(1.0, Verdict.KEEP)
    counts = [run.state.ended_since_keep]

    run.judged(1.1, Verdict.DISCARD)
    counts.append(run.state.ended_since_keep)
    run.failed(FailureLabel.CRASH)
    counts.append(run.state.ended_since_keep)
    run.failed(FailureLabel.HARNESS_ABORT)
    counts.append(run.state.ended_since_keep)
    run.failed(FailureLabel.SIZE_BLOCKED)
    counts.append(run.state.ended_since_keep)
    run.judged(0.5, Verdict.KEEP)
    counts.append(run.state.ended_since_keep)

    assert counts == [0, 1, 2, 2, 3, 0]


def test_proposals_leave_out_the_baseline() -> None:
    run = Scenario()
    assert (run.state.proposals, run.state.next_sequence) == (0, 0)

    run.propose()
    assert (run.state.proposals, run.state.next_sequence) == (0, 1)

    run.propose()
    run.propose()
    assert (run.state.proposals, run.state.next_sequence) == (2, 3)
    assert run.state.trial(2).sequence == 2


def test_in_flight_lists_open_trials_oldest_first() -> None:
    run = Scenario()
    judged = run.judged(1.0, Verdict.KEEP)
    late = run.propose(sequence=4)
    scored = run.propose(sequence=2)
    run.launch(scored)
    run.score(scored, 0.9)
    launched = run.propose(sequence=1)
    run.launch(launched)
    failed = run.propose(sequence=3)
    run.fail(failed)

    ids = [trial.id for trial in run.state.in_flight()]

    assert ids == [launched, scored, late]
    assert judged not in ids
    assert run.state.trials[scored].status is TrialStatus.SCORED


def test_active_seconds_leave_out_the_gap_before_a_resume() -> None:
    events: list[DomainEvent] = [started()]
    state = given(*events)
    tid = t.trial_id(state.started.id, 0)
    proposal = t.propose(
        state.started.id,
        0,
        specialist=BASELINE,
        agent="offline",
        parent_id=None,
        hypothesis="",
        lineage_view="",
        lineage_view_sha256="",
        timestamp=at(10),
    )
    state.apply(proposal)
    state.apply(s.resume(state.started, abandoned=(tid,), host="h", timestamp=at(100)))
    state.apply(AgentCharged(originator_id=tid, originator_version=1, usd=0.5, timestamp=at(105)))

    assert state.active_seconds(at(50)) == 10  # now before the resume: clamped at 0
    assert state.active_seconds(at(120)) == 10 + 20
    assert state.events == 4


def test_active_seconds_run_from_the_start_without_a_resume() -> None:
    state = given(started())

    assert state.active_seconds(at(42)) == 42
    assert state.active_seconds(at(-5)) == 0
    assert SearchState().active_seconds(at(42)) == 0


def test_model_calls_add_up_once_and_sessions_count() -> None:
    from domain import agent as a

    state = given(started())
    sid = UUID(int=9)
    common = {"model": "m", "request_sha256": "r", "context_sha256": "c"}
    state.apply(
        a.AgentSessionStarted(
            originator_id=sid,
            originator_version=1,
            search_id=sid,
            sequence=1,
            specialist="opt",
            model="m",
            backend="claude",
        )
    )
    state.apply(
        a.AgentExchanged(
            originator_id=sid,
            originator_version=2,
            turn=1,
            response={},
            usage={},
            usd=0.25,
            price_table="p",
            **common,
        )
    )
    state.apply(
        a.AgentCallFailed(
            originator_id=sid,
            originator_version=3,
            turn=2,
            error="529",
            attempts=3,
            usd=0.5,
            **common,
        )
    )
    state.apply(
        a.AgentSessionEnded(
            originator_id=sid, originator_version=4, outcome="no_submit", turns=2, usd=0.75
        )
    )

    assert state.cost_usd == 0.75  # the session's own total is not counted again
    assert (state.sessions, state.empty_sessions, state.empty_in_a_row) == (1, 1, 1)
    assert state.trials == {}


# Specialists:


def _judged_baseline(run: Scenario) -> None:
    tid = run.propose(specialist=BASELINE)
    run.launch(tid)
    run.score(tid, 1.0)
    run.state.apply(t.judge(run.state.trials[tid], **judgement(run.state, tid)))


def test_the_baseline_goes_first_then_the_rotation_cycles() -> None:
    run = Scenario(seed=0)
    order = rotation(ROSTER, 0)
    assert next_specialist(run.state) == BASELINE
    _judged_baseline(run)
    turns = []
    for _ in range(len(ROSTER) * 2):
        turns.append(next_specialist(run.state))
        run.propose(specialist=turns[-1])

    assert turns == [*order, *order]
    assert sorted(order) == sorted(ROSTER)


def test_the_rotation_is_seeded_and_stable() -> None:
    assert rotation(ROSTER, 0) == rotation(ROSTER, 0)
    assert rotation(ROSTER, 0) != rotation(ROSTER, 1)
    assert rotation(tuple(reversed(ROSTER)), 1) == rotation(ROSTER, 1)


def test_two_seeds_give_two_first_specialists_after_the_baseline() -> None:
    first = []
    for seed in (0, 1):
        run = Scenario(seed=seed)
        _judged_baseline(run)
        first.append(next_specialist(run.state))

    assert first == [rotation(ROSTER, 0)[0], rotation(ROSTER, 1)[0]]
    assert first[0] != first[1]


# Stopping:

NO_LIMITS = StopLimits(trials=100)


def test_nothing_stops_a_fresh_search() -> None:
    assert stop_reason(given(started()), NO_LIMITS, at(1)) is None


def test_the_trial_budget_counts_proposals_after_the_baseline() -> None:
    run = Scenario()
    run.judged(1.0, Verdict.KEEP)
    run.judged(1.1, Verdict.DISCARD)
    limits = StopLimits(trials=2)
    assert stop_reason(run.state, limits, at(0)) is None

    run.propose()

    assert stop_reason(run.state, limits, at(0)) is FinishReason.TRIAL_BUDGET


def test_a_budget_of_zero_trials_still_runs_the_baseline_then_stops() -> None:
    run = Scenario()
    zero = StopLimits(trials=0)
    assert stop_reason(run.state, zero, at(0)) is None  # the seed recipe's noise first
    assert next_specialist(run.state) == "baseline"

    run.judged(1.0, Verdict.KEEP)

    assert stop_reason(run.state, zero, at(0)) is FinishReason.TRIAL_BUDGET


def test_the_deadline_counts_active_seconds() -> None:
    state = given(started())
    limits = StopLimits(trials=100, deadline_seconds=60)

    assert stop_reason(state, limits, at(59.9)) is None
    assert stop_reason(state, limits, at(60)) is FinishReason.DEADLINE


def test_patience_counts_trials_ended_since_the_last_keep() -> None:
    run = Scenario()
    run.judged(1.0, Verdict.KEEP)
    run.failed()
    limits = StopLimits(trials=100, patience=2)
    assert stop_reason(run.state, limits, at(0)) is None

    run.judged(1.2, Verdict.DISCARD)

    assert stop_reason(run.state, limits, at(0)) is FinishReason.NO_IMPROVEMENT


def test_the_cost_cap_counts_agent_spending() -> None:
    state = given(started())
    limits = StopLimits(trials=100, cost_usd=1.0)
    state.apply(AgentCharged(originator_id=UUID(int=9), originator_version=1, usd=0.75))
    assert stop_reason(state, limits, at(0)) is None

    state.apply(AgentCharged(originator_id=UUID(int=9), originator_version=2, usd=0.25))

    assert stop_reason(state, limits, at(0)) is FinishReason.COST_CAP


def test_a_failed_baseline_stops_the_search_before_any_other_reason() -> None:
    run = Scenario()
    run.failed(FailureLabel.CRASH)
    limits = StopLimits(trials=0, deadline_seconds=0, patience=0, cost_usd=0)

    assert stop_reason(run.state, limits, at(999)) is FinishReason.BASELINE_FAILED


def test_an_aborted_baseline_runs_again_instead_of_stopping_the_search() -> None:
    run = Scenario()
    run.failed(FailureLabel.HARNESS_ABORT)

    assert stop_reason(run.state, NO_LIMITS, at(0)) is None
    assert next_specialist(run.state) == BASELINE
    assert run.state.proposals == 0  # an aborted baseline spends no trial budget


# Judgement:


def seed(number: int, score: float, scoring: bool = True) -> t.SeedResult:
    return t.SeedResult(seed=number, score=score, scoring=scoring)


def test_the_baseline_is_kept_by_the_baseline_rule() -> None:
    run = Scenario()
    tid = run.propose()
    run.launch(tid)
    run.score(tid, 1.0)

    assert judgement(run.state, tid) == {
        "verdict": Verdict.KEEP,
        "rule": BASELINE,
        "score": 1.0,
        "best_before_id": None,
        "best_before_score": None,
        "delta": None,
        "numbers": {},
        "test": None,
    }


def baseline_then_candidate(floor: float, candidate: tuple[float, float]) -> Scenario:
    run = Scenario(keep_rule=KeepRule(name="noise_floor"))
    base = run.propose()
    run.launch(base)
    run.score(base, 1.0, seed(0, 0.9), seed(1, 1.1), seed(2, 50.0, scoring=False))
    run.noise(base, floor)
    run.judge(base, Verdict.KEEP)
    tid = run.propose()
    run.launch(tid)
    run.score(
        tid,
        sum(candidate) / 2,
        seed(0, candidate[0]),
        seed(1, candidate[1]),
        seed(2, -50.0, scoring=False),
    )
    return run


def test_a_trial_is_kept_on_the_scoring_seeds_when_it_beats_the_floor() -> None:
    run = baseline_then_candidate(floor=0.25, candidate=(0.6, 0.7))
    tid = run.state.trial(1).id

    fields = judgement(run.state, tid)

    assert run.state.per_seed[tid] == (0.6, 0.7)
    assert fields["verdict"] is Verdict.KEEP
    assert fields["rule"] == "noise_floor"
    assert fields["best_before_id"] == run.state.trial(0).id
    assert fields["best_before_score"] == 1.0
    assert fields["numbers"]["candidate"] == pytest.approx(0.65)
    assert fields["numbers"]["best"] == pytest.approx(1.0)  # not 50.0: noise seed left out
    assert fields["delta"] == pytest.approx(-0.35)
    assert fields["numbers"]["floor"] == 0.25


def test_a_trial_within_the_floor_is_discarded() -> None:
    run = baseline_then_candidate(floor=0.5, candidate=(0.6, 0.7))

    fields = judgement(run.state, run.state.trial(1).id)

    assert fields["verdict"] is Verdict.DISCARD
    assert fields["numbers"]["improvement"] == pytest.approx(0.35)


def test_a_score_without_scoring_seeds_stands_for_itself() -> None:
    run = Scenario()
    tid = run.propose()
    run.launch(tid)
    run.score(tid, 0.8, t.SeedResult(seed=0, score=None), seed(1, 9.0, scoring=False))

    assert run.state.per_seed[tid] == (0.8,)


def test_ten_harness_aborts_in_a_row_stop_the_search_but_one_outcome_resets_the_count() -> None:
    from domain.progress import MAX_ABORTS_IN_A_ROW

    run = Scenario()
    run.judged(1.0, Verdict.KEEP)  # the baseline
    for _ in range(MAX_ABORTS_IN_A_ROW - 1):
        run.failed(FailureLabel.HARNESS_ABORT)
    assert stop_reason(run.state, NO_LIMITS, at(0)) is None
    run.failed(FailureLabel.CRASH)
    assert run.state.aborts_in_a_row == 0
    for _ in range(MAX_ABORTS_IN_A_ROW):
        run.failed(FailureLabel.HARNESS_ABORT)
    assert stop_reason(run.state, NO_LIMITS, at(0)) is FinishReason.HARNESS_FAULTS


def test_a_session_that_stopped_at_the_cost_cap_stops_the_search() -> None:
    from domain import agent as a

    state = given(started())
    assert stop_reason(state, StopLimits(trials=100, cost_usd=1.0), at(0)) is None
    state.apply(
        a.AgentSessionEnded(
            originator_id=UUID(int=9), originator_version=2, outcome="cost_cap", turns=3, usd=0.99
        )
    )
    assert stop_reason(state, StopLimits(trials=100, cost_usd=1.0), at(0)) is FinishReason.COST_CAP
