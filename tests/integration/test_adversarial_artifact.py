"""Attacks on the artifact: bytes smuggled past the count, and files the evaluator would
read from somewhere else. The harness copies the artifact's file contents into a folder
of its own (evaluators/harness/artifact.py); each attack ends with its label and no score, and
an honest trial after it still scores as before. Real sandbox, real processes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from domain.labels import FailureLabel as L
from tests.adversarial_support import (
    TRAINING_ONLY,
    assert_failed,
    attempt,
    honest_still_scores,
    make_world,
    trial_dir,
)
from tests.golf_support import AFTER_ARTIFACT, insert_after, tiny_golf

EXAMPLE_TASK = Path(__file__).resolve().parents[2] / "docs" / "example-task"


def after_training(code: str) -> str:
    """`code` after the artifact is written, in the timed run only (the smoke run's
    artifact stays honest, so the preflight projection passes)."""
    return TRAINING_ONLY + "".join(f"    {line}\n" for line in code.strip("\n").splitlines())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("adv-artifact")
    return make_world(tiny_golf(root), root / "runs")


# Bytes: names count, and so do hard-linked files.


def test_weights_hidden_in_thousands_of_file_names_are_size_blocked(world):
    code = """
hexed = packed.hex()
for i in range(0, len(hexed), 90):
    (artifact / f"w{i // 90:05d}{hexed[i:i + 90]}").touch()
(artifact / "weights.bin").write_bytes(b"")
"""
    outcome, _ = attempt(world, insert_after(AFTER_ARTIFACT, after_training(code)))
    assert_failed(outcome, L.SIZE_BLOCKED, "over the 64-file cap")
    assert outcome.evidence["rule"] == "files"
    assert len(json.dumps(outcome.evidence)) < 1000  # five names quoted, not thousands
    honest_still_scores(world)


def test_names_under_the_count_cap_are_counted_as_bytes(world):
    code = "for i in range(60):\n    (artifact / f\"n{i:02d}{'a' * 95}\").touch()"
    outcome, report = attempt(world, insert_after(AFTER_ARTIFACT, after_training(code)))
    assert_failed(outcome, L.SIZE_BLOCKED, "over the 147,000 B cap")
    files = report.seeds[0].artifact_files
    assert len(files) == 62
    names = sum(len(name.encode()) for name in files)
    assert names == 60 * 98 + len("model.py") + len("weights.bin")
    assert report.seeds[0].artifact_bytes == sum(files.values()) + names
    honest_still_scores(world)


def test_a_hard_linked_file_is_copied_and_counted(world):
    code = """
Path("stash.bin").write_bytes(os.urandom(100_000))  # outside the artifact folder
os.link("stash.bin", artifact / "extra.bin")
"""
    outcome, report = attempt(world, insert_after(AFTER_ARTIFACT, after_training(code)))
    assert_failed(outcome, L.SIZE_BLOCKED, "over the 147,000 B cap")
    assert report.seeds[0].artifact_files["extra.bin"] == 100_000
    honest_still_scores(world)


XATTR_WEIGHTS = """
for i in range(0, len(packed), 4000):
    (artifact / f"x{i // 4000:03d}").touch()
    os.setxattr(artifact / f"x{i // 4000:03d}", "user.w", packed[i:i + 4000])
(artifact / "weights.bin").unlink()
"""
XATTR_LOAD = """
parts = sorted(Path(artifact_dir).glob("x*"))
if parts:
    state, config = unpack_state(b"".join(os.getxattr(p, "user.w") for p in parts))
    model = GPT(config)
    model.load_state_dict(state)
    return model.eval()
"""
LOAD_MODEL = '"""Rebuild the network from the packed weights in an artifact folder."""'


def test_weights_in_extended_attributes_never_reach_the_evaluator(world):
    def edit(text: str) -> str:
        text = insert_after(AFTER_ARTIFACT, after_training(XATTR_WEIGHTS))(text)
        return insert_after(LOAD_MODEL, XATTR_LOAD)(text)

    outcome, report = attempt(world, edit)
    assert_failed(outcome, L.CRASH, "No data available")  # the copy has no xattrs
    assert report.seeds[0].artifact_files["x000"] == 0
    honest_still_scores(world)


# What the evaluator reads: plain files, in a folder the harness made.


def test_an_artifact_folder_that_is_a_link_is_disqualified(world):
    target = str(world["other_artifact"])
    code = f"shutil.rmtree(artifact)\nos.symlink({target!r}, artifact)"
    outcome, _ = attempt(world, insert_after(AFTER_ARTIFACT, after_training(code)))
    assert_failed(outcome, L.DISQUALIFIED, "is not a plain folder")
    assert outcome.evidence["rule"] == "not_a_folder"
    honest_still_scores(world)


@pytest.mark.parametrize(
    ("code", "rule", "fragment"),
    [
        ("os.mkfifo(artifact / 'pipe')", "special", "FIFOs"),
        ("import socket\nsocket.socket(socket.AF_UNIX).bind('artifact/sock')", "special", "sock"),
        ("os.symlink('/dev/zero', artifact / 'zeros')", "link", "symbolic links"),
        ("(artifact / 'sub').mkdir()\n(artifact / 'sub' / 'w').write_bytes(b'1')", "folder", "sub"),
        ("(artifact / '.hidden').write_bytes(b'1')", "name", ".hidden"),
    ],
    ids=["fifo", "socket", "device-link", "folder", "name"],
)
def test_anything_but_plain_files_in_the_artifact_is_disqualified(world, code, rule, fragment):
    outcome, _ = attempt(world, insert_after(AFTER_ARTIFACT, after_training(code)))
    assert_failed(outcome, L.DISQUALIFIED, fragment)
    assert outcome.evidence["rule"] == rule
    honest_still_scores(world)


@pytest.fixture(scope="module")
def example_world(tmp_path_factory):
    """docs/example-task, whose evaluator runs outside the sandbox and reads the
    artifact folder it is given, and another trial's artifact that scores well."""
    root = tmp_path_factory.mktemp("adv-example")
    task = root / "example"
    shutil.copytree(EXAMPLE_TASK, task, ignore=shutil.ignore_patterns("__pycache__"))
    world = make_world(task, root / "runs")
    world["other_artifact"].mkdir(parents=True)
    honest = trial_dir(world) / "artifacts" / "0" / "weights.json"
    shutil.copyfile(honest, world["other_artifact"] / "weights.json")
    return world


def test_the_example_evaluator_never_scores_another_trials_artifact(example_world):
    target = str(example_world["other_artifact"])
    code = (
        "if os.environ['AUTORECIPE_SMOKE'] != '1':\n"
        "    os.remove(artifact / 'weights.json')\n"
        "    os.rmdir(artifact)\n"
        f"    os.symlink({target!r}, artifact)"
    )
    anchor = '(artifact / "weights.json").write_text(json.dumps(weights))'
    outcome, _ = attempt(example_world, insert_after(anchor, code))
    assert_failed(outcome, L.DISQUALIFIED, "is not a plain folder")
    honest_still_scores(example_world)
