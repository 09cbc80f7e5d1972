"""The adapters read upstream logs into samples, stops and our labels (no processes).

Each fixture is replayed on a synthetic clock exactly as the wrapper feeds a live run,
so phase caps of 600 s are tested without waiting for them.
"""

from __future__ import annotations

import pytest

from domain.labels import FailureLabel as L
from evaluators.upstream.config import Phases
from evaluators.upstream.watch import (
    EVAL_OVERRUN,
    RUN_DONE,
    SMOKE_DONE,
    TRAIN_OVERRUN,
    Exit,
    Sample,
)
from tests.upstream_support import replay, watch

GOLF = Phases(train_seconds=600, tolerance_seconds=5, eval_seconds=600, train_grace_seconds=120)


def golf(fixture: str, smoke: bool = False, phases: Phases = GOLF):
    watcher = watch("parameter-golf", phases)
    samples, end = replay(watcher, fixture, smoke)
    return samples, end, watcher.verdict(end, smoke)


# parameter-golf


def test_golf_baseline_log_gives_samples_phases_and_the_final_exact_bpb():
    samples, end, verdict = golf("pg_baseline.log")
    assert [s.step for s in samples] == [1, 2, 3, 4, 5, 6]
    assert samples[0] == Sample(1, 6.9301)
    assert samples[2].loss is None  # a NaN loss is no number
    assert end.stopped == ""
    assert end.rc == 0
    assert verdict.label is None, verdict.reason
    assert verdict.score == pytest.approx(2.78991234)  # the _exact line, not the rounded one
    m = verdict.measurements
    assert m["train_phase_s"] == pytest.approx(0.6)  # step-0 validation to the last step
    assert m["eval_phase_s"] == pytest.approx(0.3)  # `peak memory` to the exit
    assert m["train_time_reported_s"] == pytest.approx(0.241)
    assert m["reported_bytes"] == 5400  # the compressed total, not the raw one
    assert m["steps"] == 6


def test_golf_later_log_style_scores_the_full_pipeline_not_a_diagnostic():
    samples, _end, verdict = golf("pg_modern.log")
    assert [s.step for s in samples] == [1, 2, 8]
    assert verdict.label is None
    assert verdict.score == pytest.approx(1.395)  # quantized_ttt_phased, not 1.41 or 1.42
    assert verdict.evidence["final_line"] == "quantized_ttt_phased"
    assert verdict.measurements["train_time_reported_s"] == pytest.approx(6.012)
    assert verdict.measurements["reported_bytes"] == 3200


def test_golf_smoke_run_stops_once_the_compressed_size_is_logged():
    _samples, end, verdict = golf("pg_baseline.log", smoke=True)
    assert end.stopped == SMOKE_DONE
    assert verdict.label is None
    assert verdict.measurements["reported_bytes"] == 5400  # stopped after that line


def test_golf_crash_names_the_first_rank_error_in_the_recipe():
    _samples, end, verdict = golf("pg_crash.log")
    assert end.rc == 1
    assert verdict.label is L.CRASH
    raised = end.raised
    assert raised is not None
    assert raised.type == "torch.OutOfMemoryError"  # rank 1's, not NCCL's or torchrun's
    assert raised.where == "train_gpt.py:690 in forward"  # the recipe's deepest frame
    assert raised.rank == "1"
    assert "CUDA out of memory" in verdict.reason
    assert "train_gpt.py:690" in verdict.reason


def test_golf_training_past_the_cap_is_stopped_and_a_train_overrun():
    phases = Phases(train_seconds=1, tolerance_seconds=0, eval_seconds=1, train_grace_seconds=0.5)
    _samples, end, verdict = golf("pg_train_overrun.log", phases=phases)
    assert end.stopped == TRAIN_OVERRUN
    assert end.at == pytest.approx(2.0)  # first poll past anchor + cap + tolerance + grace
    assert verdict.label is L.TRAIN_BUDGET_OVERRUN
    assert "stopped" in verdict.reason


def test_golf_script_admitting_a_long_training_is_a_train_overrun():
    _samples, end, verdict = golf("pg_reported_overrun.log")
    assert end.stopped == ""
    assert verdict.label is L.TRAIN_BUDGET_OVERRUN
    assert "the script reports 612.0 s" in verdict.reason


def test_golf_harness_clock_over_the_cap_outranks_a_modest_reported_time():
    watcher = watch("parameter-golf", GOLF)
    watcher.feed("warmup_step:1/1", 0.0)
    watcher.feed("step:1/9 train_loss:3.0 train_time:40ms step_avg:40.00ms", 1.0)
    watcher.feed("step:9/9 train_loss:2.0 train_time:590000ms step_avg:40.00ms", 610.0)
    watcher.feed("peak memory allocated: 1 MiB reserved: 1 MiB", 611.0)
    watcher.feed("final_int8_zlib_roundtrip_exact val_loss:2.0 val_bpb:1.2", 620.0)
    verdict = watcher.verdict(Exit(0, 621.0), smoke=False)
    assert verdict.label is L.TRAIN_BUDGET_OVERRUN
    assert "610.0 s by the harness clock" in verdict.reason


def test_golf_evaluation_past_its_cap_is_stopped_and_an_eval_overrun():
    _samples, end, verdict = golf("pg_eval_overrun.log")
    assert end.stopped == EVAL_OVERRUN
    assert end.at == pytest.approx(600.5)  # the first poll past 600 s after `peak memory`
    assert verdict.label is L.EVAL_BUDGET_OVERRUN


def test_golf_evaluation_that_ends_over_its_cap_is_an_eval_overrun():
    watcher = watch("parameter-golf", GOLF)
    watcher.feed("step:1/1 train_loss:3.0 train_time:40ms step_avg:40.00ms", 0.0)
    watcher.feed("peak memory allocated: 1 MiB reserved: 1 MiB", 1.0)
    watcher.feed("final_int8_zlib_roundtrip_exact val_loss:2.0 val_bpb:1.2", 601.2)
    verdict = watcher.verdict(Exit(0, 601.3), smoke=False)
    assert verdict.label is L.EVAL_BUDGET_OVERRUN
    assert verdict.measurements["eval_phase_s"] == pytest.approx(600.3)


def test_golf_run_without_a_final_line_is_a_crash():
    _samples, _end, verdict = golf("pg_no_final.log")
    assert verdict.label is L.CRASH
    assert "final val_bpb" in verdict.reason


def test_golf_never_disqualifies_size_and_gates_are_not_its_to_judge():
    """Size is measured by the harness in the artifact dir; there is no accuracy gate."""
    fixtures = [
        "pg_baseline.log",
        "pg_modern.log",
        "pg_crash.log",
        "pg_reported_overrun.log",
        "pg_eval_overrun.log",
        "pg_oversize.log",
        "pg_no_final.log",
    ]
    labels = {golf(f)[2].label for f in fixtures}
    assert labels.isdisjoint({L.SIZE_BLOCKED, L.DISQUALIFIED, L.PREFLIGHT_CRASH})


# nanochat-d12


def nanochat(fixture: str, smoke: bool = False):
    watcher = watch("nanochat-d12")
    samples, end = replay(watcher, fixture, smoke)
    return samples, end, watcher.verdict(end, smoke)


def test_nanochat_scores_core_at_the_last_step():
    samples, end, verdict = nanochat("nc_success.log")
    assert samples == [
        Sample(0, 10.397),
        Sample(1, 9.801234),
        Sample(2, 8.912345),
        Sample(3, 8.001234),
    ]
    assert end.stopped == ""
    assert verdict.label is None
    assert verdict.score == pytest.approx(0.1702)
    assert verdict.measurements == {
        "CORE": 0.1702,
        "val_bpb": 1.234567,
        "steps": 3.0,
        "train_time_reported_s": 3.0,
    }


def test_nanochat_crash_points_at_the_edited_model_file():
    _samples, end, verdict = nanochat("nc_crash.log")
    assert verdict.label is L.CRASH
    assert end.raised is not None
    assert (end.raised.type, end.raised.message) == ("AssertionError", "")
    assert end.raised.where == "nanochat/gpt.py:71 in __init__"


def test_nanochat_leaves_its_wall_cap_to_the_harness():
    """Its 90-minute cap covers the whole run: the harness kills the train command."""
    watcher = watch("nanochat-d12")
    _samples, end = replay(watcher, "nc_hang.log")
    assert end.stopped == ""  # the replay ran out of fixture, the watcher never stopped it
    assert watcher.stop_reason(10_000.0, smoke=False) == ""


def test_nanochat_core_before_the_last_step_is_no_score():
    _samples, _end, verdict = nanochat("nc_early_core.log")
    assert verdict.label is L.CRASH
    assert "last step 4 (only at 2)" in verdict.reason


def test_nanochat_smoke_run_needs_no_core():
    _samples, _end, verdict = nanochat("nc_early_core.log", smoke=True)
    assert verdict.label is None


def test_nanochat_never_yields_size_or_gate_labels():
    fixtures = ["nc_success.log", "nc_crash.log", "nc_hang.log", "nc_early_core.log"]
    labels = {nanochat(f)[2].label for f in fixtures}
    assert labels.isdisjoint({L.SIZE_BLOCKED, L.DISQUALIFIED})


# airbench96


def airbench(fixture: str, smoke: bool = False):
    watcher = watch("airbench96")
    samples, end = replay(watcher, fixture, smoke)
    return samples, end, watcher.verdict(end, smoke)


def test_airbench_stops_after_the_first_run_and_reports_its_accuracy():
    samples, end, verdict = airbench("ab_success.log")
    assert samples == [Sample(0, 0.0421), Sample(1, 0.0302), Sample(2, 0.0211)]
    assert end.stopped == RUN_DONE
    assert verdict.label is None
    assert verdict.score is None  # the time is the harness's wall clock of the process
    assert verdict.measurements == {"accuracy": 0.9612, "time_reported_s": 3.4005, "epochs": 3}


def test_airbench_below_the_gate_is_still_a_scored_run_for_the_harness_to_gate():
    """The gate is a mean over the trial's seeds: one run below 0.96 is not judged here."""
    _samples, end, verdict = airbench("ab_miss.log")
    assert end.stopped == RUN_DONE
    assert verdict.label is None
    assert verdict.measurements["accuracy"] == pytest.approx(0.955)


def test_airbench_smoke_run_stops_at_the_first_epoch():
    samples, end, verdict = airbench("ab_success.log", smoke=True)
    assert end.stopped == SMOKE_DONE
    assert len(samples) == 1
    assert verdict.label is None


def test_airbench_crash_names_the_line_in_the_script():
    _samples, end, verdict = airbench("ab_crash.log")
    assert verdict.label is L.CRASH
    assert end.raised is not None
    assert end.raised.type == "RuntimeError"
    assert end.raised.where == "airbench96_faster.py:598 in main"


def test_airbench_run_that_never_finishes_is_left_to_the_harness_cap():
    watcher = watch("airbench96")
    _samples, end = replay(watcher, "ab_hang.log")
    assert end.stopped == ""
    verdict = watcher.verdict(end, smoke=False)
    assert verdict.label is L.CRASH  # if it ever exited by itself without an eval row


def test_airbench_never_yields_size_blocked():
    fixtures = ["ab_success.log", "ab_miss.log", "ab_crash.log", "ab_hang.log"]
    labels = {airbench(f)[2].label for f in fixtures}
    assert L.SIZE_BLOCKED not in labels
