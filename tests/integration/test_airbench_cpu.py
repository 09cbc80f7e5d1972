"""airbench-cpu end to end: task.toml, MNIST-1D split, catalogue, gate verdicts, real trials."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from agents.catalogues.airbench_cpu import CATALOGUE
from agents.edits import apply_all
from domain.labels import FailureLabel as L
from domain.recipe import make_diff, surfaces_declared, touched_surfaces
from domain.task import TaskSpec
from evaluators.airbench_cpu.prepare import prepare
from tests.golf_support import run_trial, tiny_task

REPO = Path(__file__).resolve().parents[2]
TASK = REPO / "evaluators" / "airbench_cpu"
RECIPE = TASK / "recipe" / "train.py"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("airbench-data")
    prepare(root / "train", root / "heldout", root / "test")
    return root / "train", root / "heldout"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One epoch, under a gate of 0.5 that one epoch clears and a broken recipe misses."""
    root = tmp_path_factory.mktemp("airbench")
    return tiny_task(root, "airbench-cpu", {"EPOCHS": 1}, {"threshold": 0.5}), root / "runs"


def spec() -> TaskSpec:
    return TaskSpec.model_validate(tomllib.loads((TASK / "task.toml").read_text()))


def test_task_toml_is_a_valid_builtin_task() -> None:
    task = spec()
    assert (task.name, task.kind, task.metric.source) == (
        "airbench-cpu",
        "builtin",
        "train_seconds",
    )
    assert task.metric.lower_is_better
    assert task.gate is not None
    assert task.gate.metric == "accuracy"
    assert (task.seeds.per_trial, task.seed_cap, task.keep.name) == (5, 5, "paired")
    assert task.sandbox.hide_packages == ("mnist1d",)
    assert {e.key for e in task.roster} == {"arch", "opt", "aug", "loss", "reg", "generalist"}
    assert task.baseline.gate_value is not None
    assert task.gate.passes(task.baseline.gate_value)  # the seed clears its own gate


def test_the_recipe_declares_the_five_surfaces() -> None:
    declared = surfaces_declared({"train.py": RECIPE.read_text()})
    assert declared == ["arch", "aug", "loss", "opt", "reg"]


def test_prepare_is_deterministic_and_keeps_the_test_split_apart(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    prepare(tmp_path / "train", tmp_path / "heldout", tmp_path / "test")
    names = {"train": ("train_x", "train_y"), "heldout": ("test_x", "test_y")}
    for folder, arrays in names.items():
        for name in arrays:
            first = np.load(data[0].parent / folder / f"{name}.npy")
            assert (np.load(tmp_path / folder / f"{name}.npy") == first).all()
    train_x, test_x = np.load(data[0] / "train_x.npy"), np.load(data[1] / "test_x.npy")
    assert (train_x.shape, test_x.shape) == ((4000, 40), (1000, 40))
    assert not (set(map(bytes, train_x)) & set(map(bytes, test_x)))
    assert not list(data[0].glob("test_*"))


def test_every_catalogue_technique_applies_to_the_seed_recipe_and_compiles() -> None:
    seed = {"train.py": RECIPE.read_text()}
    roster = {e.key for e in spec().roster}
    assert len({t.key for t in CATALOGUE}) == len(CATALOGUE)
    for technique in CATALOGUE:
        child = apply_all(seed, technique.ops)
        compile(child["train.py"], technique.key, "exec")
        assert technique.surface in roster
        assert technique.surface in touched_surfaces(seed, make_diff(seed, child))


def test_a_missing_artifact_is_an_error(data: tuple[Path, Path], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evaluators.airbench_cpu.evaluate", "--artifact",
         str(tmp_path / "nothing"), "--heldout", str(data[1]), "--unsafe-no-sandbox"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    verdict = json.loads(done.stdout.strip().splitlines()[-1])
    assert (verdict["score"], verdict["illegal"]) == (None, "")
    assert "model.py" in verdict["error"]


def test_a_tiny_trial_is_timed_by_the_harness_and_gated(tiny: tuple[Path, Path]) -> None:
    outcome, report = run_trial(*tiny, lambda text: text)
    assert outcome.label is None, outcome.reason
    assert report is not None
    assert report.sandbox == "bwrap"
    seed = report.seeds[0]
    assert outcome.score == seed.train.cpu_s  # the metric: the harness's CPU-seconds of the tree
    assert seed.eval is not None
    assert 0.8 < outcome.measurements["accuracy"] <= 1.0


def test_a_gate_miss_is_disqualified_with_the_mean_accuracy(tiny: tuple[Path, Path]) -> None:
    frozen = lambda text: text.replace("LR = 0.05 ", "LR = 0.0 ")  # noqa: E731  (never learns)
    outcome, _ = run_trial(*tiny, frozen)
    assert outcome.label is L.DISQUALIFIED
    assert outcome.evidence["gate_metric"] == "accuracy"
    assert outcome.evidence["mean"] < outcome.evidence["threshold"] == 0.5
    assert outcome.evidence["margin"] < 0


@pytest.mark.slow  # the protocol test covers it in seconds; this is the whole pipeline
def test_a_model_that_uses_the_test_batch_is_disqualified(tiny: tuple[Path, Path]) -> None:
    transductive = lambda text: text.replace(  # noqa: E731
        "        h = self.features(x[:, None, :]).flatten(1)",
        "        h = self.features((x - x.mean(0))[:, None, :]).flatten(1)",
    )
    outcome, _ = run_trial(*tiny, transductive)
    assert outcome.label is L.DISQUALIFIED
    assert "other rows" in outcome.reason


@pytest.mark.slow
def test_the_seed_recipe_clears_its_gate_at_its_baseline(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    accuracies = []
    for seed in range(5):
        artifact = tmp_path / f"artifact-{seed}"
        env = {"AUTORECIPE_DATA": str(data[0]), "AUTORECIPE_ARTIFACT": str(artifact),
               "AUTORECIPE_SEED": str(seed), "AUTORECIPE_THREADS": "1", "OMP_NUM_THREADS": "1",
               "PATH": "/usr/bin:/bin"}  # fmt: skip
        subprocess.run([sys.executable, str(RECIPE)], env=env, cwd=tmp_path, check=True,
                       capture_output=True)  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "evaluators.airbench_cpu.evaluate", "--artifact",
             str(artifact), "--heldout", str(data[1])],
            cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
        accuracies.append(
            json.loads(done.stdout.strip().splitlines()[-1])["measurements"]["accuracy"]
        )
    mean = sum(accuracies) / 5
    assert mean == pytest.approx(spec().baseline.gate_value, abs=1e-4)
    assert spec().gate is not None
    assert spec().gate.passes(mean)
