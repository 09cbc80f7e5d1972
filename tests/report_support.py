"""A planned search for report, export, bundle and audit tests: every outcome kind on purpose.

The plan gives each trial its parent and its edit, so the ledger holds keeps, discards,
each failure label, repair chains (children of failed trials), re-tried ideas, an edit
outside the specialist's surfaces and agent text full of HTML. Outcomes follow from the
recipe's knobs alone, like a real evaluator's; the loop, ledger and projections are real.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from domain.labels import FailureLabel
from domain.ports import Outcome, Proposal, ProposalRequest, TrialJob
from projections.display import resolve_search
from projections.report import data as report_data
from tests.support import failed, scored, scripted_loop

HOSTILE = '<img src=x onerror="alert(1)"> & </pre><script>alert(2)</script>'


@dataclass(frozen=True)
class Step:
    parent: str  # "best", "#N" (trial N) or "^N" (trial N's parent: the same branch point)
    knobs: dict[str, str]  # knob -> its new value
    idea: str
    hypothesis: str = ""


PLAN: dict[int, Step] = {
    1: Step("best", {"LR": "0.002"}, "lr-up"),
    2: Step("best", {"WIDTH": "64"}, "widen-64"),
    3: Step("best", {"LR": "0.003"}, "lr-up-more"),
    4: Step("#2", {"WIDTH": "48"}, "shrink-48", "repair #2: fewer units to fit the size cap"),
    5: Step("best", {"STEPS": "50"}, "steps-50"),
    6: Step("#4", {"WIDTH": "40"}, "shrink-40", "repair #4: shrink again"),
    7: Step("#5", {"STEPS": "20"}, "steps-20", "repair #5: fewer steps to fit the budget"),
    8: Step("best", {"LR": "0.0035"}, "lr-nudge", "arch edits the LR: not its surface"),
    9: Step("^8", {"LR": "0.0035"}, "lr-nudge-again", "the same edit on the same parent"),
    10: Step("best", {"WIDTH": "12"}, "odd-width"),
    11: Step("best", {"STEPS": "15"}, "steps-15"),
    12: Step("#10", {"WIDTH": "16"}, "width-16", "repair #10: a width the kernel accepts"),
    13: Step("best", {"LR": "0.0005"}, "lr-down", f"lower the LR {HOSTILE}"),
    14: Step("best", {"WIDTH": "24"}, "width-24"),
    15: Step("#13", {"LR": "0.0045"}, "lr-repair", "repair #13: back above the gate"),
    16: Step("best", {"WIDTH": "32"}, "width-32"),
    17: Step("^13", {"LR": "0.0006"}, "lr-down", "the lr-down idea again, another value"),
}
PLANNED_TRIALS = len(PLAN)


def knob(text: str, name: str) -> float:
    return float(re.search(rf"^{name} = (\S+)", text, re.MULTILINE).group(1))  # type: ignore[union-attr]


def evaluate(job: TrialJob) -> Outcome:
    """The recipe's knobs decide the outcome, first match wins, like the task's classifier."""
    text = job.recipe["train.py"]
    lr, steps, width = knob(text, "LR"), knob(text, "STEPS"), knob(text, "WIDTH")
    score = round(1.0 + abs(lr - 0.004) * 100 - width * 0.002 - steps * 0.003, 6)
    if width > 40:
        return _failure(FailureLabel.SIZE_BLOCKED, f"artifact {900 + width * 10:.0f} B > 1000 B")
    if width % 8:
        return _failure(FailureLabel.CRASH, f"RuntimeError: width {width:.0f} <not> divisible")
    if steps >= 40:
        return _failure(FailureLabel.TRAIN_BUDGET_OVERRUN, f"train_s {steps / 2:.1f} > 10 s")
    if lr < 0.001:  # the run finished: its score is recorded with the gate miss
        reason = f"accuracy 0.95 < gate 0.96 {HOSTILE}"
        missed = _failure(FailureLabel.DISQUALIFIED, reason, {"loss": score})
        return missed.model_copy(update={"score": score})  # TrialFailed v2 (#17) keeps it
    return scored(score, job.seeds)


def _failure(label: FailureLabel, reason: str, measured: dict[str, float] | None = None) -> Outcome:
    base = failed(label, reason)
    return base.model_copy(
        update={
            "log_excerpt": f"Traceback (most recent call last):\n  {reason}\n{HOSTILE}",
            "measurements": {"train_s": 2.0, "cpu_s": 2.5, **(measured or {})},
        }
    )


class PlanProposer:
    """Follows PLAN; remembers each trial's id, parent and recipe text as views reveal them."""

    name = "planned"

    def __init__(self) -> None:
        self.ids: dict[int, UUID] = {}
        self.parents: dict[int, UUID] = {}

    def propose(self, request: ProposalRequest, lineage: Any) -> Proposal:
        view = lineage.view(request.search_id, request.specialist.key, request.lineage)
        for line in (*view.recent, *view.chain):
            self.ids[line.sequence] = line.trial_id
        step = PLAN[request.sequence]
        parent_id = self._parent(step, view)
        self.parents[request.sequence] = parent_id
        text = lineage.recipe(parent_id)["train.py"]
        return Proposal(
            specialist=request.specialist.key,
            agent=self.name,
            parent_id=parent_id,
            hypothesis=step.hypothesis or f"{step.idea}: set {step.knobs}",
            recipe={"train.py": _edit(text, step.knobs)},
            view_text=_view_text(view),
            idea=step.idea,
            expected_delta=-0.01,
        )

    def _parent(self, step: Step, view: Any) -> UUID:
        if step.parent == "best":
            return view.best.trial_id  # type: ignore[no-any-return]
        seq = int(step.parent[1:])
        return self.parents[seq] if step.parent[0] == "^" else self.ids[seq]


def _edit(text: str, knobs: dict[str, str]) -> str:
    for name, value in knobs.items():
        text = re.sub(rf"^{name} = \S+", f"{name} = {value}", text, flags=re.MULTILINE)
    return text


def _view_text(view: Any) -> str:
    best = view.best
    lines = [f"Current best: #{best.sequence} ({view.metric}={best.score})"]
    lines += [f"- #{r.sequence} [{r.specialist}, {r.status}] {r.hypothesis}" for r in view.recent]
    return "\n".join(lines)


def planned_search(tmp_path: Path) -> str:
    """Run the whole plan; returns the SQLite ledger's location."""
    loop, _store, location = scripted_loop(
        tmp_path, trials=PLANNED_TRIALS, script=evaluate, proposer=PlanProposer()
    )
    loop.run()
    return location


def report_of(ledger: str, path: Path | None = None) -> report_data.ReportData:
    """The report's data for the ledger's latest search, from its projections file."""
    with duckdb.connect(str(path or Path(ledger).with_suffix(".duckdb")), read_only=True) as con:
        return report_data.load(con, resolve_search(con, None))
