"""Trusted scaffolding for an evaluator that serves the artifact's model in the sandbox.

A task's evaluate.py supplies only its scoring function; this module parses the
command line, stages the server script privately, starts it under evaluators.sandbox
(the artifact and the server read-only, a private work dir writable, the held-out data
never visible), and turns any outcome into the one verdict line the harness reads.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from domain.task import SandboxRules
from evaluators.lm_scoring import IllegalModel, Spawn
from evaluators.sandbox import SandboxSpec, popen

MARGIN_SECONDS = 1.0  # stop early enough to print a verdict before the harness kills us
LOG_TAIL = 600  # characters of the server's stderr quoted in an error


@dataclass(frozen=True)
class Run:
    """One evaluation's inputs, as given on the command line."""

    artifact: Path
    heldout: Path
    threads: int
    eval_seconds: float
    sandboxed: bool = True


@dataclass(frozen=True)
class Served:
    """What a scoring function gets: how to start a server, and until when it may run."""

    run: Run
    spawn: Spawn
    private: Path
    deadline: float


Measured = tuple[float | None, dict[str, float]]
Scorer = Callable[[Served], Measured]


def sandbox_rules(task_toml: Path) -> SandboxRules:
    """The task's own sandbox rules (hidden packages, limits), read from its task.toml."""
    data = tomllib.loads(task_toml.read_text())
    return SandboxRules.model_validate(data.get("sandbox", {}))


def stage_script(source: Path, folder: Path) -> Path:
    """Copy a server script into a fresh folder, both read-only (and readable by all:
    the sandbox may run as another user); returns the copy."""
    folder.mkdir(parents=True)
    target = folder / source.name
    shutil.copyfile(source, target)
    target.chmod(0o444)
    folder.chmod(0o555)
    return target


def sandbox_spawn(run: Run, rules: SandboxRules, private: Path, log: IO[bytes]) -> Spawn:
    """A spawn function that starts a server (staged under private/server) in the sandbox."""
    work = private / "work"
    work.mkdir()
    spec = SandboxSpec(
        work_dir=work,
        read_only=(run.artifact.resolve(), private / "server"),
        hide_packages=rules.hide_packages,
        limits=rules.limits,
        cpu_seconds=int(rules.limits.cpu_seconds_factor * run.eval_seconds * run.threads),
        enabled=run.sandboxed,
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "OMP_NUM_THREADS": str(run.threads),
    }

    def spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
        return popen(
            argv, spec, env=env, cwd=work, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=log,
        )  # fmt: skip

    return spawn


def verdict(
    score: float | None, measurements: dict[str, float], illegal: str = "", error: str = ""
) -> str:
    fields = {"score": score, "measurements": measurements}
    return json.dumps({**fields, "illegal": illegal, "error": error})


def evaluate(run: Run, rules: SandboxRules, scorer: Scorer) -> str:
    """The verdict line for one artifact; never raises."""
    deadline = time.monotonic() + run.eval_seconds - MARGIN_SECONDS
    private = Path(tempfile.mkdtemp(prefix="autorecipe-eval-"))
    log_path = private / "server.log"
    try:
        if not run.artifact.is_dir() or not (run.artifact / "model.py").is_file():
            raise FileNotFoundError(f"artifact has no model.py: {run.artifact}")
        with log_path.open("wb") as log:
            spawn = sandbox_spawn(run, rules, private, log)
            score, measurements = scorer(Served(run, spawn, private, deadline))
        return verdict(score, measurements)
    except IllegalModel as exc:
        return verdict(None, {}, illegal=str(exc))
    except Exception as exc:  # noqa: BLE001  (the last line must be a verdict, not a traceback)
        return verdict(None, {}, error=_describe(exc, log_path))
    finally:
        _remove(private)


def _describe(exc: Exception, log_path: Path) -> str:
    message = f"{type(exc).__name__}: {exc}"
    if log_path.exists():
        tail = log_path.read_text(errors="replace").strip()[-LOG_TAIL:]
        if tail and tail not in message:
            message += f" | server log: {tail}"
    return message


def _remove(folder: Path) -> None:
    """Delete the private folder, including the read-only server copy."""
    for path in (folder, folder / "server"):
        if path.exists():
            path.chmod(0o700)
    shutil.rmtree(folder, ignore_errors=True)


def parse_run(description: str, argv: list[str] | None = None) -> Run:
    """`--artifact A --heldout H --threads N --eval-seconds S [--unsafe-no-sandbox]`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-seconds", type=float, default=30.0)
    parser.add_argument("--unsafe-no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    return Run(
        args.artifact, args.heldout, args.threads, args.eval_seconds, not args.unsafe_no_sandbox
    )
