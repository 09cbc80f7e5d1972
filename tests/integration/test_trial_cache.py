"""The trial cache (#17): a deterministic task's second identical search trains nothing,
reaches the same verdicts, and says so in TrialReused events that replay and verify; and
the attacks on the key (threads, environment, labels a busy machine decides) miss."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain import trial as t
from domain.cache import CacheHit, key_of
from domain.labels import FailureLabel
from domain.task import Metric, TaskSpec
from ledger.cache import TrialCache, check_reuses
from ledger.replay import replay, search_events
from ledger.store import open_ledger
from ledger.verify import verify
from projections.db import connect, rebuild
from tests.mixed_ledger import rewritten
from tests.support import CACHED_TASK, TINY_TASK, by_lr, failed, scripted_loop
from tests.test_cli import ROOT, assert_one_line_error, cli

EXAMPLE = ROOT / "docs" / "example-task"


class Counting:
    """A script that counts what it 'trains'."""

    def __init__(self, script=by_lr) -> None:
        self.script, self.trained = script, 0

    def __call__(self, job):
        self.trained += 1
        return self.script(job)


def _search(tmp_path, script, task=CACHED_TASK, cache=True, **config):
    loop, store, location = scripted_loop(
        tmp_path, trials=5, script=script, task=task, cache=cache, **config
    )
    loop.run()
    return loop, store, location


def test_a_second_identical_search_trains_nothing_and_judges_alike(tmp_path):
    first_script, second_script = Counting(), Counting()
    first, store, _ = _search(tmp_path, first_script)
    second, _, _ = _search(tmp_path, second_script)
    assert first_script.trained == 5  # baseline and 5 trials, #4 repeats #2's recipe
    assert second_script.trained == 0
    events = store.stream(second.state.started.id)
    reused = [e for e in events if isinstance(e, t.TrialReused)]
    assert len(reused) == 6
    assert {e.source_search_id for e in reused} == {first.state.started.id}
    assert [e.source_sequence for e in reused] == [0, 1, 2, 3, 2, 5]  # the run that trained
    judged = [(e.verdict, e.score) for e in events if isinstance(e, t.TrialJudged)]
    before = [
        (e.verdict, e.score)
        for e in store.stream(first.state.started.id)
        if isinstance(e, t.TrialJudged)
    ]
    assert judged == before
    assert verify(store.read_all()).ok
    report = replay(search_events(store, second.state.started.id))
    assert report.ok, report.divergence
    path = tmp_path / "read.duckdb"
    rebuild(store, path)
    with connect(path, read_only=True) as con:
        rows = con.execute(
            "SELECT s.seq, s.reused_from = f.trial_id FROM trials s JOIN trials f"
            " ON f.search_id = ? AND f.seq = s.seq WHERE s.search_id = ? ORDER BY s.seq",
            [str(first.state.started.id), str(second.state.started.id)],
        ).fetchall()
    assert rows == [(seq, seq != 4) for seq in range(6)]  # #4 names the first search's #2


def test_a_byte_identical_recipe_within_a_search_is_reused(tmp_path):
    """`arch` widens the same best twice (#2 and #4): the second is never trained."""
    loop, store, _ = _search(tmp_path, Counting())
    events = store.stream(loop.state.started.id)
    reused = [e for e in events if isinstance(e, t.TrialReused)]
    assert [(e.source_search_id, e.source_sequence) for e in reused] == [(loop.state.started.id, 2)]
    assert loop.state.trials[reused[0].originator_id].sequence == 4


@pytest.mark.parametrize("why", ["not_deterministic", "no_cache", "threads"])
def test_what_is_not_cacheable_trains_again(tmp_path, why):
    task = TINY_TASK if why == "not_deterministic" else CACHED_TASK
    _search(tmp_path, Counting(), task=task)
    again = Counting()
    extra = {"threads": 2} if why == "threads" else {}
    loop, store, _ = _search(tmp_path, again, task=task, cache=why != "no_cache", **extra)
    assert again.trained == 6  # even #4, a repeat of #2
    assert not [e for e in store.stream(loop.state.started.id) if isinstance(e, t.TrialReused)]


@pytest.mark.parametrize(
    "label",
    [
        FailureLabel.HARNESS_ABORT,
        FailureLabel.TRAIN_BUDGET_OVERRUN,
        FailureLabel.EVAL_BUDGET_OVERRUN,
    ],
)
def test_failures_the_machine_decides_are_never_reused(tmp_path, label):
    def script(job):
        return failed(label, "the world") if job.sequence == 1 else by_lr(job)

    _search(tmp_path, script)
    again = Counting(script)
    loop, store, _ = _search(tmp_path, again)
    reused = {
        e.source_sequence
        for e in store.stream(loop.state.started.id)
        if isinstance(e, t.TrialReused)
    }
    assert 1 not in reused
    assert again.trained >= 1


def test_a_training_overrun_the_remeasure_rule_settled_is_reused(tmp_path):
    """Every measurement of the same work was over the cap: a fact about the recipe."""
    settled = failed(FailureLabel.TRAIN_BUDGET_OVERRUN, "the recipe").model_copy(
        update={"evidence": {"settled": True, "measured_cpu_s": [12.0, 11.6, 12.4]}}
    )

    def script(job):
        return settled if job.sequence == 1 else by_lr(job)

    _search(tmp_path, script)
    again = Counting(script)
    loop, store, _ = _search(tmp_path, again)
    events = list(store.stream(loop.state.started.id))
    reused = {e.originator_id for e in events if isinstance(e, t.TrialReused)}
    copied = [e for e in events if isinstance(e, t.TrialFailed) and e.originator_id in reused]
    assert [e.evidence["measured_cpu_s"] for e in copied] == [[12.0, 11.6, 12.4]]
    assert again.trained == 0  # the overrun was not trained again, nor anything else


def test_another_environment_is_another_key(tmp_path):
    loop, store, _ = _search(tmp_path, Counting())
    cache = TrialCache.from_ledger(store, loop.state.started.id, CACHED_TASK)
    started = cache.started
    moved = started.model_copy(update={"environment": {**started.environment, "torch": "9.9"}})
    assert cache.comparable(started)
    assert not cache.comparable(moved)
    launch = next(e for e in store.stream(started.originator_id) if isinstance(e, t.TrialLaunched))
    keys = {
        key_of(s.task_sha256, s.environment, launch.model_dump(), (0,), True).digest
        for s in (started, moved)
    }
    assert len(keys) == 2
    assert all(isinstance(hit, CacheHit) for hit in cache.entries.values())


def test_under_caps_relative_to_the_machine_only_this_boot_s_runs_are_reused(tmp_path):
    """Attack: another VM, same kernel build and host name, with the seed recipe's cost
    cached: its baseline would set this machine's caps. Only this boot's runs count."""
    loop, store, _ = _search(tmp_path, Counting())
    budgets = CACHED_TASK.budgets.model_copy(update={"seed_multiple": 3.0})
    relative = CACHED_TASK.model_copy(update={"budgets": budgets})
    cache = TrialCache.from_ledger(store, loop.state.started.id, relative)
    started = cache.started
    assert started.environment["boot"]  # Linux names this boot
    env = started.environment
    elsewhere = started.model_copy(update={"environment": {**env, "boot": "another"}})
    unknown = started.model_copy(update={"environment": {**env, "boot": ""}})
    assert cache.comparable(started)
    assert not cache.comparable(elsewhere)
    assert not cache.comparable(unknown)  # an older record: not known to be this machine's
    absolute = TrialCache.from_ledger(store, loop.state.started.id, CACHED_TASK)
    assert absolute.comparable(elsewhere)  # absolute caps mean the same on any machine


def test_a_time_metric_cannot_be_declared_deterministic():
    fields = {**TINY_TASK.model_dump(), "deterministic": True}
    fields["metric"] = Metric(name="s", direction="minimize", source="train_seconds")
    with pytest.raises(ValueError, match="time metric"):
        TaskSpec.model_validate(fields)


def test_the_example_task_trains_once_and_replays_from_the_cache(tmp_path):
    """Real processes: the second identical search on docs/example-task answers every
    launch and racing look from the first (no training progress of its own), and it
    verifies and replays; with --no-cache a third trains again."""
    ledger = str(tmp_path / "l.sqlite")
    args = ("search", "--task", str(EXAMPLE), "--trials", "2", "--ledger", ledger)
    for extra in ((), (), ("--no-cache",)):
        assert cli(*args, *extra, timeout=300).returncode == 0
    store = open_ledger(ledger)
    first, second, third = (sid for sid, _ in store.searches())
    runs = (t.TrialLaunched, t.TrialExtended)
    events = store.stream(second)
    reused = [e for e in events if isinstance(e, t.TrialReused)]
    assert len(reused) == len([e for e in events if isinstance(e, runs)]) >= 3
    assert {e.source_search_id for e in reused} == {first}
    assert not [e for e in events if isinstance(e, t.TrainingProgressed)]
    assert not [e for e in store.stream(third) if isinstance(e, t.TrialReused)]
    verdicts = [
        [(e.verdict, e.score) for e in store.stream(sid) if isinstance(e, t.TrialJudged)]
        for sid in (first, second, third)
    ]
    assert verdicts[0] == verdicts[1] == verdicts[2]
    assert "no divergence" in cli("replay", "--ledger", ledger, "--search", str(second)).stdout
    assert cli("verify", "--ledger", ledger).returncode == 0


def test_a_forged_reuse_is_found_though_the_chain_was_resealed(tmp_path):
    """A forger changes what a reused trial copied (its artifact's bytes, which no verdict
    here reads) and reseals the chain: verify and the decision replay accept the log as
    written; the reuse check, which reads the source, does not."""
    _, store, location = _search(tmp_path, Counting())
    second, _, _ = _search(tmp_path, Counting())
    sid = second.state.started.id
    assert check_reuses(store, store.stream(sid)) == (6, "")
    target = next(str(e.originator_id) for e in store.stream(sid) if isinstance(e, t.TrialReused))

    def better(topic, body):
        if topic.endswith(":TrialScored") and body["originator_id"] == target:
            body["measurements"]["artifact_bytes"] = 10.0
            return 1
        return None

    assert rewritten(Path(location), better) == 1
    assert verify(store.read_all()).ok
    assert replay(search_events(store, sid)).ok
    count, problem = check_reuses(store, store.stream(sid))
    assert "not the one its source recorded" in problem
    assert count >= 1
    assert_one_line_error(cli("replay", "--ledger", location, "--search", str(sid)), "trial cache:")
