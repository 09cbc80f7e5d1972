"""Run one process through the sandbox and measure it ourselves: time, CPU, memory.

Every number comes from this process (a monotonic clock, the live CPU clock of the
whole process tree in evaluators.harness.cpuclock, the kernel's rusage for the reaped tree),
never from the child. A run is stopped past its CPU cap, or past its wall cap (with a
CPU cap, the wall cap is only a backstop); `stopped` says which. The log keeps the
first LOG_HEAD_BYTES and the last LOG_TAIL_BYTES of the output (evaluators/harness/output.py).
"""

from __future__ import annotations

import os
import re
import resource
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from domain.reports import ExceptionInfo, LimitBreach, ProcessReport
from evaluators.harness import cpuclock, output, sandbox
from evaluators.harness.sandbox import Sandboxed, SandboxSpec

TAIL_CHARS = 2000  # ProcessReport.log_tail
DRAIN_S = 1.0  # after the exit, how long to wait for output still in the pipes
POLL_S = 0.5  # the loop wakes at least this often, whatever happens
GRACE_S = 2.0  # past the cap, how long pid 1 may take to die before bwrap is killed

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line (?P<n>\d+)(?:, in (?P<func>.+))?$')
_RAISED = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")


def run_measured(
    argv: Sequence[str],
    spec: SandboxSpec,
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float,
    log_path: Path,
    on_stdout_line: output.LineCallback | None = None,
    stdin_data: bytes | None = None,
    cpu_cap_s: float | None = None,
) -> ProcessReport:
    """Run `argv` under `spec`, stopped past `cpu_cap_s` CPU-seconds of its whole tree
    (if given) or `timeout_s` wall seconds; log its output.

    Raises SandboxStartError if the sandbox itself could not be set up.
    """
    stdin = subprocess.DEVNULL if stdin_data is None else subprocess.PIPE
    with log_path.open("ab") as log:  # opened first: a bad path starts nothing
        load_start = cpuclock.load()
        started = time.monotonic()
        proc = sandbox.popen(
            argv, spec, env=env, cwd=cwd, stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out = output.Output(log, on_stdout_line)
        child = _Child(proc, out, stdin_data or b"")
        meter = cpuclock.TreeMeter(proc.pid, proc.cpu_usage)
        try:
            status, usage, stopped = child.supervise(meter, started, timeout_s, cpu_cap_s)
            wall_s = time.monotonic() - started
            child.drain()
        finally:
            child.close()
        if proc.breach is not None:  # said last, where a reader of the log looks
            out.write(f"\nautorecipe: stopped: {proc.breach.reason}\n".encode(), stdout=False)
        out.close()
    rc = _exit_code(status, spec)
    report = _report(rc, stopped, wall_s, usage, out.tail_text(), proc.breach)
    return report.model_copy(
        update={
            "cpu_s": meter.settle(usage),
            "clock": meter.method,
            "runqueue_s": meter.runqueue_s,
            "load_start": load_start,
            "load_end": cpuclock.load(),
        }
    )


def parse_exception(log_text: str) -> ExceptionInfo | None:
    """The last traceback's `Type: message` and its last frame; None without one."""
    lines = log_text.splitlines()
    frames = [(i, m) for i, line in enumerate(lines) if (m := _FRAME.match(line))]
    if not frames:
        return None
    index, frame = frames[-1]
    where = f"{frame['file']}:{frame['n']}"
    if frame["func"]:
        where += f" in {frame['func']}"
    # The exception line is the first at column 0: source and caret lines are indented.
    for line in lines[index + 1 :]:
        if line and not line[0].isspace():
            raised = _RAISED.match(line)
            if raised is None:
                return None
            message = (raised["message"] or "").strip()
            return ExceptionInfo(type=raised["type"], message=message, where=where)
    return None


class _Child:
    """One started process: its pipes, its pidfd and its reaping, on one selector."""

    def __init__(self, proc: Sandboxed, output: output.Output, stdin: bytes) -> None:
        self.proc = proc
        self.output = output
        self.stdin = memoryview(stdin)
        self.selector = selectors.DefaultSelector()
        self.pidfd = os.pidfd_open(proc.pid)  # readable once it exits; not reaped yet
        self.selector.register(self.pidfd, selectors.EVENT_READ, "exit")
        for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            if stream is not None:
                self.selector.register(stream, selectors.EVENT_READ, name)
        self.stdin_pipe = proc.stdin
        if self.stdin_pipe is not None:
            os.set_blocking(self.stdin_pipe.fileno(), False)
            self.selector.register(self.stdin_pipe, selectors.EVENT_WRITE, "stdin")
        self.exited = False
        self.reaped = False

    def supervise(
        self, meter: cpuclock.TreeMeter, started: float, wall_cap: float, cpu_cap: float | None
    ) -> tuple[int, resource.struct_rusage, str]:
        """Pump the pipes until the process exits, stopped past a cap; reap it.

        Returns the wait status, the reaped tree's rusage and the cap that stopped it
        ("cpu", "wall" or "" for none)."""
        stopped, stopped_at, next_read = "", 0.0, started
        while not self.exited:
            now = time.monotonic()
            if not stopped and now >= next_read:  # a /proc scan: not on every chunk
                next_read = now + POLL_S
                stopped = _past_cap(meter.read(), cpu_cap, now - started, wall_cap)
                if stopped:
                    self._kill_at_cap()
                    stopped_at = now
            elif stopped and now - stopped_at > GRACE_S:
                sandbox.kill(self.proc)
            self._pump(POLL_S if stopped else max(next_read - now, 0.01))
        meter.read()  # the last look at the tree, zombies and all, before it is reaped
        sandbox.kill(self.proc)  # a zombie now: this ends strays left in its group
        _pid, status, usage = os.wait4(self.proc.pid, 0)
        self.reaped = True
        self.proc.returncode = os.waitstatus_to_exitcode(status)  # Popen agrees
        return status, usage, stopped

    def drain(self) -> None:
        """Read what is left in the pipes; a process that escaped may hold them open."""
        until = time.monotonic() + DRAIN_S
        while self._pipes_open() and (left := until - time.monotonic()) > 0:
            self._pump(left)

    def close(self) -> None:
        if not self.reaped:  # an exception (from the callback, say) cut supervise short
            sandbox.kill(self.proc)
            self.proc.wait()
        self.selector.close()
        os.close(self.pidfd)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def _kill_at_cap(self) -> None:
        sandbox.stop(self.proc)  # pid 1 stays to reap the rest: their usage reaches us

    def _pipes_open(self) -> bool:
        keys = self.selector.get_map().values()
        return any(key.data in ("stdout", "stderr") for key in keys)

    def _pump(self, timeout: float) -> None:
        for key, _events in self.selector.select(timeout):
            if key.data == "exit":
                self.exited = True
                self.selector.unregister(key.fileobj)
            elif key.data == "stdin":
                self._feed(key.fd)
            else:
                chunk = os.read(key.fd, output.CHUNK_BYTES)
                if chunk:
                    self.output.write(chunk, stdout=key.data == "stdout")
                else:  # end of file: the child closed it, maybe still running
                    self.selector.unregister(key.fileobj)

    def _feed(self, fd: int) -> None:
        try:
            written = os.write(fd, self.stdin[: output.CHUNK_BYTES])
        except BlockingIOError:
            return
        except BrokenPipeError:  # the child stopped reading: the rest is not wanted
            written = len(self.stdin)
        self.stdin = self.stdin[written:]
        if not self.stdin and self.stdin_pipe is not None:
            self.selector.unregister(fd)
            self.stdin_pipe.close()  # end of file for the child


def _past_cap(cpu_s: float, cpu_cap: float | None, wall_s: float, wall_cap: float) -> str:
    if cpu_cap is not None and cpu_s > cpu_cap:
        return "cpu"
    return "wall" if wall_s >= wall_cap else ""


def _exit_code(status: int, spec: SandboxSpec) -> int:
    """The exit code, negative for a signal; in the sandbox, a death by signal n comes
    back from its pid 1 (or from bwrap) as 128 + n."""
    rc = os.waitstatus_to_exitcode(status)
    if spec.enabled and 128 < rc < 128 + signal.NSIG:
        return 128 - rc
    return rc


def _report(
    rc: int,
    stopped: str,
    wall_s: float,
    usage: resource.struct_rusage,
    tail: str,
    breach: LimitBreach | None,
) -> ProcessReport:
    # Only a failure has an exception: a run that succeeds may log a handled one.
    exception = parse_exception(tail) if rc != 0 else None
    return ProcessReport(
        rc=rc,
        timed_out=bool(stopped),
        stopped=stopped,
        wall_s=round(wall_s, 3),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        log_tail=tail[-TAIL_CHARS:],
        exception=exception,
        breach=breach,
    )
