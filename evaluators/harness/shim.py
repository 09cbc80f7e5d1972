"""The first process of every sandbox: limits, capabilities, uid, then the command.

It runs inside the sandbox or (unsafe) outside. It signals "started" on a pipe just
before the exec, so that a failure before it (bwrap's own setup) can be told apart from
the command's failure, whatever either prints; the pipe closes on a successful exec, and
a failed one (the harness's interpreter gone) is written to it, so the command never
started is not mistaken for the command failing. Nothing the command does can write
there: the pipe is closed before any of its code runs. In the sandbox it is pid 1 and stays:
bwrap reaps pid 1 only with --as-pid-1, and the kernel hands us the CPU time and peak
memory of a tree only if each process in it was reaped. As root it empties the
capability bounding set, keeps uid 0 for pid 1 but with no capability at all (so the
command, another uid, cannot touch it), and drops the command to the sandbox's uid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from domain.task import Limits

MIB = 1 << 20

SHIM = """\
import ctypes, json, os, resource, sys
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def check(result, call):
    if result != 0:
        raise OSError(ctypes.get_errno(), call)
def no_caps():  # capset, v3 header: effective, permitted, inheritable all empty
    check(libc.capset((ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()), "capset")
for name, soft, hard in cfg["limits"]:
    resource.setrlimit(getattr(resource, name), (soft, hard))
if cfg["uid"] is not None:  # empty the bounding set: no exec can regain a capability
    for cap in range(int(open("/proc/sys/kernel/cap_last_cap").read()) + 1):
        check(libc.prctl(24, cap, 0, 0, 0), "PR_CAPBSET_DROP")
if cfg["init"] and (command := os.fork()):
    os.close(cfg["fd"])
    if cfg["uid"] is not None:
        no_caps()
    while (reaped := os.wait())[0] != command:  # orphans come here too
        pass
    code = os.waitstatus_to_exitcode(reaped[1])
    os._exit(code if code >= 0 else 128 - code)  # the rest die with pid 1
if cfg["uid"] is not None:
    os.setgroups([])
    os.setgid(cfg["uid"])
    os.setuid(cfg["uid"])
    no_caps()
libc.prctl(1, 9)  # PR_SET_PDEATHSIG = SIGKILL, set after the uid change
os.chdir(cfg["cwd"])  # as the final user: bwrap's own root may not enter its dir
for added in set(os.environ) - set(cfg["env"]):  # bwrap's PWD, our LC_CTYPE coercion
    del os.environ[added]
os.write(cfg["fd"], b"S")
os.set_inheritable(cfg["fd"], False)  # closed by a successful exec: the harness reads EOF
try:
    os.execvpe(sys.argv[2], sys.argv[2:], os.environ)
except OSError as error:  # the harness's command could not start: no recipe code ran
    os.write(cfg["fd"], f"X{type(error).__name__}: {error}".encode(errors="replace"))
    os._exit(127)
"""


def config(
    limits: Limits,
    cpu_seconds: int | None,
    uid: int | None,
    ready_fd: int,
    cwd: Path,
    env: Mapping[str, str],
    nproc: bool,
    sandboxed: bool,
) -> str:
    """The shim's one argument: rlimits, the uid to become, the start pipe, cwd."""
    memory = limits.memory_mb - (limits.tmpfs_mb if sandboxed else 0)  # tmpfs is RAM
    rlimits: list[tuple[str, int, int]] = [
        ("RLIMIT_AS", memory * MIB, memory * MIB),
        ("RLIMIT_FSIZE", limits.file_mb * MIB, limits.file_mb * MIB),
        ("RLIMIT_CORE", 0, 0),
    ]
    if nproc:
        rlimits.append(("RLIMIT_NPROC", limits.processes, limits.processes))
    if cpu_seconds is not None:  # SIGXCPU at the soft limit, SIGKILL 1 s later
        rlimits.append(("RLIMIT_CPU", cpu_seconds, cpu_seconds + 1))
    settings = {"limits": rlimits, "uid": uid, "fd": ready_fd, "cwd": str(cwd)}
    # Names only: values may be secret, and a command line is public.
    return json.dumps({**settings, "init": sandboxed, "env": sorted(env)})
