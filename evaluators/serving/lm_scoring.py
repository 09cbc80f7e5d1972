"""Trusted LM scoring: talk to lm_server over a pipe, compute bits per byte ourselves.

Scoring scheme (`score_bytes`, golf-cpu): with T = the model's block_size and n bytes of
held-out data d, window k feeds inputs d[kT : kT+T] and predicts targets
d[kT+1 : kT+T+1] (the last window is shorter). Every byte but the first is predicted
exactly once, from the bytes of its own window before it. Windows go one at a time,
each only after the previous answer arrived, and the model may then adapt on the window
it was just scored on (score-first test-time adaptation, the `adapt` hook). We turn the
returned logits into log-probabilities in float64 ourselves, so the model never
normalises its own distribution.

Then the blind check (evaluators.serving.blind_check states the rule and why it is sound): a
fresh server gets window k with every byte after a secret position j replaced by secret
random bytes, then the real window k as an adapt-only request, so both servers adapt on
exactly the same windows. At every position <= j its log-probability of the true
target must equal the scoring server's. One row per request on both, with identical
shapes: an honest deterministic model gives bitwise-equal outputs, and one whose
forward() keeps state (the checker's forward rows are cut) does not: state may only be
carried by adapt(). A wrong shape is illegal too; non-finite logits (a diverged model)
are a failure to score, not a rule broken. Nothing agent-written is imported here.

Per-example values (`Score.segments`): bits per byte of each SEGMENT_BYTES predicted
bytes in order, whatever T is, so that trials with different windows still pair up.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
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

from evaluators.serving.blind_check import (
    TOLERANCE,
    Bytes,
    IllegalModel,
    gap,
    perturbed,
    refusal,
    secret_cut,
)

SERVER_PATH = Path(__file__).with_name("lm_server.py")
MAGIC = b"ARLM"
VERSION = 2
GO = b"G"  # lets a started server load the model (lm_server and tensor_server)
VOCAB = 256
MAX_BLOCK = 1 << 16  # larger claimed windows are treated as a broken handshake
CLOSE_SECONDS = 2.0  # a server that has not exited this long after EXIT is killed
EXIT, SCORE, SCORE_THEN_ADAPT, ADAPT = range(4)  # request commands (lm_server's protocol)
SEGMENT_BYTES = 512  # per-example values: bits per byte of each 512 predicted bytes

Spawn = Callable[[Sequence[str]], "subprocess.Popen[bytes]"]
Logits = npt.NDArray[np.float32]
LogProbs = npt.NDArray[np.float64]


class ServerFailed(Exception):
    """The model could not be served: load error, crash, timeout or protocol garbage."""


@dataclass(frozen=True)
class Score:
    bits: float
    nats: float
    predicted: int  # bytes whose probability was scored
    segments: tuple[float, ...] = ()  # bits per byte of each SEGMENT_BYTES predicted bytes

    @property
    def bpb(self) -> float:
        return self.bits / self.predicted

    @property
    def loss_nats(self) -> float:
        return self.nats / self.predicted


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
        self._send(GO)
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
            os.write(self._out, struct.pack("<III", EXIT, 0, 0))
        try:
            self.proc.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pipe in self._pipes:
            pipe.close()

    def logits(self, windows: Bytes, adapt: bool = False) -> Logits:
        """Float32 logits [rows, length, 256] for a [rows, length] batch of windows; with
        `adapt`, the model then adapts on the same windows (score-first)."""
        rows, length = windows.shape
        self._request(SCORE_THEN_ADAPT if adapt else SCORE, windows)
        shape = struct.unpack("<III", self._read(12))
        if shape != (rows, length, VOCAB):
            expected = (rows, length, VOCAB)
            raise IllegalModel(f"logits of shape {shape}, expected {expected}")
        raw = self._read(rows * length * VOCAB * 4)
        out = np.frombuffer(raw, dtype="<f4").reshape(rows, length, VOCAB)
        if not np.isfinite(out).all():  # a diverged model (NaN losses): broken, not cheating
            raise ServerFailed("the model returned non-finite logits (NaN or infinity)")
        return out

    def adapt(self, windows: Bytes) -> None:
        """Let the model adapt on windows it has already been scored on; no logits."""
        self._request(ADAPT, windows)

    def _request(self, command: int, windows: Bytes) -> None:
        """Send one request and wait for its status (the error text if it failed)."""
        header = struct.pack("<III", command, *windows.shape)
        self._send(header + np.ascontiguousarray(windows, np.uint8).tobytes())
        (status,) = struct.unpack("<i", self._read(4))
        if status != 0:
            raise ServerFailed(f"model failed: {self._read_error()}")

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


def open_process(proc: subprocess.Popen[bytes], deadline: float, client: type[Client]) -> Client:
    """Let a started server (sandboxed or not: whoever started it decided) load its model,
    and shake hands with `client`, the trusted end of its protocol; kill it on failure."""
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


def picked(logits: Logits, targets: Bytes) -> LogProbs:
    """Log-probability of targets[t] at each position t of one row's logits [len, 256]."""
    lp = log_probs(logits[: len(targets)])
    out: LogProbs = lp[np.arange(len(targets)), targets]
    return out


@dataclass(frozen=True, eq=False)
class Scored:
    """What the blind check needs of one row the scoring server answered."""

    targets: Bytes  # the byte each position was scored on
    cut: int  # the secret j: bytes after it are replaced for the checker
    logprobs: LogProbs  # the scoring server's log-probabilities of the targets


def check_batch(
    checker: LMClient, batch: Bytes, rows: Sequence[Scored], names: Sequence[str]
) -> None:
    """Send the checker a batch (its rows already cut and replaced after each row's j);
    raise IllegalModel if any row's log-probabilities at positions <= j moved."""
    logits = checker.logits(batch)
    for r, row in enumerate(rows):
        kept = row.cut + 1  # the checker's row may end right after j
        moved = gap(row.logprobs[:kept], picked(logits[r], row.targets[:kept]))
        if moved > TOLERANCE:
            repeated = gap(logits[r], checker.logits(batch)[r])
            cause = (
                f"log-probabilities at positions <= {row.cut} changed when only the bytes "
                "after it were replaced by secret random bytes: they depend on later bytes "
                "(look-ahead), on other rows or on earlier requests"
            )
            raise refusal(names[r], moved, repeated, cause)


def require_block(checker: LMClient, block: int) -> None:
    """The checker is the same artifact: it must claim the scoring server's block_size."""
    if checker.block_size != block:
        raise IllegalModel(f"block_size {checker.block_size} on a second start, {block} first")


def window_starts(n_bytes: int, block: int) -> range:
    """Start offsets of the scoring windows; window k predicts bytes k*T+1 .. k*T+T."""
    return range(0, max(n_bytes - 1, 0), block)


def score_bytes(serve: Callable[[], LMClient], data: bytes) -> Score:
    """Val bits over `data` from one server, every window checked on a second one.

    `serve` starts a fresh server each call (its own sandbox and work dir)."""
    ids = np.frombuffer(data, dtype=np.uint8)
    if len(ids) < 2:
        raise ValueError("need at least two bytes to score")
    with serve() as scorer:
        block = scorer.block_size
        windows = [(s, min(s + block, len(ids) - 1)) for s in window_starts(len(ids), block)]
        scored = [_score_window(scorer, ids[s:e], ids[s + 1 : e + 1]) for s, e in windows]
    with serve() as checker:
        require_block(checker, block)
        for (start, end), row in zip(windows, scored, strict=True):
            window = ids[start:end]
            name = f"window at val byte {start}"
            check_batch(checker, perturbed(window, row.cut)[None], [row], [name])
            checker.adapt(window[None])
    nats = -np.concatenate([row.logprobs for row in scored])
    return _score(nats)


def _score_window(scorer: LMClient, window: Bytes, targets: Bytes) -> Scored:
    logprobs = picked(scorer.logits(window[None], adapt=True)[0], targets)
    return Scored(targets, secret_cut(0, len(window) - 1), logprobs)


def _score(nats: LogProbs) -> Score:
    bits = nats / math.log(2.0)
    segments = np.split(bits, range(SEGMENT_BYTES, len(bits), SEGMENT_BYTES))
    per_segment = tuple(float(part.mean()) for part in segments)
    return Score(float(bits.sum()), float(nats.sum()), len(nats), per_segment)
