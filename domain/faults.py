"""Fault injection for crash tests: SIGKILL this process at a named point, on its n-th hit.

A no-op unless the environment says `AUTORECIPE_FAULT=<point>:<n>`; the tests use it to
kill a search between the steps that must never be half-stored.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def point(name: str) -> None:
    wanted = os.environ.get("AUTORECIPE_FAULT", "")
    if not wanted.startswith(f"{name}:"):
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(wanted.split(":", 1)[1]):
        os.kill(os.getpid(), signal.SIGKILL)
