"""Trusted LM scoring: talk to lm_server over a pipe, compute bits per byte ourselves.

Scoring scheme (`score_bytes`): with T = the model's block_size and n bytes of held-out
data d, window k feeds inputs d[kT : kT+T] and predicts targets d[kT+1 : kT+T+1] (the
last window is shorter). Every byte but the first is predicted exactly once, from the
bytes of its own window before it. Windows go one at a time, each only after the
previous answer arrived (score-first). We turn the returned logits into
log-probabilities in float64 ourselves, so the model never normalises its own
distribution.

Causality probe: at two windows the request carries a second row, equal to the first
up to position j and different after it. Log-probabilities at positions <= j must match
between the rows; if they do not, the model looks ahead and is illegal. A wrong shape is
illegal too; non-finite logits (a diverged model) are a failure to score, not a rule
broken. Nothing agent-written is imported here.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import numpy as np
import numpy.typing as npt

SERVER_PATH = Path(__file__).with_name("lm_server.py")
MAGIC = b"ARLM"
VERSION = 1
VOCAB = 256
MAX_BLOCK = 1 << 16  # larger claimed windows are treated as a broken handshake
CAUSAL_TOLERANCE = 1e-4  # max |log p| difference allowed before the changed position

Spawn = Callable[[Sequence[str]], "subprocess.Popen[bytes]"]
Logits = npt.NDArray[np.float32]
LogProbs = npt.NDArray[np.float64]


class ServerFailed(Exception):
    """The model could not be served: load error, crash, timeout or protocol garbage."""


class IllegalModel(Exception):
    """The model broke a rule: it looks ahead, or returns bad logits."""


@dataclass(frozen=True)
class Score:
    bits: float
    nats: float
    predicted: int  # bytes whose probability was scored

    @property
    def bpb(self) -> float:
        return self.bits / self.predicted

    @property
    def loss_nats(self) -> float:
        return self.nats / self.predicted


def stage_server(folder: Path) -> Path:
    """Copy lm_server.py into a fresh folder, make both read-only; returns the copy.

    Read-only for everyone but readable by all: the sandbox may run as another user.
    """
    folder.mkdir(parents=True)
    target = folder / SERVER_PATH.name
    shutil.copyfile(SERVER_PATH, target)
    target.chmod(0o444)
    folder.chmod(0o555)
    return target


def server_argv(server: Path, artifact: Path, threads: int) -> list[str]:
    """The server's command: -I so nothing in cwd can shadow an import, -B so importing
    model.py leaves no __pycache__ in the artifact."""
    return [sys.executable, "-I", "-B", str(server), str(artifact), "--threads", str(threads)]


class LMClient:
    """The trusted end of the pipe: sends windows, reads and checks logits."""

    def __init__(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        if proc.stdin is None or proc.stdout is None:
            raise ValueError("the server needs stdin and stdout pipes")
        self.proc = proc
        self.deadline = deadline
        self._pipes = (proc.stdin, proc.stdout)
        self._out = proc.stdin.fileno()
        self._in = proc.stdout.fileno()
        self.block_size = self._handshake()

    def __enter__(self) -> LMClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Ask the server to exit, then make sure it has."""
        with contextlib.suppress(OSError):  # it may be gone already
            os.write(self._out, struct.pack("<III", 0, 0, 0))
        try:
            self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pipe in self._pipes:
            pipe.close()

    def logits(self, windows: npt.NDArray[np.uint8], adapt: int = 0) -> Logits:
        """Float32 logits [rows, length, 256] for a [rows, length] batch of windows."""
        rows, length = windows.shape
        header = struct.pack("<III", rows, length, adapt)
        self._send(header + np.ascontiguousarray(windows, np.uint8).tobytes())
        (status,) = struct.unpack("<i", self._read(4))
        if status != 0:
            raise ServerFailed(f"model failed: {self._read_error()}")
        shape = struct.unpack("<III", self._read(12))
        if shape != (rows, length, VOCAB):
            expected = (rows, length, VOCAB)
            raise IllegalModel(f"logits of shape {shape}, expected {expected}")
        raw = self._read(rows * length * VOCAB * 4)
        out = np.frombuffer(raw, dtype="<f4").reshape(rows, length, VOCAB)
        if not np.isfinite(out).all():  # a diverged model (NaN losses): broken, not cheating
            raise ServerFailed("the model returned non-finite logits (NaN or infinity)")
        return out

    def _handshake(self) -> int:
        head = self._read(4)
        if head != MAGIC:
            if head == struct.pack("<i", 1):
                raise ServerFailed(f"model failed to load: {self._read_error()}")
            raise ServerFailed(f"bad handshake {head!r}")
        version, block, vocab = struct.unpack("<III", self._read(12))
        if version != VERSION or vocab != VOCAB:
            raise ServerFailed(f"server speaks version {version}, vocab {vocab}")
        if not 1 <= block <= MAX_BLOCK:
            raise IllegalModel(f"block_size {block} outside 1..{MAX_BLOCK}")
        return int(block)

    def _read_error(self) -> str:
        (size,) = struct.unpack("<I", self._read(4))
        return self._read(min(size, 4000)).decode("utf-8", "replace").strip()[-800:]

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ServerFailed("evaluation ran out of time")
        return left

    def _read(self, n: int) -> bytes:
        parts, got = [], 0
        while got < n:
            ready, _, _ = select.select([self._in], [], [], self._remaining())
            if not ready:
                continue  # _remaining raises once the deadline passes
            chunk = os.read(self._in, min(n - got, 1 << 20))
            if not chunk:
                raise ServerFailed(f"server exited (code {self.proc.poll()})")
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self._out], [], self._remaining())
            if not ready:
                continue
            try:
                view = view[os.write(self._out, view[: 1 << 16]) :]
            except BrokenPipeError as exc:
                raise ServerFailed("server closed its input") from exc


Client = TypeVar("Client", bound="LMClient")


def open_server(argv: Sequence[str], spawn: Spawn, deadline: float, client: type[Client]) -> Client:
    """Spawn the server (sandboxed or not: the caller decides) and shake hands with
    `client`, the trusted end that speaks its protocol."""
    proc = spawn(argv)
    try:
        return client(proc, deadline)
    except BaseException:
        proc.kill()
        proc.communicate()  # reaps it and closes our ends of the pipes
        raise


def log_probs(logits: Logits) -> LogProbs:
    """Log-softmax over the last axis in float64: our normalisation, not the model's."""
    wide = logits.astype(np.float64)
    top = wide.max(axis=-1, keepdims=True)
    out: LogProbs = wide - top - np.log(np.exp(wide - top).sum(axis=-1, keepdims=True))
    return out


def window_starts(n_bytes: int, block: int) -> range:
    """Start offsets of the scoring windows; window k predicts bytes k*T+1 .. k*T+T."""
    return range(0, max(n_bytes - 1, 0), block)


def probe_row(window: npt.NDArray[np.uint8], j: int) -> npt.NDArray[np.uint8]:
    """A copy of the window whose bytes after position j all differ."""
    changed = window.copy()
    changed[j + 1 :] = (changed[j + 1 :].astype(np.int64) + 97) % 256
    return changed


def causal_gap(pair: LogProbs, j: int) -> float:
    """How far positions <= j moved when only bytes after j changed (0 if causal)."""
    return float(np.abs(pair[0, : j + 1] - pair[1, : j + 1]).max())


def score_bytes(client: LMClient, data: bytes, probes: int = 2) -> Score:
    """Val bits and nats over `data`, with a causality probe at `probes` windows."""
    ids = np.frombuffer(data, dtype=np.uint8)
    if len(ids) < 2:
        raise ValueError("need at least two bytes to score")
    starts = window_starts(len(ids), client.block_size)
    probe_at = {starts[i * len(starts) // probes] for i in range(probes)}
    nats = sum(score_window(client, ids, start, start in probe_at) for start in starts)
    return Score(bits=nats / math.log(2.0), nats=nats, predicted=len(ids) - 1)


def score_window(client: LMClient, ids: npt.NDArray[np.uint8], start: int, probe: bool) -> float:
    """Nats of the bytes predicted by the window at `start`, probing causality if asked."""
    window = ids[start : min(start + client.block_size, len(ids) - 1)]
    targets = ids[start + 1 : start + 1 + len(window)]
    j = len(window) // 2
    probe = probe and len(window) >= 2
    rows = np.stack([window, probe_row(window, j)]) if probe else window[None]
    lp = log_probs(client.logits(rows, adapt=1))
    if probe and causal_gap(lp, j) > CAUSAL_TOLERANCE:
        raise IllegalModel(f"outputs before byte {start + j} depend on later bytes")
    return -float(lp[0, np.arange(len(window)), targets].sum())


def target_logprobs(client: LMClient, context: bytes, target: bytes) -> LogProbs:
    """Natural log-probability of each byte of `target` following `context`.

    The input is the last block_size bytes of context+target before its final byte, so a
    target longer than block_size is cut to its last block_size bytes. No adaptation.
    """
    text = np.frombuffer(context + target, dtype=np.uint8)
    if not target or len(text) < 2:
        raise ValueError("need a non-empty target after at least one context byte")
    inputs = text[:-1][-client.block_size :]
    count = min(len(target), len(inputs))
    lp = log_probs(client.logits(inputs[None], adapt=0))[0]
    positions = np.arange(len(inputs) - count, len(inputs))
    picked: LogProbs = lp[positions, text[-count:]]
    return picked
