"""The adversarial suites' world: a tiny task, its data, a ledger and another trial's
folder to aim at; attacks run as real trials, and an honest trial after each must
still score as it did before any attack."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from domain.labels import FailureLabel
from domain.ports import Outcome
from domain.reports import RunReport
from evaluators.harness.staging import data_dirs
from evaluators.tasks import load
from tests.golf_support import TRIAL_RUN_DIR, Edit, run_trial

TRAINING_ONLY = 'if os.environ.get("AUTORECIPE_SMOKE") != "1":\n'
HONEST: Edit = lambda text: text  # noqa: E731


def during_training(code: str) -> str:
    """Run `code` at the start of a real training run (not in the smoke run)."""
    return TRAINING_ONLY + "".join(f"    {line}\n" for line in code.strip("\n").splitlines())


def make_world(task: Path, runs: Path) -> dict[str, Any]:
    """Prepare the task's data, score its seed recipe, and plant targets to aim at."""
    honest, _ = run_trial(task, runs, HONEST)
    assert honest.label is None, honest.reason
    ledger = runs / "ledger.sqlite"
    ledger.write_bytes(b"SQLite format 3\x00 pretend ledger")
    other = runs / "searches" / "other" / "trial-0009"
    (other / "work").mkdir(parents=True)
    (other / "work" / "train.py").write_text("# another trial's recipe\n")
    spec = load(str(task))
    _, heldout = data_dirs(spec, runs / "data")
    return {
        "task": task,
        "runs": runs,
        "honest": honest.score,
        "timed": spec.spec.metric.source == "train_seconds",  # a wall clock: not repeatable
        "ledger": ledger,
        "other": other / "work" / "train.py",
        "other_artifact": other / "artifacts" / "0",
        "heldout": heldout,
        "evaluate": task / "evaluate.py",
    }


def _fingerprint(root: Path) -> dict[str, str]:
    """Hashes of every file outside the trial's own run dir (what a recipe must never
    change); another trial's folder is in it."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and f"/{TRIAL_RUN_DIR}/" not in str(p)
    }


def attempt(world: dict[str, Any], edit: Edit, **kwargs: Any) -> tuple[Outcome, RunReport]:
    before = _fingerprint(world["task"].parent)
    outcome, report = run_trial(world["task"], world["runs"], edit, **kwargs)
    assert _fingerprint(world["task"].parent) == before, "something outside the work dir changed"
    assert report is not None
    return outcome, report


def assert_failed(outcome: Outcome, label: FailureLabel, *fragments: str) -> None:
    assert outcome.label is label, (outcome.label, outcome.reason)
    assert outcome.score is None
    text = outcome.reason + repr(outcome.evidence) + outcome.log_excerpt
    for fragment in fragments:
        assert fragment in text, text[-600:]


def honest_still_scores(world: dict[str, Any]) -> None:
    """The seed recipe, right after an attack: valid, with the same score as before any
    attack (a time-to-accuracy score is a wall clock: only its validity repeats)."""
    outcome, _ = run_trial(world["task"], world["runs"], HONEST)
    assert outcome.label is None, outcome.reason
    assert outcome.score is not None
    if not world["timed"]:
        assert outcome.score == pytest.approx(world["honest"], abs=0.01)


def trial_dir(world: dict[str, Any]) -> Path:
    return world["runs"] / TRIAL_RUN_DIR
