"""What a Claude specialist is told: the system prompt (task rules, its surfaces, the
global rules) and the first user message (the paper's lineage view, rendered elsewhere).

The system prompt depends only on the task, the specialist and the search's options, so it
is the same on every session of that specialist and the API can cache it.
"""

from __future__ import annotations

from domain.budgets import Budgets
from domain.recipe import CORE_SURFACE
from domain.task import RosterEntry, TaskSpec


def _cap(budgets: Budgets, absolute: float) -> str:
    """A cap as the harness counts it; under caps relative to the machine, the rule (the
    prompt is fixed before the baseline measures the seed recipe's cost)."""
    unit = (
        "CPU-seconds of the run's whole process tree"
        if budgets.clock == "cpu"
        else "s of wall clock"
    )
    if budgets.seed_multiple:
        return f"{budgets.seed_multiple:g}x the seed recipe's own cost on this machine, in {unit}"
    return f"{absolute:g} {unit}"


def _limits(task: TaskSpec) -> list[str]:
    budgets = task.budgets
    out = [
        f"- Training: at most {_cap(budgets, budgets.train_seconds)} per seed"
        f" (a step may straddle it by {budgets.tolerance_seconds:g} s); evaluation: at most"
        f" {_cap(budgets, budgets.eval_seconds)}. The harness owns the clock.",
    ]
    if task.size_cap_bytes is not None:
        out.append(f"- Artifact (code + packed weights): at most {task.size_cap_bytes:,} bytes.")
    if task.gate is not None:
        word = "at least" if task.gate.direction == "at_least" else "at most"
        out.append(
            f"- Gate: mean {task.gate.metric} over seeds must be {word} {task.gate.threshold:g}."
        )
    out.append(
        f"- {task.seeds.per_trial} seed(s) per trial; a keep must beat the current best by more"
        " than the noise floor that the lineage view shows."
    )
    return out


def _off_limits(task: TaskSpec, entry: RosterEntry) -> str:
    if "*" in entry.surfaces:
        return "none: you may edit every surface and the core."
    others = {s for e in task.roster for s in e.surfaces if s != "*"} - set(entry.surfaces)
    names = [*sorted(others), f"{CORE_SURFACE} (lines outside every marked surface)"]
    return ", ".join(names) + "."


def _scope_rule(strict: bool) -> str:
    if strict:
        return "In this search an edit outside your surfaces fails preflight and is never run."
    return "An edit outside your surfaces still runs, but it is recorded as off-surface."


RULES = """\
## Rules
1. Edit only your surfaces.
2. Work in this order: read the recipe, edit your private copy, run preflight, then call
   submit_trial once. The submission ends your session; there is no second one.
3. A crash is a signal. A failed trial in the lineage (crash, size_blocked, a budget overrun,
   a missed gate) shows what the evaluator refuses: read its evidence and fix the mechanism.
4. Anti-anchoring: a tweak of one knob or less needs a reason you can point to in the
   lineage (a trial number and what it showed). Prefer changes to the program itself.
5. expected_delta is your signed estimate of the change in the metric against the parent.
6. If nothing in your surfaces is worth a trial, end without submitting."""


def system_prompt(task: TaskSpec, entry: RosterEntry, strict: bool, lineage: bool) -> str:
    metric = task.metric
    direction = "lower" if metric.lower_is_better else "higher"
    unit = f" ({metric.unit})" if metric.unit else ""
    sections = [
        f"You are specialist {entry.key} in an automated research loop that improves a"
        " machine-learning training recipe through measured trials.",
        "## Task",
        f"{task.name}: {task.description}",
        f"Metric: {metric.name}{unit}, {direction} is better, measured by the trusted"
        " evaluator; the recipe cannot change how it is measured.",
        f"Recipe files: {', '.join(task.recipe)}.",
        "## Limits",
        *_limits(task),
        "## Your surfaces",
        f"Yours: {', '.join(entry.surfaces)}" + (f" ({entry.role})." if entry.role else "."),
        f"Off-limits: {_off_limits(task, entry)}",
        "Surfaces are marked in the code by `# ---- surface: NAME ----` and"
        " `# ---- end surface: NAME ----` lines. " + _scope_rule(strict),
        RULES,
    ]
    if not lineage:
        sections.append("The lineage of earlier trials is hidden in this search (an ablation).")
    return "\n".join(sections) + "\n"


def context(system: str, user: str) -> str:
    """The text an agent saw before its first turn: the system prompt, then the view."""
    return f"{system}\n{user}"
