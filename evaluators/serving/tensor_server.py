"""Harness-owned tensor server: runs in the sandbox, maps float32 batches to outputs on a pipe.

Run as `python -I -B tensor_server.py ARTIFACT_DIR --threads N`. It imports
ARTIFACT_DIR/model.py by path, calls `load_model(ARTIFACT_DIR)`, then speaks this
little-endian protocol (version 2):

* go, client -> server: one byte b"G". Until then the server has imported torch but
  no agent code: the client may start it early and let the model load only when it
  should (the blind check's second server, once the first has exited).
* handshake, server -> client: b"ARTS", then uint32 version.
* request, client -> server: uint32 rank, rank uint32 dims, then prod(dims) float32
  values (row-major). rank == 0 asks the server to exit.
* answer, server -> client: int32 status. Status 0: uint32 rank, rank uint32 dims, then
  the float32 outputs. Status 1: uint32 n, then n bytes of UTF-8 error text, and the
  server exits.

The model sees inputs only, never labels: those stay with the trusted client, which
checks every shape and value it receives. This file imports nothing from the project,
so a copy of it runs anywhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import struct
import sys
import traceback
import uuid
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

MAGIC = b"ARTS"
VERSION = 2
GO = b"G"
MAX_RANK = 8


def claim_pipes() -> tuple[BinaryIO, BinaryIO]:
    """Move the protocol pipes off fds 0/1, so stray prints cannot corrupt them."""
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # stray prints land in the log
    return requests, answers


def load(artifact_dir: Path) -> torch.nn.Module:
    """Import ARTIFACT_DIR/model.py under a fresh name and build its model."""
    name = f"autorecipe_artifact_model_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, artifact_dir / "model.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {artifact_dir / 'model.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    model: torch.nn.Module = module.load_model(str(artifact_dir))
    return model.eval()


def read_exact(stream: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError("client closed the pipe")
        data += chunk
    return data


def read_request(stream: BinaryIO) -> torch.Tensor | None:
    """The next input batch, or None when the client asks to stop."""
    (rank,) = struct.unpack("<I", read_exact(stream, 4))
    if rank == 0:
        return None
    if rank > MAX_RANK:
        raise ValueError(f"request of rank {rank}")
    dims = struct.unpack(f"<{rank}I", read_exact(stream, 4 * rank))
    raw = read_exact(stream, 4 * math.prod(dims))
    return torch.from_numpy(np.frombuffer(raw, dtype="<f4").reshape(dims).copy())


def answer(model: torch.nn.Module, inputs: torch.Tensor) -> bytes:
    with torch.no_grad():
        out = model(inputs)
    values = out.detach().to(torch.float32).contiguous().numpy()
    head = struct.pack(f"<iI{values.ndim}I", 0, values.ndim, *values.shape)
    body: bytes = values.astype("<f4").tobytes()
    return head + body


def fail(answers: BinaryIO, message: str) -> None:
    text = message.encode("utf-8", "replace")[-4000:]
    answers.write(struct.pack("<iI", 1, len(text)) + text)
    answers.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description="serve a model over a pipe")
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    requests, answers = claim_pipes()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    try:
        if read_exact(requests, 1) != GO:  # the artifact's code runs only after this
            raise ValueError("expected the go byte")
        model = load(args.artifact)
        answers.write(MAGIC + struct.pack("<I", VERSION))
        answers.flush()
        while (inputs := read_request(requests)) is not None:
            answers.write(answer(model, inputs))
            answers.flush()
    except EOFError:
        return 0
    except Exception:  # noqa: BLE001  (any agent-code failure goes to the client)
        traceback.print_exc()
        fail(answers, traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown: a quick exit, and no agent atexit code runs
