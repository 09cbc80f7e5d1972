"""The bubblewrap sandbox, checked with real sandboxes running real processes."""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import uuid
from ast import literal_eval
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE

import pytest

from domain.task import Limits
from evaluators.harness import mounts, sandbox, slots
from evaluators.harness.process import run_measured
from evaluators.harness.sandbox import SandboxSpec, SandboxStartError, kill, popen
from tests.sandbox_support import AS_ROOT, ENV, needs_bwrap

REPO = Path(__file__).resolve().parents[2]

pytestmark = needs_bwrap


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def start(
    code: str, spec: SandboxSpec, *, env: dict[str, str] = ENV, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-c", textwrap.dedent(code)]
    where = cwd or spec.work_dir
    return popen(argv, spec, env=env, cwd=where, stdout=PIPE, stderr=PIPE)


def run(
    code: str, spec: SandboxSpec, *, env: dict[str, str] = ENV, cwd: Path | None = None
) -> tuple[int, str, str]:
    proc = start(code, spec, env=env, cwd=cwd)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out.decode(), err.decode()


def lines_of(code: str, spec: SandboxSpec) -> list[str]:
    rc, out, err = run(code, spec)
    assert rc == 0, err
    return out.splitlines()


# Network, filesystem, /proc and /dev.


def test_no_network_not_even_loopback_to_the_host(work: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # open here
        code = f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                print("connected")
            except OSError:
                print("refused")
            print(sorted(name for _, name in socket.if_nameindex()))
            try:
                socket.getaddrinfo("example.com", 80)
                print("resolved")
            except OSError:
                print("no dns")
        """
        assert lines_of(code, SandboxSpec(work_dir=work)) == [
            "refused", "['lo']", "no dns"
        ]  # fmt: skip


def test_only_the_work_dir_and_a_private_tmp_are_writable(tmp_path: Path) -> None:
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    data.mkdir()
    host_tmp = Path("/tmp", f"host-{uuid.uuid4().hex}")
    host_tmp.write_text("host")
    inside_tmp = f"/tmp/inside-{uuid.uuid4().hex}"
    code = f"""
        import os, sys
        shared = ["/", "/usr", "/etc", sys.prefix, {str(data)!r}]
        for folder in [*shared, {str(work)!r}, "/tmp"]:
            try:
                with open(os.path.join(folder, "probe"), "w") as f:
                    f.write("x")
                print("wrote", folder)
            except OSError:
                print("refused", folder)
        open({inside_tmp!r}, "w").close()
        print(os.path.exists({str(host_tmp)!r}))
    """
    try:
        lines = lines_of(code, SandboxSpec(work_dir=work, read_only=(data,)))
    finally:
        host_tmp.unlink()
    wrote = [line.split()[1] for line in lines if line.startswith("wrote")]
    assert wrote == [str(work), "/tmp"]
    assert lines[-1] == "False"  # the host's /tmp is not the sandbox's
    assert (work / "probe").exists()
    assert not Path(inside_tmp).exists()


def test_the_filesystem_is_an_allow_list(tmp_path: Path) -> None:
    work, heldout, runs = tmp_path / "work", tmp_path / "heldout", tmp_path / "runs"
    for folder in (work, heldout, runs):
        folder.mkdir()
    (heldout / "val.bin").write_bytes(b"secret")
    (runs / "ledger.sqlite").write_bytes(b"events")
    code = f"""
        import os
        for path in [{str(heldout)!r}, {str(runs)!r}, {str(REPO / "domain")!r},
                     {str(REPO / "pyproject.toml")!r}, "/home", "/var", "/opt"]:
            print(path, os.path.exists(path))
        print(sorted(os.listdir("/")))
        print(sorted(os.listdir("/etc")))
        repo = {str(REPO)!r}  # absent unless the venv lies in it (a worktree's may not)
        print(sorted(os.listdir(repo)) if os.path.isdir(repo) else [])
        print(sorted(os.listdir("/root")) if os.path.isdir("/root") else [])
    """
    lines = lines_of(code, SandboxSpec(work_dir=work))
    assert all(line.endswith(" False") for line in lines[:7]), lines
    shown_roots = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc"}
    shown_roots |= {"proc", "dev", "tmp"}
    for path in (sys.prefix, sys.base_prefix, str(work)):
        shown_roots.add(Path(path).parts[1])
    assert set(literal_eval(lines[7])) <= shown_roots
    assert set(literal_eval(lines[8])) <= set(mounts.ETC_FILES)
    venv_in_repo = Path(sys.prefix).is_relative_to(REPO)
    expected = [Path(sys.prefix).relative_to(REPO).parts[0]] if venv_in_repo else []
    assert literal_eval(lines[9]) == expected  # the repo shows only the venv
    under_root = {Path(p).relative_to("/root").parts[0] for p in _python_dirs_under_root()}
    assert set(literal_eval(lines[10])) == under_root  # /root shows only Python's path


def _python_dirs_under_root() -> list[str]:
    prefixes = (sys.prefix, sys.base_prefix)
    return [p for p in prefixes if Path(p).is_relative_to("/root")]


def test_proc_and_dev_are_minimal(work: Path) -> None:
    code = """
        import os
        print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        print(sorted(os.listdir("/dev")))
    """
    pids, devices = lines_of(code, SandboxSpec(work_dir=work))
    assert literal_eval(pids) == [1, 2]  # the shim as pid 1, and the command
    minimal = {"console", "core", "fd", "full", "mqueue", "null", "ptmx", "pts"}
    minimal |= {"random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"}
    assert set(literal_eval(devices)) <= minimal  # no disks, no /dev/mem


def test_env_and_cwd_are_exactly_what_was_asked(work: Path) -> None:
    inner = work / "sub"
    inner.mkdir()
    env = {**ENV, "AUTORECIPE_SEED": "7"}
    spec = SandboxSpec(work_dir=work)
    # env(1), not Python: Python itself adds LC_CTYPE in a C locale.
    proc = popen(["env"], spec, env=env, cwd=inner, stdout=PIPE)
    out, _err = proc.communicate(timeout=30)
    assert sorted(out.decode().splitlines()) == [f"{k}={v}" for k, v in sorted(env.items())]
    _rc, cwd, _stderr = run("import os; print(os.getcwd())", spec, cwd=inner)
    assert cwd.strip() == str(inner)


# Hidden packages.


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package with data and a one-file module, importable here and (shown) inside."""
    folder = tmp_path / "site"
    texts = folder / "fakecorpus" / "texts"
    texts.mkdir(parents=True)
    (folder / "fakecorpus" / "__init__.py").write_text("")
    (texts / "play.txt").write_text("To be, or not to be")
    (folder / "fakemodule.py").write_text("DATA = 'held out'\n")
    monkeypatch.syspath_prepend(str(folder))
    return folder


READ_HIDDEN = """
    import importlib, importlib.resources

    def attempt(label, read):
        try:
            print(read().strip())
        except (OSError, ImportError) as error:
            print(label + ":", type(error).__name__)

    texts = lambda: importlib.resources.files("fakecorpus") / "texts"
    attempt("resources", lambda: (texts() / "play.txt").read_text())
    attempt("path", lambda: open({play!r}).read())
    attempt("module", lambda: importlib.import_module("fakemodule").DATA)
    attempt("module path", lambda: open({module!r}).read())
"""


@pytest.mark.parametrize("hidden", [False, True])
def test_hidden_packages_cannot_be_imported_or_read(site: Path, work: Path, hidden: bool) -> None:
    names = ("fakecorpus", "fakemodule") if hidden else ()
    spec = SandboxSpec(work_dir=work, read_only=(site,), hide_packages=names)
    play, module = site / "fakecorpus" / "texts" / "play.txt", site / "fakemodule.py"
    code = READ_HIDDEN.format(play=str(play), module=str(module))
    rc, out, err = run(code, spec, env={**ENV, "PYTHONPATH": str(site)})
    assert rc == 0, err
    if hidden:  # an empty, unreadable package dir; /dev/null (nodev) over the module
        assert out.splitlines() == [
            "resources: PermissionError", "path: PermissionError",
            "module: ModuleNotFoundError", "module path: PermissionError",
        ]  # fmt: skip
    else:  # the control: without the masks the same code reads everything
        assert out.splitlines() == [
            "To be, or not to be", "To be, or not to be",
            "held out", "DATA = 'held out'",
        ]  # fmt: skip


def test_every_copy_of_a_hidden_package_is_masked(
    tmp_path: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        (folder / "fakecopy.py").write_text(f"WHERE = {folder.name!r}\n")
        monkeypatch.syspath_prepend(str(folder))
    # Inside, the copy that our own import would not find comes first.
    pythonpath = f"{first}:{second}" if sys.path[0] == str(second) else f"{second}:{first}"
    spec = SandboxSpec(work_dir=work, read_only=(first, second), hide_packages=("fakecopy",))
    code = """
        try:
            import fakecopy
            print(fakecopy.WHERE)
        except ImportError as error:
            print(type(error).__name__)
    """
    rc, out, err = run(code, spec, env={**ENV, "PYTHONPATH": pythonpath})
    assert rc == 0, err
    assert out.strip() == "ModuleNotFoundError"


# Limits.


def test_rlimits_are_set_inside(work: Path) -> None:
    limits = Limits(memory_mb=1024, processes=32, file_mb=8, tmpfs_mb=256)
    code = """
        import resource
        for name in ("AS", "NPROC", "FSIZE", "CPU", "CORE"):
            print(resource.getrlimit(getattr(resource, "RLIMIT_" + name)))
    """
    spec = SandboxSpec(work_dir=work, limits=limits, cpu_seconds=30)
    assert lines_of(code, spec) == [  # RLIMIT_AS leaves room for /tmp and /dev/shm
        str((768 << 20, 768 << 20)), "(32, 32)", str((8 << 20, 8 << 20)),
        "(30, 31)", "(0, 0)",
    ]  # fmt: skip


def test_memory_and_file_size_limits_bite(work: Path) -> None:
    code = """
        try:
            block = bytearray(1 << 30)
        except MemoryError:
            print("MemoryError")
        try:
            with open("big", "wb") as f:
                f.write(b"x" * (3 << 20))
        except OSError as error:
            print(error.errno)
    """
    spec = SandboxSpec(work_dir=work, limits=Limits(memory_mb=512, file_mb=2))
    assert lines_of(code, spec) == ["MemoryError", "27"]  # 27: EFBIG
    assert (work / "big").stat().st_size == 2 << 20


def test_the_process_limit_stops_a_fork_loop(work: Path) -> None:
    code = """
        import os, time
        started = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
                started += 1
        except BlockingIOError:
            pass
        print(started)
    """
    spec = SandboxSpec(work_dir=work, limits=Limits(processes=16))
    (started,) = lines_of(code, spec)
    # Enforced although the harness runs as root (the shim and the command count too).
    assert 1 <= int(started) < 16


def test_the_cpu_limit_kills_with_sigxcpu(work: Path) -> None:
    spec = SandboxSpec(work_dir=work, cpu_seconds=1)
    rc, _out, _err = run("while True: pass", spec)
    assert rc == 128 + signal.SIGXCPU  # bwrap's way of saying "killed by SIGXCPU"


@pytest.mark.skipif(not AS_ROOT, reason="the uid drop happens only as root")
def test_as_root_the_code_runs_as_its_own_uid_and_owns_the_work_dir(work: Path) -> None:
    (work / "staged").mkdir()
    (work / "staged" / "train.py").write_text("print('seed')\n")
    code = """
        import os
        print(os.getuid(), os.getgid(), os.getgroups())
        with open("staged/train.py", "a") as f:
            f.write("# edited inside\\n")
    """
    (line,) = lines_of(code, SandboxSpec(work_dir=work))
    uid, gid, groups = line.split(" ", 2)
    assert uid == gid
    assert groups == "[]"
    if slots.own_uids():
        assert slots.UID_BASE <= int(uid) < slots.UID_BASE + slots.SLOTS
    else:
        assert int(uid) == slots.NOBODY
    assert (work / "staged" / "train.py").stat().st_uid == int(uid)


@pytest.mark.skipif(not AS_ROOT, reason="only nobody is kept out by file modes")
def test_a_read_only_path_nobody_can_read_is_refused_up_front(tmp_path: Path, work: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(SandboxStartError, match="keeps the sandbox user out"):
        start("pass", SandboxSpec(work_dir=work, read_only=(private,)))


def test_torch_imports_and_multiplies_under_the_default_limits(work: Path) -> None:
    pytest.importorskip("torch")
    code = """
        import torch
        a = torch.ones(64, 64)
        print(int((a @ a)[0, 0]))
    """
    assert lines_of(code, SandboxSpec(work_dir=work)) == ["64"]


# Start failures: bwrap's own versus the command's.


def test_a_bwrap_setup_failure_raises_sandbox_start_error(tmp_path: Path, work: Path) -> None:
    spec = SandboxSpec(work_dir=work, read_only=(tmp_path / "missing",))
    with pytest.raises(SandboxStartError, match="bwrap: Can't find source path"):
        start("pass", spec)
    with pytest.raises(SandboxStartError, match="bwrap: Can't find source path"):
        run_measured(
            [sys.executable, "-c", "pass"], spec, env=ENV, cwd=work, timeout_s=10,
            log_path=tmp_path / "log",
        )  # fmt: skip


def test_a_command_that_imitates_bwrap_is_just_a_failing_command(work: Path) -> None:
    code = "import sys; sys.stderr.write('bwrap: Can\\'t find source path\\n'); exit(1)"
    rc, _out, err = run(code, SandboxSpec(work_dir=work))
    assert rc == 1
    assert err.startswith("bwrap:")


@pytest.mark.parametrize("enabled", [True, False], ids=["sandboxed", "unsafe"])
def test_a_command_that_cannot_start_is_a_start_failure_not_the_commands(
    tmp_path: Path, work: Path, enabled: bool
) -> None:
    """The harness's own interpreter gone (a venv rebuilt under a running search) once
    passed for the recipe's import failing: 20 trials recorded preflight_crash."""
    gone = str(tmp_path / "venv" / "bin" / "python")
    spec = SandboxSpec(work_dir=work, enabled=enabled)
    match = "the command could not start: FileNotFoundError"
    with pytest.raises(SandboxStartError, match=match):
        popen([gone, "-c", "pass"], spec, env=ENV, cwd=work, stdout=PIPE, stderr=PIPE)
    with pytest.raises(SandboxStartError, match=match):
        run_measured(
            [gone, "-c", "pass"], spec, env=ENV, cwd=work, timeout_s=10,
            log_path=tmp_path / "log",
        )  # fmt: skip


def test_a_command_that_exits_127_itself_is_just_a_failing_command(work: Path) -> None:
    """The attack: exit as a shell does for "not found", to pass for the harness's fault
    (harness_abort is never counted against an idea)."""
    code = "import sys; sys.stderr.write('FileNotFoundError: python\\n'); sys.exit(127)"
    rc, _out, err = run(code, SandboxSpec(work_dir=work))
    assert rc == 127
    assert err.startswith("FileNotFoundError")


@pytest.fixture
def no_probe_cache() -> Iterator[None]:
    sandbox.bwrap_problem.cache_clear()
    yield
    sandbox.bwrap_problem.cache_clear()


@pytest.mark.usefixtures("no_probe_cache")
def test_bwrap_problem_runs_a_sandbox_rather_than_finding_the_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "bwrap"  # present and executable, but cannot sandbox
    fake.parent.mkdir()
    message = "bwrap: No permissions to create new namespace"
    fake.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(fake.parent))
    problem = sandbox.bwrap_problem()
    assert problem is not None
    assert "No permissions to create new namespace" in problem
    monkeypatch.setenv("PATH", str(tmp_path))
    sandbox.bwrap_problem.cache_clear()
    assert "not installed" in (sandbox.bwrap_problem() or "")


# Nothing outlives the sandbox.

DOUBLE_FORK = """
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:  # a daemon: own session, parent gone, holds stdout
            print(os.getpid(), flush=True)
            open("daemon-up", "w").close()
            time.sleep(60)
        os._exit(0)
    while not os.path.exists("daemon-up"):  # then the main process ends
        time.sleep(0.01)
"""


def test_a_double_forked_daemon_dies_with_the_sandbox(work: Path) -> None:
    proc = start(DOUBLE_FORK, SandboxSpec(work_dir=work))
    out, _err = proc.communicate(timeout=10)  # end of file: no writer is left
    assert proc.returncode == 0
    assert out.strip()


def test_unsafe_mode_cannot_catch_a_daemon(work: Path) -> None:
    """The documented limit of --unsafe-no-sandbox; the control for the test above."""
    proc = start(DOUBLE_FORK, SandboxSpec(work_dir=work, enabled=False))
    assert proc.stdout is not None
    daemon = int(proc.stdout.readline())
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.communicate(timeout=2)
    finally:
        os.kill(daemon, signal.SIGKILL)
        proc.communicate(timeout=10)


@pytest.mark.parametrize("enabled", [True, False])
def test_kill_takes_down_the_process_and_its_children(work: Path, enabled: bool) -> None:
    code = """
        import os, time
        if os.fork() == 0:  # same session and group, holds stdout
            time.sleep(60)
        print("up", flush=True)
        time.sleep(60)
    """
    proc = start(code, SandboxSpec(work_dir=work, enabled=enabled))
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"up\n"
    kill(proc)
    proc.communicate(timeout=10)  # end of file: the child is gone as well
    assert proc.returncode == -signal.SIGKILL


def test_killing_the_python_parent_kills_the_sandbox(work: Path) -> None:
    helper = f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from evaluators.harness.sandbox import SandboxSpec, popen
        work = Path({str(work)!r})
        code = "import time; print('sandbox up', flush=True); time.sleep(60)"
        popen([sys.executable, "-c", code], SandboxSpec(work_dir=work),
              env={ENV!r}, cwd=work)  # inherits our stdout
        time.sleep(60)
    """
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(helper)], stdout=PIPE)
    assert parent.stdout is not None
    assert parent.stdout.readline() == b"sandbox up\n"
    parent.kill()
    parent.wait()
    # Only the sandbox still holds the pipe now: end of file means it died too.
    ready, _, _ = select.select([parent.stdout], [], [], 10)
    assert ready, "the sandbox outlived its parent"
    assert parent.stdout.read() == b""


# Measurement through the sandbox.


def test_run_measured_sees_the_sandboxed_tree(tmp_path: Path, work: Path) -> None:
    code = """
        import os, time
        block = bytearray(200 << 20)
        start = time.process_time()
        while time.process_time() - start < 0.5:
            pass
        os.kill(os.getpid(), 9)
    """
    report = run_measured(
        [sys.executable, "-c", textwrap.dedent(code)], SandboxSpec(work_dir=work),
        env=ENV, cwd=work, timeout_s=20, log_path=tmp_path / "log",
    )  # fmt: skip
    assert report.rc == -signal.SIGKILL
    assert not report.timed_out
    assert report.cpu_s >= 0.45  # reaped through pid 1 and bwrap, so it reaches us
    assert report.peak_rss_mb >= 200


def test_a_sandbox_killed_at_the_cap_still_reports_its_usage(tmp_path: Path, work: Path) -> None:
    code = "block = bytearray(100 << 20)\nwhile True: pass"
    report = run_measured(
        [sys.executable, "-c", code], SandboxSpec(work_dir=work),
        env=ENV, cwd=work, timeout_s=1, log_path=tmp_path / "log",
    )  # fmt: skip
    assert report.timed_out
    assert report.rc == -signal.SIGKILL
    assert report.cpu_s >= 0.2  # not lost: pid 1 reaped the command, bwrap pid 1
    assert report.peak_rss_mb >= 100


def test_run_measured_reports_a_cpu_limit_as_sigxcpu(tmp_path: Path, work: Path) -> None:
    report = run_measured(
        [sys.executable, "-c", "while True: pass"],
        SandboxSpec(work_dir=work, cpu_seconds=1),
        env=ENV, cwd=work, timeout_s=20, log_path=tmp_path / "log",
    )  # fmt: skip
    assert report.rc == -signal.SIGXCPU
    assert not report.timed_out


def test_mode_names_the_isolation(work: Path) -> None:
    assert sandbox.mode(SandboxSpec(work_dir=work)) == "bwrap"
    unsafe = SandboxSpec(work_dir=work, enabled=False)
    assert sandbox.mode(unsafe) == "none (--unsafe-no-sandbox)"
