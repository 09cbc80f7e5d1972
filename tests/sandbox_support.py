"""What the sandbox test modules share: a plain environment, and the skip where no bwrap
sandbox can start."""

from __future__ import annotations

import os

import pytest

from evaluators.harness import sandbox

ENV = {"PATH": "/usr/bin:/bin"}
AS_ROOT = os.geteuid() == 0

needs_bwrap = pytest.mark.skipif(
    sandbox.bwrap_problem() is not None,
    reason=f"no bwrap sandbox here: {sandbox.bwrap_problem()}",
)
