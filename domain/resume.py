"""Which options a resume takes from the ledger and which from the command line.

What the numbers depend on (the task, seeds, threads, workers, who proposes and how)
comes from the ledger: a resume that changed them would mix two searches in one log, so
a command line that asks for other values is refused, naming each one. When to stop
(trials, deadline, patience, cost cap) and where trials run (the runner) come from the
command line; a resume records what it changed in its SearchResumed, and every later
fold (the loop, replay) reads the changed values from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.config import SearchConfig

FROM_LEDGER = (
    "task",
    "seed",
    "threads",
    "workers",
    "policy",
    "specialists",
    "agent",
    "model",
    "max_turns",
    "lineage",
    "strict_surfaces",
    "sandbox",
)
FROM_COMMAND_LINE = ("trials", "deadline_minutes", "patience", "cost_cap_usd", "runner")
# The command-line flag of each option whose name differs from its config key.
FLAGS = {"agent": "--agents", "lineage": "--no-lineage", "sandbox": "--unsafe-no-sandbox"}


class ResumeConflictError(ValueError):
    pass


def flag(key: str) -> str:
    return FLAGS.get(key, "--" + key.replace("_", "-"))


def changes(recorded: SearchConfig, given: Mapping[str, Any]) -> dict[str, Any]:
    """The options this resume changes (JSON values, for SearchResumed.config), from the
    options the command line gave; refuses any that would change a recorded one."""
    unknown = sorted(set(given) - set(FROM_LEDGER) - set(FROM_COMMAND_LINE))
    if unknown:
        raise ResumeConflictError(f"a resume has no option {', '.join(unknown)}")
    conflicts = [
        f"{flag(key)} {_shown(given[key])} (recorded: {_shown(getattr(recorded, key))})"
        for key in FROM_LEDGER
        if key in given and _json(given[key]) != _json(getattr(recorded, key))
    ]
    if conflicts:
        raise ResumeConflictError(
            "a resume runs on the search's recorded options, and these differ: "
            + "; ".join(conflicts)
            + " — drop them, or start a new search"
        )
    wanted = {key: given[key] for key in FROM_COMMAND_LINE if key in given}
    merged = SearchConfig.model_validate({**recorded.model_dump(), **wanted})  # checks ranges
    dumped, before = merged.model_dump(mode="json"), recorded.model_dump(mode="json")
    return {key: dumped[key] for key in wanted if dumped[key] != before[key]}


def describe(config: SearchConfig, changed: Mapping[str, Any]) -> str:
    """One line: each option's value and where it came from, the ledger or the command
    line (`changed` names those this resume set)."""

    def shown(keys: tuple[str, ...]) -> str:
        return " ".join(f"{key}={_shown(getattr(config, key))}" for key in keys)

    note = f" (this resume changed {', '.join(changed)})" if changed else ""
    return (
        f"options from the ledger: {shown(FROM_LEDGER)}; options a resume may set on the"
        f" command line: {shown(FROM_COMMAND_LINE)}{note}"
    )


def _json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) or "(the task's)"
    return str(value)
