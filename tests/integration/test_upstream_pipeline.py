"""Upstream tasks through the real trial pipeline and classifier, on CPU.

A task folder made by `init` from a fake checkout runs as a search would run it with
--unsafe-no-sandbox: the local runner starts the pipeline, which stages the recipe, runs
the smoke preflight and each seed through the wrapper, measures the artifact itself,
runs the evaluate command and classifies. Only the upstream script is a fake.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from domain.labels import FailureLabel as L
from domain.ports import Outcome
from domain.reports import RunReport
from domain.trial import ProgressSample
from evaluators.evaluator import TaskEvaluator
from runners.local import LocalRunner
from tests.golf_support import one_job
from tests.upstream_support import fake_task

QUICK = {"train_seconds": 1, "tolerance_seconds": 0, "eval_seconds": 1, "train_grace_seconds": 0.5}
CAP = 16_000_000


def trial(
    task: Path, smoke: bool = True, seeds: tuple[int, ...] = (0,)
) -> tuple[Outcome, RunReport, list[ProgressSample]]:
    runs = task.parent / "runs"
    evaluator = TaskEvaluator.open(str(task), runs, sandbox=False)
    recipe = evaluator.seed_recipe()
    job = one_job(evaluator, recipe, seeds, smoke)
    samples: list[ProgressSample] = []
    report = LocalRunner().run(job, lambda _seed, batch: samples.extend(batch), threading.Event())
    return evaluator.classify(report, seeds), report, samples


def test_golf_valid_trial_scores_the_final_bpb_with_harness_bytes(tmp_path):
    outcome, report, samples = trial(fake_task(tmp_path, "parameter-golf", "pg_baseline.log"))
    assert outcome.label is None, outcome.reason
    assert outcome.score == pytest.approx(2.78991234)
    assert [s.step for s in samples] == [1, 2, 3, 4, 5, 6]
    seed = report.seeds[0]
    code = seed.artifact_files["train_gpt.py"]
    assert seed.artifact_files == {"train_gpt.py": code, "final_model.int8.ptz": 1500}
    names = len("train_gpt.py") + len("final_model.int8.ptz")  # names count as bytes
    assert report.preflight.projected_bytes == code + 1500 + names  # the smoke run's artifact
    m = outcome.measurements
    assert m["artifact_bytes"] == code + 1500 + names
    assert m["train_phase_s"] == pytest.approx(0.6, abs=0.3)  # the fixture's delays
    assert m["reported_bytes"] == 5400  # the script's own claim, recorded only


def test_golf_model_over_the_cap_is_size_blocked_before_training(tmp_path):
    outcome, report, _ = trial(fake_task(tmp_path, "parameter-golf", "pg_oversize.log"))
    assert outcome.label is L.SIZE_BLOCKED
    assert outcome.evidence["stage"] == "preflight"
    assert outcome.evidence["projected_bytes"] > CAP
    assert report.seeds == ()  # no GPU time spent on training


def test_golf_artifact_over_the_cap_after_training_is_size_blocked(tmp_path):
    outcome, _, _ = trial(fake_task(tmp_path, "parameter-golf", "pg_oversize.log"), smoke=False)
    assert outcome.label is L.SIZE_BLOCKED
    assert outcome.evidence["cap_bytes"] == CAP
    assert outcome.evidence["artifact_bytes"] > CAP


def test_golf_crash_names_the_exception_and_its_recipe_line(tmp_path):
    outcome, _, _ = trial(fake_task(tmp_path, "parameter-golf", "pg_crash.log"), smoke=False)
    assert outcome.label is L.CRASH
    exception = outcome.evidence["exception"]
    assert exception["type"] == "torch.OutOfMemoryError"
    assert exception["where"] == "train_gpt.py:690 in forward"
    assert "CUDA out of memory" in outcome.reason


def test_golf_crash_in_the_smoke_run_is_a_preflight_crash(tmp_path):
    outcome, _, _ = trial(fake_task(tmp_path, "parameter-golf", "pg_crash.log"))
    assert outcome.label is L.PREFLIGHT_CRASH
    assert outcome.evidence["exception"]["where"] == "train_gpt.py:690 in forward"


@pytest.fixture(scope="module")
def golf_eval_overrun(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-overrun")
    return trial(fake_task(root, "parameter-golf", "pg_eval_overrun.log", phases=QUICK), False)


def test_golf_evaluation_overrun_fails_the_trial_with_its_reason(golf_eval_overrun):
    outcome, report, _ = golf_eval_overrun
    assert outcome.label is not None
    assert outcome.reason.startswith("eval_budget_overrun: evaluation passed its 1 s cap")
    assert report.seeds[0].eval is not None


def test_golf_evaluation_overrun_is_labelled_as_such(golf_eval_overrun):
    assert golf_eval_overrun[0].label is L.EVAL_BUDGET_OVERRUN


def test_nanochat_valid_trial_scores_core(tmp_path):
    outcome, _, samples = trial(fake_task(tmp_path, "nanochat-d12", "nc_success.log"))
    assert outcome.label is None, outcome.reason
    assert outcome.score == pytest.approx(0.1702)
    assert outcome.measurements["val_bpb"] == pytest.approx(1.234567)
    assert len(samples) == 4


def test_nanochat_past_its_wall_cap_is_a_train_budget_overrun(tmp_path):
    task = fake_task(
        tmp_path,
        "nanochat-d12",
        "nc_hang.log",
        toml=[("train_seconds = 5400", "train_seconds = 2")],
    )
    outcome, report, _ = trial(task, smoke=False)
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN
    assert report.seeds[0].train.timed_out


def airbench(root: Path, fixture: str, **changes: object) -> Path:
    seeds = [("per_trial = 10", "per_trial = 2")]
    return fake_task(root, "airbench96", fixture, toml=seeds + list(changes.pop("toml", [])))


def test_airbench_valid_trial_scores_the_harness_time(tmp_path):
    outcome, report, _ = trial(airbench(tmp_path, "ab_success.log"), seeds=(0, 1))
    assert outcome.label is None, outcome.reason
    walls = [s.train.wall_s for s in report.seeds]
    assert outcome.score == pytest.approx(sum(walls) / 2)  # the harness's clock, not 3.4005
    assert outcome.measurements["accuracy"] == pytest.approx(0.9612)


def test_airbench_mean_accuracy_below_the_gate_is_disqualified(tmp_path):
    outcome, _, _ = trial(airbench(tmp_path, "ab_miss.log"), seeds=(0, 1))
    assert outcome.label is L.DISQUALIFIED
    assert outcome.evidence["mean"] == pytest.approx(0.955)
    assert outcome.evidence["threshold"] == 0.96


def test_airbench_run_past_its_cap_is_a_train_budget_overrun(tmp_path):
    task = airbench(tmp_path, "ab_hang.log", toml=[("train_seconds = 600", "train_seconds = 2")])
    outcome, _, _ = trial(task, smoke=False, seeds=(0, 1))
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN
