"""The sandbox's filesystem as bwrap options: an allow-list, private tmpfs, masks.

Shown: /usr (and the /bin, /lib... links), a few /etc files, the Python installation
and the venv, read-only extras, and the work dir, the only writable host path. /tmp and
/dev/shm are private tmpfs mounts: they live in RAM, so their sizes are part of the
memory budget (evaluators.harness.sandbox takes them off RLIMIT_AS).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable
from importlib.machinery import PathFinder
from pathlib import Path

MIB = 1 << 20

# Only these /etc entries are shown: the loader's cache, users and groups for
# getpwuid, name service and time zone config. resolv.conf is left out: no network.
ETC_FILES = (
    "alternatives", "group", "host.conf", "hosts", "ld.so.cache", "ld.so.conf",
    "ld.so.conf.d", "localtime", "nsswitch.conf", "os-release", "passwd",
)  # fmt: skip
TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")  # usually links to /usr


def filesystem(
    work_dir: Path, read_only: Iterable[Path], hidden: Iterable[str], tmpfs_mb: int
) -> list[str]:
    """The mount options: system trees, Python, extras, the work dir, masks."""
    mounts = _Mounts(tmpfs_bytes=tmpfs_mb * MIB // 2)  # half for /tmp, half for /dev/shm
    mounts.system()
    binds = {path: False for path in _python_dirs()}
    binds.update({path.absolute(): False for path in read_only})
    binds[work_dir.absolute()] = True
    for path in sorted(binds, key=lambda p: len(p.parts)):  # outer trees first
        mounts.bind(path, writable=binds[path])
    for path in _package_paths(hidden):
        mounts.mask(path)
    return mounts.args


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


def interpreter() -> str:
    """The real interpreter binary, which works without the venv (the shim's)."""
    return os.path.realpath(sys.executable)


def _python_dirs() -> set[Path]:
    """The interpreter's installation and the venv, each bound whole."""
    found = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix}
    return {Path(p) for p in found} | {Path(interpreter()).parent}


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
