"""Ctrl-C, then `search --resume`, as a user does it: a real search process, a real SIGINT.

The interrupted trial ends harness_abort (never the idea's fault), the search ends
`interrupted` with exit 130, and a resume reopens it: the aborted trial runs again as it
was proposed (same specialist, parent, diff and child recipe) in a new trial that names
it, the budget counts every trial once, and replay verifies the resumed search.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.test_faults import independent_count
from tests.test_cli import ROOT, assert_one_line_error, cli

EXAMPLE = ROOT / "docs" / "example-task"
# Each training run sleeps, so a trial is still in flight when the signal lands; the test
# waits for the launch in the ledger, never for a length of time.
SLOW = '    smoke = os.environ.get("AUTORECIPE_SMOKE") == "1"\n'
NAP = SLOW + "    __import__('time').sleep(0 if smoke else 1.5)\n"


def slow_task(tmp_path: Path) -> Path:
    task = tmp_path / "task"
    shutil.copytree(EXAMPLE, task)
    recipe = task / "recipe" / "train.py"
    recipe.write_text(recipe.read_text().replace(SLOW, NAP))
    toml = task / "task.toml"
    toml.write_text(toml.read_text().replace("noise = 10", "noise = 3"))  # a quick baseline
    return task


def _start(task: Path, ledger: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "search", "--task", str(task), *extra,
         "--ledger", str(ledger)],
        cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_launch(ledger: Path, sequence: int, process: subprocess.Popen[str]) -> None:
    """Poll the ledger (an independent reader) until trial `sequence` is launched."""
    while process.poll() is None:
        if ledger.exists() and sequence in _launched(ledger):
            return
        time.sleep(0.05)
    raise AssertionError(f"the search ended before trial {sequence} launched")


def _launched(ledger: Path) -> set[int]:
    with sqlite3.connect(ledger) as con:
        try:
            rows = con.execute("SELECT topic, state FROM stored_events ORDER BY rowid").fetchall()
        except sqlite3.OperationalError:  # the file exists, its tables not yet
            return set()
    sequences: dict[str, int] = {}
    launched = set()
    for topic, state in rows:
        name, body = topic.rsplit(":", 1)[-1], json.loads(state)["event"]
        if name == "TrialProposed":
            sequences[body["originator_id"]] = body["sequence"]
        elif name == "TrialLaunched":
            launched.add(sequences[body["originator_id"]])
    return launched


def _specialists(ledger: Path) -> dict[int, tuple[str, str]]:
    done = cli(
        "audit", "select seq, specialist, status from trials order by seq",
        "--format", "csv", "--ledger", str(ledger),
    )  # fmt: skip
    rows = [line.split(",") for line in done.stdout.splitlines()[1:]]
    return {int(seq): (who, status) for seq, who, status in rows}


def _audit(ledger: Path, sql: str) -> list[dict[str, Any]]:
    done = cli("audit", sql, "--format", "json", "--ledger", str(ledger))
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def _recipes(ledger: Path) -> dict[int, dict[str, Any]]:
    sql = "select seq, specialist, parent_id, hypothesis, child_sha256, diff from trials"
    return {row.pop("seq"): row for row in _audit(ledger, sql)}


def test_ctrl_c_then_resume_reruns_the_interrupted_trial_as_proposed(tmp_path):
    task, ledger = slow_task(tmp_path), tmp_path / "runs" / "ledger.sqlite"
    process = _start(task, ledger, "--trials", "2")
    _wait_for_launch(ledger, 1, process)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "`cli.py search --resume` continues it" in err
    assert "Traceback" not in err
    before = _specialists(ledger)
    assert before[1][1] == "harness_abort"

    resumed = cli("search", "--resume", "--ledger", str(ledger), timeout=600)

    assert resumed.returncode == 0, resumed.stderr
    assert "it had ended interrupted" in resumed.stdout
    assert "trials #1 run again as proposed" in resumed.stdout
    assert "2/2" in resumed.stdout
    assert "3/2" not in resumed.stdout
    after = _specialists(ledger)
    assert after[1] == before[1]  # history is never rewritten
    assert after[2][0] == before[1][0]  # the aborted slot runs again, for the same specialist
    recipes = _recipes(ledger)
    assert recipes[1]["diff"]
    assert recipes[2] == recipes[1]  # same specialist, parent, hypothesis, diff and sha256
    (named,) = _audit(
        ledger, "select p.reruns, a.trial_id from ev_trial_proposed p, trials a"
        " where p.sequence = 2 and a.seq = 1",
    )  # fmt: skip
    assert named["reruns"] == named["trial_id"]  # the re-run names the trial it re-runs
    count = independent_count(ledger)
    assert count["resumed"] == 1
    assert count["finished"] == 2  # interrupted, then the budget
    counted = set(count["proposed"]) - count["aborted"] - count["baselines"]
    assert len(counted) == 2
    assert cli("replay", "--ledger", str(ledger)).returncode == 0


def test_a_resume_refuses_options_that_differ_from_the_ledger_in_one_line(tmp_path):
    task, ledger = tmp_path / "task", tmp_path / "runs" / "ledger.sqlite"
    shutil.copytree(EXAMPLE, task)
    env = {**os.environ, "COLUMNS": "200", "AUTORECIPE_FAULT": "propose:3"}
    killed = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "search", "--task", str(task), "--trials", "2",
         "--ledger", str(ledger)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    before = independent_count(ledger)

    refused = cli("search", "--resume", "--seed", "4", "--threads", "2", "--ledger", str(ledger))
    assert_one_line_error(refused, "--seed 4 (recorded: 0)", "--threads 2 (recorded: 1)")
    assert independent_count(ledger) == before  # the refusal wrote nothing
    same = cli("search", "--resume", "--seed", "0", "--trials", "3", "--ledger", str(ledger))
    assert same.returncode == 0, same.stderr
    assert "this resume changed trials" in same.stdout
    assert "3/3" in same.stdout  # the command line's count wins, counted once
    assert "4/3" not in same.stdout
    count = independent_count(ledger)
    counted = set(count["proposed"]) - count["aborted"] - count["baselines"]
    assert len(counted) == 3
    assert cli("replay", "--ledger", str(ledger)).returncode == 0
