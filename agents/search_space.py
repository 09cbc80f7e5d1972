"""The recipe's declared knobs and technique switches as a search space for HPO baselines.

Techniques that touch the same knob or the same code belong to one group: a group is a
categorical choice of at most one of them, so any point of the space is an edit that
applies (sequential switches on one knob would silently override each other).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agents.edits import EditError, Op, Replace, apply_all
from agents.techniques import Technique

NONE = "none"


def _targets(op: Op) -> set[str]:
    if isinstance(op, Replace):
        return {f"code:{op.old}"}
    return {f"knob:{op.name}"}


@dataclass(frozen=True)
class Group:
    name: str
    options: tuple[str, ...]  # NONE first, then technique keys


class SearchSpace:
    def __init__(self, techniques: Sequence[Technique]) -> None:
        self.techniques = {t.key: t for t in techniques}
        self.groups = _groups(techniques)

    def choices(self) -> dict[str, list[str]]:
        return {g.name: list(g.options) for g in self.groups}

    def apply(self, seed_recipe: Mapping[str, str], point: Mapping[str, str]) -> dict[str, str]:
        ops: list[Op] = []
        for group in self.groups:
            key = point.get(group.name, NONE)
            if key != NONE:
                ops.extend(self.techniques[key].ops)
        return apply_all(seed_recipe, tuple(ops))

    def describe(self, point: Mapping[str, str]) -> str:
        chosen = [point[g.name] for g in self.groups if point.get(g.name, NONE) != NONE]
        return ", ".join(chosen) or "the seed recipe unchanged"


def _groups(techniques: Sequence[Technique]) -> list[Group]:
    """Connected components of techniques that share a target (union-find)."""
    parent = {t.key: t.key for t in techniques}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    owner: dict[str, str] = {}
    for technique in techniques:
        for op in technique.ops:
            for target in _targets(op):
                if target in owner:
                    parent[root(technique.key)] = root(owner[target])
                owner.setdefault(target, technique.key)
    members: dict[str, list[str]] = {}
    for technique in techniques:
        members.setdefault(root(technique.key), []).append(technique.key)
    return [
        Group(f"g{i}:{sorted(keys)[0]}", (NONE, *sorted(keys)))
        for i, keys in enumerate(sorted(members.values(), key=lambda k: sorted(k)[0]))
    ]


def encode(point: Mapping[str, str]) -> str:
    """The idea key of a point: canonical JSON, so a policy can read its history back."""
    return json.dumps(dict(sorted(point.items())), separators=(",", ":"))


def decode(idea: str) -> dict[str, str] | None:
    try:
        point = json.loads(idea)
    except ValueError:
        return None
    return point if isinstance(point, dict) else None


def applies(space: SearchSpace, seed_recipe: Mapping[str, str], point: Mapping[str, str]) -> bool:
    try:
        space.apply(seed_recipe, point)
    except EditError:
        return False
    return True
