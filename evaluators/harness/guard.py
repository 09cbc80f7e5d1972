"""Watching one sandbox while it runs: the work dir's caps, then freeing what it held.

RLIMIT_FSIZE caps one file; the work dir as a whole may hold at most `work_dir_bytes`
(apparent sizes, so a sparse file counts whole, as it would once copied) and
`work_dir_files` entries (files, folders and links alike). A thread per sandbox checks
every POLL_S seconds, links never followed, and stops counting once past a cap, so a
check costs at most `work_dir_files` stat calls. Past a cap the sandbox is stopped and
`breach` says which cap, by how much; a run can overshoot by what it writes in one poll
interval. Once the sandbox has exited, the work dir is checked a last time (a run that
ends just past a cap between two checks is still caught; `settle` waits for that), then
the thread frees the sandbox's uid slot and cgroup.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path

from domain.reports import LimitBreach
from domain.task import Limits

POLL_S = 0.5


def usage(folder: Path, max_bytes: int, max_entries: int) -> tuple[int, int]:
    """(bytes, entries) under `folder`; the count stops once past either maximum."""
    total = entries = 0
    stack = [str(folder)]
    while stack:
        try:
            listing = os.scandir(stack.pop())
        except OSError:  # gone, or not a folder after all
            continue
        with listing:
            for entry in listing:
                entries += 1
                with contextlib.suppress(OSError):
                    total += entry.stat(follow_symlinks=False).st_size
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                if total > max_bytes or entries > max_entries:
                    return total, entries
    return total, entries


def breach_of(folder: Path, limits: Limits) -> LimitBreach | None:
    """The work-dir cap `folder` is past now, if any."""
    cap_bytes, cap_files = limits.work_dir_bytes, limits.work_dir_files
    size, entries = usage(folder, cap_bytes, cap_files)
    checks = (
        ("work_dir_bytes", size, cap_bytes, f"{cap_bytes >> 20:,} MiB cap"),
        ("work_dir_files", entries, cap_files, f"{cap_files:,}-entry cap"),
    )
    for limit, measured, cap, what in checks:
        if measured > cap:
            reason = f"the work dir passed its {what}"
            return LimitBreach(limit=limit, measured=measured, cap=cap, reason=reason)
    return None


class Guard:
    """One thread per sandbox, from its start until it has exited."""

    def __init__(
        self,
        pid: int,
        work_dir: Path | None,
        limits: Limits,
        stop: Callable[[], None],
        release: Callable[[], None],
        notify_fd: int | None,
    ) -> None:
        self.breach: LimitBreach | None = None
        self.work_dir, self.limits = work_dir, limits
        self.stop, self.release, self.notify_fd = stop, release, notify_fd
        self.pidfd = os.pidfd_open(pid)  # readable once it exits; never reaps it
        self.settled = threading.Event()  # set after the last check
        self.thread = threading.Thread(target=self._run, name=f"sandbox-guard-{pid}", daemon=True)
        self.thread.start()

    def settle(self, timeout_s: float = 10.0) -> LimitBreach | None:
        """The breach, once the last check after the exit is done."""
        self.settled.wait(timeout_s)
        return self.breach

    def _run(self) -> None:
        try:
            while not self._exited(POLL_S):
                found = self._check()
                if found is not None:
                    self._say(f"autorecipe: stopped: {found.reason}\n")
                    self.stop()
            self._check()
        finally:
            self.settled.set()
            self.release()
            os.close(self.pidfd)
            if self.notify_fd is not None:
                os.close(self.notify_fd)

    def _check(self) -> LimitBreach | None:
        """The first breach, when this check finds it."""
        if self.work_dir is None or self.breach is not None:
            return None
        self.breach = breach_of(self.work_dir, self.limits)
        return self.breach

    def _exited(self, timeout_s: float) -> bool:
        poller = select.poll()
        poller.register(self.pidfd, select.POLLIN)
        return bool(poller.poll(timeout_s * 1000))

    def _say(self, line: str) -> None:
        """Tell whoever reads the sandbox's stderr (a server log) why it was stopped."""
        if self.notify_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self.notify_fd, line.encode())
