"""Fault points: the named places between the steps that must never be half-stored.

The domain only declares them: `point(name)` marks a place and does nothing until an
entry point arms a trap with `arm` (the crash tests' trap, which kills the process, is
`ledger.faults`). The domain itself never reads the environment or sends a signal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

Point = Literal["propose", "launched", "outcome", "final test", "append", "project"]
POINTS: tuple[Point, ...] = get_args(Point)

_trap: Callable[[Point], None] | None = None


def arm(trap: Callable[[Point], None] | None) -> None:
    """Call `trap` at every fault point from now on (None disarms)."""
    global _trap  # one trap per process, set once by the entry point
    _trap = trap


def point(name: Point) -> None:
    if _trap is not None:
        _trap(name)
