"""Where trials run, by name: `local` (a subprocess here, the default) or `ray`.

The Ray runner is an optional extra: it is imported only when asked for, and a missing
Ray or an unreachable cluster is one line for the CLI, before the search starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from domain.ports import Runner
from runners.local import LocalRunner

NAMES = ("local", "ray")


class RunnerError(ValueError):
    pass


@contextlib.contextmanager
def open_runner(
    name: str, ray_address: str | None = None, gpus_per_trial: float = 0.0
) -> Iterator[Runner]:
    """The named runner, shut down (a local Ray cluster it started) when the block ends."""
    if name not in NAMES:
        raise RunnerError(f"unknown runner {name!r}: use {' or '.join(NAMES)}")
    if name == "local":
        if ray_address or gpus_per_trial:
            raise RunnerError("--ray-address and --gpus-per-trial need --runner ray")
        yield LocalRunner()
        return
    from runners.ray_runner import RayRunner, RayUnavailableError

    try:
        runner = RayRunner(ray_address, gpus_per_trial)
    except RayUnavailableError as error:
        raise RunnerError(str(error)) from None
    try:
        yield runner
    finally:
        runner.close()
