"""The search loop over the real ledger and projections, with scripted trial outcomes."""

from __future__ import annotations

from domain import search as s
from domain import trial as t
from domain.events import decode
from domain.labels import FailureLabel, FinishReason
from tests.support import StepProposer, by_lr, failed, scripted_loop


def _events(store):
    return [decode(r) for r in store.read_all()]


def _decisions(store):
    """What a search decided, without times: proposals, diffs, scores, verdicts."""
    out = []
    for e in _events(store):
        if isinstance(e, t.TrialProposed):
            out.append(("proposed", e.sequence, e.specialist, e.parent_id, e.hypothesis))
        elif isinstance(e, t.RecipeEdited):
            out.append(("edited", e.diff, e.child_sha256))
        elif isinstance(e, t.TrialScored):
            out.append(("scored", e.score))
        elif isinstance(e, t.TrialJudged):
            out.append(("judged", e.verdict, e.delta))
        elif isinstance(e, t.TrialFailed):
            out.append(("failed", e.label, e.reason))
    return out


def test_a_search_runs_the_baseline_then_the_roster_in_turn(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=4)
    assert loop.run() is FinishReason.TRIAL_BUDGET
    proposed = [e for e in _events(store) if isinstance(e, t.TrialProposed)]
    assert next(p.specialist for p in proposed) == "baseline"
    assert sorted(p.specialist for p in proposed[1:]) == ["arch", "arch", "opt", "opt"]
    assert all(p.parent_id is not None for p in proposed[1:])


def test_the_noise_floor_is_measured_after_the_baseline_and_used_by_every_verdict(
    tmp_path,
):
    loop, store, _ = scripted_loop(tmp_path, trials=3)
    loop.run()
    events = _events(store)
    noise = next(e for e in events if isinstance(e, s.NoiseFloorMeasured))
    assert noise.noise.k == 2
    assert noise.noise.sigma > 0
    judged = [e for e in events if isinstance(e, t.TrialJudged)][1:]
    assert all(j.numbers["floor"] == noise.noise.floor for j in judged)
    order = [type(e).__name__ for e in events[:12]]
    assert order.index("NoiseFloorMeasured") < order.index("TrialJudged")


def test_two_searches_with_the_same_seed_make_the_same_decisions(tmp_path):
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        proposer = StepProposer(factors=(2.0, 12.0, 1.5))  # x12 drives LR into a crash
        loop, store, _ = scripted_loop(tmp_path / name, trials=6, proposer=proposer)
        loop.run()
        runs.append(_decisions(store))
    assert runs[0] == runs[1]
    assert any(d[0] == "failed" for d in runs[0])  # LR past 0.01 crashes in the script


def test_an_interrupt_ends_trials_in_flight_as_harness_abort(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=6)
    original = loop.executor.submit

    def submit_then_interrupt(trial_id, job):
        original(trial_id, job)
        if job.sequence == 2:
            loop.executor.queue.clear()  # the trial is still running when Ctrl-C comes
            loop.stop_requested.set()

    loop.executor.submit = submit_then_interrupt
    assert loop.run() is FinishReason.INTERRUPTED
    events = _events(store)
    aborted = [e for e in events if isinstance(e, t.TrialFailed)]
    assert [e.label for e in aborted] == [FailureLabel.HARNESS_ABORT]
    assert "Ctrl-C" in aborted[0].reason
    assert isinstance(events[-1], s.SearchFinished)
    assert events[-1].reason is FinishReason.INTERRUPTED
    assert events[-1].trials == 1  # the aborted trial does not count against the budget
    assert loop.executor.cancelled


def test_a_failing_seed_recipe_ends_the_search_before_any_proposal(tmp_path):
    loop, store, _ = scripted_loop(
        tmp_path, trials=5, script=lambda job: failed(FailureLabel.CRASH)
    )
    assert loop.run() is FinishReason.BASELINE_FAILED
    assert [e for e in _events(store) if isinstance(e, t.TrialProposed)][-1].sequence == 0


def test_the_baseline_runs_extra_seeds_and_trials_run_the_scoring_seeds(tmp_path):
    seen = {}

    def record(job):
        seen[job.sequence] = (job.seeds, job.scoring_seeds)
        return by_lr(job)

    loop, _, _ = scripted_loop(tmp_path, trials=2, script=record, seed=7, noise_seeds=3)
    loop.run()
    assert seen[0] == ((7, 8, 9), (7,))
    assert seen[1] == ((7,), (7,))


def test_progress_batches_become_training_progressed_events(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=1)
    loop.run()
    progress = [e for e in _events(store) if isinstance(e, t.TrainingProgressed)]
    assert len(progress) == 2
    assert len(progress[0].samples) == 3


def test_a_step_is_one_transaction(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=1)
    loop.run()
    versions = {}
    for record in store.read_all():
        versions.setdefault(record.aggregate_id, []).append(record.version)
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
