"""The failure rules, one test per rule, in their documented priority order."""

from __future__ import annotations

import signal
from uuid import UUID

import pytest

from domain.labels import FailureLabel as L
from domain.reports import (
    ArtifactRefusal,
    EvalReport,
    ExceptionInfo,
    LimitBreach,
    PreflightReport,
    ProcessReport,
    RunReport,
    SeedReport,
)
from domain.task import Gate, Metric
from evaluators.classify import classify
from tests.support import TINY_TASK

OK = ProcessReport(rc=0, wall_s=5.0, cpu_s=4.0, peak_rss_mb=100.0)
TID = UUID(int=1)


def seed(n=0, train=OK, size=900, ev=None, **eval_fields):
    if ev is None:
        ev = EvalReport(process=ProcessReport(rc=0, wall_s=1.0), score=2.0 + n, **eval_fields)
    return SeedReport(seed=n, train=train, artifact_bytes=size, eval=ev)


PREFLIGHT_OK = PreflightReport(ok=True)


def run(*seeds, preflight=PREFLIGHT_OK, abort=""):
    return RunReport(trial_id=TID, preflight=preflight, seeds=seeds, abort=abort, wall_s=9.0)


def label(report, spec=TINY_TASK, scoring=(0,)):
    return classify(report, spec, scoring)


def test_an_infrastructure_fault_wins_over_everything():
    outcome = label(run(seed(train=ProcessReport(rc=1)), abort="sandbox failed to start: x"))
    assert outcome.label is L.HARNESS_ABORT
    assert outcome.evidence["fault"].startswith("sandbox")


def test_a_projected_size_over_the_cap_is_size_blocked_before_training():
    pre = PreflightReport(
        ok=False, stage="project", reason="projected 2,000 B", projected_bytes=2000
    )
    outcome = label(run(preflight=pre))
    assert outcome.label is L.SIZE_BLOCKED
    assert outcome.evidence == {"projected_bytes": 2000, "cap_bytes": 1000, "stage": "preflight"}


@pytest.mark.parametrize("stage", ["syntax", "import", "smoke", "surface"])
def test_other_preflight_failures_are_preflight_crash(stage):
    smoke = ProcessReport(
        rc=1, exception=ExceptionInfo(type="ValueError", message="m", where="t.py:3 in f")
    )
    outcome = label(
        run(preflight=PreflightReport(ok=False, stage=stage, reason="why", smoke=smoke))
    )
    assert outcome.label is L.PREFLIGHT_CRASH
    assert outcome.evidence["stage"] == stage
    assert outcome.evidence["exception"]["where"] == "t.py:3 in f"


BREACH = LimitBreach(
    limit="work_dir_files", measured=10_001, cap=10_000, reason="the work dir passed its cap"
)


def test_a_smoke_run_past_a_work_dir_cap_is_size_blocked_before_training():
    smoke = ProcessReport(rc=-9, breach=BREACH)
    pre = PreflightReport(ok=False, stage="workdir", reason="smoke run stopped", smoke=smoke)
    outcome = label(run(preflight=pre))
    assert outcome.label is L.SIZE_BLOCKED
    assert outcome.evidence == {
        "limit": "work_dir_files", "measured": 10_001, "cap": 10_000, "stage": "preflight",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "expected"), [("files", L.SIZE_BLOCKED), ("link", L.DISQUALIFIED)]
)
def test_a_smoke_artifact_that_breaks_an_artifact_rule_fails_before_training(rule, expected):
    refused = ArtifactRefusal(rule=rule, reason="the artifact holds ...", names=("a",))
    pre = PreflightReport(
        ok=False, stage="artifact", reason=refused.reason, smoke=OK, artifact_refused=refused
    )
    outcome = label(run(preflight=pre))
    assert outcome.label is expected
    assert outcome.evidence == {"rule": rule, "names": ["a"], "stage": "preflight"}


def test_a_training_past_a_work_dir_cap_is_size_blocked_not_a_crash():
    outcome = label(
        run(
            seed(
                train=ProcessReport(rc=-9, breach=BREACH),
                ev=EvalReport(process=ProcessReport(rc=0)),
            )
        )
    )
    assert outcome.label is L.SIZE_BLOCKED
    assert outcome.reason == "the work dir passed its cap"
    assert outcome.evidence["limit"] == "work_dir_files"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("files", L.SIZE_BLOCKED), ("name", L.DISQUALIFIED), ("special", L.DISQUALIFIED)],
)
def test_an_artifact_the_harness_refuses_is_labelled_by_its_rule(rule, expected):
    refused = ArtifactRefusal(rule=rule, reason=f"refused: {rule}", names=("x",))
    report = SeedReport(seed=0, train=OK, artifact_refused=refused)
    outcome = label(run(report))
    assert outcome.label is expected
    assert outcome.reason == f"refused: {rule}"
    assert outcome.evidence == {"rule": rule, "names": ["x"], "seed": 0}


def test_the_confinement_is_carried_onto_the_outcome():
    report = run(seed(0)).model_copy(update={"confinement": "rlimits only"})
    assert label(report).confinement == "rlimits only"


def test_an_eval_killed_at_its_cap_beats_a_slow_training():
    slow = ProcessReport(rc=0, wall_s=99.0, cpu_s=99.0)
    killed = EvalReport(process=ProcessReport(rc=-9, timed_out=True, stopped="cpu", cpu_s=5.5))
    outcome = label(run(seed(train=slow, ev=killed)))
    assert outcome.label is L.EVAL_BUDGET_OVERRUN
    assert outcome.evidence["seed"] == 0


def test_training_past_cap_plus_tolerance_is_a_train_overrun_even_if_it_finished():
    train = ProcessReport(rc=0, wall_s=11.0, cpu_s=10.5, clock="cgroup")
    outcome = label(run(seed(train=train, size=5000)))
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN
    assert outcome.reason == "training used 10.5 CPU-s, over the 10 CPU-s cap"
    assert outcome.evidence["cpu_s"] == 10.5
    assert outcome.evidence["cap_s"] == 10.0
    assert outcome.evidence["accounting"] == "cgroup"


def test_wall_time_alone_is_no_overrun_under_the_cpu_clock():
    """A busy machine stretches wall time; the CPU-seconds the recipe used are its own."""
    train = ProcessReport(rc=0, wall_s=25.0, cpu_s=9.5)
    assert label(run(seed(train=train))).label is None


def test_under_the_wall_clock_wall_time_is_the_cap():
    spec = TINY_TASK.model_copy(
        update={"budgets": TINY_TASK.budgets.model_copy(update={"clock": "wall"})}
    )
    outcome = label(run(seed(train=ProcessReport(rc=0, wall_s=10.5, cpu_s=2.0))), spec)
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN
    assert outcome.reason == "training took 10.5 s, over the 10 s cap"


STARVED = ProcessReport(
    rc=-9, timed_out=True, stopped="wall", wall_s=30.1, cpu_s=8.0, runqueue_s=21.0,
    load_start=4.3, load_end=5.0,
)  # fmt: skip


def test_a_run_starved_by_other_work_is_a_harness_abort_with_the_numbers():
    outcome = label(run(seed(train=STARVED)))
    assert outcome.label is L.HARNESS_ABORT
    assert "30.1 s wall for 8.0 CPU-s at load 4.3 to 5.0, run-queue wait 21.0 s" in outcome.reason
    assert outcome.evidence["fault"] == "starved"
    assert outcome.evidence["runqueue_s"] == 21.0


def test_a_recipe_that_sleeps_to_the_backstop_overruns_on_its_own_account():
    """Attack: sleep or block so that the wall backstop ends it; nothing kept it waiting."""
    sleeper = STARVED.model_copy(update={"runqueue_s": 0.2, "cpu_s": 0.3})
    outcome = label(run(seed(train=sleeper)))
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN
    assert "wall backstop" in outcome.reason
    assert "slept or blocked" in outcome.reason


def test_a_starved_evaluation_is_a_harness_abort_too():
    ev = EvalReport(process=STARVED, score=None)
    outcome = label(run(seed(ev=ev)))
    assert outcome.label is L.HARNESS_ABORT
    assert outcome.evidence["stage"] == "evaluation"


def test_a_slow_evaluation_that_finished_is_still_over_budget():
    ev = EvalReport(process=ProcessReport(rc=0, wall_s=5.5, cpu_s=5.5), score=1.0)
    assert label(run(seed(ev=ev, size=5000))).label is L.EVAL_BUDGET_OVERRUN


def test_an_oversized_artifact_is_size_blocked_with_the_overage():
    outcome = label(run(seed(size=1234)))
    assert outcome.label is L.SIZE_BLOCKED
    assert outcome.evidence["over_by"] == 234
    assert "1,234 B over the 1,000 B cap by 234 B" in outcome.reason


@pytest.mark.parametrize(
    "train",
    [
        ProcessReport(rc=-signal.SIGXFSZ),
        ProcessReport(
            rc=1,
            exception=ExceptionInfo(
                type="OSError", message="[Errno 27] File too large", where="t.py:9 in main"
            ),
        ),
    ],
)
def test_hitting_the_file_size_limit_is_size_blocked(train):
    assert label(run(seed(train=train))).label is L.SIZE_BLOCKED


def test_a_training_crash_carries_its_exception():
    exc = ExceptionInfo(
        type="RuntimeError", message="shape mismatch", where="train.py:88 in forward"
    )
    outcome = label(run(seed(train=ProcessReport(rc=1, exception=exc, log_tail="...trace"))))
    assert outcome.label is L.CRASH
    assert (
        outcome.reason == "training exited 1: RuntimeError: shape mismatch (train.py:88 in forward)"
    )
    assert outcome.log_excerpt.endswith("trace")


def test_a_training_killed_by_a_signal_is_a_crash():
    assert "killed by SIGKILL" in label(run(seed(train=ProcessReport(rc=-9)))).reason


def test_an_illegal_model_is_disqualified():
    outcome = label(run(seed(illegal="logits at position 3 depend on byte 7")))
    assert outcome.label is L.DISQUALIFIED
    assert "depend on byte 7" in outcome.reason


@pytest.mark.parametrize(
    "ev",
    [
        EvalReport(process=ProcessReport(rc=2)),
        EvalReport(process=ProcessReport(rc=0), error="artifact has no weights.bin"),
        EvalReport(process=ProcessReport(rc=0), score=float("nan")),
        EvalReport(process=ProcessReport(rc=0), score=None),
    ],
)
def test_an_evaluation_without_a_finite_score_is_a_crash(ev):
    assert label(run(seed(ev=ev))).label is L.CRASH


def test_missing_seeds_are_a_crash():
    outcome = label(run(seed(0)), scoring=(0, 1))
    assert outcome.label is L.CRASH
    assert "only 1 of 2 seeds" in outcome.reason


def test_a_gate_miss_is_disqualified_with_the_mean_and_margin():
    spec = TINY_TASK.model_copy(update={"gate": Gate(metric="accuracy", threshold=0.9)})
    report = run(seed(0, measurements={"accuracy": 0.91}), seed(1, measurements={"accuracy": 0.88}))
    outcome = label(report, spec, scoring=(0, 1))
    assert outcome.label is L.DISQUALIFIED
    assert outcome.evidence["mean"] == pytest.approx(0.895)
    assert outcome.evidence["margin"] == pytest.approx(-0.005)


def test_a_gate_miss_keeps_the_score_it_measured():
    spec = TINY_TASK.model_copy(update={"gate": Gate(metric="accuracy", threshold=0.9)})
    report = run(seed(0, measurements={"accuracy": 0.5}), seed(1, measurements={"accuracy": 0.5}))
    outcome = label(report, spec, scoring=(0, 1))
    passed = label(report, TINY_TASK, scoring=(0, 1))
    assert outcome.label is L.DISQUALIFIED
    assert passed.label is None
    assert outcome.score == passed.score == pytest.approx(2.5)
    assert outcome.measurements == passed.measurements


def test_a_valid_trial_scores_the_mean_of_its_scoring_seeds_only():
    outcome = label(run(seed(0), seed(1), seed(2)), scoring=(0, 1))
    assert outcome.label is None
    assert outcome.score == pytest.approx(2.5)
    assert [r.scoring for r in outcome.per_seed] == [True, True, False]
    assert outcome.rules_version == "tiny/1"


def test_resource_totals_cover_every_process():
    outcome = label(run(seed(0), seed(1)), scoring=(0, 1))
    assert outcome.measurements["cpu_s"] == pytest.approx(8.0)
    assert outcome.measurements["peak_rss_mb"] == 100.0
    assert outcome.measurements["wall_s"] == 9.0
    assert outcome.measurements["train_s"] == 5.0


def test_a_train_time_metric_comes_from_the_harness_clock_not_the_evaluator():
    spec = TINY_TASK.model_copy(
        update={"metric": Metric(name="train_s", direction="minimize", source="train_seconds")}
    )
    fast = ProcessReport(rc=0, wall_s=7.0, cpu_s=3.25)  # CPU-seconds: load-proof
    ev = EvalReport(
        process=ProcessReport(rc=0, wall_s=1.0), score=None, measurements={"accuracy": 0.95}
    )
    outcome = label(run(seed(train=fast, ev=ev)), spec)
    assert outcome.label is None
    assert outcome.score == 3.25
