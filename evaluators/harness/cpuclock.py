"""The CPU clock of a sandbox's whole process tree, read while it runs.

A budget in CPU-seconds means the same on a quiet machine and a busy one, where a wall
clock does not. The tree's CPU time comes from the kernel's own accounting of the
sandbox's cgroup where there is one (cgroup v2 `cpu.stat` usage_usec, v1
`cpuacct.usage`): nothing in the group escapes it, whatever it forks. Elsewhere the
tree is found in /proc on each reading (the descendants of the sandbox's first process,
anything still in its session, and any process seen in the tree before, by pid and
start time) and its processes' utime + stime + cutime + cstime summed: a reaped child's
time lives on in its parent's cutime, and once the whole tree is reaped, wait4's rusage
gives the total (`settle`).

The same scan sums the run-queue delay of every thread in the tree
(/proc/<pid>/task/<tid>/schedstat, second field): time the tree was runnable but had
no CPU. It tells a trial that other work starved from one that slept (evaluators.classify).
"""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass, field
from pathlib import Path

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
PROC_METHOD = "/proc poll of the process tree + wait4 rusage"


@dataclass(frozen=True)
class _Stat:
    ppid: int
    session: int
    start: int  # clock ticks after boot: with the pid, names one process for good
    cpu_s: float  # its own time and its reaped children's


def problem() -> str | None:
    """None if this machine can account a process tree's CPU time, else why not."""
    if _stat(os.getpid()) is None:  # the tree, its run-queue wait and bwrap all need it
        return f"no CPU-time accounting here: {PROC}/<pid>/stat cannot be read"
    return None


def load() -> float:
    """The one-minute load average, as recorded beside a run's numbers."""
    with contextlib.suppress(OSError):
        return round(os.getloadavg()[0], 2)
    return 0.0


@dataclass
class TreeMeter:
    """Readings of one started process's tree: CPU seconds and run-queue wait."""

    root: int
    usage_file: Path | None = None  # the sandbox cgroup's CPU counter, if it has one
    cpu_s: float = 0.0
    waits: dict[int, float] = field(default_factory=dict)  # tid -> run-queue seconds
    known: set[tuple[int, int]] = field(default_factory=set)  # (pid, start) seen in the tree

    @property
    def method(self) -> str:
        if self.usage_file is None:
            return PROC_METHOD
        return f"cgroup {self.usage_file.name} of the sandbox + wait4 rusage"

    @property
    def runqueue_s(self) -> float:
        return round(sum(self.waits.values()), 3)

    def read(self) -> float:
        """The tree's CPU seconds now (and its run-queue wait, kept in `waits`)."""
        stats = _scan()
        tree = self._tree(stats)
        for pid in tree:
            self._wait(pid)
        counted = _cgroup_seconds(self.usage_file) if self.usage_file else None
        if counted is None:
            counted = sum(stats[pid].cpu_s for pid in tree)
        self.cpu_s = max(self.cpu_s, counted)
        return self.cpu_s

    def settle(self, usage: resource.struct_rusage) -> float:
        """The final figure once the root is reaped: its rusage holds the reaped tree."""
        self.cpu_s = round(max(self.cpu_s, usage.ru_utime + usage.ru_stime), 3)
        return self.cpu_s

    def _tree(self, stats: dict[int, _Stat]) -> list[int]:
        children: dict[int, list[int]] = {}
        for pid, stat in stats.items():
            children.setdefault(stat.ppid, []).append(pid)
        found: set[int] = set()
        stack = [self.root]
        while stack:
            pid = stack.pop()
            if pid in stats and pid not in found:
                found.add(pid)
                stack.extend(children.get(pid, ()))
        found |= {
            pid
            for pid, stat in stats.items()
            if stat.session == self.root or (pid, stat.start) in self.known
        }
        self.known |= {(pid, stats[pid].start) for pid in found}
        return sorted(found)

    def _wait(self, pid: int) -> None:
        with contextlib.suppress(OSError):
            for tid in os.listdir(PROC / str(pid) / "task"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = (PROC / str(pid) / "task" / tid / "schedstat").read_text().split()
                    self.waits[int(tid)] = int(fields[1]) / 1e9


def _scan() -> dict[int, _Stat]:
    stats = {}
    for name in os.listdir(PROC):
        if name.isdigit():
            stat = _stat(int(name))
            if stat is not None:
                stats[int(name)] = stat
    return stats


def _stat(pid: int) -> _Stat | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:  # gone between the listing and the read
        return None
    # The command name may hold spaces and parentheses: the fields follow the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return _Stat(int(fields[1]), int(fields[3]), int(fields[19]), ticks * TICK_S)


def _cgroup_seconds(path: Path) -> float | None:
    """v2 cpu.stat's usage_usec or v1 cpuacct.usage (ns); None once the group is gone."""
    try:
        text = path.read_text()
    except OSError:
        return None
    if path.name == "cpuacct.usage":
        return int(text) / 1e9
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    return None
