"""`--workers 2`: two real trials in flight at once, and a log that replays exactly."""

from __future__ import annotations

import sqlite3

from tests.golf_support import tiny_golf
from tests.test_cli import cli


def _overlapping(ledger) -> bool:
    """Whether some trial was launched while another one was still running."""
    with sqlite3.connect(ledger) as con:
        rows = con.execute("SELECT originator_id, topic FROM stored_events ORDER BY rowid")
        running: set[str] = set()
        for trial, topic in rows:
            if topic.endswith(":TrialLaunched"):
                if running:
                    return True
                running.add(trial)
            elif topic.endswith((":TrialScored", ":TrialFailed")):
                running.discard(trial)
    return False


def test_two_workers_complete_a_real_search_that_replays(tmp_path):
    task = tiny_golf(tmp_path, split_bytes=8192)
    ledger = tmp_path / "runs" / "ledger.sqlite"
    done = cli("search", "--task", str(task), "--trials", "3", "--workers", "2",
               "--ledger", str(ledger), timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "finished (trial_budget)" in done.stdout
    assert _overlapping(ledger)
    replayed = cli("replay", "--ledger", str(ledger))
    assert replayed.returncode == 0, replayed.stderr
    assert "no divergence" in replayed.stdout
