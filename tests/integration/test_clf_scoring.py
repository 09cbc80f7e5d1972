"""The tensor server's protocol and the trusted classifier scoring, with real server processes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from evaluators.serving.blind_check import IllegalModel
from evaluators.serving.clf_scoring import SERVER_PATH, TensorClient, classify, correct
from evaluators.serving.lm_scoring import ServerFailed, open_process, server_argv
from evaluators.serving.servers import Servers

MODEL = """
import os
import torch

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
{forward}

def load_model(artifact_dir):
{load}
    return Model()
"""

# The class is the index of the largest of the first 10 inputs: a perfect "classifier".
ARGMAX = "        return x[:, :10] * 1.0"


def write_model(folder: Path, forward: str = ARGMAX, load: str = "    pass") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(MODEL.format(forward=forward, load=load))
    return folder


def plain_spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def serve(artifact: Path, seconds: float = 60) -> TensorClient:
    argv = server_argv(SERVER_PATH, artifact, threads=1)
    return open_process(plain_spawn(argv), time.monotonic() + seconds, TensorClient)


def classify_with(artifact: Path, inputs: np.ndarray) -> np.ndarray:
    """Logits from two fresh servers, as the evaluator gets them (without the sandbox)."""
    argv = server_argv(SERVER_PATH, artifact, threads=1)
    with Servers(argv, plain_spawn, time.monotonic() + 60, TensorClient, count=2) as serve:
        return classify(serve, inputs, 10)


def data(rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((rows, 40)).astype(np.float32)
    return inputs, inputs[:, :10].argmax(axis=1).astype(np.int64)


def test_outputs_round_trip_any_shape_exactly(tmp_path: Path) -> None:
    with serve(write_model(tmp_path / "identity", "        return x")) as client:
        for shape in [(1, 3), (7, 2, 5), (4,)]:
            batch = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 3
            assert (client.outputs(batch, shape) == batch).all()


def test_accuracy_is_computed_here_from_the_logits(tmp_path: Path) -> None:
    inputs, labels = data()
    logits = classify_with(write_model(tmp_path / "argmax"), inputs)
    assert logits.shape == (600, 10)
    assert correct(logits, labels).tolist() == [1.0] * 600  # in the order of the inputs
    assert correct(logits, (labels + 1) % 10).sum() == 0.0


def test_outputs_of_the_wrong_shape_are_illegal(tmp_path: Path) -> None:
    with pytest.raises(IllegalModel, match="shape"):
        classify_with(write_model(tmp_path / "nine", "        return x[:, :9]"), data()[0])


# Transductive inference: each row judged against the rest of its batch. The second one
# answers one-row requests honestly, which passed the old probe (the first row, alone).
@pytest.mark.parametrize(
    "forward",
    [
        "        return x[:, :10] - x[:, :10].mean(0)",
        "        return x[:, :10] - (x[:, :10].mean(0) if len(x) > 1 else 0)",
    ],
)
def test_a_model_that_looks_at_the_rest_of_the_batch_is_illegal(
    tmp_path: Path, forward: str
) -> None:
    with pytest.raises(IllegalModel, match="other rows"):
        classify_with(write_model(tmp_path / "batch", forward), data()[0])


def test_a_model_that_learns_from_the_test_inputs_while_scored_is_illegal(
    tmp_path: Path,
) -> None:
    learns = """\
        self.seen = getattr(self, "seen", 0) + x[:, :10].sum(0)
        return x[:, :10] - self.seen / 1000"""
    with pytest.raises(IllegalModel, match="forward\\(\\) changes its state"):
        classify_with(write_model(tmp_path / "learns", learns), data()[0])


def test_a_model_with_random_noise_is_refused_as_not_deterministic(tmp_path: Path) -> None:
    noisy = "        return x[:, :10] + os.urandom(1)[0] / 1e3"
    with pytest.raises(IllegalModel, match="not deterministic"):
        classify_with(write_model(tmp_path / "noisy", noisy), data()[0])


def test_non_finite_outputs_fail_without_a_rule_broken(tmp_path: Path) -> None:
    nan = "        return x[:, :10] * float('nan')"
    with pytest.raises(ServerFailed):
        classify_with(write_model(tmp_path / "nan", nan), data()[0])


def test_a_load_error_is_reported_with_its_message(tmp_path: Path) -> None:
    artifact = write_model(tmp_path / "broken", load="    raise RuntimeError('no weights')")
    with pytest.raises(ServerFailed, match="no weights"):
        serve(artifact)


def test_prints_from_model_code_do_not_corrupt_the_protocol(tmp_path: Path) -> None:
    noisy = "        print('hello', flush=True)\n        return x[:, :10] * 1.0"
    inputs, labels = data()
    assert correct(classify_with(write_model(tmp_path / "noisy", noisy), inputs), labels).all()


def test_a_model_that_hangs_runs_out_of_time(tmp_path: Path) -> None:
    with serve(write_model(tmp_path / "slow", "        import time; time.sleep(60)")) as client:
        client.deadline = time.monotonic() + 0.2
        with pytest.raises(ServerFailed, match="out of time"):
            client.outputs(np.zeros((1, 40), np.float32), (1, 10))


def test_close_stops_the_server(tmp_path: Path) -> None:
    client = serve(write_model(tmp_path / "argmax"))
    client.close()
    assert client.proc.returncode is not None
