"""Each trial's knobs: the recipe's top-level UPPER_CASE constants, read from its recorded files.

A knob is a line `NAME = literal` (an annotation allowed) at the start of a line in any
recipe file; the literal is read with `ast.literal_eval`, never run. A value that is not
a literal (`WIDTH = 4 * BASE`) is kept as its text, so an edit to it still shows.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from uuid import UUID

import duckdb

Value = int | float | str | bool
_KNOB = re.compile(r"^([A-Z][A-Z0-9_]*)\s*(?::[^=]+)?=\s*(\S.*)$", re.MULTILINE)
_TEXT_CAP = 40  # a long expression is cut: the table is for comparing, the diff has it all
_SQL = (
    "SELECT t.seq, r.files FROM trials t LEFT JOIN recipes r ON r.sha256 = t.child_sha256"
    " WHERE t.search_id = ? ORDER BY t.seq"
)


@dataclass(frozen=True)
class Knobs:
    names: tuple[str, ...]  # knobs whose value differs between trials, in recipe order
    fixed: dict[str, Value]  # knobs with one value in every trial that has a recipe
    values: dict[int, dict[str, Value]]  # trial number -> knob -> value

    def numeric(self) -> tuple[str, ...]:
        """Varying knobs whose every value is a number (booleans are not)."""
        return tuple(
            name
            for name in self.names
            if all(_is_number(v[name]) for v in self.values.values() if name in v)
        )


def _is_number(value: Value) -> bool:
    """A finite int or float: an axis cannot place inf (`1e999` reads as inf)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse(files: dict[str, str]) -> dict[str, Value]:
    """The knobs of one recipe, files in name order; the first definition of a name wins."""
    found: dict[str, Value] = {}
    for _, text in sorted(files.items()):
        for name, source in _KNOB.findall(text):
            found.setdefault(name, _literal(source))
    return found


def _literal(source: str) -> Value:
    for candidate in (source, source.split("#", 1)[0]):  # a '#' may sit inside a string
        try:
            value = ast.literal_eval(candidate.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, str):
            return value[:_TEXT_CAP]
        if isinstance(value, int | float | bool):
            return value
    return source.split("#", 1)[0].strip()[:_TEXT_CAP]


def knobs(con: duckdb.DuckDBPyConnection, search_id: UUID) -> Knobs:
    values: dict[int, dict[str, Value]] = {}
    for seq, files in con.execute(_SQL, [search_id]).fetchall():
        recipe = json.loads(files) if files else None
        if isinstance(recipe, dict):
            values[seq] = parse({str(k): str(v) for k, v in recipe.items()})
    order: dict[str, None] = {}
    for found in values.values():
        order.update(dict.fromkeys(found))
    varying = tuple(n for n in order if len({repr(v.get(n)) for v in values.values()}) > 1)
    fixed = {n: next(iter(values.values()))[n] for n in order if n not in varying}
    return Knobs(varying, fixed, values)
