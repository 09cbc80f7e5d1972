"""Re-measuring a training run at its CPU cap: given the measurements, which one is judged
(evaluators/remeasure.py), and what the classifier and the totals make of them."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.budgets import Budgets
from domain.labels import FailureLabel as L
from domain.ports import TrialJob
from domain.reports import (
    EvalReport,
    Measure,
    PreflightReport,
    ProcessReport,
    RunReport,
    SeedReport,
)
from domain.steps import launch_facts
from evaluators.classify import classify
from evaluators.harness.artifact import Taken
from evaluators.remeasure import Measured, judged
from tests.support import TINY_TASK

# Cap 10 + tolerance 1 = 11 CPU-s; re-measured within 25% of it: up to 13.75 CPU-s.
BUDGETS = Budgets(train_seconds=10, eval_seconds=10, tolerance_seconds=1, remeasures=2)
SAME, OTHER = "a" * 64, "b" * 64
COPY = Taken(bytes=900)


def run(cpu_s: float, sha: str | None = SAME) -> Measured:
    finished = sha is not None
    process = ProcessReport(rc=0 if finished else -9, timed_out=not finished, cpu_s=cpu_s)
    return Measured(process, COPY if finished else None, sha)


class Again:
    """The re-measures a test hands out, in order; it records how many were asked for."""

    def __init__(self, *runs: Measured) -> None:
        self.runs, self.asked = list(runs), 0

    def __call__(self, attempt: int) -> Measured:
        self.asked += 1
        assert attempt == self.asked  # attempts are numbered from 1
        return self.runs.pop(0)


def cpu(measures: tuple[Measure, ...]) -> list[float]:
    return [m.process.cpu_s for m in measures]


def test_a_run_within_its_cap_is_measured_once():
    again = Again()
    chosen, measures = judged(run(10.9), again, BUDGETS)
    assert (chosen.process.cpu_s, measures, again.asked) == (10.9, (), 0)


def test_a_run_over_the_margin_is_measured_once():
    again = Again()
    chosen, measures = judged(run(13.8), again, BUDGETS)
    assert (chosen.process.cpu_s, measures, again.asked) == (13.8, (), 0)


def test_without_remeasures_the_first_measurement_stands():
    off = BUDGETS.model_copy(update={"remeasures": 0})
    again = Again()
    assert judged(run(11.5), again, off) == (run(11.5), ())
    assert again.asked == 0
    assert off.train_limit() == off.train_cap() == 11  # stopped at the cap itself


def test_a_run_over_by_noise_is_judged_by_the_least_of_its_twins():
    again = Again(run(10.7))
    chosen, measures = judged(run(11.9), again, BUDGETS)
    assert chosen.process.cpu_s == 10.7
    assert chosen.taken is COPY  # the first run's copy: the same bytes
    assert cpu(measures) == [11.9, 10.7]
    assert again.asked == 1  # under the cap: no third run


def test_a_run_over_the_cap_every_time_stays_over():
    """Attack: work that really costs more than the cap gets no slack from the rule."""
    chosen, measures = judged(run(12.0), Again(run(11.6), run(12.4)), BUDGETS)
    assert chosen.process.cpu_s == 11.6 > 11
    assert cpu(measures) == [12.0, 11.6, 12.4]


def test_other_bytes_end_the_remeasuring_and_do_not_count():
    """Attack: work that varies from run to run. The cheap run made other bytes: it was
    other work, so it is not evidence about the first run's cost."""
    again = Again(run(5.0, OTHER), run(10.0))
    chosen, measures = judged(run(12.0), again, BUDGETS)
    assert chosen.process.cpu_s == 12.0
    assert again.asked == 1
    assert [m.artifact_sha256 for m in measures] == [SAME, OTHER]


def test_a_remeasure_that_left_no_artifact_is_no_evidence_either_way():
    chosen, measures = judged(run(12.0), Again(run(14.0, None), run(10.5)), BUDGETS)
    assert chosen.process.cpu_s == 10.5
    assert cpu(measures) == [12.0, 14.0, 10.5]


def test_an_overrun_says_which_remeasure_left_no_artifact():
    _, measures = judged(run(12.0), Again(run(14.0, None), run(11.5)), BUDGETS)
    outcome = classify(_report(measures, measures[2].process), TINY_TASK, (0,))
    assert outcome.reason.endswith(
        "measured 3 times: 12.0, 14.0 (no artifact: stopped or failed), 11.5 CPU-s"
    )
    assert outcome.evidence["settled"] is True  # over the cap on every reading


def test_a_run_without_a_copy_is_not_remeasured():
    """Nothing to compare the next run's bytes with (over the size cap, or refused)."""
    first = Measured(ProcessReport(rc=0, cpu_s=12.0), Taken(bytes=10**9), None)
    again = Again()
    assert judged(first, again, BUDGETS) == (first, ())


def _report(measures: tuple[Measure, ...], train: ProcessReport) -> RunReport:
    ev = EvalReport(process=ProcessReport(rc=0, cpu_s=1.0), score=2.0)
    seed = SeedReport(seed=0, train=train, measures=measures, artifact_bytes=900, eval=ev)
    return RunReport(
        trial_id=UUID(int=1), preflight=PreflightReport(ok=True), seeds=(seed,), budgets=BUDGETS
    )


def test_an_overrun_names_every_measurement():
    _, measures = judged(run(12.0), Again(run(11.6), run(12.4)), BUDGETS)
    outcome = classify(_report(measures, measures[1].process), TINY_TASK, (0,))
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN
    assert outcome.reason.endswith("measured 3 times: 12.0, 11.6, 12.4 CPU-s")
    assert outcome.evidence["measured_cpu_s"] == [12.0, 11.6, 12.4]
    assert outcome.evidence["measured_sha256"] == [SAME] * 3
    assert outcome.evidence["cpu_s"] == 11.6
    assert outcome.evidence["settled"] is True  # the trial cache may reuse it


def test_a_trial_that_held_on_a_remeasure_says_so_and_pays_for_every_run():
    chosen, measures = judged(run(11.9), Again(run(10.7)), BUDGETS)
    outcome = classify(_report(measures, chosen.process), TINY_TASK, (0,))
    assert outcome.label is None, outcome.reason
    seed = outcome.per_seed[0].measurements
    assert (seed["cpu_s"], seed["cpu_s_first"], seed["train_runs"]) == (10.7, 11.9, 2.0)
    assert outcome.measurements["cpu_s"] == pytest.approx(11.9 + 10.7 + 1.0)


def test_launches_without_remeasures_record_what_they_did_before_the_rule():
    """Old searches replay: a launch's budgets name the rule only where it is on."""
    plan = {"trial_id": UUID(int=1), "run_dir": "/r", "task_dir": "/t", "data_dir": "/d"}
    job = TrialJob.model_construct(seeds=(0,), threads=1, size_cap_bytes=None, sandbox=True,
                                   recipe={}, budgets=BUDGETS, **plan)  # fmt: skip
    assert launch_facts(job)["budgets"]["remeasures"] == 2
    off = job.model_copy(update={"budgets": BUDGETS.model_copy(update={"remeasures": 0})})
    assert not {"remeasures", "remeasure_within"} & set(launch_facts(off)["budgets"])


@pytest.mark.parametrize(
    ("fields", "says"),
    [({"clock": "wall", "remeasures": 1}, 'needs clock "cpu"'), ({"remeasures": 6}, "less than")],
)
def test_bad_remeasure_settings_are_refused(fields, says):
    with pytest.raises(ValueError, match=says):
        Budgets(train_seconds=10, eval_seconds=10, **fields)


def _overrun(train: ProcessReport, measures: tuple[Measure, ...] = (), budgets=BUDGETS):
    report = _report(measures, train).model_copy(update={"budgets": budgets})
    return classify(report, TINY_TASK, (0,))


def test_an_overrun_that_hangs_on_one_reading_is_not_settled():
    """Over the cap within the margin with no copy to compare: one noisy reading."""
    outcome = _overrun(ProcessReport(rc=0, cpu_s=12.0))
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN
    assert outcome.evidence["settled"] is False


def test_other_bytes_leave_an_overrun_unsettled():
    _, measures = judged(run(12.0), Again(run(5.0, OTHER)), BUDGETS)
    outcome = _overrun(measures[0].process, measures)
    assert outcome.evidence["settled"] is False
    assert "(other bytes)" in outcome.reason


def test_a_run_stopped_past_the_margin_is_settled_at_once():
    killed = ProcessReport(rc=-9, timed_out=True, stopped="cpu", cpu_s=13.8)
    assert _overrun(killed).evidence["settled"] is True


def test_a_run_that_slept_to_the_backstop_is_not_settled():
    slept = ProcessReport(rc=-9, timed_out=True, stopped="wall", cpu_s=2.0, wall_s=40.0)
    assert _overrun(slept).evidence["settled"] is False


def test_without_the_rule_an_overrun_reads_as_before():
    off = BUDGETS.model_copy(update={"remeasures": 0})
    outcome = _overrun(ProcessReport(rc=-9, timed_out=True, stopped="cpu", cpu_s=11.2), (), off)
    assert "settled" not in outcome.evidence


def test_the_runners_outer_cap_leaves_room_for_every_remeasure():
    """Past the outer cap a trial is harness_abort: it must not cut a re-measure short."""
    from evaluators.evaluator import backstop_seconds
    from evaluators.overrun import STARVED_RERUNS

    off = BUDGETS.model_copy(update={"remeasures": 0})
    runs = STARVED_RERUNS * BUDGETS.wall_cap(BUDGETS.train_limit())
    assert backstop_seconds(BUDGETS, 1) - backstop_seconds(off, 1) >= runs * 2 - 1e-9
