"""Re-judging a recorded search under other rules (#18): which rules, and the new
outcome of each recorded run, from its recorded measurements alone.

A rule change is a task's rules of another version, a size cap, or a keep rule. The
recorded measurements suffice for a tighter cap (artifact bytes), a gate (its metric's
mean over the scoring seeds) and every keep test (the scores and per-example blocks).
They do not suffice where a recorded failure would need a score that was never
measured (a size-blocked artifact under a looser cap, a gate miss under a looser gate),
nor where the new rules run seeds the source never ran (another noise or seeds count):
those raise NotJudgeableError, and the use case re-runs that run (ledger/rerun.py).
"""

from __future__ import annotations

import statistics
from typing import Any, Literal

from pydantic import Field

from domain.base import DomainError, Immutable
from domain.keep import KeepRule
from domain.labels import FailureLabel
from domain.ports import Outcome
from domain.task import TaskSpec

# The runner a re-judged run's launch names when its outcome was judged from the record:
# nothing ran, so the trial cache never takes it for a measurement.
JUDGED_RUNNER = "rejudge"


class NotJudgeableError(DomainError):
    """The recorded measurements cannot decide this run under the new rules."""


class RuleChange(Immutable):
    """What differs from the recorded rules; all None: the rules of `rules_version`."""

    rules_version: str | None = None  # another version the task defines
    size_cap_bytes: int | None = None
    size_cap_scale: float | None = Field(default=None, gt=0)  # the recorded cap times this
    keep_rule: Literal["paired", "noise_floor", "welch"] | None = None

    def label(self) -> str:
        parts = [f"size_cap_bytes={self.size_cap_bytes}"] if self.size_cap_bytes else []
        parts += [f"keep={self.keep_rule}"] if self.keep_rule else []
        return "+".join(parts)


def derived_rules(base: TaskSpec, change: RuleChange) -> TaskSpec:
    """`base` (the rules of the wanted version) with the overrides; an override shows in
    the rules version, so no verdict under it passes for one under the plain rules."""
    update: dict[str, object] = {}
    if change.size_cap_scale is not None:
        if base.size_cap_bytes is None:
            raise NotJudgeableError(f"{base.rules_version} has no size cap to scale")
        change = change.model_copy(
            update={"size_cap_bytes": int(base.size_cap_bytes * change.size_cap_scale)}
        )
    if change.size_cap_bytes is not None:
        update["size_cap_bytes"] = change.size_cap_bytes
    if change.keep_rule is not None:
        update["keep"] = KeepRule(name=change.keep_rule)
    if change.label():
        update["rules_version"] = f"{base.rules_version}+{change.label()}"
    return TaskSpec.model_validate({**base.model_dump(), **update})


def reclassify(outcome: Outcome, task: TaskSpec, sequence: int) -> Outcome:
    """The recorded outcome of one run of trial `sequence`, as the new rules judge it."""
    if outcome.label is not None:
        _still_failed(outcome, task, sequence)
        return outcome
    size = _largest_artifact(outcome)
    cap = task.size_cap_bytes
    if cap is not None and size is not None and size > cap:
        return _failed(
            outcome,
            task,
            FailureLabel.SIZE_BLOCKED,
            f"artifact {size:,.0f} B over the {cap:,} B cap by {size - cap:,.0f} B (re-judged)",
            {"artifact_bytes": size, "cap_bytes": cap, "over_by": size - cap},
        )
    gate = task.gate
    if gate is not None:
        values = [r.measurements.get(gate.metric) for r in outcome.per_seed if r.scoring]
        known = [v for v in values if v is not None]
        if not known or len(known) != len(values):
            raise NotJudgeableError(f"trial {sequence} recorded no {gate.metric} for the gate")
        mean = statistics.fmean(known)
        if not gate.passes(mean):
            why = f"mean {gate.metric} {mean:.5f} misses the gate {gate.threshold:g} (re-judged)"
            evidence = {"gate_metric": gate.metric, "mean": mean, "threshold": gate.threshold}
            return _failed(outcome, task, FailureLabel.DISQUALIFIED, why, evidence)
    return outcome.model_copy(update={"rules_version": task.rules_version})


def _largest_artifact(outcome: Outcome) -> float | None:
    sizes = [
        r.measurements["artifact_bytes"]
        for r in outcome.per_seed
        if "artifact_bytes" in r.measurements
    ]
    if sizes:
        return max(sizes)
    return outcome.measurements.get("artifact_bytes")


def _still_failed(outcome: Outcome, task: TaskSpec, sequence: int) -> None:
    """A recorded failure stands unless the new rules would have let it be scored: then
    its score was never measured, and only a new run could say."""
    size = outcome.measurements.get("artifact_bytes") or outcome.evidence.get("artifact_bytes")
    cap = task.size_cap_bytes
    loosened = outcome.label is FailureLabel.SIZE_BLOCKED and (
        cap is None or (isinstance(size, int | float) and size <= cap)
    )
    mean = outcome.evidence.get("mean")
    gate = task.gate
    passes = gate is None or (isinstance(mean, int | float) and gate.passes(mean))
    if loosened or (outcome.label is FailureLabel.DISQUALIFIED and passes):
        raise NotJudgeableError(
            f"trial {sequence} ended {outcome.label} and would be scored under the new rules,"
            " but its score was never measured"
        )


def _failed(
    outcome: Outcome, task: TaskSpec, label: FailureLabel, reason: str, evidence: dict[str, Any]
) -> Outcome:
    return Outcome(
        label=label,
        reason=reason,
        measurements=outcome.measurements,
        evidence={**evidence, "rejudged_from": "scored"},
        rules_version=task.rules_version,
        confinement=outcome.confinement,
    )
