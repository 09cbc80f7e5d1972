"""A process's output, as `process.run_measured` keeps it: a capped log, a tail, lines.

Output streams to the log file as it comes, up to LOG_HEAD_BYTES; past that only the
last LOG_TAIL_BYTES are kept (in memory) and written at the end after a line saying how
much was left out, so a log holds at most 8 MiB plus that line, whatever the child
prints. Stdout is also split into lines for the progress callback.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import BinaryIO

CHUNK_BYTES = 1 << 16
LOG_HEAD_BYTES = 4 << 20  # written as it comes
LOG_TAIL_BYTES = 4 << 20  # past the head: the last bytes, written when the process ends
TAIL_BYTES = 1 << 14  # what parse_exception sees: room for a deep traceback
MAX_LINE_BYTES = 1 << 16  # a longer stdout line is no progress line: it is dropped

LineCallback = Callable[[str], None]


class Output:
    """Appends output to the log, capped; keeps a bounded tail; splits stdout."""

    def __init__(self, log: BinaryIO, on_line: LineCallback | None) -> None:
        self.log = _CappedLog(log)
        self.on_line = on_line
        self.tail = bytearray()
        self.partial = bytearray()
        self.overlong = False  # dropping a stdout line that outgrew MAX_LINE_BYTES

    def write(self, chunk: bytes, *, stdout: bool) -> None:
        self.log.write(chunk)
        self.tail += chunk
        del self.tail[:-TAIL_BYTES]
        if stdout and self.on_line is not None:
            self._split(chunk, self.on_line)

    def close(self) -> None:
        """Pass on a last stdout line that had no newline; finish the log."""
        if self.partial and not self.overlong and self.on_line is not None:
            self.on_line(text(self.partial))
        self.partial.clear()
        self.log.close()

    def tail_text(self) -> str:
        return text(self.tail)

    def _split(self, chunk: bytes, on_line: LineCallback) -> None:
        self.partial += chunk
        *lines, rest = self.partial.split(b"\n")
        for line in lines:
            if self.overlong:
                self.overlong = False  # the end of the dropped line
            else:
                on_line(text(line).rstrip("\r"))
        self.partial = bytearray(rest)
        if len(self.partial) > MAX_LINE_BYTES:
            self.partial.clear()
            self.overlong = True


class _CappedLog:
    """The first LOG_HEAD_BYTES go to the file at once (readable live), the last
    LOG_TAIL_BYTES at the end; what lies between is counted, never stored."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.head_left = LOG_HEAD_BYTES
        self.held: deque[bytes] = deque()  # past the head: the newest chunks
        self.held_bytes = 0
        self.dropped = 0

    def write(self, chunk: bytes) -> None:
        head, rest = chunk[: self.head_left], chunk[self.head_left :]
        if head:
            self.file.write(head)
            self.file.flush()  # the log is readable live, e.g. by a watching user
            self.head_left -= len(head)
        if rest:
            self.held.append(rest)
            self.held_bytes += len(rest)
            while self.held_bytes - len(self.held[0]) >= LOG_TAIL_BYTES:
                self._drop(len(self.held.popleft()))

    def close(self) -> None:
        excess = self.held_bytes - LOG_TAIL_BYTES
        if excess > 0:  # the oldest held chunk straddles the tail's start
            self.held[0] = self.held[0][excess:]
            self._drop(excess)
        if self.dropped:
            note = f"\n[autorecipe: {self.dropped:,} bytes of output left out here:"
            self.file.write(f"{note} the log keeps the first and the last 4 MiB]\n".encode())
        for chunk in self.held:  # one by one: joined, they would be held twice
            self.file.write(chunk)
        self.file.flush()

    def _drop(self, size: int) -> None:
        self.held_bytes -= size
        self.dropped += size


def text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")
