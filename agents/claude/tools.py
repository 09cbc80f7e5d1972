"""The specialist's tools: a private copy of the recipe, exact edits, reads of the
lineage, the static preflight and the one submission.

Tool inputs are checked against the same JSON schemas the model is given; a malformed call
gets an error result and the session goes on. Every result is capped at 16 KB, as in the
paper, so one read cannot flood the context.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agents.claude.schemas import SPECS, ToolInputError, validate
from domain.ports import LineageQuery, Outcome, ProposalRequest
from domain.recipe import changed_lines, make_diff, touched_surfaces
from domain.task import RosterEntry
from domain.trial import trial_id

OUTPUT_CAP = 16_000  # bytes per tool result (the paper's cap)
SQL_ROWS = 50
LINEAGE_TOOLS = frozenset({"view_trial", "query_lineage"})  # gone in the no-lineage ablation

Check = Callable[[Mapping[str, str], Mapping[str, str], RosterEntry], Outcome | None]


@dataclass(frozen=True)
class ToolResult:
    text: str
    is_error: bool = False


@dataclass(frozen=True)
class Submission:
    parent: int  # the trial number the private copy was based on
    hypothesis: str
    expected_delta: float
    idea: str
    recipe: dict[str, str]


def tool_specs(lineage: bool) -> list[dict[str, Any]]:
    return [spec for spec in SPECS if lineage or spec["name"] not in LINEAGE_TOOLS]


def capped(text: str, cap: int = OUTPUT_CAP) -> str:
    data = text.encode()
    if len(data) <= cap:
        return text
    cut = data[:cap].decode(errors="ignore")
    return f"{cut}\n… (cut at {cap:,} bytes of {len(data):,}; ask for less)"


class Workbench:
    """One session's working state: the private copy, the trial it came from, the lineage."""

    def __init__(
        self,
        request: ProposalRequest,
        lineage: LineageQuery,
        check: Check,
        base: int,
        recipe: Mapping[str, str],
    ) -> None:
        self.request, self.lineage, self.check = request, lineage, check
        self.base, self.parent, self.copy = base, dict(recipe), dict(recipe)
        self.submission: Submission | None = None

    def run(self, name: str, args: object) -> ToolResult:
        allowed = {spec["name"] for spec in tool_specs(self.request.lineage)}
        if name not in allowed:
            return ToolResult(
                f"no tool {name!r}; the tools are: {', '.join(sorted(allowed))}", True
            )
        try:
            fields = validate(name, args)
            return ToolResult(capped(getattr(self, f"_{name}")(**fields)))
        except (ToolInputError, KeyError, ValueError) as error:
            message = error.args[0] if error.args else type(error).__name__
            return ToolResult(capped(str(message)), True)

    # The tools:

    def _read_recipe(
        self, path: str | None = None, start_line: int = 1, end_line: int | None = None
    ) -> str:
        paths = [path] if path is not None else sorted(self.copy)
        return "\n".join(self._file_part(p, start_line, end_line) for p in paths)

    def _file_part(self, path: str, start: int, end: int | None) -> str:
        if path not in self.copy:
            raise ToolInputError(
                f"no file {path!r}; the recipe has: {', '.join(sorted(self.copy))}"
            )
        lines = self.copy[path].split("\n")
        if lines[-1] == "":
            lines.pop()  # the newline that ends the file starts no line
        first, last = max(start, 1), min(end or len(lines), len(lines))
        body = "\n".join(lines[first - 1 : last])
        return f"# {path}, lines {first}-{last} of {len(lines)} (your copy of #{self.base})\n{body}"

    def _edit_recipe(self, old: str, new: str, path: str | None = None) -> str:
        paths = [path] if path is not None else sorted(self.copy)
        hits = [(p, self.copy.get(p, "").count(old)) for p in paths]
        found = [(p, n) for p, n in hits if n]
        if not old or not found:
            raise ToolInputError(
                "old text not found in your copy: copy it exactly from read_recipe"
            )
        if len(found) > 1 or found[0][1] > 1:
            raise ToolInputError("old text occurs more than once: include more lines around it")
        target = found[0][0]
        self.copy[target] = self.copy[target].replace(old, new, 1)
        return f"edited {target}.\n{self._changes()}"

    def _rebase_to(self, trial: int) -> str:
        recipe = self._recipe_of(trial)
        self.base, self.parent, self.copy = trial, dict(recipe), dict(recipe)
        files = ", ".join(sorted(recipe))
        return f"your copy is now #{trial}'s recipe ({files}); earlier edits are gone"

    def _view_trial(self, trial: int) -> str:
        return json.dumps(self.lineage.trial(self.request.search_id, trial), indent=1)

    def _query_lineage(self, sql: str) -> str:
        return self.lineage.sql(sql, SQL_ROWS, OUTPUT_CAP)

    def _preflight(self) -> str:
        if self.copy == self.parent:
            return f"nothing to check: your copy equals #{self.base}"
        failure = self.check(self.parent, self.copy, self.request.specialist)
        if failure is not None:
            label = failure.label or "preflight_crash"
            return f"FAIL ({label}): {failure.reason}\n{self._changes()}"
        return f"ok: the static checks pass.\n{self._changes()}"

    def _submit_trial(
        self, hypothesis: str, expected_delta: float, parent: int | None = None, idea: str = ""
    ) -> str:
        if parent is not None and parent != self.base:
            raise ToolInputError(
                f"your copy is based on #{self.base}, not #{parent}: rebase_to first"
            )
        if self.copy == self.parent:
            raise ToolInputError(f"your copy equals #{self.base}: edit it before submitting")
        if not hypothesis.strip():
            raise ToolInputError("the hypothesis is empty: say what the edit changes and why")
        self.submission = Submission(
            self.base, hypothesis.strip(), float(expected_delta), idea.strip(), dict(self.copy)
        )
        return f"submitted against #{self.base}"

    # Helpers:

    def _recipe_of(self, trial: int) -> dict[str, str]:
        try:
            return self.lineage.recipe(trial_id(self.request.search_id, trial))
        except KeyError:
            raise ToolInputError(
                f"trial #{trial} has no recipe (it does not exist or was never edited)"
            ) from None

    def _changes(self) -> str:
        diff = make_diff(self.parent, self.copy)
        added, removed = changed_lines(diff)
        touched = touched_surfaces(self.parent, diff)
        outside = [s for s in touched if not self.request.specialist.may_edit(s)]
        note = f" OUTSIDE your surfaces: {', '.join(outside)}." if outside else ""
        return (
            f"Against #{self.base}: +{added} -{removed} lines, surfaces touched:"
            f" {', '.join(touched) or 'none'}.{note}\n{diff}"
        )
