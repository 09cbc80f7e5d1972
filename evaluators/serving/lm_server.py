"""Harness-owned model server: runs in the sandbox, answers logits requests on a pipe.

Run as `python -I -B lm_server.py ARTIFACT_DIR --threads N`. It imports
ARTIFACT_DIR/model.py by path, calls `load_model(ARTIFACT_DIR)`, then speaks this
little-endian protocol (version 2):

* go, client -> server: one byte b"G". Until then the server has imported torch but
  no agent code: the client may start it early and let the model load only when it
  should (the blind check's second server, once the first has exited).
* handshake, server -> client: b"ARLM", then uint32 version, block_size, vocab.
* request, client -> server: uint32 command, rows, length, then rows*length uint8 byte
  ids (row-major). Commands:
  - 0 EXIT: the server exits (rows and length are ignored, no ids follow).
  - 1 SCORE: answer `model(idx)`.
  - 2 SCORE_THEN_ADAPT: answer `model(idx)`; only then, if the model has a method
    `adapt(idx)`, call it with the same rows (score-first test-time adaptation).
  - 3 ADAPT: call `model.adapt(idx)` if the model has it, then answer with no logits.
* answer, server -> client: int32 status. Status 0: for SCORE and SCORE_THEN_ADAPT,
  uint32 rows, length, vocab, then rows*length*vocab float32 logits; for ADAPT, nothing
  more. Status 1: uint32 n, then n bytes of UTF-8 error text, and the server exits.

The model's state may change only in `adapt`: the blind check (evaluators.serving.blind_check)
makes the same `forward`/`adapt` calls on a second server, with the forward rows' later
bytes replaced, and a model whose `forward` remembers what it saw answers that server
differently and is refused. The client only sends a request
after the previous answer arrived, so the model never sees bytes beyond the window it
is scoring. Nothing here is trusted: the client checks every shape and value it
receives. This file imports nothing from the project, so a copy of it runs anywhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import struct
import sys
import traceback
import uuid
from pathlib import Path
from typing import BinaryIO

import torch

MAGIC = b"ARLM"
VERSION = 2
GO = b"G"
VOCAB = 256
EXIT, SCORE, SCORE_THEN_ADAPT, ADAPT = range(4)


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


def answer(model: torch.nn.Module, idx: torch.Tensor) -> bytes:
    with torch.no_grad():
        logits = model(idx)
    logits = logits.detach().to(torch.float32).contiguous()
    shape = tuple(logits.shape)
    if len(shape) != 3:
        raise ValueError(f"model returned logits of shape {shape}, expected [B, T, V]")
    body: bytes = logits.numpy().astype("<f4").tobytes()
    return struct.pack("<iIII", 0, *shape) + body


def serve(model: torch.nn.Module, requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer requests until the client asks to stop or closes the pipe."""
    adapt = getattr(model, "adapt", None)
    while True:
        command, rows, length = struct.unpack("<III", read_exact(requests, 12))
        if command == EXIT:
            return
        if command not in (SCORE, SCORE_THEN_ADAPT, ADAPT):
            raise ValueError(f"unknown command {command}")
        raw = read_exact(requests, rows * length)
        idx = torch.frombuffer(bytearray(raw), dtype=torch.uint8).long().view(rows, length)
        if command == ADAPT:
            if adapt is not None:
                adapt(idx)
            answers.write(struct.pack("<i", 0))
        else:
            answers.write(answer(model, idx))
        answers.flush()
        if command == SCORE_THEN_ADAPT and adapt is not None:
            adapt(idx)


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
        block_size = int(getattr(model, "block_size"))  # noqa: B009  (untyped attribute)
        answers.write(MAGIC + struct.pack("<III", VERSION, block_size, VOCAB))
        answers.flush()
        serve(model, requests, answers)
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
