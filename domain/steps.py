"""The loop's steps as pure functions: values that came in -> the events to record.

`proposal_events` turns a proposal (and the checks on it) into TrialProposed,
RecipeEdited and either TrialFailed or TrialLaunched; `outcome_events` turns a classified
outcome into TrialScored (+ the noise floor after the baseline) and then TrialJudged, or
TrialExtended when a racing look leaves the decision open; or into TrialFailed. Each
list is stored in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from domain import search as s
from domain import trial as t
from domain.agent import EMPTY_OUTCOMES, session_events, session_id
from domain.base import DomainEvent
from domain.keep import measure_noise_floor
from domain.labels import BASELINE, FailureLabel
from domain.paired import MoreSeeds, racing_score
from domain.ports import Outcome, Proposal, TrialJob
from domain.progress import SearchState, judgement
from domain.recipe import (
    changed_lines,
    make_diff,
    recipe_sha256,
    text_sha256,
    touched_surfaces,
)
from domain.task import TaskSpec


def _folded(state: SearchState, event: DomainEvent, out: list[DomainEvent]) -> None:
    """Append an event and fold it at once, so the next command sees the new version."""
    state.apply(event)
    out.append(event)


def proposal_events(
    state: SearchState,
    proposal: Proposal,
    parent_recipe: Mapping[str, str],
    check: Callable[[Mapping[str, str]], Outcome | None],
    launch: Callable[[UUID], dict[str, Any]],
    reruns: UUID | None = None,
) -> list[DomainEvent]:
    """`check(child)` is the static preflight; `launch(trial_id)` gives TrialLaunched fields;
    `reruns` names the trial this proposal runs again (domain/rerun.py).

    Applies the events to `state` as it builds them; the caller stores them atomically
    (and throws `state` away if storing fails).
    """
    out: list[DomainEvent] = []
    seq = state.next_sequence
    session = _session(state, proposal, seq, out)
    if proposal.session is not None and proposal.session.outcome in EMPTY_OUTCOMES:
        return out  # the session proposed nothing: no trial, its cost is on record
    if proposal.yielded:
        _folded(state, _yielded(state, proposal, seq), out)
        return out  # out of ideas: a recorded outcome of its own, not a trial
    _folded(state, _proposed(state, proposal, seq, session, reruns), out)
    tid = t.trial_id(state.started.id, seq)
    failure = _edit_failure(proposal, parent_recipe)
    if failure is None and proposal.recipe is not None:
        _folded(state, _edited(state.trials[tid], parent_recipe, proposal.recipe), out)
        failure = check(proposal.recipe)
    if failure is not None:
        _folded(state, _refused(state.trials[tid], failure), out)
        return out
    _folded(state, t.launch(state.trials[tid], **launch(tid)), out)
    return out


def _proposed(
    state: SearchState, proposal: Proposal, seq: int, session: UUID | None, reruns: UUID | None
) -> t.TrialProposed:
    return t.propose(
        state.started.id,
        seq,
        specialist=proposal.specialist,
        agent=proposal.agent,
        parent_id=proposal.parent_id,
        hypothesis=proposal.hypothesis,
        expected_delta=proposal.expected_delta,
        idea=proposal.idea,
        surfaces=_surfaces(state, proposal),
        lineage_view=proposal.view_text,
        lineage_view_sha256=text_sha256(proposal.view_text),
        session_id=session,
        reruns=reruns,
    )


def _refused(trial: t.Trial, failure: Outcome) -> t.TrialFailed:
    """A trial stopped before launch: a broken edit, a failed session or a static check."""
    return t.record_failure(
        trial,
        failure.label or FailureLabel.PREFLIGHT_CRASH,
        reason=failure.reason,
        evidence=failure.evidence,
        log_excerpt=failure.log_excerpt,
        rules_version=failure.rules_version,
    )


def _yielded(state: SearchState, proposal: Proposal, seq: int) -> s.SpecialistYielded:
    return s.yield_turn(
        state.started,
        sequence=seq,
        specialist=proposal.specialist,
        agent=proposal.agent,
        reason=proposal.yielded,
        lineage_view_sha256=text_sha256(proposal.view_text),
        lineage_view=proposal.view_text,
    )


def _session(
    state: SearchState, proposal: Proposal, seq: int, out: list[DomainEvent]
) -> UUID | None:
    """Fold the LLM session behind a proposal (if any) and return its id."""
    if proposal.session is None:
        return None
    index = state.sessions
    for event in session_events(
        state.started.id, index, seq, proposal.session, set(state.contexts)
    ):
        _folded(state, event, out)
    return session_id(state.started.id, index)


def _surfaces(state: SearchState, proposal: Proposal) -> tuple[str, ...]:
    roster = state.started.config.get("surfaces", {})
    return tuple(roster.get(proposal.specialist, ()))


def _edit_failure(proposal: Proposal, parent: Mapping[str, str]) -> Outcome | None:
    if proposal.session is not None and proposal.session.outcome == "error":
        return Outcome(
            label=FailureLabel.HARNESS_ABORT,  # the API failed, not the idea
            reason=f"the agent session failed: {proposal.session.detail}",
            evidence={"stage": "agent", "fault": proposal.session.detail},
        )
    if proposal.recipe is None:
        return Outcome(
            label=FailureLabel.PREFLIGHT_CRASH,
            reason=proposal.edit_error or "the proposal carried no recipe",
            evidence={"stage": "edit"},
        )
    if dict(proposal.recipe) == dict(parent) and proposal.parent_id is not None:
        return Outcome(
            label=FailureLabel.PREFLIGHT_CRASH,
            reason="the edit changes nothing",
            evidence={"stage": "edit"},
        )
    return None


def _edited(trial: t.Trial, parent: Mapping[str, str], child: Mapping[str, str]) -> t.RecipeEdited:
    diff = make_diff(parent, child)
    added, removed = changed_lines(diff)
    return t.edit(
        trial,
        diff=diff,
        parent_sha256=recipe_sha256(parent),
        child_sha256=recipe_sha256(child),
        files=tuple(sorted(p for p in set(parent) | set(child) if parent.get(p) != child.get(p))),
        surfaces_touched=tuple(touched_surfaces(parent, diff)),
        lines_added=added,
        lines_removed=removed,
    )


Extend = Callable[[UUID, tuple[int, ...]], dict[str, Any]]


def outcome_events(
    state: SearchState,
    trial_id: UUID,
    outcome: Outcome,
    task: TaskSpec,
    extend: Extend | None = None,
) -> list[DomainEvent]:
    """`extend(trial_id, seeds)` gives the TrialExtended run facts of a job that runs the
    trial's recipe again on `seeds` (racing); the caller submits that job."""
    out: list[DomainEvent] = []
    trial = state.trials[trial_id]
    if outcome.label is not None or outcome.score is None:
        _folded(state, _failed(trial, outcome), out)
        return out
    _folded(state, _scored(state, trial, outcome, task), out)
    if trial.specialist == BASELINE:
        _folded(state, _noise_floor(state, trial_id, outcome, task), out)
    fields = judgement(state, trial_id, task.seeds)
    if isinstance(fields, MoreSeeds):
        if extend is None:
            raise ValueError("a racing look needs more seeds, and this caller runs none")
        facts = extend(trial_id, fields.seeds)
        _folded(state, t.extend(state.trials[trial_id], **facts, test=fields.test), out)
        return out
    _folded(state, t.judge(state.trials[trial_id], **fields), out)
    return out


def _noise_floor(
    state: SearchState, trial_id: UUID, outcome: Outcome, task: TaskSpec
) -> s.NoiseFloorMeasured:
    """The noise model from every seed the seed recipe ran (scoring or not)."""
    scored = [r for r in outcome.per_seed if r.score is not None]
    noise = measure_noise_floor(
        state.started.keep_rule,
        [r.score for r in scored if r.score is not None],
        task.seed_cap,
        [r.per_example for r in scored],
    )
    derived = task.budgets.derive(*_seed_costs(scored))
    return s.measure_noise_floor(state.started, trial_id, noise, derived)


def _seed_costs(results: list[t.SeedResult]) -> tuple[list[float], list[float]]:
    """Training and evaluation CPU-seconds of each seed the harness measured."""
    train = [r.measurements["cpu_s"] for r in results if "cpu_s" in r.measurements]
    evaluate = [r.measurements["eval_cpu_s"] for r in results if "eval_cpu_s" in r.measurements]
    return train, evaluate


def launch_facts(job: TrialJob) -> dict[str, Any]:
    """What a job fixes about a run: seeds, threads, budgets, sandbox and recipe."""
    # Under the wall clock there is no backstop: the cap is the wall time itself.
    unused = {"clock"} if job.budgets.clock == "cpu" else {"clock", "wall_backstop"}
    if not job.budgets.remeasures:  # off: launches read as they did before the rule
        unused |= {"remeasures", "remeasure_within"}
    budgets = job.budgets.model_dump(exclude=unused, exclude_none=True)
    if job.size_cap_bytes is not None:
        budgets["size_cap_bytes"] = float(job.size_cap_bytes)
    return {
        "seeds": job.seeds,
        "threads": job.threads,
        "budgets": budgets,
        "clock": job.budgets.clock,
        "sandbox": "bwrap" if job.sandbox else "none (--unsafe-no-sandbox)",
        "recipe_sha256": recipe_sha256(job.recipe),
        "deterministic": job.threads == 1,
    }


def abort_events(state: SearchState, trial_id: UUID, reason: str) -> list[DomainEvent]:
    """End a trial that was in flight when the harness stopped: never the idea's fault."""
    out: list[DomainEvent] = []
    _folded(
        state,
        t.record_failure(
            state.trials[trial_id],
            FailureLabel.HARNESS_ABORT,
            reason=reason,
            evidence={"fault": reason},
        ),
        out,
    )
    return out


def _failed(trial: t.Trial, outcome: Outcome) -> t.TrialFailed:
    return t.record_failure(
        trial,
        outcome.label or FailureLabel.CRASH,
        reason=outcome.reason or "no score",
        evidence=outcome.evidence,
        log_excerpt=outcome.log_excerpt,
        measurements=outcome.measurements,
        rules_version=outcome.rules_version,
        confinement=outcome.confinement,
        accounting=outcome.accounting,
        score=outcome.score,
    )


def _scored(state: SearchState, trial: t.Trial, outcome: Outcome, task: TaskSpec) -> t.TrialScored:
    """The score over every seed run so far: a racing trial's earlier looks count too."""
    score = racing_score(state.results.get(trial.id, {}), outcome.per_seed)
    return t.record_score(
        trial,
        metric=task.metric.name,
        lower_is_better=task.metric.lower_is_better,
        score=outcome.score if score is None else score,
        measurements=outcome.measurements,
        per_seed=outcome.per_seed,
        rules_version=outcome.rules_version,
        confinement=outcome.confinement,
        accounting=outcome.accounting,
    )
