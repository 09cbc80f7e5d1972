"""What confines a sandbox beyond its filesystem: privileges, a process limit of its own,
a memory limit for its tree, and caps on its work dir. Real sandboxes, real processes;
the cgroup path and the rlimit fallback are both run where the machine allows."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE

import pytest

from domain.task import Limits
from evaluators.harness import cgroup, sandbox, slots
from evaluators.harness.process import run_measured
from evaluators.harness.sandbox import SandboxSpec, popen
from tests.sandbox_support import AS_ROOT, ENV, needs_bwrap

pytestmark = needs_bwrap


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture(params=["cgroup", "rlimits"])
def method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test twice: with a cgroup per sandbox (where we may) and forced without."""
    cgroup.detect.cache_clear()
    if request.param == "rlimits":
        monkeypatch.setenv("AUTORECIPE_CGROUPS", "off")
    elif cgroup.detect() is None:
        pytest.skip(f"no cgroup we may write here: {cgroup.describe()}")
    yield request.param
    cgroup.detect.cache_clear()


def start(code: str, spec: SandboxSpec, **streams: object) -> sandbox.Sandboxed:
    argv = [sys.executable, "-c", textwrap.dedent(code)]
    return popen(argv, spec, env=ENV, cwd=spec.work_dir, **streams)  # type: ignore[arg-type]


def output(code: str, spec: SandboxSpec) -> str:
    proc = start(code, spec, stdout=PIPE, stderr=PIPE)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


# Privileges.

PRIVILEGES = """
    import os
    def status(pid):
        rows = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
        keys = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
        return [rows[k].strip() for k in keys]
    print(status("self"), status(1))
"""


def test_no_capability_is_left_not_even_in_the_bounding_set(work: Path) -> None:
    mine, pid1 = output(PRIVILEGES, SandboxSpec(work_dir=work)).split("] [")
    empty = ["0000000000000000"] * 5
    assert mine.strip("[]").replace("'", "").split(", ") == [*empty, "1", "2"]  # filtered
    assert pid1.strip("[]").replace("'", "").split(", ") == [*empty, "1", "2"]


ESCAPES = """
    import ctypes, errno, os
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWUSER, CLONE_NEWNS, SIGCHLD = 0x10000000, 0x20000, 17
    def attempt(name, call):
        result = call()
        print(name, "succeeded" if result >= 0 else errno.errorcode[ctypes.get_errno()])
    attempt("unshare user", lambda: libc.unshare(CLONE_NEWUSER))
    attempt("unshare user+mount", lambda: libc.unshare(CLONE_NEWUSER | CLONE_NEWNS))
    attempt("clone user", lambda: libc.syscall(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0))
    attempt("clone3", lambda: libc.syscall(435, 0, 0))
    attempt("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
    attempt("setns", lambda: libc.setns(os.open("/proc/self/ns/mnt", os.O_RDONLY), 0))
    import subprocess, threading
    threading.Thread(target=print, args=("threads still start",)).start()
    print(subprocess.run(["true"]).returncode == 0 and "processes still start")
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="raw syscall numbers of x86-64")
def test_no_user_namespace_no_mount_no_namespace_join(work: Path) -> None:
    lines = output(ESCAPES, SandboxSpec(work_dir=work)).splitlines()
    assert lines == [
        "unshare user EPERM", "unshare user+mount EPERM", "clone user EPERM",
        "clone3 ENOSYS", "mount EPERM", "setns EPERM",
        "threads still start", "processes still start",
    ]  # fmt: skip


# A process limit of its own.

HOLD_FORKS = """
    import os, sys, time
    started = 0
    try:
        for _ in range({n}):
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            started += 1
    except BlockingIOError:
        pass
    print(os.getuid(), started, flush=True)
    time.sleep(30)
"""


def test_a_fork_bomb_in_one_sandbox_leaves_the_next_its_own_process_limit(
    tmp_path: Path, method: str
) -> None:
    if method == "rlimits" and not (AS_ROOT and slots.own_uids()):
        pytest.skip("without a cgroup, only a uid per sandbox (as root) separates them")
    limits = Limits(processes=12)
    specs = [SandboxSpec(work_dir=tmp_path / n, limits=limits) for n in ("bomb", "next")]
    for spec in specs:
        spec.work_dir.mkdir()
    bomb = start(HOLD_FORKS.format(n=200), specs[0], stdout=PIPE)
    try:
        assert bomb.stdout is not None
        bomb_uid, forked = bomb.stdout.readline().split()
        assert 1 <= int(forked) < 12  # it met its limit and holds every process
        second = start(HOLD_FORKS.format(n=6), specs[1], stdout=PIPE)
        assert second.stdout is not None
        next_uid, next_forked = second.stdout.readline().split()
        sandbox.kill(second)
        second.wait()
    finally:
        sandbox.kill(bomb)
        bomb.wait()
    assert int(next_forked) == 6  # its own limit, untouched by the bomb
    if AS_ROOT and slots.own_uids():
        assert bomb_uid != next_uid


# Memory: the whole tree and its tmpfs.

TREE = """
    import os, time
    with open("/dev/shm/fill", "wb") as f:  # tmpfs: RAM no RLIMIT_AS sees
        f.write(b"x" * (100 << 20))
    children = []
    for _ in range(3):  # each under RLIMIT_AS; together over memory_mb
        if (pid := os.fork()) == 0:
            block = bytearray(250 << 20)
            time.sleep(1)
            os._exit(0)
        children.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    print(codes)
"""


def test_a_cgroup_counts_the_tree_and_its_tmpfs_where_rlimits_cannot(
    work: Path, method: str
) -> None:
    spec = SandboxSpec(work_dir=work, limits=Limits(memory_mb=600, tmpfs_mb=256))
    assert sandbox.confinement(spec).startswith(
        "cgroup v" if method == "cgroup" else "rlimits only"
    )
    codes = output(TREE, spec)
    if method == "cgroup":
        assert -signal.SIGKILL in eval(codes)  # noqa: S307  the kernel's OOM killer
    else:  # the documented gap of the fallback: per-process limits only
        assert codes == "[0, 0, 0]"


def test_a_sandbox_cgroup_is_removed_after_it_exits(work: Path, method: str) -> None:
    if method == "rlimits":
        pytest.skip("no cgroup to remove")
    layout = cgroup.detect()
    assert layout is not None
    ours = f"{cgroup.PREFIX}{os.getpid()}-"
    output("pass", SandboxSpec(work_dir=work))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [e for p in layout.parents.values() for e in p.iterdir() if e.name.startswith(ours)]
        if not left:
            break
        time.sleep(0.1)
    assert not left


# The work dir's caps, during training and during evaluation alike.

WRITE_MUCH = """
    import time
    for i in range(100):
        with open(f"part{i}", "wb") as f:
            f.write(b"x" * (3 << 20))
    time.sleep(30)
"""
MANY_FILES = """
    import time
    for i in range(5000):
        open(f"f{i}", "w").close()
    time.sleep(30)
"""


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize(
    ("code", "limit", "cap"),
    [(WRITE_MUCH, "work_dir_bytes", 16 << 20), (MANY_FILES, "work_dir_files", 500)],
)
def test_a_run_past_a_work_dir_cap_is_stopped_and_says_which(
    tmp_path: Path, work: Path, enabled: bool, code: str, limit: str, cap: int
) -> None:
    limits = Limits(file_mb=4, work_dir_mb=16, work_dir_files=500)
    report = run_measured(
        [sys.executable, "-c", textwrap.dedent(code)],
        SandboxSpec(work_dir=work, limits=limits, enabled=enabled),
        env=ENV, cwd=work, timeout_s=25, log_path=tmp_path / "log",
    )  # fmt: skip
    assert not report.timed_out
    assert report.rc == -signal.SIGKILL
    assert report.breach is not None
    assert (report.breach.limit, report.breach.cap) == (limit, cap)
    assert report.breach.measured > cap
    assert "autorecipe: stopped: the work dir passed its" in report.log_tail


def test_a_model_server_past_a_cap_says_so_in_its_log(tmp_path: Path, work: Path) -> None:
    """Evaluation starts servers with popen and a log file, not run_measured."""
    limits = Limits(file_mb=4, work_dir_mb=16)
    log = tmp_path / "server.log"
    with log.open("wb") as stderr:
        proc = start(WRITE_MUCH, SandboxSpec(work_dir=work, limits=limits), stderr=stderr)
        proc.wait(timeout=25)
    assert proc.breach is not None
    assert proc.breach.limit == "work_dir_bytes"
    assert "autorecipe: stopped: the work dir passed its 16 MiB cap" in log.read_text()


def test_private_tmp_and_shm_share_the_tmpfs_budget(work: Path) -> None:
    code = """
        import errno
        for folder in ("/tmp", "/dev/shm"):
            try:
                with open(folder + "/fill", "wb") as f:
                    f.write(b"x" * (40 << 20))
                print(folder, "fit")
            except OSError as error:
                print(folder, errno.errorcode[error.errno])
    """
    spec = SandboxSpec(work_dir=work, limits=Limits(tmpfs_mb=64))
    assert output(code, spec).splitlines() == ["/tmp ENOSPC", "/dev/shm ENOSPC"]  # 32 MiB each
    assert output(code, SandboxSpec(work_dir=work)).splitlines() == ["/tmp fit", "/dev/shm fit"]


def test_the_confinement_is_described_for_the_record(work: Path, method: str) -> None:
    text = sandbox.confinement(SandboxSpec(work_dir=work))
    if method == "rlimits":
        assert text.startswith("rlimits only (no cgroup we may write)")
    else:
        assert text.startswith("cgroup v")
    assert "seccomp" in text
