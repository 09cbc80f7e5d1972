"""The crash tests' trap: SIGKILL this process at a named fault point, on its n-th hit.

Armed by the entry point from `AUTORECIPE_FAULT=<point>:<n>` (the points are declared in
`domain.faults`); without that variable nothing is armed and every point is a no-op.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

from domain.faults import POINTS, Point, arm

VARIABLE = "AUTORECIPE_FAULT"


class FaultSpecError(ValueError):
    """`AUTORECIPE_FAULT` names no fault point or no positive hit count."""


def kill_at(name: Point, hit: int) -> Callable[[Point], None]:
    """A trap that kills this process the `hit`-th time it passes the point `name`."""
    hits = 0

    def trap(reached: Point) -> None:
        nonlocal hits
        if reached != name:
            return
        hits += 1
        if hits == hit:
            os.kill(os.getpid(), signal.SIGKILL)

    return trap


def arm_from_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Arm the trap `AUTORECIPE_FAULT` asks for, if any."""
    wanted = environ.get(VARIABLE, "")
    if not wanted:
        return
    name, _, count = wanted.rpartition(":")
    point = next((known for known in POINTS if known == name), None)
    if point is None or not count.isdigit() or int(count) < 1:
        points = ", ".join(POINTS)
        raise FaultSpecError(f"{VARIABLE}={wanted!r}: expected <point>:<n>, a point of {points}")
    arm(kill_at(point, int(count)))
