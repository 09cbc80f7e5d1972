"""Crash safety: SIGKILL a real search at named points and at random times, resume, and
check with an independent reader that nothing was lost, duplicated or half-written."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.store import open_ledger
from ledger.verify import verify
from projections.db import connect, rebuild
from projections.schema import content_hash
from tests.test_cli import ROOT, cli

EXAMPLE = ROOT / "docs" / "example-task"
TRIALS = 10


@pytest.fixture
def task(tmp_path):
    folder = tmp_path / "task"
    shutil.copytree(EXAMPLE, folder)
    return folder


def _search(task, ledger, *extra, fault=None):
    env = {**os.environ, "COLUMNS": "200"}
    if fault:
        env["AUTORECIPE_FAULT"] = fault
    args = ["--resume"] if "--resume" in extra else ["--task", str(task), "--trials", str(TRIALS)]
    return subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "search", *args, "--ledger", str(ledger)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def independent_count(ledger: Path) -> dict[str, object]:
    """Read the SQLite file with nothing but sqlite3 and json."""
    with sqlite3.connect(ledger) as con:
        rows = con.execute("SELECT topic, state FROM stored_events ORDER BY rowid").fetchall()
    proposed: list[int] = []
    ids: dict[str, int] = {}
    ends: dict[int, int] = {}
    aborted: set[int] = set()
    baselines: set[int] = set()
    names = []
    for topic, state in rows:
        name, body = topic.rsplit(":", 1)[-1], json.loads(state)["event"]
        names.append(name)
        if name == "TrialProposed":
            proposed.append(body["sequence"])
            ids[body["originator_id"]] = body["sequence"]
            if body["specialist"] == "baseline":
                baselines.add(body["sequence"])
        elif name in ("TrialFailed", "TrialJudged"):
            seq = ids[body["originator_id"]]
            ends[seq] = ends.get(seq, 0) + 1
            if body.get("label") == "harness_abort":
                aborted.add(seq)
    return {
        "proposed": proposed,
        "ends": ends,
        "aborted": aborted,
        "baselines": baselines,
        "finished": names.count("SearchFinished"),
        "resumed": names.count("SearchResumed"),
    }


def assert_whole(ledger: Path, tmp: Path) -> dict[str, object]:
    count = independent_count(ledger)
    proposed = count["proposed"]
    assert proposed == list(range(len(proposed))), "a trial number is missing or repeated"
    assert all(count["ends"].get(seq) == 1 for seq in proposed), count["ends"]
    # The budget counts the trials that reached an outcome; aborted ones ran again.
    counted = set(proposed) - count["aborted"] - count["baselines"]
    assert len(counted) == TRIALS
    assert count["baselines"] - count["aborted"], "no baseline was ever judged"
    assert count["finished"] == 1
    store = open_ledger(str(ledger))
    assert verify(store.read_all()).ok
    hashes = []
    for name in ("a", "b"):
        rebuild(store, tmp / f"{name}.duckdb")
        with connect(tmp / f"{name}.duckdb", read_only=True) as con:
            hashes.append(content_hash(con))
    assert hashes[0] == hashes[1]
    replayed = cli("replay", "--ledger", str(ledger))
    assert replayed.returncode == 0, replayed.stderr
    return count


@pytest.mark.parametrize("fault", ["propose:3", "append:9", "launched:4", "outcome:5", "project:4"])
def test_a_kill_at_a_named_point_resumes_without_loss(task, tmp_path, fault):
    ledger = tmp_path / "ledger.sqlite"
    crashed = _search(task, ledger, fault=fault)
    assert crashed.wait(timeout=300) == -signal.SIGKILL
    assert verify(open_ledger(str(ledger)).read_all()).ok
    resumed = _search(task, ledger, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    count = assert_whole(ledger, tmp_path)
    assert count["resumed"] == 1


def _stored(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    with contextlib.closing(sqlite3.connect(ledger)) as con:
        try:
            return con.execute("SELECT count(*) FROM stored_events").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not there yet
            return 0


def _grown(process: subprocess.Popen[str], ledger: Path, target: int) -> bool:
    """Wait until the ledger holds `target` events (True) or the search ends (False)."""
    while process.poll() is None:
        if _stored(ledger) >= target:
            return True
        time.sleep(0.05)
    return False


def test_twenty_random_sigkills_and_resumes_lose_nothing(task, tmp_path):
    # Kill points are drawn in events appended since the last start, not in seconds, so
    # a busy machine (a slower search) meets the same kills as an idle one.
    ledger = tmp_path / "ledger.sqlite"
    rng = random.Random(2026)
    kills = 0
    process = _search(task, ledger)
    while kills < 20:
        if not _grown(process, ledger, _stored(ledger) + rng.randint(4, 30)):
            break  # it finished before the next kill
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        assert verify(open_ledger(str(ledger)).read_all()).ok, f"chain broken after kill {kills}"
        started = ledger.exists() and independent_count(ledger)["proposed"]
        process = _search(task, ledger, *(["--resume"] if started else []))
    assert process.wait(timeout=300) == 0, process.stderr.read()
    assert kills >= 10
    assert_whole(ledger, tmp_path)
