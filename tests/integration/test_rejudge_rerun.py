"""Re-judging under rules that need runs the source never made (#18), with real processes
on docs/example-task: a rules version whose seed recipe runs 5 noise seeds instead of 10
re-runs exactly the runs the record lacks, in the sandbox, and judges the rest from the
record; a second re-judgement takes every re-run from the trial cache and trains nothing;
both derived searches verify and replay."""

from __future__ import annotations

import shutil

from domain import trial as t
from domain.rejudge import JUDGED_RUNNER
from ledger.store import open_ledger
from tests.mixed_ledger import as_written_by_v1
from tests.test_cli import ROOT, cli

EXAMPLE = ROOT / "docs" / "example-task"


def _runs(events):
    """(trial number, seeds) of each run, the runner its launch names, and whether the
    trial cache answered it (a TrialReused after the trial's latest run)."""
    seq = {e.originator_id: e.sequence for e in events if isinstance(e, t.TrialProposed)}
    runs: list[list] = []
    latest: dict = {}
    for event in events:
        if isinstance(event, t.TrialLaunched | t.TrialExtended):
            latest[event.originator_id] = len(runs)
            runs.append([(seq[event.originator_id], event.seeds), event.runner, False])
        elif isinstance(event, t.TrialReused):
            runs[latest[event.originator_id]][2] = True
    return [tuple(run) for run in runs]


def _next_version(task_dir, old, new):
    toml = task_dir / "task.toml"
    text = toml.read_text()
    assert old in text
    toml.write_text(text.replace(old, new).replace("example-regression/4", "example-regression/5"))


def _said(done):
    return " ".join(done.stdout.split())


def test_a_rejudge_re_runs_only_what_the_record_lacks_then_the_cache_has_it(tmp_path):
    task, ledger = tmp_path / "task", str(tmp_path / "l.sqlite")
    shutil.copytree(EXAMPLE, task)
    search = ("search", "--task", str(task), "--trials", "3", "--seed", "0")
    assert cli(*search, "--ledger", ledger, timeout=300).returncode == 0
    _next_version(task, "noise = 10", "noise = 5")
    store = open_ledger(ledger)
    ((source, _),) = store.searches()
    rejudge = ("rejudge", "--rules-version", "example-regression/5", "--ledger", ledger)
    first = cli(*rejudge, "--search", str(source), timeout=300)
    assert first.returncode == 0, first.stderr
    derived = store.searches()[1][0]
    recorded = {run for run, _, _ in _runs(store.stream(source))}
    runs = _runs(store.stream(derived))
    rerun = [run for run, runner, _ in runs if runner != JUDGED_RUNNER]
    assert rerun == [run for run, _, _ in runs if run not in recorded]  # exactly those
    assert rerun[0] == (0, tuple(range(5)))  # the seed recipe, on the new noise seeds
    assert {runner for _, runner, _ in runs} == {JUDGED_RUNNER, "local"}
    judged = len(runs) - len(rerun)
    assert f"runs: {judged} judged from the record, 0 from the trial cache," in _said(first)
    assert f"{len(rerun)} trained" in _said(first)
    again = cli(*rejudge, "--search", str(source), timeout=300)
    assert again.returncode == 0, again.stderr
    second = _runs(store.stream(store.searches()[2][0]))
    assert [(run, runner) for run, runner, _ in second] == [(r, n) for r, n, _ in runs]
    assert [run for run, runner, cached in second if runner != JUDGED_RUNNER and cached] == rerun
    assert f"{len(rerun)} from the trial cache, 0 trained" in _said(again)
    assert cli("verify", "--ledger", ledger).returncode == 0
    for sid, _ in store.searches()[1:]:
        replayed = cli("replay", "--search", str(sid), "--ledger", ledger, timeout=300)
        assert replayed.returncode == 0, replayed.stderr
        assert "no divergence" in replayed.stdout
    # A fresh search under the folder's rules reuses what the re-judgement re-ran, and
    # never a run it judged from the record (measured under the older rules).
    assert cli(*search, "--ledger", ledger, timeout=300).returncode == 0
    fresh = store.stream(store.searches()[3][0])
    sources = {
        (e.source_search_id, e.source_sequence) for e in fresh if isinstance(e, t.TrialReused)
    }
    assert (derived, 0) in sources
    judged = {
        (sid, seq)
        for sid, _ in store.searches()[1:3]
        for (seq, _), runner, _ in _runs(store.stream(sid))
        if runner == JUDGED_RUNNER
    }
    assert not sources & judged


def test_a_ledger_written_before_the_cache_is_re_judged_and_trains(tmp_path):
    """Its launches say nothing of determinism and its rules nothing of a clock: it still
    re-judges, and only the cache it never fed is missed."""
    task, ledger = tmp_path / "task", tmp_path / "l.sqlite"
    shutil.copytree(EXAMPLE, task)
    search = ("search", "--task", str(task), "--trials", "1", "--seed", "0")
    assert cli(*search, "--ledger", str(ledger), timeout=300).returncode == 0
    assert as_written_by_v1(ledger) > 0
    _next_version(task, "noise = 10", "noise = 5")
    done = cli(
        "rejudge", "--rules-version", "example-regression/5", "--ledger", str(ledger), timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "0 from the trial cache" in _said(done)
    assert "0 trained" not in _said(done)
    assert cli("verify", "--ledger", str(ledger)).returncode == 0
