"""The loop's steps as pure functions: a proposal or an outcome in, the events out."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import pytest

from domain import agent as a
from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.budgets import Budgets
from domain.keep import PAIRED_NOISE_METHOD, KeepRule
from domain.labels import BASELINE, FailureLabel, TrialStatus, Verdict
from domain.ports import Outcome, Proposal
from domain.progress import SearchState, fold
from domain.recipe import make_diff, recipe_sha256
from domain.steps import abort_events, outcome_events, proposal_events
from domain.task import Commands, Metric, RosterEntry, Seeds, TaskSpec

TRAIN = (
    "import json\n"
    "# ---- surface: opt ----\n"
    "LR = 0.001\n"
    "STEPS = 10\n"
    "# ---- end surface: opt ----\n"
    "# ---- surface: arch ----\n"
    "WIDTH = 8\n"
    "# ---- end surface: arch ----\n"
    "print(json.dumps({'loss': LR}))\n"
)
PARENT = {"train.py": TRAIN}
CHILD = {"train.py": TRAIN.replace("LR = 0.001", "LR = 0.004")}
VIEW = "leaderboard:\n  #0 baseline 1.0\n"

TASK = TaskSpec(
    name="tiny",
    description="unit",
    rules_version="tiny/1",
    recipe=("train.py",),
    metric=Metric(name="loss", direction="minimize"),
    budgets=Budgets(train_seconds=10, eval_seconds=5),
    commands=Commands(train=("{python}", "train.py"), evaluate=("true",)),
    roster=(
        RosterEntry(key="opt", surfaces=("opt",)),
        RosterEntry(key="arch", surfaces=("arch",)),
    ),
    seeds=Seeds(per_trial=2, noise=3),
    keep=KeepRule(name="noise_floor"),
)


def started() -> s.SearchStarted:
    return s.start(
        0,
        "tiny",
        0,
        task_sha256="0" * 64,
        rules_version="tiny/1",
        metric="loss",
        lower_is_better=True,
        roster=("opt", "arch"),
        policy="specialists",
        agent="offline",
        lineage=True,
        keep_rule=KeepRule(name="noise_floor", sigmas=2.0),
        config={"surfaces": {"opt": ["opt"], "arch": ["arch"]}},
        environment={},
    )


class Launcher:
    """The `launch(trial_id)` callback; remembers whom it launched."""

    def __init__(self) -> None:
        self.launched: list[UUID] = []

    def __call__(self, trial_id: UUID) -> dict[str, Any]:
        self.launched.append(trial_id)
        return {
            "runner": "local",
            "host": "box",
            "seeds": (0, 1),
            "threads": 2,
            "budgets": {"train_s": 10.0},
            "sandbox": "bwrap",
            "deterministic": False,
            "clock": "cpu",
            "rules_version": "tiny/1",
            "recipe_sha256": "c" * 64,
        }


class Checker:
    """The static preflight `check(child)`; returns a canned outcome."""

    def __init__(self, outcome: Outcome | None = None) -> None:
        self.outcome = outcome
        self.checked: list[Mapping[str, str]] = []

    def __call__(self, child: Mapping[str, str]) -> Outcome | None:
        self.checked.append(child)
        return self.outcome


def proposal(**fields: Any) -> Proposal:
    values: dict[str, Any] = {
        "specialist": "opt",
        "agent": "offline",
        "parent_id": UUID(int=1),
        "hypothesis": "raise LR",
        "expected_delta": -0.1,
        "idea": "lr-up",
        "recipe": CHILD,
        "view_text": VIEW,
    }
    return Proposal(**{**values, **fields})


def seed_result(number: int, score: float, scoring: bool = True) -> t.SeedResult:
    return t.SeedResult(seed=number, score=score, scoring=scoring)


def with_baseline(outcome: Outcome | None = None) -> SearchState:
    """A search whose baseline is launched and, given an outcome, recorded."""
    state = fold([started()])
    base = Proposal(
        specialist=BASELINE,
        agent="offline",
        parent_id=None,
        hypothesis="the seed recipe",
        recipe=PARENT,
    )
    proposal_events(state, base, PARENT, Checker(), Launcher())
    if outcome is not None:
        outcome_events(state, state.trial(0).id, outcome, TASK)
    return state


def kinds(events: list[DomainEvent]) -> list[type[DomainEvent]]:
    return [type(event) for event in events]


BASELINE_SCORE = Outcome(
    label=None,
    score=1.0,
    rules_version="tiny/1",
    measurements={"train_s": 3.0},
    per_seed=(seed_result(0, 0.9), seed_result(1, 1.1), seed_result(2, 1.3, False)),
)


# Proposals:


def test_a_normal_edit_is_proposed_edited_and_launched() -> None:
    state = with_baseline(BASELINE_SCORE)
    launcher, checker = Launcher(), Checker()

    events = proposal_events(state, proposal(), PARENT, checker, launcher)

    assert kinds(events) == [t.TrialProposed, t.RecipeEdited, t.TrialLaunched]
    tid = t.trial_id(state.started.id, 1)
    assert [(e.originator_id, e.originator_version) for e in events] == [
        (tid, 1),
        (tid, 2),
        (tid, 3),
    ]
    proposed, edited, launched = events
    assert isinstance(proposed, t.TrialProposed)
    assert (proposed.search_id, proposed.sequence) == (state.started.id, 1)
    assert (proposed.specialist, proposed.agent, proposed.idea) == (
        "opt",
        "offline",
        "lr-up",
    )
    assert (proposed.parent_id, proposed.session_id) == (UUID(int=1), None)
    assert (proposed.hypothesis, proposed.expected_delta) == ("raise LR", -0.1)
    assert proposed.surfaces == ("opt",)
    assert proposed.lineage_view == VIEW
    assert proposed.lineage_view_sha256 == hashlib.sha256(VIEW.encode()).hexdigest()
    assert isinstance(edited, t.RecipeEdited)
    assert edited.diff == make_diff(PARENT, CHILD)
    assert edited.parent_sha256 == recipe_sha256(PARENT)
    assert edited.child_sha256 == recipe_sha256(CHILD)
    assert edited.files == ("train.py",)
    assert edited.surfaces_touched == ("opt",)
    assert (edited.lines_added, edited.lines_removed) == (1, 1)
    assert isinstance(launched, t.TrialLaunched)
    assert (launched.seeds, launched.threads, launched.host) == ((0, 1), 2, "box")
    assert launcher.launched == [tid]
    assert checker.checked == [CHILD]
    assert state.trials[tid].status is TrialStatus.LAUNCHED
    assert state.trials[tid].child_sha256 == recipe_sha256(CHILD)


TWO_FILES = {
    "train.py": TRAIN.replace("WIDTH = 8\n", "WIDTH = 16\nDEPTH = 2\n"),
    "extra.py": "X = 1\nY = 2\n",
}


def test_an_edit_counts_added_and_removed_lines_and_changed_files() -> None:
    state = with_baseline(BASELINE_SCORE)

    events = proposal_events(
        state,
        proposal(specialist="arch", recipe=TWO_FILES),
        PARENT,
        Checker(),
        Launcher(),
    )

    edited = events[1]
    assert isinstance(edited, t.RecipeEdited)
    assert events[0].surfaces == ("arch",)  # type: ignore[attr-defined]
    assert edited.files == ("extra.py", "train.py")
    assert (edited.lines_added, edited.lines_removed) == (4, 1)


def test_an_edit_inside_one_region_touches_that_region() -> None:
    state = with_baseline(BASELINE_SCORE)
    child = {"train.py": TWO_FILES["train.py"]}

    events = proposal_events(
        state, proposal(specialist="arch", recipe=child), PARENT, Checker(), Launcher()
    )

    edited = events[1]
    assert isinstance(edited, t.RecipeEdited)
    assert edited.surfaces_touched == ("arch",)
    assert (edited.lines_added, edited.lines_removed) == (2, 1)


def test_a_two_file_edit_records_every_touched_surface() -> None:
    state = with_baseline(BASELINE_SCORE)

    events = proposal_events(
        state,
        proposal(specialist="arch", recipe=TWO_FILES),
        PARENT,
        Checker(),
        Launcher(),
    )

    assert events[1].surfaces_touched == ("arch", "core")  # type: ignore[attr-defined]


def test_the_baseline_keeps_the_seed_recipe_and_launches() -> None:
    state = fold([started()])
    base = Proposal(
        specialist=BASELINE,
        agent="offline",
        parent_id=None,
        hypothesis="the seed recipe",
        recipe=PARENT,
    )

    events = proposal_events(state, base, PARENT, Checker(), Launcher())

    assert kinds(events) == [t.TrialProposed, t.RecipeEdited, t.TrialLaunched]
    edited = events[1]
    assert isinstance(edited, t.RecipeEdited)
    assert (edited.diff, edited.files, edited.surfaces_touched) == ("", (), ())
    assert edited.parent_sha256 == edited.child_sha256 == recipe_sha256(PARENT)
    assert events[0].surfaces == ()  # type: ignore[attr-defined]


def test_a_proposal_without_a_recipe_fails_preflight_without_an_edit() -> None:
    state = with_baseline(BASELINE_SCORE)
    launcher, checker = Launcher(), Checker()

    events = proposal_events(
        state,
        proposal(recipe=None, edit_error="patch rejected"),
        PARENT,
        checker,
        launcher,
    )

    assert kinds(events) == [t.TrialProposed, t.TrialFailed]
    failed = events[1]
    assert isinstance(failed, t.TrialFailed)
    assert (failed.label, failed.reason) == (
        FailureLabel.PREFLIGHT_CRASH,
        "patch rejected",
    )
    assert failed.evidence == {"stage": "edit"}
    assert failed.originator_version == 2
    assert (checker.checked, launcher.launched) == ([], [])
    assert state.trial(1).status is TrialStatus.FAILED


def test_a_proposal_without_a_recipe_or_a_reason_says_so() -> None:
    state = with_baseline(BASELINE_SCORE)

    events = proposal_events(state, proposal(recipe=None), PARENT, Checker(), Launcher())

    assert events[1].reason == "the proposal carried no recipe"  # type: ignore[attr-defined]


def test_an_edit_that_changes_nothing_fails_preflight() -> None:
    state = with_baseline(BASELINE_SCORE)
    launcher, checker = Launcher(), Checker()

    events = proposal_events(state, proposal(recipe=dict(PARENT)), PARENT, checker, launcher)

    assert kinds(events) == [t.TrialProposed, t.TrialFailed]
    failed = events[1]
    assert isinstance(failed, t.TrialFailed)
    assert (failed.label, failed.reason) == (
        FailureLabel.PREFLIGHT_CRASH,
        "the edit changes nothing",
    )
    assert (checker.checked, launcher.launched) == ([], [])


def test_a_failing_static_check_fails_the_trial_after_the_edit() -> None:
    state = with_baseline(BASELINE_SCORE)
    launcher = Launcher()
    verdict = Outcome(
        label=FailureLabel.SIZE_BLOCKED,
        reason="1200 bytes > 1000",
        evidence={"bytes": 1200},
        log_excerpt="size",
        rules_version="r/2",
    )

    events = proposal_events(state, proposal(), PARENT, Checker(verdict), launcher)

    assert kinds(events) == [t.TrialProposed, t.RecipeEdited, t.TrialFailed]
    failed = events[2]
    assert isinstance(failed, t.TrialFailed)
    assert (failed.label, failed.reason) == (
        FailureLabel.SIZE_BLOCKED,
        "1200 bytes > 1000",
    )
    assert (failed.evidence, failed.log_excerpt) == ({"bytes": 1200}, "size")
    assert (failed.rules_version, failed.originator_version) == ("r/2", 3)
    assert launcher.launched == []


def test_a_static_check_failure_without_a_label_is_a_preflight_crash() -> None:
    state = with_baseline(BASELINE_SCORE)

    events = proposal_events(
        state,
        proposal(),
        PARENT,
        Checker(Outcome(label=None, reason="syntax")),
        Launcher(),
    )

    assert events[2].label is FailureLabel.PREFLIGHT_CRASH  # type: ignore[attr-defined]


# Outcomes:


def test_the_baseline_score_measures_the_noise_floor_before_its_verdict() -> None:
    state = with_baseline()
    tid = state.trial(0).id

    events = outcome_events(state, tid, BASELINE_SCORE, TASK)

    assert kinds(events) == [t.TrialScored, s.NoiseFloorMeasured, t.TrialJudged]
    scored, noise, judged = events
    assert isinstance(scored, t.TrialScored)
    assert (scored.metric, scored.lower_is_better, scored.score) == ("loss", True, 1.0)
    assert scored.per_seed == BASELINE_SCORE.per_seed
    assert (scored.originator_id, scored.originator_version) == (tid, 4)
    assert isinstance(noise, s.NoiseFloorMeasured)
    assert (noise.originator_id, noise.originator_version) == (state.started.id, 2)
    assert noise.baseline_trial_id == tid
    assert noise.noise.scores == (0.9, 1.1, 1.3)  # every seed, the noise seed too
    assert (noise.noise.k, noise.noise.seeds_per_trial) == (3, 2)
    assert noise.noise.sigma == pytest.approx(0.2)
    assert noise.noise.floor == pytest.approx(2 * 0.2 / 2**0.5)
    assert isinstance(judged, t.TrialJudged)
    assert (judged.verdict, judged.rule, judged.score) == (Verdict.KEEP, BASELINE, 1.0)
    assert (judged.originator_id, judged.originator_version) == (tid, 5)
    assert state.best_id == tid
    assert state.started.noise_floor == noise.noise


def test_a_later_score_is_judged_against_the_best_without_a_new_floor() -> None:
    state = with_baseline(BASELINE_SCORE)
    proposal_events(state, proposal(), PARENT, Checker(), Launcher())
    tid = state.trial(1).id
    outcome = Outcome(
        label=None,
        score=0.5,
        rules_version="tiny/1",
        per_seed=(seed_result(0, 0.45), seed_result(1, 0.55)),
    )

    events = outcome_events(state, tid, outcome, TASK)

    assert kinds(events) == [t.TrialScored, t.TrialJudged]
    judged = events[1]
    assert isinstance(judged, t.TrialJudged)
    assert (judged.verdict, judged.rule) == (Verdict.KEEP, "noise_floor")
    assert (judged.best_before_id, judged.best_before_score) == (state.trial(0).id, 1.0)
    assert judged.delta == pytest.approx(-0.5)
    assert judged.numbers["best"] == pytest.approx(1.0)  # scoring seeds 0.9 and 1.1
    assert state.best_id == tid


def test_a_failed_outcome_records_its_label_and_evidence() -> None:
    state = with_baseline()
    tid = state.trial(0).id
    outcome = Outcome(
        label=FailureLabel.TRAIN_BUDGET_OVERRUN,
        reason="612 s > 605 s",
        evidence={"wall_s": 612},
        log_excerpt="step 900",
        measurements={"train_s": 612.0},
        rules_version="tiny/1",
    )

    events = outcome_events(state, tid, outcome, TASK)

    assert kinds(events) == [t.TrialFailed]
    failed = events[0]
    assert isinstance(failed, t.TrialFailed)
    assert (failed.label, failed.reason) == (
        FailureLabel.TRAIN_BUDGET_OVERRUN,
        "612 s > 605 s",
    )
    assert (failed.evidence, failed.log_excerpt) == ({"wall_s": 612}, "step 900")
    assert (failed.measurements, failed.rules_version) == ({"train_s": 612.0}, "tiny/1")
    assert failed.originator_version == 4
    assert state.started.noise_floor is None


def test_a_gate_miss_records_its_score_and_can_never_become_the_best() -> None:
    """Attack: a disqualified trial's kept score must not make it a keep or the best."""
    state = with_baseline(BASELINE_SCORE)
    proposal_events(state, proposal(), PARENT, Checker(), Launcher())
    tid = state.trial(1).id
    missed = Outcome(
        label=FailureLabel.DISQUALIFIED,
        reason="mean accuracy 0.88 misses the gate 0.9",
        score=0.01,  # far better than the best's 1.0
        measurements={"accuracy": 0.88},
        rules_version="tiny/1",
    )

    events = outcome_events(state, tid, missed, TASK)

    assert kinds(events) == [t.TrialFailed]
    assert events[0].score == 0.01  # type: ignore[attr-defined]
    assert state.trials[tid].status is TrialStatus.FAILED
    assert state.trials[tid].score is None  # the aggregate knows no valid score
    assert state.best_id == state.trial(0).id
    with pytest.raises(t.TrialFinishedError):
        t.judge(state.trials[tid], verdict=Verdict.KEEP, rule="x", score=0.01,
                best_before_id=None, best_before_score=None, delta=None)  # fmt: skip


def test_a_failure_stored_before_v2_upcasts_to_no_score() -> None:
    old = {"label": "disqualified", "reason": "r"}
    t.TrialFailed.upcasters[1](old)
    assert old["score"] is None
    t.TrialFailed.upcasters[2](old)  # v3 (CPU budgets) adds the accounting method
    assert old["accounting"] == ""
    assert t.TrialFailed.class_version == 3


def test_an_outcome_without_a_score_or_a_label_is_a_crash() -> None:
    state = with_baseline()

    events = outcome_events(state, state.trial(0).id, Outcome(label=None), TASK)

    assert kinds(events) == [t.TrialFailed]
    assert (events[0].label, events[0].reason) == (FailureLabel.CRASH, "no score")  # type: ignore[attr-defined]


@pytest.mark.parametrize("scored_first", [False, True])
def test_abort_events_end_an_open_trial_as_harness_abort(scored_first: bool) -> None:
    state = with_baseline(BASELINE_SCORE)
    proposal_events(state, proposal(), PARENT, Checker(), Launcher())
    tid = state.trial(1).id
    if scored_first:
        state.apply(
            t.record_score(
                state.trials[tid],
                metric="loss",
                lower_is_better=True,
                score=0.5,
                measurements={},
                rules_version="tiny/1",
            )
        )
    version = state.trials[tid].version

    events = abort_events(state, tid, "runner lost")

    assert kinds(events) == [t.TrialFailed]
    failed = events[0]
    assert isinstance(failed, t.TrialFailed)
    assert (failed.label, failed.reason) == (FailureLabel.HARNESS_ABORT, "runner lost")
    assert failed.evidence == {"fault": "runner lost"}
    assert failed.originator_version == version + 1
    assert state.ended_since_keep == 0
    assert state.in_flight() == []


# LLM sessions:


def _session(
    outcome: str = "submitted", contexts: tuple[str, ...] = ("ctx",), error: str = ""
) -> a.SessionRecord:
    exchanges = tuple(
        a.ExchangeRecord(
            turn=i + 1,
            model="claude-x",
            request_sha256=f"req{i}",
            context_sha256=hashlib.sha256(text.encode()).hexdigest(),
            context=text,
            response={"stop_reason": "tool_use"},
            usage={"input_tokens": 10},
            usd=0.01,
            price_table="2026-11",
            error=error if i == len(contexts) - 1 else "",
        )
        for i, text in enumerate(contexts)
    )
    return a.SessionRecord(
        specialist="opt",
        model="claude-x",
        backend="claude",
        outcome=outcome,
        exchanges=exchanges,
        detail=error,
    )


def test_a_submitted_session_is_stored_before_its_trial_and_linked_to_it() -> None:
    state = with_baseline(BASELINE_SCORE)
    events = proposal_events(
        state, proposal(session=_session(contexts=("a", "a"))), PARENT, Checker(), Launcher()
    )
    assert kinds(events) == [
        a.AgentSessionStarted,
        a.ContextStored,
        a.AgentExchanged,
        a.AgentExchanged,
        a.AgentSessionEnded,
        t.TrialProposed,
        t.RecipeEdited,
        t.TrialLaunched,
    ]
    assert events[5].session_id == a.session_id(state.started.id, 0) == events[0].originator_id
    assert state.cost_usd == pytest.approx(0.02)


def test_a_context_already_stored_in_the_search_is_not_stored_again() -> None:
    state = with_baseline(BASELINE_SCORE)
    proposal_events(
        state, proposal(session=_session(contexts=("a",))), PARENT, Checker(), Launcher()
    )
    second = proposal_events(
        state, proposal(session=_session(contexts=("a", "b"))), PARENT, Checker(), Launcher()
    )
    stored = [e.text for e in second if isinstance(e, a.ContextStored)]
    assert stored == ["b"]
    assert second[0].originator_id == a.session_id(state.started.id, 1)


@pytest.mark.parametrize("outcome", ["no_submit", "turn_limit", "cost_cap"])
def test_a_session_without_a_submission_leaves_no_trial(outcome: str) -> None:
    state = with_baseline(BASELINE_SCORE)
    events = proposal_events(
        state, proposal(session=_session(outcome), recipe=None), PARENT, Checker(), Launcher()
    )
    assert kinds(events)[-1] is a.AgentSessionEnded
    assert not any(isinstance(e, t.TrialProposed) for e in events)
    assert state.next_sequence == 1
    assert state.empty_sessions == 1


def test_an_api_failure_ends_the_trial_as_harness_abort() -> None:
    state = with_baseline(BASELINE_SCORE)
    session = _session("error", error="overloaded after 4 attempts")
    events = proposal_events(
        state, proposal(session=session, recipe=None), PARENT, Checker(), Launcher()
    )
    assert isinstance(events[2], a.AgentCallFailed)
    failed = events[-1]
    assert isinstance(failed, t.TrialFailed)
    assert failed.label is FailureLabel.HARNESS_ABORT
    assert "overloaded" in failed.reason


# Racing (the paired rule):

PAIRED = TASK.model_copy(
    update={"keep": KeepRule(), "seeds": Seeds(per_trial=1, max_per_trial=2, noise=3)}
)


class Extender:
    """The `extend(trial_id, seeds)` callback: the run facts of an extension job."""

    def __init__(self) -> None:
        self.asked: list[tuple[UUID, tuple[int, ...]]] = []

    def __call__(self, trial_id: UUID, seeds: tuple[int, ...]) -> dict[str, Any]:
        self.asked.append((trial_id, seeds))
        return {**Launcher()(trial_id), "seeds": seeds}


def launched_on(seeds: tuple[int, ...]) -> Callable[[UUID], dict[str, Any]]:
    return lambda trial_id: {**Launcher()(trial_id), "seeds": seeds}


def racing_search() -> tuple[SearchState, UUID]:
    """A paired search: a judged three-seed baseline, and one trial launched on seed 0."""
    state = fold([started().model_copy(update={"keep_rule": KeepRule()})])
    base = Proposal(specialist=BASELINE, agent="h", parent_id=None, hypothesis="", recipe=PARENT)
    proposal_events(state, base, PARENT, Checker(), launched_on((0, 1, 2)))
    scores = (seed_result(0, 1.0), seed_result(1, 0.98), seed_result(2, 1.02))
    outcome_events(
        state, state.trial(0).id, Outcome(label=None, score=1.0, per_seed=scores), PAIRED
    )
    proposal_events(state, proposal(), PARENT, Checker(), launched_on((0,)))
    return state, state.trial(1).id


def test_the_paired_baseline_measures_the_noise_model_on_every_seed() -> None:
    state, _ = racing_search()

    noise = state.started.noise_floor
    assert noise is not None
    assert (noise.k, noise.scores, noise.seeds_per_trial) == (3, (1.0, 0.98, 1.02), 2)
    assert noise.method == PAIRED_NOISE_METHOD
    assert noise.sigma_interval is not None


def test_an_open_look_records_the_score_and_an_extension_on_the_next_seed() -> None:
    state, tid = racing_search()
    extender = Extender()
    first = Outcome(label=None, score=0.9, per_seed=(seed_result(0, 0.9),))

    events = outcome_events(state, tid, first, PAIRED, extender)

    assert kinds(events) == [t.TrialScored, t.TrialExtended]
    extended = events[1]
    assert isinstance(extended, t.TrialExtended)
    assert extended.seeds == (1,)
    assert (extended.test.decision, extended.test.look) == ("more_seeds", 1)
    assert extender.asked == [(tid, (1,))]
    assert state.trials[tid].status is TrialStatus.LAUNCHED


def test_the_last_look_scores_every_seed_and_judges() -> None:
    state, tid = racing_search()
    outcome_events(
        state,
        tid,
        Outcome(label=None, score=0.9, per_seed=(seed_result(0, 0.9),)),
        PAIRED,
        Extender(),
    )
    second = Outcome(label=None, score=0.8, per_seed=(seed_result(1, 0.8),))

    events = outcome_events(state, tid, second, PAIRED, Extender())

    assert kinds(events) == [t.TrialScored, t.TrialJudged]
    scored, judged = events
    assert isinstance(scored, t.TrialScored)
    assert scored.score == pytest.approx(0.85)  # both seeds, not the job's own 0.8
    assert scored.per_seed == second.per_seed
    assert isinstance(judged, t.TrialJudged)
    assert judged.test is not None
    assert (judged.test.look, judged.test.final) == (2, True)
    assert judged.test.differences == pytest.approx((0.1, 0.18))
    assert judged.score == pytest.approx(0.85)


def test_a_racing_look_without_a_way_to_run_seeds_is_refused() -> None:
    state, tid = racing_search()
    first = Outcome(label=None, score=0.9, per_seed=(seed_result(0, 0.9),))

    with pytest.raises(ValueError, match="needs more seeds"):
        outcome_events(state, tid, first, PAIRED)
