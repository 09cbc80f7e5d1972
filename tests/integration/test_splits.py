"""Every built-in task and the example task prepare three splits: train, validation and
test. Preparing twice writes identical bytes, and no test byte, item or row is in train
or validation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluators.airbench_cpu import prepare as airbench
from evaluators.core_cpu import prepare as core
from evaluators.golf_cpu import prepare as golf

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("train", "heldout", "test")


def _prepared(tmp: Path, write) -> tuple[Path, Path, Path]:
    """Prepare into tmp/a and tmp/b; the two must hold the same files, byte for byte."""
    for name in ("a", "b"):
        write(*(tmp / name / folder for folder in FOLDERS))
    files = sorted(p.relative_to(tmp / "a") for p in (tmp / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp / "b") for p in (tmp / "b").rglob("*") if p.is_file())
    assert all((tmp / "a" / f).read_bytes() == (tmp / "b" / f).read_bytes() for f in files)
    assert all(any((tmp / "a" / folder).iterdir()) for folder in FOLDERS)
    train, heldout, test = (tmp / "a" / folder for folder in FOLDERS)
    return train, heldout, test


def _probes(data: bytes, width: int = 64, step: int = 1024) -> list[bytes]:
    return [data[i : i + width] for i in range(0, len(data) - width, step)]


def test_golf_tests_on_the_next_bytes_of_the_held_out_play(tmp_path: Path) -> None:
    train_dir, heldout, test_dir = _prepared(tmp_path, golf.prepare)

    work = golf.corpus_files(golf.corpus_dir())[-1].read_bytes()
    val, test = (heldout / "val.bin").read_bytes(), (test_dir / "val.bin").read_bytes()
    assert val == work[: golf.VAL_BYTES]  # validation as before test splits existed
    assert test == work[golf.VAL_BYTES : golf.VAL_BYTES + golf.TEST_BYTES]
    assert len(test) == golf.TEST_BYTES == 65536
    train = (train_dir / "train.bin").read_bytes()
    assert not [p for p in _probes(test) if p in train or p in val]
    assert not list(train_dir.glob("val*"))
    manifest = json.loads((test_dir / "manifest.json").read_text())
    assert manifest["test"]["offset"] == golf.VAL_BYTES
    assert "test" not in json.loads((heldout / "manifest.json").read_text())


def test_core_splits_its_suite_by_blocks_of_speeches(tmp_path: Path) -> None:
    train_dir, heldout, test_dir = _prepared(tmp_path, core.prepare)

    suites = [json.loads((d / "suite.json").read_text()) for d in (heldout, test_dir)]
    validation, test = ([json.dumps(i, sort_keys=True) for i in s["items"]] for s in suites)
    assert (len(validation), len(test)) == (507, 493)
    assert len(validation) + len(test) == 4 * core.ITEMS_PER_TASK
    assert not set(validation) & set(test)
    assert suites[0]["choices"] == suites[1]["choices"]
    train = (train_dir / "train.bin").read_text(encoding="utf-8", errors="replace")
    lines = [i["choices"][i["answer"]] for i in suites[1]["items"] if i["task"] == "shuffled_line"]
    assert not [line for line in lines if f"\n{line}\n" in train]
    placed = core.build_suite(*_core_inputs(), core.ITEMS_PER_TASK, core.SUITE_SEED)
    assert sorted(core.in_test(p) for p, _ in placed).count(True) == len(test)
    val_speeches = {(p, s) for (p, s, _), _ in placed if not core.in_test((p, s, 0))}
    test_speeches = {(p, s) for (p, s, _), _ in placed if core.in_test((p, s, 0))}
    assert not val_speeches & test_speeches  # no speech gives items to both sides


def _core_inputs() -> tuple[list[object], set[str]]:
    from evaluators.core_cpu.suite import parse_play

    train_files, held = core.split(core.corpus_dir())
    text = b"".join(p.read_bytes() for p in train_files).decode("utf-8", "replace")
    plays = [parse_play(p.read_text(encoding="utf-8")) for p in held]
    return plays, {line.strip() for line in text.splitlines()}


def test_airbench_tests_on_fresh_rows_of_the_same_generator(tmp_path: Path) -> None:
    train_dir, heldout, test_dir = _prepared(tmp_path, airbench.prepare)

    train = np.load(train_dir / "train_x.npy")
    validation, test = (np.load(d / "test_x.npy") for d in (heldout, test_dir))
    assert (train.shape, validation.shape, test.shape) == ((4000, 40), (1000, 40), (1000, 40))
    seen = set(map(bytes, train)) | set(map(bytes, validation))
    assert not set(map(bytes, test)) & seen
    labels = np.load(test_dir / "test_y.npy")
    assert sorted(set(labels.tolist())) == list(range(10))
    assert abs(float(test.mean())) < 0.1  # the generator's own normalisation
    assert abs(float(test.std()) - 1.0) < 0.1
    assert not list(train_dir.glob("test_*"))


def test_the_example_task_draws_its_test_points_last(tmp_path: Path) -> None:
    def write(train: Path, heldout: Path, test: Path) -> None:
        for folder in (train, heldout, test):
            folder.mkdir(parents=True)
        script = ROOT / "docs" / "example-task" / "prepare.py"
        argv = ["--train", str(train), "--heldout", str(heldout), "--test", str(test)]
        subprocess.run([sys.executable, str(script), *argv], check=True)

    train_dir, heldout, test_dir = _prepared(tmp_path, write)

    data = [np.load(d / name) for d, name in ((train_dir, "train.npz"), (heldout, "heldout.npz"))]
    test = np.load(test_dir / "heldout.npz")
    assert [len(d["x"]) for d in (*data, test)] == [1000, 200, 200]
    assert not set(test["x"].ravel()) & (set(data[0]["x"].ravel()) | set(data[1]["x"].ravel()))
    rng = np.random.default_rng(1234)  # train and validation as before the test split
    x = rng.uniform(-2, 2, size=(1200, 1))
    assert np.array_equal(np.concatenate([data[0]["x"], data[1]["x"]]), x)


@pytest.mark.parametrize("task", ["golf_cpu", "core_cpu", "airbench_cpu"])
def test_every_builtin_task_declares_its_test_split(task: str) -> None:
    from evaluators.tasks import load

    spec = load(task.replace("_", "-")).spec
    assert spec.test is not None
    assert spec.test_seeds == spec.seed_cap
    assert "{test}" in spec.commands.prepare
