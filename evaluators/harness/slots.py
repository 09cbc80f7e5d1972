"""A uid of its own for each sandbox in flight, when the harness runs as root.

RLIMIT_NPROC counts every process of a real uid, so sandboxes that share one uid share
one process limit: a fork bomb in one trial would starve the others. As root, each
sandbox takes the lowest free uid of SLOTS uids from UID_BASE (1879048192, 0x70000000:
systemd's table leaves 0x70000000-0x7FFFFFFE unused, above the container ranges), held
by an flock on a root-only lock file for as long as the sandbox runs. The lock dies with
the process that holds it, so a crashed harness frees its slots.

Where those uids cannot be used (a user namespace that does not map them, as in some
containers) every sandbox runs as nobody (65534), as before; `describe` says which.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
UID_BASE = 0x70000000
SLOTS = 256


class NoFreeSlotError(RuntimeError):
    pass


@dataclass
class Slot:
    uid: int
    lock_fd: int | None  # None: the shared nobody uid, nothing held

    def release(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing drops the flock
            self.lock_fd = None


def acquire() -> Slot:
    """A free uid of its own, or the shared nobody where own uids are not available."""
    if not own_uids():
        return Slot(NOBODY, None)
    folder = _lock_dir()
    for uid in range(UID_BASE, UID_BASE + SLOTS):
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return Slot(uid, fd)
    raise NoFreeSlotError(f"all {SLOTS} sandbox uids are in use")


def describe() -> str:
    return "own uid per sandbox" if own_uids() else "shared uid nobody"


@functools.cache
def own_uids() -> bool:
    """Whether our user namespace maps the whole uid range (the root one maps all)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/uid_map").read_text().splitlines():
            inside, _outside, count = (int(x) for x in line.split())
            if inside <= UID_BASE and inside + count >= UID_BASE + SLOTS:
                return True
    return False


def _lock_dir() -> Path:
    """A root-owned 0700 folder: another local user cannot plant or hold the locks."""
    folder = Path(tempfile.gettempdir()) / "autorecipe-sandbox-uids"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise NoFreeSlotError(f"{folder} is not a private folder of ours")
    return folder
