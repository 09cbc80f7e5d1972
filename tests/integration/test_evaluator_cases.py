"""The evaluator owns score, time and size: real trials of a tiny golf-cpu recipe."""

from __future__ import annotations

import os

import pytest

from domain.labels import FailureLabel as L
from tests.golf_support import AFTER_ARTIFACT, AT_START, insert_after, run_trial, tiny_golf
from tests.load_support import busy_loops

# CPU-seconds of the same work differ under load (caches and frequency are shared with
# the busy loops, and the harness's own polls run beside it): within 30% plus 1 s.
CPU_TOLERANCE = 0.30
CPU_SLACK_S = 1.0


@pytest.fixture(scope="module")
def golf(tmp_path_factory):
    root = tmp_path_factory.mktemp("golf")
    return tiny_golf(root), root / "runs"


def test_the_tiny_seed_recipe_scores(golf):
    outcome, report = run_trial(*golf, lambda text: text)
    assert outcome.label is None, outcome.reason
    assert 3.0 < outcome.score < 8.0
    assert report.sandbox == "bwrap"
    assert outcome.measurements["artifact_bytes"] > 100_000
    assert outcome.measurements["cpu_s"] > 0
    assert outcome.measurements["peak_rss_mb"] > 50


def test_a_printed_score_and_a_result_file_are_ignored(golf):
    honest, _ = run_trial(*golf, lambda text: text)
    fake = insert_after(
        AFTER_ARTIFACT,
        """
print('{"score": 0.001, "val_bpb": 0.001}')
print("val_bpb: 0.001")
(artifact / "result.json").write_text('{"score": 0.001}')
""",
    )
    outcome, _ = run_trial(*golf, fake)
    assert outcome.label is None
    assert outcome.score == pytest.approx(honest.score, abs=0.02)  # same model, bytes aside


def test_an_artifact_over_the_cap_after_training_is_size_blocked(golf):
    pad = insert_after(
        AFTER_ARTIFACT,
        """
if os.environ.get("AUTORECIPE_SMOKE") != "1":
    (artifact / "pad.bin").write_bytes(bytes(50_000))
""",
    )
    outcome, _ = run_trial(*golf, pad)
    assert outcome.label is L.SIZE_BLOCKED
    assert outcome.evidence["artifact_bytes"] > outcome.evidence["cap_bytes"] == 147_000
    assert outcome.evidence["files"]["pad.bin"] == 50_000


def test_a_model_too_big_for_the_cap_is_blocked_before_training(golf):
    outcome, report = run_trial(*golf, lambda text: text.replace("N_EMBD = 64", "N_EMBD = 128"))
    assert outcome.label is L.SIZE_BLOCKED
    assert outcome.evidence["stage"] == "preflight"
    assert report.seeds == ()  # no training was spent


def test_a_recipe_that_sleeps_to_the_backstop_overruns_on_its_own_account(golf):
    """Attack: sleep to stretch wall time past the backstop (3x the 12 CPU-s cap) while
    using almost no CPU. Nothing kept it waiting, so it is the recipe's own overrun."""
    outcome, report = run_trial(
        *golf,
        insert_after(
            AT_START,
            """
if os.environ.get("AUTORECIPE_SMOKE") != "1":
    import time
    time.sleep(600)
""",
        ),
    )
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN, outcome.reason
    assert "slept or blocked" in outcome.reason
    train = report.seeds[0].train
    assert train.stopped == "wall"
    assert train.cpu_s < 12
    assert train.runqueue_s < 0.25 * train.wall_s
    assert outcome.evidence["accounting"] == train.clock != ""


@pytest.mark.parametrize("cgroups", ["on", "off"])
def test_forked_workers_count_toward_the_cpu_budget(golf, cgroups, monkeypatch):
    """Attack: fork busy workers to spend more CPU than the recipe's one thread. The
    clock counts the whole tree, by the sandbox's cgroup or (off) a /proc poll."""
    monkeypatch.setenv("AUTORECIPE_CGROUPS", cgroups)
    outcome, report = run_trial(
        *golf,
        insert_after(
            AT_START,
            """
if os.environ.get("AUTORECIPE_SMOKE") != "1":
    for _ in range(3):
        if os.fork() == 0:
            while True:
                pass
    while True:
        pass
""",
        ),
    )
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN, outcome.reason
    train = report.seeds[0].train
    assert train.stopped == "cpu"
    assert outcome.evidence["cpu_s"] > outcome.evidence["cap_s"] == 12
    if cgroups == "off":
        assert train.clock.startswith("/proc poll")


def test_a_crash_names_the_exception_and_its_line(golf):
    outcome, _ = run_trial(
        *golf,
        insert_after(
            AT_START,
            """
if os.environ.get("AUTORECIPE_SMOKE") != "1":
    raise RuntimeError("shapes do not line up")
""",
        ),
    )
    assert outcome.label is L.CRASH
    assert outcome.evidence["exception"]["type"] == "RuntimeError"
    assert outcome.evidence["exception"]["where"].startswith("train.py:")
    assert "shapes do not line up" in outcome.reason


def test_a_syntax_error_is_a_preflight_crash_without_any_run(golf):
    outcome, report = run_trial(
        *golf, lambda text: text.replace("def main() -> None:", "def main( -> None:")
    )
    assert outcome.label is L.PREFLIGHT_CRASH
    assert outcome.reason.startswith("SyntaxError")
    assert "train.py:" in outcome.reason
    assert report is None


def test_an_import_that_does_not_resolve_is_a_preflight_crash(golf):
    outcome, report = run_trial(
        *golf, lambda text: text.replace("import numpy as np", "import numpyy as np")
    )
    assert outcome.label is L.PREFLIGHT_CRASH
    assert outcome.evidence["stage"] == "import"
    assert "numpyy" in outcome.reason
    assert report.seeds == ()


def test_a_failing_smoke_run_is_a_preflight_crash(golf):
    outcome, _ = run_trial(*golf, insert_after(AT_START, "raise ValueError('broken at start')"))
    assert outcome.label is L.PREFLIGHT_CRASH
    assert outcome.evidence["stage"] == "smoke"
    assert outcome.evidence["exception"]["type"] == "ValueError"


def test_a_tiny_trial_gets_the_same_verdict_under_full_load(golf):
    """A verdict must not depend on how busy the machine is: the same tiny trial, quiet
    and beside a busy loop on every core, gets the same verdict and nearly the same
    CPU-seconds. No wall time is asserted: that is what the load changes."""
    quiet, quiet_report = run_trial(*golf, lambda text: text)
    with busy_loops(os.cpu_count() or 1) as loops:
        loaded, loaded_report = run_trial(*golf, lambda text: text)
        assert all(loop.poll() is None for loop in loops)  # they ran the whole time
    assert quiet.label is None, quiet.reason
    assert loaded.label is None, loaded.reason
    assert loaded.score == quiet.score  # the recipe is bit-for-bit deterministic
    assert quiet_report is not None
    assert loaded_report is not None
    quiet_cpu = quiet_report.seeds[0].train.cpu_s
    loaded_cpu = loaded_report.seeds[0].train.cpu_s
    assert abs(loaded_cpu - quiet_cpu) <= CPU_TOLERANCE * quiet_cpu + CPU_SLACK_S
    assert loaded.measurements["load_end"] >= 0  # recorded beside the numbers
