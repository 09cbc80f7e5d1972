"""Trusted golf-cpu evaluator: serve the artifact's model in the sandbox, score val bpb.

`python -m evaluators.golf_cpu.evaluate --artifact A --heldout H --threads N
--eval-seconds S [--unsafe-no-sandbox]` prints one JSON line last:
{"score": bpb, "measurements": {...}, "illegal": "", "error": ""}.
The agent's model.py runs only inside the sandboxed lm_server process; this process
reads val.bin and computes the metric (evaluators.lm_scoring documents the scheme).
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from domain.task import SandboxRules
from evaluators.lm_scoring import (
    IllegalModel,
    LMClient,
    Score,
    ServerFailed,
    Spawn,
    open_server,
    score_bytes,
    server_argv,
    stage_server,
)
from evaluators.sandbox import SandboxSpec, popen

TASK_TOML = Path(__file__).with_name("task.toml")
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


def sandbox_rules() -> SandboxRules:
    """The task's own sandbox rules (hidden packages, limits), read from task.toml."""
    data = tomllib.loads(TASK_TOML.read_text())
    return SandboxRules.model_validate(data.get("sandbox", {}))


def sandbox_spawn(run: Run, private: Path, log: IO[bytes]) -> Spawn:
    """A spawn function that starts the server under evaluators.sandbox.

    The sandbox sees the artifact and the staged server read-only, writes only to a
    private work dir, and never sees the held-out data.
    """
    rules = sandbox_rules()
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


def score_artifact(
    artifact: Path, val: bytes, threads: int, deadline: float, spawn: Spawn, private: Path
) -> Score:
    """Stage the server privately, start it through `spawn`, score every val byte."""
    if not (artifact / "model.py").is_file():
        raise ServerFailed(f"artifact has no model.py: {artifact}")
    server = stage_server(private / "server")
    with open_server(server_argv(server, artifact, threads), spawn, deadline, LMClient) as client:
        return score_bytes(client, val)


def verdict(
    score: float | None, measurements: dict[str, float], illegal: str = "", error: str = ""
) -> str:
    fields = {"score": score, "measurements": measurements}
    return json.dumps({**fields, "illegal": illegal, "error": error})


def evaluate(run: Run) -> str:
    """The verdict line for one artifact; never raises."""
    deadline = time.monotonic() + run.eval_seconds - MARGIN_SECONDS
    private = Path(tempfile.mkdtemp(prefix="golf-eval-"))
    log_path = private / "server.log"
    try:
        val = (run.heldout / "val.bin").read_bytes()
        with log_path.open("wb") as log:
            spawn = sandbox_spawn(run, private, log)
            result = score_artifact(run.artifact, val, run.threads, deadline, spawn, private)
        measurements = {"val_bytes": float(result.predicted), "val_loss_nats": result.loss_nats}
        return verdict(result.bpb, measurements)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-seconds", type=float, default=30.0)
    parser.add_argument("--unsafe-no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    run = Run(
        args.artifact, args.heldout, args.threads, args.eval_seconds, not args.unsafe_no_sandbox
    )
    print(evaluate(run), flush=True)  # noqa: T201  (the verdict line is the interface)


if __name__ == "__main__":
    main()
