"""Trusted scaffolding for an evaluator that serves the artifact's model in the sandbox.

A task's evaluate.py supplies only its scoring function; this module parses the
command line, stages the server script privately, starts servers under
evaluators.harness.sandbox (the artifact and the server read-only, the held-out data never
visible), and turns any outcome into the one verdict line the harness reads:
`{"score", "measurements", "per_example", "illegal", "error"}`. Each server gets its
own fresh writable work dir (and its own private /tmp from the sandbox), so the
blind check's second server sees nothing the first one wrote.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Generic

from domain.task import SandboxRules
from evaluators.harness.evaluation import BACKSTOP_ENV
from evaluators.harness.sandbox import SandboxSpec, popen
from evaluators.serving.blind_check import IllegalModel
from evaluators.serving.lm_scoring import Client, Spawn, open_process, server_argv

MARGIN_SECONDS = 1.0  # how far a deadline falls before (standalone) or after (backstop) a stop
LOG_TAIL = 600  # characters of the server's stderr quoted in an error


@dataclass(frozen=True)
class Run:
    """One evaluation's inputs, as given on the command line."""

    artifact: Path
    heldout: Path
    threads: int
    eval_seconds: float
    sandboxed: bool = True
    backstop_s: float | None = None  # the harness's wall stop (BACKSTOP_ENV), if it has one

    def wait_seconds(self) -> float:
        """How long, in wall seconds, the servers are waited on. Where the harness stops
        the command at a wall backstop (the CPU clock), it tells a starved run (run
        again) from a model that slept (its own overrun) by what it measured: so we wait
        past that backstop, and a busy machine never ends an evaluation here. Run
        standalone (or under the wall clock), we stop a margin before --eval-seconds,
        in time to print a verdict."""
        if self.backstop_s is not None:
            return self.backstop_s + MARGIN_SECONDS
        return self.eval_seconds - MARGIN_SECONDS


@dataclass(frozen=True)
class Served:
    """What a scoring function gets: how to start a server, and until when it may run."""

    run: Run
    spawn: Spawn  # each call starts a server in its own fresh work dir
    private: Path
    deadline: float

    def servers(self, script: Path, client: type[Client], count: int = 2) -> Servers[Client]:
        """Stage `script` once; the result opens `count` fresh servers of it, in turn."""
        server = stage_script(script, self.private / "server")
        argv = server_argv(server, self.run.artifact, self.run.threads)
        return Servers(argv, self.spawn, self.deadline, client, count)


class Servers(Generic[Client]):
    """Each call opens a fresh server, only once the one before it has exited.

    To save the next server's start-up (mostly importing torch), its process starts as
    soon as the previous server is opened; but a server imports the artifact's model,
    the first agent code it runs, only when it is opened (the protocol's go byte). So
    no agent code of the next server runs while the previous one lives. Use it as a
    context manager: leaving it stops a server started but never opened.
    """

    def __init__(
        self, argv: Sequence[str], spawn: Spawn, deadline: float, client: type[Client], count: int
    ) -> None:
        self._argv, self._spawn, self._deadline, self._client = argv, spawn, deadline, client
        self._left = count
        self._previous: Client | None = None
        self._standby: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Servers[Client]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._standby is not None:
            self._standby.kill()
            self._standby.communicate()
            self._standby = None

    def __call__(self) -> Client:
        if self._left <= 0:
            raise RuntimeError("no more servers to open")
        if self._previous is not None and self._previous.proc.poll() is None:
            raise RuntimeError("a server may open only after the previous one has exited")
        proc, self._standby = self._standby or self._spawn(self._argv), None
        self._previous = opened = open_process(proc, self._deadline, self._client)
        self._left -= 1
        if self._left > 0:
            self._standby = self._spawn(self._argv)
        return opened


@dataclass(frozen=True)
class Measured:
    """A scoring function's result. `per_example` holds one value per held-out example
    (or segment), in a fixed order that the task documents, so trials can be paired."""

    score: float | None
    measurements: dict[str, float]
    per_example: tuple[float, ...] = ()


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
    """A spawn function that starts a server (staged under private/server) in the
    sandbox; every server it starts gets a new empty work dir of its own."""

    def spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
        work = Path(tempfile.mkdtemp(prefix="work-", dir=private))
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
        return popen(
            argv, spec, env=env, cwd=work, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=log,
        )  # fmt: skip

    return spawn


def verdict(result: Measured | None = None, illegal: str = "", error: str = "") -> str:
    """The verdict line: a result, or why there is none."""
    result = result or Measured(None, {})
    fields = {"score": result.score, "measurements": result.measurements}
    per_example = [round(value, 6) for value in result.per_example]
    return json.dumps({**fields, "per_example": per_example, "illegal": illegal, "error": error})


def evaluate(run: Run, rules: SandboxRules, scorer: Scorer) -> str:
    """The verdict line for one artifact; never raises."""
    deadline = time.monotonic() + run.wait_seconds()
    private = Path(tempfile.mkdtemp(prefix="autorecipe-eval-"))
    log_path = private / "server.log"
    try:
        if not run.artifact.is_dir() or not (run.artifact / "model.py").is_file():
            raise FileNotFoundError(f"artifact has no model.py: {run.artifact}")
        with log_path.open("wb") as log:
            spawn = sandbox_spawn(run, rules, private, log)
            return verdict(scorer(Served(run, spawn, private, deadline)))
    except IllegalModel as exc:
        return verdict(illegal=str(exc))
    except Exception as exc:  # noqa: BLE001  (the last line must be a verdict, not a traceback)
        return verdict(error=_describe(exc, log_path))
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
    """Delete the private folder, including the read-only server copy (the servers'
    work dirs are ours or nobody's; either way rmtree as us can remove them)."""
    for path in (folder, folder / "server"):
        if path.exists():
            path.chmod(0o700)
    shutil.rmtree(folder, ignore_errors=True)


def parse_run(description: str, argv: list[str] | None = None) -> Run:
    """`--artifact A --heldout H --threads N --eval-seconds S [--unsafe-no-sandbox]`, and
    the harness's wall backstop from the environment (BACKSTOP_ENV) if it gives one."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-seconds", type=float, default=30.0)
    parser.add_argument("--unsafe-no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    backstop = _backstop(parser, os.environ.get(BACKSTOP_ENV))
    return Run(
        args.artifact,
        args.heldout,
        args.threads,
        args.eval_seconds,
        not args.unsafe_no_sandbox,
        backstop,
    )


def _backstop(parser: argparse.ArgumentParser, raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        parser.error(f"{BACKSTOP_ENV} must be a positive number of seconds, not {raw!r}")
    return seconds
