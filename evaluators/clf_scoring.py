"""Trusted classifier scoring: send inputs to tensor_server over a pipe, keep labels here.

The test inputs go to the sandboxed model in fixed-size batches; the labels never leave
this process, which computes accuracy from the returned logits itself. One probe guards
the batching: after the last batch, the first row is sent again alone, and its logits
must match those it got inside the first batch. A model whose
outputs depend on the other rows of a batch, or that changes while it is being scored
(test-time training on the test inputs), fails it and is illegal.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

from evaluators.lm_scoring import IllegalModel, LMClient, ServerFailed

SERVER_PATH = Path(__file__).with_name("tensor_server.py")
MAGIC = b"ARTS"
VERSION = 1
BATCH_ROWS = 250
TOLERANCE = 1e-3  # max |logit| difference allowed between the probe and its batch

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


def classify(client: TensorClient, inputs: Floats, classes: int) -> Floats:
    """Logits [N, classes] for every input row, with the batching probe."""
    parts = [
        client.outputs(inputs[i : i + BATCH_ROWS], (len(inputs[i : i + BATCH_ROWS]), classes))
        for i in range(0, len(inputs), BATCH_ROWS)
    ]
    logits = np.concatenate(parts)
    alone = client.outputs(inputs[:1], (1, classes))
    if float(np.abs(logits[0] - alone[0]).max()) > TOLERANCE:
        raise IllegalModel("a row's outputs depend on the other rows or on earlier requests")
    return logits


def accuracy(logits: Floats, labels: npt.NDArray[np.int64]) -> float:
    return float((logits.argmax(axis=1) == labels).mean())
