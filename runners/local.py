"""The local runner: the trial pipeline as a subprocess in its own process group.

It streams the pipeline's JSON lines back (progress as it comes, the report at the end),
enforces an outer backstop on wall clock, and kills the whole group on cancel. A pipeline
that dies without a report is an infrastructure fault, reported as `abort`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from domain.ports import ProgressCallback, TrialJob
from domain.reports import PreflightReport, RunReport
from domain.trial import ProgressSample

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ("-m", "evaluators.pipeline")
PR_SET_PDEATHSIG = 1


class LocalRunner:
    name = "local"

    def __init__(self) -> None:
        self.host = socket.gethostname()

    def run(
        self, job: TrialJob, on_progress: ProgressCallback, cancel: threading.Event
    ) -> RunReport:
        run_dir = Path(job.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        job_file = run_dir / "job.json"
        job_file.write_text(job.model_dump_json(indent=1))
        with (run_dir / "pipeline.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, *PIPELINE, str(job_file)],
                preexec_fn=_die_with_parent,
                cwd=PROJECT_ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                env={
                    **os.environ,
                    "PYTHONPATH": str(PROJECT_ROOT),
                    "PYTHONUNBUFFERED": "1",
                },
            )
            return _follow(process, job, on_progress, cancel, run_dir)


def _die_with_parent() -> None:
    """SIGKILL the pipeline if the search process dies (it runs in its own session, so
    nothing else would stop it); its sandbox then dies with it (--die-with-parent)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _follow(
    process: subprocess.Popen[bytes],
    job: TrialJob,
    on_progress: ProgressCallback,
    cancel: threading.Event,
    run_dir: Path,
) -> RunReport:
    deadline = time.monotonic() + job.backstop_seconds
    watchdog = threading.Thread(target=_watch, args=(process, deadline, cancel), daemon=True)
    watchdog.start()
    report: RunReport | None = None
    if process.stdout is None:
        raise RuntimeError("the pipeline was started without a stdout pipe")
    for message in _messages(process.stdout):
        if message.get("kind") == "progress":
            samples = [ProgressSample.model_validate(s) for s in message["samples"]]
            on_progress(int(message["seed"]), samples)
        elif message.get("kind") == "report":
            report = RunReport.model_validate(message["report"])
    rc = process.wait()
    if report is not None:
        return report
    return RunReport(
        trial_id=job.trial_id,
        preflight=PreflightReport(ok=True),
        abort=_why_no_report(rc, cancel, deadline, run_dir),
    )


def _messages(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    for raw in stream:
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if isinstance(message, dict):
            yield message


def _watch(process: subprocess.Popen[bytes], deadline: float, cancel: threading.Event) -> None:
    """Kill the pipeline's whole group at the backstop or when the search is cancelled."""
    while process.poll() is None:
        if cancel.wait(0.2) or time.monotonic() > deadline:
            kill_group(process)
            return


def kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _why_no_report(rc: int, cancel: threading.Event, deadline: float, run_dir: Path) -> str:
    if cancel.is_set():
        return "cancelled: the search was interrupted"
    if time.monotonic() > deadline:
        return "the trial pipeline outlived the runner's backstop and was killed"
    tail = (run_dir / "pipeline.log").read_text(errors="replace").strip().splitlines()[-1:]
    return f"the trial pipeline exited {rc} without a report" + (
        f": {tail[0][:200]}" if tail else ""
    )
