"""Counterfactual replay and rejudge with real processes on docs/example-task (#18): a
counterfactual of a specialists search under --policy random trains only the runs the
original never measured, judges as a fresh random search with the same seed does, and
both derived searches (it and a re-judgement) verify and replay."""

from __future__ import annotations

import json
import re

from domain import search as s
from domain import trial as t
from ledger.store import open_ledger
from tests.test_cli import ROOT, assert_one_line_error, cli

EXAMPLE = str(ROOT / "docs" / "example-task")


def _runs(events):
    """(recipe, seeds) of each run, and whether the cache answered it (a TrialReused
    after the trial's latest run)."""
    runs: list[list] = []
    latest: dict = {}
    for event in events:
        if isinstance(event, t.TrialLaunched | t.TrialExtended):
            latest[event.originator_id] = len(runs)
            runs.append([(event.recipe_sha256, event.seeds), False])
        elif isinstance(event, t.TrialReused):
            runs[latest[event.originator_id]][1] = True
    return [tuple(run) for run in runs]


def _verdicts(events):
    seq = {e.originator_id: e.sequence for e in events if isinstance(e, t.TrialProposed)}
    return [
        (seq[e.originator_id], getattr(e, "verdict", None) or e.label, getattr(e, "score", None))
        for e in events
        if isinstance(e, t.TrialJudged | t.TrialFailed)
    ]


def test_a_counterfactual_trains_only_what_was_never_measured(tmp_path):
    ledger, fresh = str(tmp_path / "l.sqlite"), str(tmp_path / "fresh.sqlite")
    common = ("--task", EXAMPLE, "--trials", "3", "--seed", "0")
    assert cli("search", *common, "--ledger", ledger, timeout=300).returncode == 0
    done = cli("counterfactual", "--policy", "random", "--ledger", ledger, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (
        cli("search", *common, "--policy", "random", "--ledger", fresh, timeout=300).returncode == 0
    )
    store = open_ledger(ledger)
    (original, _), (counter, _) = store.searches()
    started = store.stream(counter)[0]
    assert isinstance(started, s.SearchStarted)
    assert started.config["derived_from"]["kind"] == "counterfactual"
    assert started.config["derived_from"]["search"] == str(original)
    measured = {run for run, _ in _runs(store.stream(original))}
    runs = _runs(store.stream(counter))
    assert [reused for _, reused in runs] == [run in measured for run, _ in runs]
    assert any(reused for _, reused in runs)  # the seed recipe's baseline at least
    assert any(not reused for _, reused in runs)  # and random's own recipes trained
    ((alone, _),) = open_ledger(fresh).searches()
    assert _verdicts(store.stream(counter)) == _verdicts(open_ledger(fresh).stream(alone))
    rejudged = cli(
        "rejudge", "--search", str(original), "--size-cap-scale", "0.98", "--ledger", ledger
    )
    assert rejudged.returncode == 0, rejudged.stderr
    assert cli("verify", "--ledger", ledger).returncode == 0
    for sql in _readme_sql():  # the README's comparison answers on this ledger
        done = cli("audit", sql, "--format", "json", "--ledger", ledger)
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)) >= 2
    report = cli(
        "report", "--search", str(counter), "--out", str(tmp_path / "r"), "--ledger", ledger
    )
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "r" / "report.html").read_text()
    assert "This search is a counterfactual of search 0 (policy specialists)" in page
    cached = {e.originator_id for e in store.stream(counter) if isinstance(e, t.TrialReused)}
    assert f"{len(cached)} of its trials took results from the trial cache" in page
    (rejudged_id, _) = store.searches()[2]
    out = tmp_path / "r2"
    assert (
        cli(
            "report", "--search", str(rejudged_id), "--out", str(out), "--ledger", ledger
        ).returncode
        == 0
    )
    assert "a re-judgement under other rules of search 0" in (out / "report.html").read_text()
    for sid, _ in store.searches()[1:]:
        replayed = cli("replay", "--search", str(sid), "--ledger", ledger, timeout=300)
        assert replayed.returncode == 0, replayed.stderr
        assert "no divergence" in replayed.stdout


def _readme_sql():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Asking history questions") : text.index("## Layout")]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def test_bad_counterfactual_and_rejudge_requests_are_one_line(tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    assert (
        cli(
            "search", "--task", EXAMPLE, "--trials", "0", "--ledger", ledger, timeout=300
        ).returncode
        == 0
    )
    assert_one_line_error(
        cli("counterfactual", "--policy", "claude", "--ledger", ledger), "--policy 'claude'"
    )
    assert_one_line_error(
        cli("rejudge", "--rules-version", "example-regression/9", "--ledger", ledger),
        "defines no rules version",
    )
    assert_one_line_error(cli("rejudge", "--search", "ffff", "--ledger", ledger), "0 searches")
