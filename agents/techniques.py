"""Techniques: named, known recipe edits a specialist can propose, with what they cost.

Effects say what an edit does to the limits, so lineage feedback can turn an outcome into
the next edit: after size_blocked pick one that `cuts_bytes`, after a budget overrun one
that `cuts_time`, after a crash (a NaN loss, a blow-up) one that `stabilises`. Built-in
tasks have curated catalogues; any other task gets a generic one scanned from the
recipe's UPPER_CASE knobs inside each surface, whose expected effect is unknown (None).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agents.edits import Op, Replace, ScaleKnob, SetKnob
from domain.recipe import surface_map

CUTS_BYTES = "cuts_bytes"
ADDS_BYTES = "adds_bytes"
CUTS_TIME = "cuts_time"
ADDS_TIME = "adds_time"
STRUCTURAL = "structural"  # a code-level change rather than a constant
STABILISES = "stabilises"  # lower LR, gradient clipping, warmup: what repairs a blow-up
# Knob names that, by the usual conventions, hold a step size or a clipping norm.
_STEP_SIZE = re.compile(r"(^|_)(LR|LEARNING_RATE|STEP_SIZE|ETA)($|_)")
_CLIP = re.compile(r"(^|_)(GRAD_)?CLIP")
_WARMUP = re.compile(r"(^|_)WARMUP")


@dataclass(frozen=True)
class Technique:
    key: str  # stable id, e.g. "opt.warmup_cosine": the "already tried" index uses it
    surface: str
    hypothesis: str  # one sentence naming the mechanism
    ops: tuple[Op, ...]
    expected_delta: float | None = None  # signed, in metric units; None: unknown
    effects: frozenset[str] = field(default_factory=frozenset)
    prior: float = 1.0  # relative preference before any evidence

    @property
    def structural(self) -> bool:
        return STRUCTURAL in self.effects

    @property
    def stabilising(self) -> bool:
        """Tagged so, or read from its ops: every op lowers a step size, sets or tightens
        a clipping norm, or lengthens a warmup."""
        return STABILISES in self.effects or (
            bool(self.ops) and all(_stabilising_op(op) for op in self.ops)
        )


def _stabilising_op(op: Op) -> bool:
    if isinstance(op, Replace):
        return False
    if _CLIP.search(op.name):
        return not isinstance(op, ScaleKnob) or op.factor < 1
    if isinstance(op, ScaleKnob):
        lowers = _STEP_SIZE.search(op.name) and op.factor < 1
        return bool(lowers or (_WARMUP.search(op.name) and op.factor > 1))
    return False


def knobs_by_surface(recipe: Mapping[str, str]) -> dict[str, list[tuple[str, object]]]:
    """UPPER_CASE module-level literals, grouped by the surface region they sit in."""
    found: dict[str, list[tuple[str, object]]] = {}
    for path in sorted(recipe):
        if not path.endswith(".py"):
            continue
        owners = surface_map(recipe[path])
        for node in ast.parse(recipe[path]).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id.isupper():
                    try:
                        value = ast.literal_eval(node.value)
                    except ValueError:
                        continue
                    found.setdefault(owners[node.lineno - 1], []).append((target.id, value))
    return found


def generic_catalogue(recipe: Mapping[str, str]) -> list[Technique]:
    """Halve, raise by half, or double each numeric knob; flip each boolean knob."""
    out: list[Technique] = []
    for surface, knobs in knobs_by_surface(recipe).items():
        for name, value in knobs:
            out.extend(_knob_techniques(surface, name, value))
    return out


def _knob_techniques(surface: str, name: str, value: object) -> list[Technique]:
    if isinstance(value, bool):
        return [
            Technique(
                f"{surface}.{name.lower()}_{not value}".lower(),
                surface,
                f"Set {name} to {not value}.",
                (SetKnob(name, not value),),
            )
        ]
    if isinstance(value, int | float) and value != 0:
        lo, hi = abs(value) / 8, abs(value) * 8
        return [
            Technique(
                f"{surface}.{name.lower()}_x{factor:g}",
                surface,
                f"Scale {name} by {factor:g} (from {value!r}).",
                (ScaleKnob(name, factor, lo, hi),),
            )
            for factor in (0.5, 1.5, 2.0)
        ]
    return []
