"""The Ray runner: each trial is a Ray task that runs the same pipeline on a worker.

On the worker, the task runs the local runner (the trusted pipeline as a subprocess,
the recipe in its sandbox) and streams what it says back as a Ray generator: `started`
when a node takes the task, progress batches as they come, then the RunReport. The
driver only relays them: the search loop, the one writer of the ledger, receives
progress through `on_progress` exactly as from the local runner.

A task asks for CPUs = the trial's threads and the configured GPUs. A request that no
node of the cluster could ever hold is refused before it is submitted, and one that no
node starts within the pending timeout is cancelled, so a trial never pends forever.
The driver enforces the backstop and the search's cancel with `ray.cancel(force=True)`:
Ray kills the worker and its children (the pipeline), and the sandbox dies with the
pipeline. Each of these ends the trial with `abort`, which classifies as harness_abort.

Workers must see the project and the runs folder at the driver's paths: one node, or a
shared filesystem. Ray is an optional extra (`pip install -e '.[ray]'`), imported lazily.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from domain.ports import ProgressCallback, TrialJob
from domain.reports import PreflightReport, RunReport
from domain.trial import ProgressSample
from runners.local import PROJECT_ROOT, LocalRunner

POLL_S = 0.2  # how often the driver looks at the cancel flag and the clocks
WORKER_SLACK_S = 30.0  # the worker's own backstop trails the driver's by this much


class RayUnavailableError(RuntimeError):
    """Ray is not installed, or its cluster cannot be reached; one line for the CLI."""


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise RayUnavailableError("the ray runner needs Ray: pip install -e '.[ray]'") from None
    return ray


class RayRunner:
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        gpus_per_trial: float = 0.0,
        pending_timeout_s: float = 300.0,
    ) -> None:
        self.ray = _import_ray()
        self.gpus, self.pending_timeout_s = gpus_per_trial, pending_timeout_s
        self.host = socket.gethostname()
        self.owns_cluster = not self.ray.is_initialized()
        if self.owns_cluster:
            _connect(self.ray, address)
        self.task = self.ray.remote(_trial)

    def run(
        self, job: TrialJob, on_progress: ProgressCallback, cancel: threading.Event
    ) -> RunReport:
        refusal = self.refusal(self.needs(job))
        if refusal:
            return _aborted(job, refusal)
        # The driver enforces the backstop; the worker's own one only trails it.
        slack = {"backstop_seconds": job.backstop_seconds + WORKER_SLACK_S}
        stream = self.task.options(
            num_cpus=job.threads,
            num_gpus=self.gpus,
            max_retries=0,  # a lost worker is a harness_abort, not a silent second run
            name=f"trial-{job.sequence}",
            # Workers import this module by name, so they need the project on their path.
            runtime_env={"env_vars": {"PYTHONPATH": str(PROJECT_ROOT)}},
        ).remote(job.model_copy(update=slack).model_dump_json())
        return _Followed(self, stream, job, on_progress, cancel).result()

    def needs(self, job: TrialJob) -> dict[str, float]:
        wanted = {"CPU": float(job.threads), "GPU": self.gpus}
        return {k: v for k, v in wanted.items() if v > 0}

    def refusal(self, needs: dict[str, float]) -> str:
        """Why no node of the cluster could ever run a task asking for `needs`, or ""."""
        nodes = [n["Resources"] for n in self.ray.nodes() if n["Alive"]]
        if any(all(node.get(k, 0) >= v for k, v in needs.items()) for node in nodes):
            return ""
        most = {k: max((node.get(k, 0) for node in nodes), default=0) for k in needs}
        return (
            f"no node of the Ray cluster can run this trial: it asks for {_amounts(needs)};"
            f" the nodes have at most {_amounts(most)}"
        )

    def close(self) -> None:
        if self.owns_cluster:
            self.ray.shutdown()


class _Followed:
    """One submitted trial, followed from the driver until it reports or is cancelled."""

    def __init__(
        self,
        runner: RayRunner,
        stream: Any,
        job: TrialJob,
        on_progress: ProgressCallback,
        cancel: threading.Event,
    ) -> None:
        self.ray, self.runner, self.stream, self.job = runner.ray, runner, stream, job
        self.on_progress, self.cancel = on_progress, cancel
        self.submitted = time.monotonic()
        self.started: float | None = None

    def result(self) -> RunReport:
        while True:
            overdue = self.overdue()
            if overdue:
                self.ray.cancel(self.stream, force=True)
                return _aborted(self.job, overdue)
            ready, _ = self.ray.wait([self.stream], timeout=POLL_S)
            if ready:
                report = self.take()
                if report is not None:
                    return report

    def overdue(self) -> str:
        """Why the driver must cancel the task now, or ""."""
        now = time.monotonic()
        if self.cancel.is_set():
            return "cancelled: the search was interrupted"
        if self.started is None and now - self.submitted > self.runner.pending_timeout_s:
            return (
                f"no node of the Ray cluster started the trial within"
                f" {self.runner.pending_timeout_s:.0f} s (it asks for"
                f" {_amounts(self.runner.needs(self.job))})"
            )
        if self.started is not None and now - self.started > self.job.backstop_seconds:
            return (
                f"the trial outlived the runner's backstop ({self.job.backstop_seconds:.0f} s)"
                " and its Ray task was cancelled"
            )
        return ""

    def take(self) -> RunReport | None:
        """Handle the next message; the report when it is the last one."""
        try:
            message = self.ray.get(next(self.stream))
        except StopIteration:
            return _aborted(self.job, "the Ray task ended without a report")
        except self.ray.exceptions.RayError as error:
            return _aborted(self.job, f"the Ray task failed: {_one_line(error)}")
        kind = message["kind"]
        if kind == "started":
            self.started = time.monotonic()
        elif kind == "progress":
            samples = [ProgressSample.model_validate(s) for s in message["samples"]]
            self.on_progress(int(message["seed"]), samples)
        elif kind == "report":
            return RunReport.model_validate(message["report"])
        else:
            return _aborted(self.job, f"the runner on the Ray worker failed: {message['error']}")
        return None


def _trial(job_json: str) -> Iterator[dict[str, Any]]:
    """On the worker: the local runner on a thread, its messages yielded as they come."""
    job = TrialJob.model_validate_json(job_json)
    yield {"kind": "started"}
    messages: queue.Queue[dict[str, Any]] = queue.Queue()
    cancel = threading.Event()
    # The thread lives as long as the pipeline: the pipeline dies with the thread that
    # started it (PR_SET_PDEATHSIG follows threads), and with this worker.
    worker = threading.Thread(target=_run_local, args=(job, messages, cancel), daemon=True)
    worker.start()
    try:
        while (message := messages.get())["kind"] == "progress":
            yield message
        yield message
    finally:
        cancel.set()  # a no-op after the report; stops the pipeline if the task is cancelled
        worker.join(timeout=10)


def _run_local(
    job: TrialJob, messages: queue.Queue[dict[str, Any]], cancel: threading.Event
) -> None:
    def progress(seed: int, samples: list[ProgressSample]) -> None:
        messages.put(
            {"kind": "progress", "seed": seed, "samples": [s.model_dump() for s in samples]}
        )

    try:
        report = LocalRunner().run(job, progress, cancel)
    except Exception as error:  # noqa: BLE001 - any runner fault is infrastructure
        messages.put({"kind": "error", "error": f"{type(error).__name__}: {error}"})
        return
    messages.put({"kind": "report", "report": report.model_dump(mode="json")})


def _aborted(job: TrialJob, reason: str) -> RunReport:
    return RunReport(trial_id=job.trial_id, preflight=PreflightReport(ok=True), abort=reason)


def _connect(ray: ModuleType, address: str | None) -> None:
    """Join the cluster at `address`, or start a local one (no dashboard, no telemetry)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, local cluster
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,  # worker output would tear the search's live display
            logging_level=logging.WARNING,
        )
    except Exception as error:  # noqa: BLE001 - Ray raises many kinds; one line for the user
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise RayUnavailableError(f"cannot start or join {where}: {_one_line(error)}") from None


def _amounts(resources: dict[str, float]) -> str:
    return " and ".join(f"{v:g} {k}" for k, v in resources.items()) or "nothing"


def _one_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"[:300]
