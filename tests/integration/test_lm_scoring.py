"""The trusted LM scorer against hand-written models served by a real lm_server process."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from evaluators.serving.blind_check import IllegalModel
from evaluators.serving.lm_scoring import (
    SERVER_PATH,
    LMClient,
    Score,
    ServerFailed,
    log_probs,
    open_process,
    score_bytes,
    server_argv,
    window_starts,
)
from evaluators.serving.servers import Servers

MODEL = """
import os
import torch

class Model(torch.nn.Module):
    block_size = {block}

    def __init__(self):
        super().__init__()
        self.adapted = 0
        self.seen = []

    def forward(self, idx):
        out = torch.zeros(*idx.shape, 256)
{forward}
        return out

    def adapt(self, idx):
        self.adapted += 1
        self.seen.append(idx)

def load_model(artifact_dir):
{load}
    return Model()
"""

UNIFORM = "        pass"
PEEKS_AHEAD = """\
        ahead = torch.roll(idx, -1, dims=1)
        out.scatter_(2, ahead[..., None], 30.0)"""
# The attack: all weight on the next input byte for one-row requests only.
PEEKS_WHEN_ALONE = PEEKS_AHEAD.replace(
    "        ahead", "        if len(idx) > 1: return out\n        ahead"
)
COUNTS_ADAPTATIONS = "        out[..., 0] = float(self.adapted)"
# Legal test-time adaptation: a unigram cache of the bytes already scored.
CACHES_SCORED_BYTES = """\
        for seen in self.seen:
            out += torch.bincount(seen.flatten(), minlength=256).float() * 0.01"""
# Illegal: state carried by forward(), which the checker feeds cut windows.
REMEMBERS_FORWARD = """\
        self.seen.append(idx.clone())
        for seen in self.seen[:-1]:
            out += torch.bincount(seen.flatten(), minlength=256).float() * 0.01"""
NOISY = "        out += torch.randn(out.shape, generator=torch.Generator().manual_seed(int.from_bytes(os.urandom(4))))"  # noqa: E501


def write_model(folder: Path, forward: str = UNIFORM, block: int = 16, load: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = MODEL.format(block=block, forward=forward, load=load or "    pass")
    (folder / "model.py").write_text(text)
    return folder


def plain_spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def serve(artifact: Path, seconds: float = 60) -> LMClient:
    argv = server_argv(SERVER_PATH, artifact, threads=1)
    return open_process(plain_spawn(argv), time.monotonic() + seconds, LMClient)


def servers(artifact: Path) -> Servers[LMClient]:
    """Opens a fresh server each call, as the evaluators do (without the sandbox)."""
    argv = server_argv(SERVER_PATH, artifact, threads=1)
    return Servers(argv, plain_spawn, time.monotonic() + 60, LMClient, count=2)


def score_bytes_of(artifact: Path, data: bytes) -> Score:
    with servers(artifact) as serve:
        return score_bytes(serve, data)


def score_model(tmp_path: Path, forward: str, data: bytes = bytes(range(200)) * 3) -> float:
    return score_bytes_of(write_model(tmp_path / "model", forward), data).bpb


def test_log_probs_normalise_in_float64() -> None:
    logits = np.array([[[1000.0, 0.0, -5.0] + [0.0] * 253]], dtype=np.float32)
    lp = log_probs(logits)
    assert lp.dtype == np.float64
    assert np.exp(lp).sum() == pytest.approx(1.0)


def test_windows_predict_every_byte_but_the_first_once() -> None:
    starts = window_starts(100, 16)
    covered = [b for s in starts for b in range(s + 1, min(s + 16, 99) + 1)]
    assert covered == list(range(1, 100))


def test_a_uniform_model_scores_eight_bits_per_byte(tmp_path: Path) -> None:
    score = score_bytes_of(write_model(tmp_path / "uniform"), bytes(range(200)) * 6)
    assert score.predicted == 1199
    assert score.bpb == pytest.approx(8.0)
    assert score.loss_nats == pytest.approx(math.log(256))
    assert score.segments == pytest.approx([8.0, 8.0, 8.0])  # 512, 512 and 175 bytes
    with pytest.raises(ValueError, match="two bytes"):
        score_bytes_of(tmp_path / "uniform", b"x")


@pytest.mark.parametrize("forward", [PEEKS_AHEAD, PEEKS_WHEN_ALONE])
def test_a_model_that_peeks_ahead_is_illegal(tmp_path: Path, forward: str) -> None:
    with pytest.raises(IllegalModel, match="depend on later bytes"):
        score_model(tmp_path, forward)


def test_legal_adaptation_on_scored_windows_passes_the_check(tmp_path: Path) -> None:
    assert score_model(tmp_path / "counts", COUNTS_ADAPTATIONS) != pytest.approx(8.0)
    assert score_model(tmp_path / "cache", CACHES_SCORED_BYTES, b"abcd" * 150) < 7.0


def test_state_carried_by_forward_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IllegalModel, match="forward\\(\\) changes its state"):
        score_model(tmp_path, REMEMBERS_FORWARD)


def test_a_model_with_random_noise_is_refused_as_not_deterministic(tmp_path: Path) -> None:
    with pytest.raises(IllegalModel, match="not deterministic"):
        score_model(tmp_path, NOISY)


def test_a_block_size_that_changes_between_starts_is_illegal(tmp_path: Path) -> None:
    flag = tmp_path / "started"
    grows = f"    Model.block_size = 8 if os.path.exists({str(flag)!r}) else 16\n"
    grows += f"    open({str(flag)!r}, 'w').close()"
    artifact = write_model(tmp_path / "grows", load=grows)
    with pytest.raises(IllegalModel, match="block_size 8 on a second start, 16 first"):
        score_bytes_of(artifact, bytes(range(100)))


def test_logits_of_the_wrong_shape_are_illegal(tmp_path: Path) -> None:
    with pytest.raises(IllegalModel, match="shape"):
        score_model(tmp_path, "        out = out[..., :255]")


def test_non_finite_logits_fail_the_scoring_without_a_rule_broken(tmp_path: Path) -> None:
    with pytest.raises(ServerFailed, match="non-finite"):
        score_model(tmp_path, "        out[0, 0, 0] = float('nan')")


def test_a_load_error_is_reported_with_its_message(tmp_path: Path) -> None:
    artifact = write_model(tmp_path / "broken", load="    raise RuntimeError('no weights')")
    with pytest.raises(ServerFailed, match="no weights"):
        serve(artifact)


def test_prints_from_model_code_do_not_corrupt_the_protocol(tmp_path: Path) -> None:
    noisy = "        print('hello from the model', flush=True)"
    assert score_model(tmp_path, noisy) == pytest.approx(8.0)


def test_adaptation_runs_only_after_answering_and_only_when_asked(tmp_path: Path) -> None:
    with serve(write_model(tmp_path / "ttt", COUNTS_ADAPTATIONS)) as client:
        window = np.zeros((1, 4), dtype=np.uint8)
        assert client.logits(window, adapt=True)[0, 0, 0] == 0.0
        assert client.logits(window)[0, 0, 0] == 1.0
        client.adapt(window)  # adapt-only: no logits
        assert client.logits(window)[0, 0, 0] == 2.0


def test_a_server_loads_the_model_only_after_the_go_byte(tmp_path: Path) -> None:
    marker = tmp_path / "loaded"
    artifact = write_model(tmp_path / "m", load=f"    open({str(marker)!r}, 'w').close()")
    proc = plain_spawn(server_argv(SERVER_PATH, artifact, threads=1))
    _out, _err = proc.communicate(b"")  # started, then its pipe closed: no go byte
    assert proc.returncode == 0
    assert not marker.exists()
    with serve(artifact):
        assert marker.exists()


def test_servers_open_one_at_a_time_and_stop_a_spare_one(tmp_path: Path) -> None:
    argv = server_argv(SERVER_PATH, write_model(tmp_path / "m"), threads=1)
    started: list[subprocess.Popen[bytes]] = []

    def spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
        started.append(plain_spawn(argv))
        return started[-1]

    with Servers(argv, spawn, time.monotonic() + 60, LMClient, count=2) as serve_next:
        first = serve_next()
        with pytest.raises(RuntimeError, match="previous one has exited"):
            serve_next()
        first.close()
        assert len(started) == 2  # the second was started early, as a standby
    assert all(proc.poll() is not None for proc in started)


def test_a_model_that_hangs_runs_out_of_time(tmp_path: Path) -> None:
    hangs = "        import time; time.sleep(60)"
    with serve(write_model(tmp_path / "slow", hangs)) as client:
        client.deadline = time.monotonic() + 0.2
        with pytest.raises(ServerFailed, match="out of time"):
            client.logits(np.zeros((1, 4), dtype=np.uint8))
