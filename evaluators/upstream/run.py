"""The train command of an upstream task: launch the user's recipe and read its log live.

Run as `python -P -m evaluators.upstream.run TASK/upstream.json` in the trial's work dir,
with the AUTORECIPE_* environment every train command gets. It completes the work dir
from the user's checkout, launches the upstream command (torchrun or python) in this
process group, echoes the upstream output to stderr (the trial's log) and writes our
progress lines `{"step", "loss"}` to stdout, timed by its own clock. It stops the run
when the adapter asks (a phase past its cap, a smoke run that has shown enough, a second
airbench run), then writes the parsed verdict beside the artifact dir (never inside, where
it would count as bytes) and the counted files into the artifact dir.

Exit code: the upstream's own when it failed by itself, after restating its first
error as the last traceback of the log, so the harness's crash rule names that exception
and its file:line; 1 for a smoke run that cannot score; otherwise 0, and the evaluate
command carries the verdict.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from domain.labels import FailureLabel
from evaluators.upstream import tree, workdir
from evaluators.upstream.adapters import watch_for
from evaluators.upstream.config import Config, expand
from evaluators.upstream.tracebacks import Tracebacks
from evaluators.upstream.watch import (
    EVAL_OVERRUN,
    TRAIN_OVERRUN,
    Exit,
    Raised,
    Verdict,
    Watch,
    failed_by_itself,
)

POLL_S = 0.5  # the watchdogs run at least this often, with or without output
DRAIN_S = 2.0  # after the exit, how long to wait for output a straggler still writes
MAX_LINE = 1 << 16
OVERRUNS = (FailureLabel.TRAIN_BUDGET_OVERRUN, FailureLabel.EVAL_BUDGET_OVERRUN)
MARKERS = {  # written to the log when the wrapper stops a run, as the paper's harness did
    TRAIN_OVERRUN: "--- TRAIN_TIMEOUT: still training past the cap; stopping the run ---",
    EVAL_OVERRUN: "--- EVAL_TIMEOUT: evaluation past the cap; stopping the run ---",
}


@dataclass(frozen=True)
class Trial:
    work: Path
    seed: int
    artifact: Path
    smoke: bool

    @classmethod
    def from_env(cls) -> Trial:
        env = os.environ
        seed, smoke = int(env.get("AUTORECIPE_SEED", "0")), env.get("AUTORECIPE_SMOKE") == "1"
        return cls(Path.cwd(), seed, Path(env["AUTORECIPE_ARTIFACT"]), smoke)

    @property
    def result(self) -> Path:
        return result_path(self.artifact)


def result_path(artifact: Path) -> Path:
    """Where the verdict for an artifact dir lies: beside it, so it is not counted."""
    return artifact.with_name(artifact.name + ".upstream.json")


def launch_argv(config: Config, trial: Trial) -> list[str]:
    values = config.values(trial.work, trial.seed)
    argv = [expand(part, values) for part in config.launch]
    return argv + ([expand(a, values) for a in config.smoke_args] if trial.smoke else [])


def upstream_env(config: Config, trial: Trial) -> dict[str, str]:
    """Ours minus our own settings, then the task's defaults, the user's, the smoke
    run's, and last the harness-owned values that an edit to the source cannot change."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AUTORECIPE_") and k != "PYTHONPATH"
    }
    values = config.values(trial.work, trial.seed)
    tables = (config.env, config.smoke_env if trial.smoke else {}, config.forced_env)
    for table in tables:
        env.update({k: expand(v, values) for k, v in table.items()})
    env["PYTHONUNBUFFERED"] = "1"  # line arrival times are the phase clock
    return env


def supervise(config: Config, trial: Trial, out: IO[str], log: IO[str]) -> tuple[Exit, Watch]:
    watch, tracebacks = watch_for(config), Tracebacks(trial.work)
    started = time.monotonic()
    proc = subprocess.Popen(
        launch_argv(config, trial),
        cwd=trial.work,
        env=upstream_env(config, trial),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines = _reader(proc)
    stopped, quiet_since = "", None
    while True:
        try:
            line = lines.get(timeout=POLL_S)
        except queue.Empty:
            line = ""
        now = time.monotonic() - started
        if line is None:
            break
        if line:
            quiet_since = None
            _take(line, now, watch, tracebacks, out, log)
        elif proc.poll() is not None:  # exited; a straggler may still hold the pipe
            quiet_since = quiet_since if quiet_since is not None else now
            if now - quiet_since > DRAIN_S:
                break
        if not stopped and proc.poll() is None:
            stopped = watch.stop_reason(now, trial.smoke)
            if stopped:
                log.write(MARKERS.get(stopped, f"[autorecipe] stopping the run: {stopped}") + "\n")
                tree.stop(proc, config.stop_grace_seconds)
    rc = proc.wait()
    return Exit(rc, time.monotonic() - started, stopped, tracebacks.root_cause()), watch


def _reader(proc: subprocess.Popen[bytes]) -> queue.Queue[str | None]:
    """Lines from the run as they come; None at the end of its output."""
    lines: queue.Queue[str | None] = queue.Queue()
    stream = proc.stdout

    def read() -> None:
        if stream is not None:
            for raw in iter(lambda: stream.readline(MAX_LINE), b""):
                lines.put(raw.decode("utf-8", errors="replace"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _take(line: str, now: float, watch: Watch, tb: Tracebacks, out: IO[str], log: IO[str]) -> None:
    log.write(line if line.endswith("\n") else line + "\n")
    text = line.rstrip("\r\n")
    tb.feed(text)
    sample = watch.feed(text, now)
    if sample is not None:
        out.write(json.dumps({"step": sample.step, "loss": sample.loss}) + "\n")
        out.flush()


def finish(config: Config, trial: Trial, end: Exit, watch: Watch) -> Verdict:
    """The adapter's verdict, with the artifact assembled where bytes may count."""
    verdict = watch.verdict(end, trial.smoke)
    if verdict.label in OVERRUNS:  # a budget rule outranks size: keep its label visible
        return verdict
    try:
        sizes = workdir.assemble(config, trial.work, trial.artifact)
    except OSError as error:
        return Verdict(FailureLabel.CRASH, f"could not assemble the artifact: {error}")
    verdict.measurements.update(sizes)
    if verdict.label is None and config.artifact_files and "model_bytes" not in sizes:
        wanted = ", ".join(config.artifact_files)
        return Verdict(
            FailureLabel.CRASH,
            f"the run wrote no model file matching {wanted}",
            measurements=verdict.measurements,
        )
    return verdict


def record(trial: Trial, end: Exit, verdict: Verdict) -> None:
    result = {
        "smoke": trial.smoke,
        "seed": trial.seed,
        "rc": end.rc,
        "stopped": end.stopped,
        "wall_s": round(end.at, 3),
        "label": verdict.label.value if verdict.label else "",
        "reason": verdict.reason,
        "score": verdict.score,
        "measurements": verdict.measurements,
        "evidence": verdict.evidence,
    }
    trial.result.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


def restate(raised: Raised, log: IO[str]) -> None:
    """The first error, as the last traceback of the log, for the harness to read."""
    rank = f" (rank {raised.rank})" if raised.rank else ""
    log.write(f"[autorecipe] the first error of the upstream run{rank}:\n")
    log.write(
        f'Traceback (most recent call last):\n  File "{raised.file}", line {raised.line}'
        + (f", in {raised.func}" if raised.func else "")
        + "\n"
    )
    log.write(f"{raised.type}: {raised.message}\n" if raised.message else f"{raised.type}\n")


def exit_code(end: Exit, verdict: Verdict, smoke: bool) -> int:
    if failed_by_itself(end) and end.rc is not None:
        return end.rc if end.rc > 0 else 128 - end.rc  # killed by signal n: 128 + n
    # The preflight reads only the smoke run's exit: a smoke run that exits 0 yet shows
    # it cannot score (no model file, say) must still fail it, before the full run.
    return 1 if smoke and verdict.label is not None else 0


def main(argv: list[str]) -> int:
    config, trial = Config.load(Path(argv[1])), Trial.from_env()
    workdir.prepare(config, trial.work, config.values(trial.work, trial.seed))
    end, watch = supervise(config, trial, sys.stdout, sys.stderr)
    verdict = finish(config, trial, end, watch)
    record(trial, end, verdict)
    workdir.clean(config, trial.work)
    if failed_by_itself(end) and end.raised is not None and end.raised.file:
        restate(end.raised, sys.stderr)
    elif verdict.label is not None:
        sys.stderr.write(f"[autorecipe] {verdict.label.value}: {verdict.reason}\n")
    sys.stderr.flush()
    return exit_code(end, verdict, trial.smoke)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
