"""Edits as real source changes: set or scale an UPPER_CASE knob, or replace exact code.

An edit that does not apply (the knob is gone, the code it replaces has changed) raises
EditError; the trial then fails preflight honestly instead of landing somewhere else.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KNOB = r"^(?P<head>{name}\s*=\s*)(?P<value>[^#\n]*?)(?P<tail>\s*(#.*)?)$"


class EditError(ValueError):
    pass


def _knob_pattern(name: str) -> re.Pattern[str]:
    return re.compile(_KNOB.format(name=re.escape(name)), re.MULTILINE)


def find_knob(recipe: Mapping[str, str], name: str) -> tuple[str, Any]:
    """The file holding `NAME = literal` at the start of a line, and the literal's value."""
    for path in sorted(recipe):
        match = _knob_pattern(name).search(recipe[path])
        if match:
            try:
                return path, ast.literal_eval(match.group("value").strip())
            except (ValueError, SyntaxError):
                raise EditError(f"{name} in {path} is not a plain literal") from None
    raise EditError(f"knob {name} not found in the recipe")


def knob_value(recipe: Mapping[str, str], name: str) -> Any:
    return find_knob(recipe, name)[1]


def format_value(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
        return text if any(c in text for c in ".e") else text + ".0"
    return repr(value)


@dataclass(frozen=True)
class SetKnob:
    name: str
    value: Any

    def apply(self, recipe: dict[str, str]) -> dict[str, str]:
        path, current = find_knob(recipe, self.name)
        if current == self.value:
            raise EditError(f"{self.name} is already {format_value(self.value)}")
        text = _knob_pattern(self.name).sub(
            lambda m: m.group("head") + format_value(self.value) + m.group("tail"),
            recipe[path],
            count=1,
        )
        return {**recipe, path: text}


@dataclass(frozen=True)
class ScaleKnob:
    """Multiply a numeric knob, clamped to [lo, hi]; integers stay integers (and ≥ 1)."""

    name: str
    factor: float
    lo: float
    hi: float
    multiple_of: int = 1

    def apply(self, recipe: dict[str, str]) -> dict[str, str]:
        current = knob_value(recipe, self.name)
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise EditError(f"{self.name} is not a number")
        value: float | int = min(max(current * self.factor, self.lo), self.hi)
        if isinstance(current, int):
            step = self.multiple_of
            value = max(step, round(value / step) * step)
        return SetKnob(self.name, value).apply(recipe)


@dataclass(frozen=True)
class Replace:
    """Replace one exact occurrence of `old` (code) with `new`."""

    old: str
    new: str

    def apply(self, recipe: dict[str, str]) -> dict[str, str]:
        hits = [path for path in sorted(recipe) if self.old in recipe[path]]
        if not hits:
            first = self.old.strip().splitlines()[0][:60] if self.old.strip() else "?"
            raise EditError(
                f"code to replace not found (it starts {first!r}); the parent has diverged"
            )
        path = hits[0]
        if recipe[path].count(self.old) > 1:
            raise EditError("code to replace is ambiguous: it occurs more than once")
        return {**recipe, path: recipe[path].replace(self.old, self.new, 1)}


Op = SetKnob | ScaleKnob | Replace


def apply_all(recipe: Mapping[str, str], ops: tuple[Op, ...]) -> dict[str, str]:
    result = dict(recipe)
    for op in ops:
        result = op.apply(result)
    return result
