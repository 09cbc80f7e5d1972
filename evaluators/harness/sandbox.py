"""Start agent-written code in a bubblewrap sandbox with rlimits, or (unsafe) without.

The filesystem is an allow-list (evaluators.harness.mounts): the work dir is the only writable
host path; the repo, the ledger, other trials and /root do not exist inside. No network;
/tmp and /dev/shm are private tmpfs counted in the memory budget (RLIMIT_AS is
memory_mb minus their size); /proc lists only its processes.

Every capability is gone before the command runs, the bounding set included, and a
seccomp filter (evaluators.harness.seccomp) refuses new user namespaces, namespace joins and
mounts. As root, bwrap runs privileged, without a user namespace (which could only map
the sandbox user back to root), so that it can bind paths under /root; the shim empties
the bounding set, then drops to a uid of its own (evaluators.harness.slots): the kernel ignores
RLIMIT_NPROC for uid 0, and a uid per sandbox gives each its own process limit. Where
we may, each sandbox also gets its own cgroup (evaluators.harness.cgroup): one process and one
memory limit for its whole tree. A guard thread (evaluators.harness.guard) caps the work dir.

Unsafe mode (`enabled=False`): the same rlimits, cgroup and work-dir caps, its own
session, but nothing is hidden, the network is open, a process that starts its own
session escapes `kill`, and as root RLIMIT_NPROC is not enforced (the uid stays 0).
`trusted=True` is the harness's own code (an evaluate command): rlimits and a session.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import IO, Any

from domain.reports import LimitBreach
from domain.task import Limits
from evaluators.harness import cgroup, mounts, seccomp, shim, slots
from evaluators.harness.guard import Guard

START_TIMEOUT_S = 60.0

COMMON = ("--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop", "ALL")
UNPRIVILEGED = ("--unshare-all", "--unshare-user", "--disable-userns", *COMMON)
# Privileged: every namespace but the user one (see the module docstring), and the
# capabilities the shim needs to empty the bounding set and drop to its uid.
PRIVILEGED = (
    "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
    "--unshare-cgroup-try", *COMMON,
    "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
)  # fmt: skip

Stream = int | IO[Any] | None
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class SandboxSpec:
    """What one sandboxed process may see, write and use."""

    work_dir: Path  # the only writable path, visible at the same absolute path
    read_only: tuple[Path, ...] = ()  # extra paths visible read-only at the same path
    hide_packages: tuple[str, ...] = ()  # importable packages masked inside
    limits: Limits = DEFAULT_LIMITS
    cpu_seconds: int | None = None  # RLIMIT_CPU if given
    enabled: bool = True  # False = --unsafe-no-sandbox: rlimits and a session only
    trusted: bool = False  # the harness's own code: no cgroup, uid or work-dir guard


class SandboxStartError(RuntimeError):
    """The sandbox could not start: an infrastructure fault, not the command's."""


class Sandboxed(subprocess.Popen[bytes]):
    """A started sandbox; `breach` names the cap it was stopped for, if any."""

    guard: Guard | None = None
    cpu_usage: Path | None = None  # its cgroup's CPU counter (evaluators.harness.cpuclock)
    has_init = False  # the shim is pid 1 of its own pid namespace (sandbox mode)

    @property
    def breach(self) -> LimitBreach | None:
        """Read it after reaping: it waits for the guard's last check of the work dir."""
        return self.guard.settle() if self.guard else None


def mode(spec: SandboxSpec) -> str:
    """How the process is isolated, as recorded in events."""
    return "bwrap" if spec.enabled else "none (--unsafe-no-sandbox)"


def confinement(spec: SandboxSpec) -> str:
    """How processes, memory and privileges are limited here, as recorded per trial."""
    parts = [cgroup.describe()]
    if spec.enabled and os.geteuid() == 0:
        parts.append(slots.describe())
    if spec.enabled:
        filtered = seccomp.program() is not None
        parts.append("seccomp: no user namespaces, mounts" if filtered else "no seccomp filter")
    return "; ".join(parts)


@functools.cache
def bwrap_problem() -> str | None:
    """None if a real bwrap sandbox starts here, else one line saying why not."""
    with tempfile.TemporaryDirectory(prefix="bwrap-probe-") as work:
        spec, env = SandboxSpec(work_dir=Path(work)), {"PATH": "/usr/bin:/bin"}
        try:
            proc = popen(["true"], spec, env=env, cwd=Path(work), stderr=PIPE)
        except (SandboxStartError, OSError) as error:
            return _one_line(str(error))
        _out, err = proc.communicate()
    if proc.returncode != 0:
        return _one_line(f"a trivial sandbox exited {proc.returncode}: {err.decode()}")
    return None


def popen(
    argv: Sequence[str],
    spec: SandboxSpec,
    *,
    env: Mapping[str, str],
    cwd: Path,
    stdin: Stream = None,
    stdout: Stream = None,
    stderr: Stream = None,
) -> Sandboxed:
    """Start `argv` in its own session under `spec`; returns once the command is exec'd.

    Call it from a thread that outlives the process: the sandbox is killed when the
    thread that started it exits (PR_SET_PDEATHSIG follows the thread, not the process).
    """
    held = _Held.take(spec)
    try:
        proc = _start(argv, spec, held, env=env, cwd=cwd, streams=(stdin, stdout, stderr))
    except BaseException:
        held.release()
        raise
    proc.cpu_usage = held.group.cpu_usage if held.group else None
    if not spec.trusted:
        proc.guard = Guard(
            proc.pid, spec.work_dir, spec.limits, lambda: stop(proc), held.release,
            _notify_fd(stderr),
        )  # fmt: skip
    return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's group: bwrap takes its whole pid namespace down with it.

    Call it before the process is reaped: after that its group id may be reused.
    """
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def stop(proc: Sandboxed) -> None:
    """Kill the sandbox's processes under its pid 1, then pid 1 reaps them and exits.

    Killing bwrap (or pid 1) instead would lose the tree's CPU time and peak memory: a
    dying pid 1 discards what it has not reaped, and an orphaned pid 1 is reaped by
    init. Unsafe mode has no pid 1: its group goes at once.
    """
    inits = _children(proc.pid) if proc.has_init else []
    targets = [pid for init in inits for pid in _children(init)]
    if not targets:
        kill(proc)
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class _Held:
    """What a sandbox holds while it runs: a uid slot (root) and a cgroup."""

    slot: slots.Slot | None
    group: cgroup.Group | None

    @classmethod
    def take(cls, spec: SandboxSpec) -> _Held:
        if spec.trusted:
            return cls(None, None)
        layout = cgroup.detect()
        try:
            slot = slots.acquire() if spec.enabled and os.geteuid() == 0 else None
            group = cgroup.Group(layout, spec.limits) if layout else None
        except (OSError, slots.NoFreeSlotError) as error:
            raise SandboxStartError(f"cannot confine the sandbox: {error}") from error
        return cls(slot, group)

    def release(self) -> None:
        if self.slot is not None:
            self.slot.release()
        if self.group is not None:
            self.group.remove(wait_s=cgroup.REMOVE_WAIT_S)


def _start(
    argv: Sequence[str],
    spec: SandboxSpec,
    held: _Held,
    *,
    env: Mapping[str, str],
    cwd: Path,
    streams: tuple[Stream, Stream, Stream],
) -> Sandboxed:
    uid = held.slot.uid if held.slot else None
    if uid is not None:
        _hand_over(spec, uid)
    # RLIMIT_NPROC counts the uid's processes: without a uid of its own, a pids cgroup
    # is the sandbox's own limit, and the shared one would only add the user's others.
    nproc = held.group is None or uid is not None
    ready_r, ready_w = os.pipe()
    fds = [ready_w]
    try:
        settings = shim.config(
            spec.limits, spec.cpu_seconds, uid, ready_w, cwd, env, nproc, spec.enabled
        )
        command = [mounts.interpreter(), "-I", "-S", "-c", shim.SHIM, settings, *argv]
        if spec.enabled:
            fds += _seccomp_fds()
            command = [*_bwrap_argv(spec, uid is not None, fds[1:]), "--", *command]
        proc = Sandboxed(
            command, env=dict(env), cwd=cwd, stdin=streams[0], stdout=streams[1],
            stderr=streams[2], pass_fds=tuple(fds), start_new_session=True,
            preexec_fn=held.group.enter if held.group else None,
        )  # fmt: skip
    except BaseException:
        os.close(ready_r)
        raise
    finally:
        for fd in fds:
            os.close(fd)
    proc.has_init = spec.enabled
    _await_start(proc, ready_r)
    return proc


def _bwrap_argv(spec: SandboxSpec, privileged: bool, filter_fds: list[int]) -> list[str]:
    """The bwrap command line, up to (not including) the command."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxStartError("bwrap is not installed (Debian package: bubblewrap)")
    args = [bwrap, *(PRIVILEGED if privileged else UNPRIVILEGED)]
    for fd in filter_fds:
        args += ["--seccomp", str(fd)]
    limits = spec.limits
    args += mounts.filesystem(spec.work_dir, spec.read_only, spec.hide_packages, limits.tmpfs_mb)
    return [*args, "--remount-ro", "/", "--chdir", "/"]


def _seccomp_fds() -> list[int]:
    """The filter in a memory file that bwrap reads (none on an unknown machine)."""
    program = seccomp.program()
    if program is None:
        return []
    fd = os.memfd_create("autorecipe-seccomp", 0)  # no CLOEXEC: bwrap inherits it
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return [fd]


def _notify_fd(stderr: Stream) -> int | None:
    """A copy of a file the sandbox's stderr goes to, for the guard's last word."""
    if isinstance(stderr, int):
        return os.dup(stderr) if stderr >= 0 else None
    if stderr is not None and hasattr(stderr, "fileno"):
        return os.dup(stderr.fileno())
    return None


def _children(pid: int) -> list[int]:
    """A process's children (its main thread's), while it has not reaped them."""
    with contextlib.suppress(OSError):  # gone, or a kernel without /proc children
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def _await_start(proc: subprocess.Popen[bytes], ready_r: int) -> None:
    """Wait for the shim's byte; without it, bwrap (or the shim) failed to set up."""
    poller = select.poll()
    poller.register(ready_r, select.POLLIN)
    try:
        ready = poller.poll(START_TIMEOUT_S * 1000)
        if ready and os.read(ready_r, 1) == b"S":
            _await_exec(proc, poller, ready_r)
            return
    finally:
        os.close(ready_r)
    try:
        _out, err = proc.communicate(timeout=5)  # bwrap exits right after its child
    except subprocess.TimeoutExpired:
        kill(proc)
        _out, err = proc.communicate()
    detail = _one_line(err.decode(errors="replace")) if err else "see its stderr"
    raise SandboxStartError(f"no sandbox (rc {proc.returncode}): {detail}")


def _await_exec(proc: subprocess.Popen[bytes], poller: select.poll, ready_r: int) -> None:
    """After the shim's "S": EOF once the command is exec'd, or why it could not be."""
    failed = os.read(ready_r, 4096) if poller.poll(START_TIMEOUT_S * 1000) else b""
    if failed.startswith(b"X"):
        proc.wait()
        why = _one_line(failed[1:].decode(errors="replace"))
        raise SandboxStartError(f"the command could not start: {why}")


def _hand_over(spec: SandboxSpec, uid: int) -> None:
    """Give the work dir to the sandbox's uid; check it can read the read-only extras."""
    for path in spec.read_only:  # a missing one is left for bwrap to report
        needed = 0o005 if path.is_dir() else 0o004
        if path.exists() and path.stat().st_mode & needed != needed:
            raise SandboxStartError(f"{path}: its mode keeps the sandbox user out")
    os.lchown(spec.work_dir, uid, uid)
    for parent, dirs, files in os.walk(spec.work_dir):  # lchown: links stay put
        for name in dirs + files:
            os.lchown(os.path.join(parent, name), uid, uid)


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[:500]
