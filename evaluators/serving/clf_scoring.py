"""Trusted classifier scoring: send inputs to tensor_server over a pipe, keep labels here.

The test inputs go to the sandboxed model in batches of BATCH_ROWS, in a secret random
order; the labels never leave this process, which computes accuracy from the returned
logits itself.

The hole this closes: a model that sees the whole test set, batch by batch, could learn
its structure (centre or cluster the inputs, self-train on them, compare a row with the
rest of its batch) and beat its own per-row accuracy, which is the task's gate. So the
rule is the one of evaluators.serving.blind_check: each row's outputs may depend only on that
row. After the scoring server has exited, a fresh server in its own sandbox answers
every row again in another secret order and batching, and every row's logits must
match within TOLERANCE. A model whose outputs depend on the other rows of a batch, or
that changes while it is scored (test-time training on test inputs), answers some row
in different company or at a different point of its history, and fails. There are no
later bytes to replace here: a row is the whole input. Per-example values: each test
row's correctness (1.0 or 0.0), in the order of test_x.npy.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from evaluators.serving.blind_check import IllegalModel, batches, gap, refusal, secret_order
from evaluators.serving.lm_scoring import LMClient, ServerFailed

SERVER_PATH = Path(__file__).with_name("tensor_server.py")
MAGIC = b"ARTS"
VERSION = 2
BATCH_ROWS = 250
TOLERANCE = 1e-3  # max |logit| difference allowed between the two servers' answers

Floats = npt.NDArray[np.float32]


class TensorClient(LMClient):
    """The trusted end of a tensor_server pipe. It reuses LMClient's deadline-bound
    reads and writes and its shutdown (a zero header means "exit" to both servers)."""

    def __enter__(self) -> TensorClient:
        return self

    def _handshake(self) -> int:
        head = self._read(4)
        if head != MAGIC:
            if head == struct.pack("<i", 1):
                raise ServerFailed(f"model failed to load: {self._read_error()}")
            raise ServerFailed(f"bad handshake {head!r}")
        (version,) = struct.unpack("<I", self._read(4))
        if version != VERSION:
            raise ServerFailed(f"server speaks version {version}")
        return 0

    def outputs(self, inputs: Floats, expected: tuple[int, ...]) -> Floats:
        """The model's float32 outputs for a batch; their shape must be `expected`."""
        batch = np.ascontiguousarray(inputs, dtype="<f4")
        header = struct.pack(f"<I{batch.ndim}I", batch.ndim, *batch.shape)
        self._send(header + batch.tobytes())
        (status,) = struct.unpack("<i", self._read(4))
        if status != 0:
            raise ServerFailed(f"model failed: {self._read_error()}")
        (rank,) = struct.unpack("<I", self._read(4))
        shape = struct.unpack(f"<{rank}I", self._read(4 * rank)) if rank <= 8 else ()
        if shape != expected:
            raise IllegalModel(f"outputs of shape {shape}, expected {expected}")
        out = np.frombuffer(self._read(4 * int(np.prod(shape))), dtype="<f4").reshape(shape)
        if not np.isfinite(out).all():  # a diverged model: broken, not cheating
            raise ServerFailed("the model returned non-finite outputs (NaN or infinity)")
        return out


def classify(serve: Callable[[], TensorClient], inputs: Floats, classes: int) -> Floats:
    """Logits [N, classes] for every input row from one server, each row checked on a
    second one. `serve` starts a fresh server each call."""
    logits = np.zeros((len(inputs), classes), dtype=np.float32)
    with serve() as scorer:
        for batch in batches(secret_order(len(inputs)), BATCH_ROWS):
            logits[batch] = scorer.outputs(inputs[batch], (len(batch), classes))
    with serve() as checker:
        for batch in batches(secret_order(len(inputs)), BATCH_ROWS):
            again = checker.outputs(inputs[batch], (len(batch), classes))
            moved = np.abs(again.astype(np.float64) - logits[batch]).max(axis=1)
            if (moved > TOLERANCE).any():
                k = int(moved.argmax())
                repeated = gap(again, checker.outputs(inputs[batch], again.shape))
                cause = (
                    "its logits changed in another batch and order: they depend on the "
                    "other rows or on earlier requests"
                )
                raise refusal(f"test row {batch[k]}", float(moved[k]), repeated, cause)
    return logits


def correct(logits: Floats, labels: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """1.0 for each row whose largest logit is its label, else 0.0."""
    out: npt.NDArray[np.float64] = (logits.argmax(axis=1) == labels).astype(np.float64)
    return out
