"""The final test through the real loop, ledger and projections (a scripted pipeline):
it runs once, at the end, on the test split and fresh seeds; it is stored with the finish;
replay re-derives it; a search cut off or interrupted during it resumes and runs it again."""

from __future__ import annotations

import contextlib
from pathlib import Path
from uuid import UUID

from rich.console import Console

from domain import search as s
from domain.labels import FinishReason
from domain.ports import Outcome, TrialJob
from domain.progress import fold
from ledger import session
from ledger.recovery import recovery_events
from ledger.replay import replay, search_events
from ledger.store import Ledger
from projections import display
from projections.db import connect, refresh
from projections.lineage import DuckLineage
from tests.support import (
    TESTED_TASK,
    TINY_TASK,
    ScriptedEvaluator,
    StepProposer,
    SyncExecutor,
    by_lr_per_seed,
    scripted_loop,
)

TEST_SEEDS = (1_000_000, 1_000_001, 1_000_002)


class Recorder:
    """The scripted pipeline, remembering every job it was given."""

    def __init__(self, on_test=None) -> None:
        self.jobs: list[TrialJob] = []
        self.on_test = on_test

    def __call__(self, job: TrialJob) -> Outcome:
        self.jobs.append(job)
        outcome = by_lr_per_seed(job)
        return self.on_test(job, outcome) if self.on_test and job.split == "test" else outcome


def _search(tmp_path: Path, script=None, trials: int = 4, task=TESTED_TASK):
    script = script or Recorder()
    loop, store, location = scripted_loop(tmp_path, trials=trials, task=task, script=script)
    return loop, store, location, script


def _events(store: Ledger, sid: UUID):
    return search_events(store, sid)


def _line(store: Ledger, location: str, sid: UUID) -> str:
    path = Path(location).with_suffix(".duckdb")
    refresh(store, path)
    console = Console(width=200, record=True)
    with connect(path, read_only=True) as con:
        console.print(display.leaderboard(con, sid, console.width))
    return console.export_text().splitlines()[0]


def test_a_search_ends_with_the_final_test_stored_with_its_finish(tmp_path):
    loop, store, location, script = _search(tmp_path)
    stored: list[list[str]] = []
    append = loop.sink.append

    def transaction(stream, events):
        stored.append([type(e).__name__ for e in events])
        return append(stream, events)

    loop.sink.append = transaction

    assert loop.run() is FinishReason.TRIAL_BUDGET

    assert stored[-2:] == [["FinalTestLaunched"], ["FinalTested", "SearchFinished"]]
    sid = loop.state.started.id
    events = _events(store, sid)
    *_, (_, launched), (_, tested), _ = events
    assert isinstance(launched, s.FinalTestLaunched)
    assert isinstance(tested, s.FinalTested)
    assert (tested.status, tested.held, tested.seeds) == ("held", True, TEST_SEEDS)
    assert tested.best is not None
    assert tested.best.trial_id == loop.state.best.id
    assert launched.seeds == TEST_SEEDS
    assert launched.split == "test"
    trials = [job for job in script.jobs if job.split == "validation"]
    final = [job for job in script.jobs if job.split == "test"]
    assert script.jobs[-2:] == final  # nothing runs after the final test ...
    assert {job.trial_id for job in final} == {tested.best.trial_id, launched.seed_trial_id}
    assert all(job.heldout_dir == "/t" and job.seeds == TEST_SEEDS for job in final)
    assert all(job.heldout_dir == "/h" for job in trials)  # ... and no trial saw the split
    assert not {seed for job in trials for seed in job.seeds} & set(TEST_SEEDS)
    assert all(not job.smoke for job in final)
    assert replay(events).ok
    line = _line(store, location, sid)
    assert line.startswith(f"test split: best #{tested.best.sequence} ")
    assert line.endswith(", held")


def test_the_projections_carry_the_final_test(tmp_path):
    loop, store, location, _ = _search(tmp_path)
    loop.run()
    path = Path(location).with_suffix(".duckdb")
    refresh(store, path)
    with connect(path, read_only=True) as con:
        status, seeds = con.execute(
            "SELECT test_status, final_test->'$.seeds' FROM searches"
        ).fetchone()
        typed = con.execute("SELECT status, held, delta FROM ev_final_tested").fetchall()
        launched = con.execute("SELECT ending, split FROM ev_final_test_launched").fetchall()
    assert status == "held"
    assert seeds == "[1000000,1000001,1000002]"
    assert typed[0][:2] == ("held", True)
    assert typed[0][2] < 0
    assert launched == [("trial_budget", "test")]


def test_a_gain_the_test_split_does_not_confirm_is_not_held_and_replays(tmp_path):
    def no_better(job: TrialJob, outcome: Outcome) -> Outcome:
        return by_lr_per_seed(
            job.model_copy(update={"recipe": ScriptedEvaluator(tmp_path).seed_recipe()})
        )

    loop, store, location, _ = _search(tmp_path, Recorder(no_better))
    loop.run()

    events = _events(store, loop.state.started.id)
    tested = events[-2][1]
    assert isinstance(tested, s.FinalTested)
    assert (tested.status, tested.held) == ("not_held", False)
    assert tested.delta == 0.0
    assert replay(events).ok
    assert _line(store, location, loop.state.started.id).endswith(", not held")


def test_no_keep_and_no_test_split_end_with_a_line_that_says_so(tmp_path):
    worse = StepProposer(factors=(0.5,))  # every trial halves LR: never better
    loop, store, location = scripted_loop(
        tmp_path / "a", trials=2, task=TESTED_TASK, proposer=worse
    )
    loop.run()
    assert _line(store, location, loop.state.started.id).startswith("test split: not run: no trial")
    loop, store, location = scripted_loop(tmp_path / "b", trials=2, task=TINY_TASK)
    loop.run()
    events = _events(store, loop.state.started.id)
    assert [type(e).__name__ for _, e in events[-2:]] == ["FinalTested", "SearchFinished"]
    assert _line(store, location, loop.state.started.id).startswith(
        "test split: none: the task declares no test split"
    )
    assert replay(events).ok


class _Crash(BaseException):
    pass


def _resume(tmp_path: Path, store: Ledger, sid: UUID, script) -> tuple[list, FinishReason]:
    state = fold(store.stream(sid))
    recovery = recovery_events(state, "host-b")
    store.append(sid, recovery)
    loop = session.build_loop(
        state, store, ScriptedEvaluator(tmp_path, script, TESTED_TASK), SyncExecutor(script),
        StepProposer(), DuckLineage(store, tmp_path / "ledger.duckdb"),
        session.config_of(state), "sync", "host-b",
    )  # fmt: skip
    return recovery, loop.run()


def test_a_search_killed_during_the_final_test_resumes_and_runs_it_again(tmp_path):
    loop, store, _location, script = _search(tmp_path)
    submit = loop.executor.submit

    def crash(trial_id: UUID, job: TrialJob) -> None:
        submit(trial_id, job)
        if job.split == "test":
            raise _Crash  # the process dies with the final test's runs in flight

    loop.executor.submit = crash
    with contextlib.suppress(_Crash):
        loop.run()
    sid = loop.state.started.id
    assert isinstance(store.stream(sid)[-1], s.FinalTestLaunched)  # and nothing after it

    recovery, reason = _resume(tmp_path, store, sid, script)

    assert reason is FinishReason.TRIAL_BUDGET
    assert recovery[0].abandoned == ()  # no trial was in flight: only the final test
    events = _events(store, sid)
    launches = [e for _, e in events if isinstance(e, s.FinalTestLaunched)]
    assert len(launches) == 2
    assert launches[0].seeds == launches[1].seeds
    assert [type(e) for _, e in events[-2:]] == [s.FinalTested, s.SearchFinished]
    report = replay(events)
    assert report.ok, report.divergence
    assert report.compared == report.events - 1


def test_a_search_interrupted_during_the_final_test_is_resumed_and_tested(tmp_path):
    loop, store, _location, script = _search(tmp_path)
    submit = loop.executor.submit

    def interrupt(trial_id: UUID, job: TrialJob) -> None:
        submit(trial_id, job)
        if job.split == "test":
            loop.executor.queue.clear()
            loop.stop_requested.set()  # Ctrl-C while the final test runs

    loop.executor.submit = interrupt
    assert loop.run() is FinishReason.INTERRUPTED
    sid = loop.state.started.id
    finished = store.stream(sid)[-1]
    assert isinstance(finished, s.SearchFinished)
    assert finished.detail.endswith("during the final test")
    assert session.pick_search(store, None, unfinished=True) == sid

    recovery, reason = _resume(tmp_path, store, sid, script)

    assert recovery[0].reopened is FinishReason.INTERRUPTED
    assert reason is FinishReason.TRIAL_BUDGET
    events = _events(store, sid)
    assert isinstance(events[-2][1], s.FinalTested)
    assert events[-2][1].status == "held"
    assert replay(events).ok
