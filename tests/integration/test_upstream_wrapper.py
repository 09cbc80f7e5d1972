"""The wrapper end to end on CPU: the task's own train command around a fake upstream.

The fake replays a fixture log with real delays and exit codes, so these tests run the
real subprocess path: launch, live line reading, progress lines, watchdog stops of the
whole process tree, the artifact, the verdict file and the restated traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from evaluators.harness import staging
from evaluators.harness.process import parse_exception
from evaluators.tasks import load
from evaluators.upstream.run import result_path
from tests.upstream_support import fake_task

QUICK = {"train_seconds": 1, "tolerance_seconds": 0, "eval_seconds": 1, "train_grace_seconds": 0.5}


@dataclass
class Ran:
    rc: int
    progress: list[dict[str, object]]
    log: str
    result: dict[str, object]
    artifact: Path
    work: Path
    seconds: float


def run_wrapper(task: Path, seed: int = 0, smoke: bool = False) -> Ran:
    """The task's train command, filled and run as the pipeline would (unsandboxed)."""
    spec = load(str(task)).spec
    work = task.parent / f"work-{seed}-{int(smoke)}"
    shutil.copytree(task / "recipe", work)
    artifact = work / "artifacts" / ("smoke" if smoke else str(seed))
    artifact.mkdir(parents=True)
    argv = staging.fill(spec.commands.train, {"task": str(task), "work": str(work)})
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work),
        "AUTORECIPE_SEED": str(seed),
        "AUTORECIPE_ARTIFACT": str(artifact),
        "AUTORECIPE_SMOKE": "1" if smoke else "0",
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:  # as the harness does: whatever the run left in its group goes with it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    progress = [json.loads(line) for line in out.splitlines()]
    result = json.loads(result_path(artifact).read_text())
    return Ran(proc.returncode, progress, err, result, artifact, work, time.monotonic() - started)


def upstream_saw(log: str) -> dict[str, object]:
    line = next(x for x in log.splitlines() if x.startswith("fake-upstream "))
    return json.loads(line.removeprefix("fake-upstream "))


def test_golf_run_streams_progress_and_packs_the_artifact(tmp_path):
    ran = run_wrapper(fake_task(tmp_path, "parameter-golf", "pg_baseline.log"), seed=7)
    assert ran.rc == 0
    assert [p["step"] for p in ran.progress] == [1, 2, 3, 4, 5, 6]
    assert ran.progress[2]["loss"] is None  # NaN
    assert ran.result["label"] == ""
    assert ran.result["score"] == 2.78991234
    assert sorted(p.name for p in ran.artifact.iterdir()) == [
        "final_model.int8.ptz",
        "train_gpt.py",
    ]
    assert ran.result["measurements"]["model_bytes"] == 1500
    assert not (ran.work / "final_model.pt").exists()  # cleaned: large and not counted
    seen = upstream_saw(ran.log)
    assert seen["env"]["SEED"] == "7"
    assert seen["env"]["MAX_WALLCLOCK_SECONDS"] == "600"  # forced
    assert seen["env"]["PYTHONPATH"] is None  # ours stays ours
    assert "final_int8_zlib_roundtrip_exact" in ran.log  # the upstream output is the log


def test_golf_smoke_run_stops_at_the_size_line_with_the_artifact_written(tmp_path):
    ran = run_wrapper(fake_task(tmp_path, "parameter-golf", "pg_baseline.log"), smoke=True)
    assert ran.rc == 0
    assert ran.result["stopped"] == "smoke_done"
    assert "final_int8_zlib_roundtrip" not in ran.log
    assert upstream_saw(ran.log)["env"]["ITERATIONS"] == "20"
    assert (ran.artifact / "final_model.int8.ptz").stat().st_size == 1500


def test_golf_crash_exits_with_its_code_and_restates_the_first_error_last(tmp_path):
    ran = run_wrapper(fake_task(tmp_path, "parameter-golf", "pg_crash.log"))
    assert ran.rc == 1
    assert ran.result["label"] == "crash"
    exception = parse_exception(ran.log)  # what the harness reads from the log's tail
    assert exception is not None
    assert exception.type == "torch.OutOfMemoryError"
    assert exception.where == "train_gpt.py:690 in forward"
    assert list(ran.artifact.iterdir()) == [ran.artifact / "train_gpt.py"]  # no model: no bytes


def test_golf_training_past_the_cap_stops_the_whole_tree(tmp_path):
    ran = run_wrapper(fake_task(tmp_path, "parameter-golf", "pg_train_overrun.log", phases=QUICK))
    assert ran.rc == 0  # the verdict travels in the result, not the exit code
    assert ran.result["label"] == "train_budget_overrun"
    assert "TRAIN_TIMEOUT" in ran.log
    assert ran.seconds < 10  # the fixture would sleep for an hour
    child = int(re.search(r"fake-child pid=(\d+)", ran.log)[1])
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text()
    assert list(ran.artifact.iterdir()) == []  # an overrun's bytes are not counted


def test_golf_evaluation_past_its_cap_is_stopped_with_the_marker(tmp_path):
    ran = run_wrapper(fake_task(tmp_path, "parameter-golf", "pg_eval_overrun.log", phases=QUICK))
    assert ran.result["label"] == "eval_budget_overrun"
    assert ran.result["stopped"] == "eval_overrun"
    assert "--- EVAL_TIMEOUT" in ran.log
    assert ran.seconds < 10


def test_nanochat_runs_in_a_checkout_with_pristine_evaluation_code(tmp_path):
    task = fake_task(tmp_path, "nanochat-d12", "nc_success.log")
    (task / "recipe" / "nanochat" / "core_eval.py").write_text("CORE = 1.0  # an agent's edit\n")
    ran = run_wrapper(task)
    assert ran.rc == 0
    assert ran.result["score"] == 0.1702
    assert [p["step"] for p in ran.progress] == [0, 1, 2, 3]
    assert (ran.work / "nanochat" / "core_eval.py").read_text() == "PRISTINE = True\n"
    assert (ran.work / "nanochat" / "common.py").read_text() == "PRISTINE = True\n"
    seen = upstream_saw(ran.log)
    assert seen["env"]["NANOCHAT_BASE_DIR"] == f"{ran.work}/.nanochat"
    assert seen["argv"] == ["--", "--depth=12"]
    assert (ran.work / ".nanochat" / "tokenizer").is_symlink()


def test_nanochat_smoke_run_gets_the_smoke_arguments(tmp_path):
    ran = run_wrapper(fake_task(tmp_path, "nanochat-d12", "nc_success.log"), smoke=True)
    assert ran.rc == 0
    assert upstream_saw(ran.log)["argv"][-3:] == [
        "--num-iterations=20",
        "--core-metric-every=-1",
        "--eval-every=-1",
    ]


def test_airbench_is_stopped_after_its_first_run(tmp_path):
    ran = run_wrapper(fake_task(tmp_path, "airbench96", "ab_success.log"), seed=3)
    assert ran.rc == 0
    assert ran.result["stopped"] == "run_done"
    assert ran.result["measurements"]["accuracy"] == 0.9612
    assert ran.seconds < 10  # not the 30 s the second run would start after
    assert (ran.work / "cifar10").is_symlink()
    assert list(ran.artifact.iterdir()) == []  # nothing counted: airbench has no size rule


def test_golf_smoke_run_that_cannot_score_fails_the_preflight(tmp_path):
    ran = run_wrapper(fake_task(tmp_path, "parameter-golf", "pg_no_model.log"), smoke=True)
    assert ran.rc == 1  # the upstream exited 0; the preflight reads only the exit code
    assert "[autorecipe] crash: the run wrote no model file matching final_model*.ptz" in ran.log
