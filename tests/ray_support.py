"""Ray for tests: a real local cluster, or a skip that names the missing extra.

Ray is an optional extra. Without it the Ray tests skip with that reason, unless
`AUTORECIPE_REQUIRE_RAY=1` (set it where `.[ray]` is installed, as CI does): then they
fail instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE = "AUTORECIPE_REQUIRE_RAY"


def require_ray() -> None:
    try:
        import ray  # noqa: F401 - only whether it imports
    except ImportError:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but Ray is not installed")
        pytest.skip("Ray is not installed: pip install -e '.[ray]'")


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (a trial's run dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # it ended meanwhile
        if text.encode() in cmdline:
            found.append(int(proc.name))
    return found
