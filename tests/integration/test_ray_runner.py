"""The Ray runner on a real local Ray cluster: the same pipeline on a worker, progress
streamed to the driver, and every way a trial can fail to finish ending harness_abort."""

from __future__ import annotations

import threading
import time

import pytest

from domain.labels import FailureLabel
from domain.ports import TrialJob
from domain.reports import RunReport
from domain.trial import ProgressSample
from evaluators.evaluator import TaskEvaluator
from runners.local import LocalRunner
from tests.golf_support import AT_START, Edit, insert_after, one_job, tiny_golf
from tests.ray_support import processes_mentioning, require_ray

SLEEP_IN_TRAINING = insert_after(
    AT_START, 'if os.environ.get("AUTORECIPE_SMOKE") != "1":\n    import time\n    time.sleep(3600)'
)


@pytest.fixture(scope="module")
def cluster():
    require_ray()
    from runners.ray_runner import RayRunner

    runner = RayRunner()  # starts a local cluster: no dashboard, no usage stats
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def golf(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    task, runs = tiny_golf(root), root / "runs"
    return TaskEvaluator.open(str(task), runs, sandbox=True), runs


def _job(golf, edit: Edit = lambda text: text, **changes) -> TrialJob:
    evaluator, _runs = golf
    recipe = {"train.py": edit(evaluator.seed_recipe()["train.py"])}
    job = one_job(evaluator, recipe, (0,))
    return job.model_copy(update=changes)


def _run(runner, job: TrialJob, cancel_after_s: float | None = None) -> RunReport:
    cancel = threading.Event()
    if cancel_after_s is not None:
        threading.Timer(cancel_after_s, cancel.set).start()
    return runner.run(job, lambda seed, samples: None, cancel)


def _gone(run_dir: str, within_s: float = 15) -> bool:
    deadline = time.monotonic() + within_s
    while processes_mentioning(run_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_a_trial_on_a_ray_worker_scores_as_it_does_locally(cluster, golf):
    evaluator, _ = golf
    samples: list[ProgressSample] = []
    driver = threading.get_ident()

    def on_progress(seed: int, batch: list[ProgressSample]) -> None:
        assert threading.get_ident() == driver  # relayed by the driver, not the worker
        samples.extend(batch)

    job = _job(golf)
    on_ray = cluster.run(job, on_progress, threading.Event())
    local = LocalRunner().run(_job(golf), lambda seed, batch: None, threading.Event())
    scored = [evaluator.classify(report, (0,)) for report in (on_ray, local)]
    assert scored[0].label is None, scored[0].reason
    assert scored[0].score == scored[1].score  # one thread: bit-identical
    assert samples
    assert samples[-1].step > samples[0].step


def test_a_gpu_request_the_cluster_cannot_hold_is_refused_at_once(cluster, golf):
    import ray

    from runners.ray_runner import RayRunner

    gpus = ray.cluster_resources().get("GPU", 0) + 1
    started = time.monotonic()
    report = _run(RayRunner(gpus_per_trial=gpus), _job(golf))
    assert time.monotonic() - started < 5
    outcome = golf[0].classify(report, (0,))
    assert outcome.label is FailureLabel.HARNESS_ABORT
    assert f"asks for 1 CPU and {gpus:g} GPU" in outcome.reason
    assert "no node of the Ray cluster can run this trial" in outcome.reason


def test_a_trial_that_no_node_starts_in_time_is_cancelled(cluster, golf):
    import ray

    from runners.ray_runner import RayRunner

    everything = ray.cluster_resources()["CPU"]
    hold = ray.remote(num_cpus=everything)(lambda: time.sleep(600))  # by value: no imports
    blocker = hold.remote()
    try:
        report = _run(RayRunner(pending_timeout_s=2), _job(golf))
    finally:
        ray.cancel(blocker, force=True)
    assert "no node of the Ray cluster started the trial within 2 s" in report.abort
    assert golf[0].classify(report, (0,)).label is FailureLabel.HARNESS_ABORT


def test_the_backstop_force_cancels_the_task_and_kills_its_pipeline(cluster, golf):
    job = _job(golf, SLEEP_IN_TRAINING, backstop_seconds=10)
    started = time.monotonic()
    report = _run(cluster, job)
    assert time.monotonic() - started < 30
    assert "outlived the runner's backstop (10 s)" in report.abort
    assert golf[0].classify(report, (0,)).label is FailureLabel.HARNESS_ABORT
    assert _gone(job.run_dir), processes_mentioning(job.run_dir)


def test_an_interrupted_search_cancels_the_trial(cluster, golf):
    job = _job(golf, SLEEP_IN_TRAINING)
    report = _run(cluster, job, cancel_after_s=6)
    assert report.abort == "cancelled: the search was interrupted"
    assert _gone(job.run_dir), processes_mentioning(job.run_dir)
