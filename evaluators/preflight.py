"""Preflight: checks that spend no training. Static ones run agent code never.

Static (in the loop, before launch): syntax and surfaces. In the pipeline (sandboxed):
imports resolve, a short smoke run trains a few steps and writes an artifact whose bytes
project the final size, so an oversized model is size_blocked before training.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping

from domain.labels import FailureLabel
from domain.ports import Outcome
from domain.recipe import CORE_SURFACE, make_diff, touched_surfaces
from domain.reports import PreflightReport
from domain.task import RosterEntry


def syntax_error(recipe: Mapping[str, str]) -> str | None:
    """`SyntaxError: invalid syntax (train.py:12)` for the first file that does not parse."""
    for name, text in sorted(recipe.items()):
        if not name.endswith(".py"):
            continue
        try:
            compile(text, name, "exec", dont_inherit=True)
        except SyntaxError as error:
            return f"SyntaxError: {error.msg} ({name}:{error.lineno})"
        except ValueError as error:  # e.g. null bytes in the source
            return f"SyntaxError: {error} ({name})"
    return None


def surface_violation(
    parent: Mapping[str, str], child: Mapping[str, str], specialist: RosterEntry
) -> tuple[list[str], str | None]:
    """The surfaces an edit touches, and why it breaks the specialist's scope (or None)."""
    touched = touched_surfaces(parent, make_diff(parent, child))
    outside = [s for s in touched if not specialist.may_edit(s)]
    if not outside:
        return touched, None
    where = ", ".join("core (outside every surface)" if s == CORE_SURFACE else s for s in outside)
    return (
        touched,
        f"edit outside {specialist.key}'s surfaces ({', '.join(specialist.surfaces)}): {where}",
    )


def static_check(
    parent: Mapping[str, str],
    child: Mapping[str, str],
    specialist: RosterEntry,
    strict: bool,
) -> Outcome | None:
    """A preflight_crash Outcome for a syntax error or (strict mode) an out-of-scope edit."""
    error = syntax_error(child)
    if error:
        return Outcome(
            label=FailureLabel.PREFLIGHT_CRASH,
            reason=error,
            evidence={"stage": "syntax"},
        )
    touched, violation = surface_violation(parent, child, specialist)
    if strict and violation:
        return Outcome(
            label=FailureLabel.PREFLIGHT_CRASH,
            reason=violation,
            evidence={"stage": "surface", "touched": touched},
        )
    return None


def imported_modules(recipe: Mapping[str, str]) -> list[str]:
    """Top-level absolute imports of the recipe's Python files, minus its own modules."""
    local = {name.rsplit("/", 1)[-1].removesuffix(".py") for name in recipe}
    found: set[str] = set()
    for name, text in recipe.items():
        if name.endswith(".py"):
            found.update(_imports(ast.parse(text)))
    return sorted(found - local - set(sys.stdlib_module_names) - {"__future__"})


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def failed(stage: str, reason: str, **fields: object) -> PreflightReport:
    return PreflightReport.model_validate({"ok": False, "stage": stage, "reason": reason, **fields})
