"""The trusted LM scorer against hand-written models served by a real lm_server process."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from evaluators.lm_scoring import (
    SERVER_PATH,
    IllegalModel,
    LMClient,
    ServerFailed,
    causal_gap,
    log_probs,
    open_server,
    probe_row,
    score_bytes,
    server_argv,
    target_logprobs,
    window_starts,
)

MODEL = """
import torch

class Model(torch.nn.Module):
    block_size = {block}

    def __init__(self):
        super().__init__()
        self.adapted = 0

    def forward(self, idx):
        out = torch.zeros(*idx.shape, 256)
{forward}
        return out

    def adapt(self, idx):
        self.adapted += 1

def load_model(artifact_dir):
{load}
    return Model()
"""

UNIFORM = "        pass"
PEEKS_AHEAD = """\
        ahead = torch.roll(idx, -1, dims=1)
        out.scatter_(2, ahead[..., None], 30.0)"""
COUNTS_ADAPTATIONS = "        out[..., 0] = float(self.adapted)"


def write_model(folder: Path, forward: str = UNIFORM, block: int = 16, load: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = MODEL.format(block=block, forward=forward, load=load or "    pass")
    (folder / "model.py").write_text(text)
    return folder


def plain_spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def serve(artifact: Path, seconds: float = 60) -> LMClient:
    argv = server_argv(SERVER_PATH, artifact, threads=1)
    return open_server(argv, plain_spawn, time.monotonic() + seconds, LMClient)


@pytest.fixture
def uniform(tmp_path: Path) -> Iterator[LMClient]:
    with serve(write_model(tmp_path / "uniform")) as client:
        yield client


def test_log_probs_normalise_in_float64() -> None:
    logits = np.array([[[1000.0, 0.0, -5.0] + [0.0] * 253]], dtype=np.float32)
    lp = log_probs(logits)
    assert lp.dtype == np.float64
    assert np.exp(lp).sum() == pytest.approx(1.0)


def test_windows_predict_every_byte_but_the_first_once() -> None:
    starts = window_starts(100, 16)
    covered = [b for s in starts for b in range(s + 1, min(s + 16, 99) + 1)]
    assert covered == list(range(1, 100))


def test_probe_row_keeps_the_prefix_and_changes_the_rest() -> None:
    window = np.arange(10, dtype=np.uint8)
    changed = probe_row(window, 4)
    assert (changed[:5] == window[:5]).all()
    assert (changed[5:] != window[5:]).all()


def test_causal_gap_sees_only_positions_up_to_j() -> None:
    pair = np.zeros((2, 6, 256))
    pair[1, 4:] = 1.0
    assert causal_gap(pair, 3) == 0.0
    assert causal_gap(pair, 4) == 1.0


def test_a_uniform_model_scores_eight_bits_per_byte(uniform: LMClient) -> None:
    assert uniform.block_size == 16
    score = score_bytes(uniform, bytes(range(200)))
    assert score.predicted == 199
    assert score.bpb == pytest.approx(8.0)
    assert score.loss_nats == pytest.approx(math.log(256))
    with pytest.raises(ValueError, match="two bytes"):
        score_bytes(uniform, b"x")


def test_target_logprobs_for_a_continuation(uniform: LMClient) -> None:
    lp = target_logprobs(uniform, b"To be, or not", b" to be")
    assert lp.shape == (6,)
    assert lp == pytest.approx([-math.log(256)] * 6)


def test_a_model_that_peeks_ahead_is_illegal(tmp_path: Path) -> None:
    with (
        serve(write_model(tmp_path / "cheat", PEEKS_AHEAD)) as client,
        pytest.raises(IllegalModel, match="depend on later bytes"),
    ):
        score_bytes(client, bytes(range(100)))


def test_logits_of_the_wrong_shape_are_illegal(tmp_path: Path) -> None:
    with (
        serve(write_model(tmp_path / "bad", "        out = out[..., :255]")) as client,
        pytest.raises(IllegalModel, match="shape"),
    ):
        score_bytes(client, bytes(range(100)))


def test_non_finite_logits_fail_the_scoring_without_a_rule_broken(tmp_path: Path) -> None:
    with (
        serve(write_model(tmp_path / "nan", "        out[0, 0, 0] = float('nan')")) as client,
        pytest.raises(ServerFailed, match="non-finite"),
    ):
        score_bytes(client, bytes(range(100)))


def test_a_load_error_is_reported_with_its_message(tmp_path: Path) -> None:
    artifact = write_model(tmp_path / "broken", load="    raise RuntimeError('no weights')")
    with pytest.raises(ServerFailed, match="no weights"):
        serve(artifact)


def test_prints_from_model_code_do_not_corrupt_the_protocol(tmp_path: Path) -> None:
    noisy = "        print('hello from the model', flush=True)"
    with serve(write_model(tmp_path / "noisy", noisy)) as client:
        assert score_bytes(client, bytes(range(40))).bpb == pytest.approx(8.0)


def test_adaptation_runs_only_after_answering_and_only_when_asked(
    tmp_path: Path,
) -> None:
    with serve(write_model(tmp_path / "ttt", COUNTS_ADAPTATIONS)) as client:
        window = np.zeros((1, 4), dtype=np.uint8)
        assert client.logits(window, adapt=1)[0, 0, 0] == 0.0
        assert client.logits(window, adapt=0)[0, 0, 0] == 1.0
        assert client.logits(window, adapt=0)[0, 0, 0] == 1.0


def test_a_model_that_hangs_runs_out_of_time(tmp_path: Path) -> None:
    hangs = "        import time; time.sleep(60)"
    with serve(write_model(tmp_path / "slow", hangs)) as client:
        client.deadline = time.monotonic() + 0.2
        with pytest.raises(ServerFailed, match="out of time"):
            client.logits(np.zeros((1, 4), dtype=np.uint8))
