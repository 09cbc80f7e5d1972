"""Start agent-written code in a bubblewrap sandbox with rlimits, or (unsafe) without.

The filesystem is an allow-list: /usr (and the /bin, /lib... links), a few /etc files,
the Python installation, the venv, the spec's read-only extras and its work dir, the
only writable path. The repo, the ledger, other trials and /root do not exist inside.
No network; /tmp and /dev/shm are private capped tmpfs; /proc lists only its processes.

As root, the code runs as uid 65534 (nobody): the kernel ignores RLIMIT_NPROC for uid
0, even behind a user namespace. bwrap then runs privileged, without a user namespace
(which could only map nobody back to root), so that it can bind paths under /root.

Unsafe mode (`enabled=False`): the same rlimits and its own session, but nothing is
hidden, the network is open, a process that starts its own session escapes `kill`,
and as root RLIMIT_NPROC is not enforced (the uid stays 0: nobody could not even
reach the interpreter under /root).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path
from subprocess import PIPE
from typing import IO, Any

from domain.task import Limits

NOBODY = 65534
START_TIMEOUT_S = 60.0
MIB = 1 << 20

# Only these /etc entries are shown: the loader's cache, users and groups for
# getpwuid, name service and time zone config. resolv.conf is left out: no network.
ETC_FILES = (
    "alternatives", "group", "host.conf", "hosts", "ld.so.cache", "ld.so.conf",
    "ld.so.conf.d", "localtime", "nsswitch.conf", "os-release", "passwd",
)  # fmt: skip
TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")  # usually links to /usr
COMMON = ("--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop", "ALL")
UNPRIVILEGED = ("--unshare-all", "--unshare-user", "--disable-userns", *COMMON)
# Privileged: every namespace but the user one (see the module docstring), and the
# two capabilities that the shim needs to drop to nobody.
PRIVILEGED = (
    "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
    "--unshare-cgroup-try", *COMMON,
    "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
)  # fmt: skip

# The first process, inside the sandbox or (unsafe) outside. It signals "started" on
# a pipe just before the exec, so that a failure before it (bwrap's own setup) can be
# told apart from the command's failure, whatever either prints. In the sandbox it is
# pid 1 and stays: bwrap reaps pid 1 only with --as-pid-1, and the kernel hands us
# the CPU time and peak memory of a tree only if each process in it was reaped.
SHIM = """\
import ctypes, json, os, resource, sys
cfg = json.loads(sys.argv[1])
for name, soft, hard in cfg["limits"]:
    resource.setrlimit(getattr(resource, name), (soft, hard))
if cfg["init"] and (command := os.fork()):
    os.close(cfg["fd"])
    while (reaped := os.wait())[0] != command:  # orphans come here too
        pass
    code = os.waitstatus_to_exitcode(reaped[1])
    os._exit(code if code >= 0 else 128 - code)  # the rest die with pid 1
if cfg["uid"] is not None:
    os.setgroups([])
    os.setgid(cfg["uid"])
    os.setuid(cfg["uid"])
ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG = SIGKILL, set after the uid change
os.chdir(cfg["cwd"])  # as the final user: bwrap's own root may not enter its dir
for added in set(os.environ) - set(cfg["env"]):  # bwrap's PWD, our LC_CTYPE coercion
    del os.environ[added]
os.write(cfg["fd"], b"S")
os.close(cfg["fd"])
os.execvpe(sys.argv[2], sys.argv[2:], os.environ)
"""

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


class SandboxStartError(RuntimeError):
    """The sandbox could not start: an infrastructure fault, not the command's."""


def mode(spec: SandboxSpec) -> str:
    """How the process is isolated, as recorded in events."""
    return "bwrap" if spec.enabled else "none (--unsafe-no-sandbox)"


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
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session under `spec`; returns once the command is exec'd.

    Call it from a thread that outlives the process: the sandbox is killed when the
    thread that started it exits (PR_SET_PDEATHSIG follows the thread, not the process).
    """
    uid = NOBODY if spec.enabled and os.geteuid() == 0 else None
    if uid is not None:
        _hand_over(spec)
    ready_r, ready_w = os.pipe()
    config = _shim_config(spec, uid, ready_w, cwd, env)
    shim = [_interpreter(), "-I", "-S", "-c", SHIM, config]
    command = [*shim, *argv]
    if spec.enabled:
        command = [*_bwrap_argv(spec, privileged=uid is not None), "--", *command]
    try:
        proc = subprocess.Popen(
            command, env=dict(env), cwd=cwd, stdin=stdin, stdout=stdout,
            stderr=stderr, pass_fds=(ready_w,), start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(ready_w)
    _await_start(proc, ready_r)
    return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's group: bwrap takes its whole pid namespace down with it.

    Call it before the process is reaped: after that its group id may be reused.
    """
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _bwrap_argv(spec: SandboxSpec, *, privileged: bool) -> list[str]:
    """The bwrap command line, up to (not including) the command."""
    args = PRIVILEGED if privileged else UNPRIVILEGED
    mounts = _Mounts(tmpfs_bytes=spec.limits.file_mb * MIB)
    mounts.system()
    binds = {path: False for path in _python_dirs()}
    binds.update({path.absolute(): False for path in spec.read_only})
    binds[spec.work_dir.absolute()] = True
    for path in sorted(binds, key=lambda p: len(p.parts)):  # outer trees first
        mounts.bind(path, writable=binds[path])
    for path in _package_paths(spec.hide_packages):
        mounts.mask(path)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxStartError("bwrap is not installed (Debian package: bubblewrap)")
    return [bwrap, *args, *mounts.args, "--remount-ro", "/", "--chdir", "/"]


class _Mounts:
    """Accumulates bwrap mount options; parents it creates are made 0755, not 0700."""

    def __init__(self, tmpfs_bytes: int) -> None:
        self.args: list[str] = []
        self.bound: dict[Path, bool] = {}  # host trees shown, and whether writable
        self.made: set[Path] = set()  # empty dirs and tmpfs mounts made so far
        self.tmpfs_bytes = str(tmpfs_bytes)

    def system(self) -> None:
        self.bind(Path("/usr"), writable=False)
        for name in TOP_LEVEL:
            self._top_level(Path("/", name))
        self._dir(Path("/etc"))
        for name in ETC_FILES:
            self.args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        self.args += ["--proc", "/proc", "--dev", "/dev"]
        self.bound.update({Path("/proc"): False, Path("/dev"): False})
        self._tmpfs(Path("/tmp"))  # noqa: S108  (a private tmpfs inside the sandbox)
        self._tmpfs(Path("/dev/shm"))  # noqa: S108

    def bind(self, path: Path, *, writable: bool) -> None:
        if self._tree(path) is False and not writable:
            return  # already shown read-only
        for parent in reversed(path.parents[:-1]):  # outermost first, "/" left out
            if self._tree(parent) is None and parent not in self.made:
                self._dir(parent)
        self.args += ["--bind" if writable else "--ro-bind", str(path), str(path)]
        self.bound[path] = writable

    def mask(self, path: Path) -> None:
        """An empty unreadable dir over a package dir, /dev/null over a module file."""
        if path.is_dir():
            self.args += ["--perms", "0000", "--tmpfs", str(path)]
        else:
            self.args += ["--ro-bind", "/dev/null", str(path)]

    def _top_level(self, path: Path) -> None:
        if path.is_symlink():
            self.args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            self.bind(path, writable=False)

    def _tmpfs(self, path: Path) -> None:
        self.args += ["--perms", "1777", "--size", self.tmpfs_bytes]
        self.args += ["--tmpfs", str(path)]
        self.made.add(path)

    def _dir(self, path: Path) -> None:
        self.args += ["--perms", "0755", "--dir", str(path)]
        self.made.add(path)

    def _tree(self, path: Path) -> bool | None:
        """Whether the innermost tree showing `path` is writable; None if none does."""
        trees = [tree for tree in self.bound if path.is_relative_to(tree)]
        return self.bound[max(trees, key=lambda t: len(t.parts))] if trees else None


def _python_dirs() -> set[Path]:
    """The interpreter's installation and the venv, each bound whole."""
    found = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix}
    return {Path(p) for p in found} | {Path(_interpreter()).parent}


def _package_paths(names: Iterable[str]) -> list[Path]:
    """Every copy of each package on our sys.path, found without importing it."""
    found: set[Path] = set()
    for name in names:
        specs = [importlib.util.find_spec(name)]  # also what a meta-path finder knows
        specs += [PathFinder.find_spec(name, [entry]) for entry in sys.path]
        for spec in filter(None, specs):
            if spec.submodule_search_locations:
                found.update(Path(p) for p in spec.submodule_search_locations)
            elif spec.origin and os.path.isfile(spec.origin):
                found.add(Path(spec.origin))
    return sorted(found)


def _interpreter() -> str:
    """The real interpreter binary, which works without the venv (the shim's)."""
    return os.path.realpath(sys.executable)


def _shim_config(
    spec: SandboxSpec, uid: int | None, ready_fd: int, cwd: Path, env: Mapping[str, str]
) -> str:
    limits = spec.limits
    rlimits: list[tuple[str, int, int]] = [
        ("RLIMIT_AS", limits.memory_mb * MIB, limits.memory_mb * MIB),
        ("RLIMIT_NPROC", limits.processes, limits.processes),
        ("RLIMIT_FSIZE", limits.file_mb * MIB, limits.file_mb * MIB),
        ("RLIMIT_CORE", 0, 0),
    ]
    if spec.cpu_seconds is not None:  # SIGXCPU at the soft limit, SIGKILL 1 s later
        rlimits.append(("RLIMIT_CPU", spec.cpu_seconds, spec.cpu_seconds + 1))
    config = {"limits": rlimits, "uid": uid, "fd": ready_fd, "cwd": str(cwd)}
    # Names only: values may be secret, and a command line is public.
    return json.dumps({**config, "init": spec.enabled, "env": sorted(env)})


def _await_start(proc: subprocess.Popen[bytes], ready_r: int) -> None:
    """Wait for the shim's byte; without it, bwrap (or the shim) failed to set up."""
    poller = select.poll()
    poller.register(ready_r, select.POLLIN)
    try:
        ready = poller.poll(START_TIMEOUT_S * 1000)
        if ready and os.read(ready_r, 1) == b"S":
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


def _hand_over(spec: SandboxSpec) -> None:
    """Give the work dir to nobody; check that nobody can read the read-only extras."""
    for path in spec.read_only:  # a missing one is left for bwrap to report
        needed = 0o005 if path.is_dir() else 0o004
        if path.exists() and path.stat().st_mode & needed != needed:
            raise SandboxStartError(f"{path}: its mode keeps the sandbox user out")
    os.lchown(spec.work_dir, NOBODY, NOBODY)
    for parent, dirs, files in os.walk(spec.work_dir):  # lchown: links stay put
        for name in dirs + files:
            os.lchown(os.path.join(parent, name), NOBODY, NOBODY)


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[:500]
