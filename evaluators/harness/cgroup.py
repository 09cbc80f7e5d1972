"""A cgroup per sandbox: one process limit and one memory limit for its whole tree.

rlimits are per process (RLIMIT_AS) or per uid (RLIMIT_NPROC); a cgroup counts the
tree, and its memory counts the private /tmp and /dev/shm pages its processes write.
Where we may create cgroups, each sandbox gets its own, made under the cgroup we run in
(never moved out of it, so an outer limit still holds), with pids.max = processes and
memory = memory_mb (swap off where the kernel lets us say so). The sandbox's first
process joins it before it execs bwrap, so nothing escapes by forking early.

Detection, in order: cgroup v2 where our cgroup delegates pids and memory to children;
cgroup v1 with writable pids and memory hierarchies; otherwise none, and the sandbox
relies on rlimits alone. AUTORECIPE_CGROUPS=off forces the fallback (and its tests).
The method in use is recorded with each trial (`describe`).

The tree's CPU time is read here too (evaluators.harness.cpuclock): v2 keeps it in cpu.stat
(usage_usec) of the same folder; on v1 a group also joins a writable cpuacct hierarchy
(cpuacct.usage) where there is one.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

from domain.task import Limits

CONTROLLERS = ("pids", "memory")
OPTIONAL_V1 = ("cpuacct",)  # CPU accounting: joined where writable, else /proc is polled
PREFIX = "autorecipe-"
STALE_S = 60.0  # an empty group this old is a leftover; younger ones may be starting
REMOVE_WAIT_S = 10.0
_counter = itertools.count()


@dataclass(frozen=True)
class Layout:
    """Where new groups go: one parent folder per controller (one folder on v2)."""

    version: int
    parents: dict[str, Path]

    def describe(self) -> str:
        return f"cgroup v{self.version} (pids.max, memory) per sandbox"


@functools.cache
def detect() -> Layout | None:
    if os.environ.get("AUTORECIPE_CGROUPS", "").lower() == "off":
        return None
    mounts, ours = _mounts(), _own_paths()
    return _v2(mounts, ours) or _v1(mounts, ours)


def describe() -> str:
    layout = detect()
    return layout.describe() if layout else "rlimits only (no cgroup we may write)"


class Group:
    """One sandbox's cgroup: made with its limits, joined before exec, removed after."""

    def __init__(self, layout: Layout, limits: Limits) -> None:
        name = f"{PREFIX}{os.getpid()}-{next(_counter)}"
        self.version = layout.version
        self.by_controller = {c: parent / name for c, parent in layout.parents.items()}
        self.dirs = sorted(set(self.by_controller.values()))  # one folder on v2
        self.procs_fds: list[int] = []
        for parent in set(layout.parents.values()):
            _sweep(parent)
        try:
            for folder in self.dirs:
                folder.mkdir()
                self.procs_fds.append(os.open(folder / "cgroup.procs", os.O_WRONLY))
            self._limit(layout.version, limits)
        except OSError:
            self.remove()
            raise

    @property
    def cpu_usage(self) -> Path | None:
        """The file holding the group's CPU time, if this layout has one."""
        if "cpuacct" in self.by_controller:
            return self.by_controller["cpuacct"] / "cpuacct.usage"
        if self.version == 2:  # one folder, where cpu.stat is always kept
            return self.dirs[0] / "cpu.stat"
        return None

    def enter(self) -> None:
        """Run in the child between fork and exec: "0" moves the writing process."""
        for fd in self.procs_fds:
            os.write(fd, b"0")

    def remove(self, wait_s: float = 0.0) -> bool:
        """Remove the folders once their processes are gone; False if still busy."""
        for fd in self.procs_fds:
            os.close(fd)
        self.procs_fds = []
        until = time.monotonic() + wait_s
        while True:
            self.dirs = [d for d in self.dirs if not _rmdir(d)]
            if not self.dirs or time.monotonic() >= until:
                return not self.dirs
            time.sleep(0.05)

    def _limit(self, version: int, limits: Limits) -> None:
        pids, memory = self.by_controller["pids"], self.by_controller["memory"]
        _write(pids / "pids.max", str(limits.processes))
        budget = str(limits.memory_mb << 20)
        if version == 2:
            _write(memory / "memory.max", budget)
            _write(memory / "memory.swap.max", "0", optional=True)
        else:
            _write(memory / "memory.limit_in_bytes", budget)
            _write(memory / "memory.memsw.limit_in_bytes", budget, optional=True)  # no swap


def _write(path: Path, value: str, optional: bool = False) -> None:
    try:
        path.write_text(value)
    except FileNotFoundError:
        if not optional:
            raise


def _rmdir(folder: Path) -> bool:
    try:
        folder.rmdir()
    except FileNotFoundError:
        return True
    except OSError:  # EBUSY: a process (or a zombie) is still in it
        return False
    return True


def _sweep(parent: Path) -> None:
    """Remove leftovers of harnesses that died; rmdir never removes a group in use."""
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if entry.name.startswith(PREFIX) and now - entry.stat().st_mtime > STALE_S:
                _rmdir(entry)


# Detection:


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fs type, mount point, root inside the hierarchy, super options) per mount."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            sep = fields.index("-")
            fstype, options = fields[sep + 1], set(fields[sep + 3].split(","))
            if fstype in ("cgroup", "cgroup2"):
                found.append((fstype, fields[4], fields[3], options))
    return found


def _own_paths() -> dict[str, str]:
    """Our cgroup per controller from /proc/self/cgroup; "" is the v2 hierarchy."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _id, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _folder(mount: str, root: str, path: str) -> Path | None:
    """Our cgroup's folder under a mount that shows the hierarchy from `root`."""
    if root != "/" and not (path == root or path.startswith(root + "/")):
        return None
    inner = path[len(root) :] if root != "/" else path
    return Path(mount) / inner.lstrip("/")


def _v2(mounts: list[tuple[str, str, str, set[str]]], ours: dict[str, str]) -> Layout | None:
    for fstype, mount, root, _options in mounts:
        if fstype != "cgroup2" or "" not in ours:
            continue
        folder = _folder(mount, root, ours[""])
        if folder is None:
            continue
        with contextlib.suppress(OSError):
            delegated = set((folder / "cgroup.subtree_control").read_text().split())
            if set(CONTROLLERS) <= delegated and _can_make(folder):
                return Layout(2, dict.fromkeys(CONTROLLERS, folder))
    return None


def _v1(mounts: list[tuple[str, str, str, set[str]]], ours: dict[str, str]) -> Layout | None:
    parents: dict[str, Path] = {}
    for fstype, mount, root, options in mounts:
        for name in CONTROLLERS + OPTIONAL_V1:
            if fstype == "cgroup" and name in options and name in ours and name not in parents:
                folder = _folder(mount, root, ours[name])
                if folder is not None and _can_make(folder):
                    parents[name] = folder
    return Layout(1, parents) if set(CONTROLLERS) <= set(parents) else None


def _can_make(parent: Path) -> bool:
    """Try it: permissions, read-only mounts and delegation all say no the same way."""
    probe = parent / f"{PREFIX}probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return False
    return _rmdir(probe)
