"""The effectiveness benchmark's --quick mode: every arm searches into the task's one
ledger, writes its per-search JSON and is summarised; the arms after the first reuse the
seed recipe's runs from the trial cache; the tables come back from the JSON alone; a
second run skips every search."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.outcomes import read_searches

ROOT = Path(__file__).resolve().parents[2]
ARMS = {"specialists", "no-lineage", "generalist", "random", "optuna"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_quick_effectiveness_runs_every_arm_and_resumes(tmp_path):
    first = run("benchmarks/effectiveness.py", "--quick", "--out", str(tmp_path / "eff"))
    assert first.returncode == 0, first.stderr[-2000:]
    results = tmp_path / "eff-quick"
    summary = json.loads((results / "summary.json").read_text())
    arms = summary["table"]["example-task"]
    assert set(arms) == ARMS
    for arm, row in arms.items():
        assert row["seeds"] == [0], arm
        assert sum(row["labels"].values()) == 3, arm  # three trials after the baseline
        assert row["test_improvement_pct"]["mean"] is not None, arm  # each ran its final test
        record = json.loads((results / "example-task" / f"{arm}-seed0.json").read_text())
        assert record["test"]["status"] in ("held", "not_held", "undecided", "no_keep"), arm
    assert arms["specialists"]["runs_reused"] == 0  # the first search trains its baseline
    assert arms["no-lineage"]["runs_reused"] > 0  # the next ones reuse it
    assert (results / "best-so-far-example-task.png").stat().st_size > 0
    shutil.rmtree(results / "ledgers" / "example-task")  # the machine is gone; its snapshot is not
    again = run("benchmarks/effectiveness.py", "--quick", "--out", str(tmp_path / "eff"))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "ledger restored from its snapshot" in again.stdout
    assert again.stdout.count("done already") == len(ARMS)
    rerun = run(
        "benchmarks/effectiveness.py", "--quick", "--out", str(tmp_path / "rerun"),
        "--cache-from", str(results),
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(ARMS)} searches inherited as cache sources" in rerun.stdout
    second = json.loads((tmp_path / "rerun-quick" / "summary.json").read_text())["table"]
    for arm, row in second["example-task"].items():
        assert row["runs_trained"] == 0, arm  # every trial's run came from the cache
        for split in ("test_improvement_pct", "val_improvement_pct"):
            assert row[split] == arms[arm][split], (arm, split)
    shutil.rmtree(results / "ledgers")  # the committed JSON alone gives the same tables
    tables = run("benchmarks/effect_tables.py", str(results))
    assert tables.returncode == 0, tables.stderr[-2000:]
    assert json.loads((results / "summary.json").read_text()) == summary
    assert "| example-task |" in tables.stdout


def _launches(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as con:
        try:
            topics = con.execute("SELECT topic FROM stored_events").fetchall()
        except sqlite3.OperationalError:  # the search has not made its tables yet
            return 0
    return sum(topic.endswith(":TrialLaunched") for (topic,) in topics)


def test_ctrl_c_interrupts_the_running_search_and_a_second_run_resumes_it(tmp_path):
    """The driver forwards Ctrl-C to the running search, which records its interruption;
    no other search starts, the ledger is snapshotted, and the same command resumes."""
    args = ("benchmarks/effectiveness.py", "--quick", "--out", str(tmp_path / "eff"))
    args += ("--arms", "specialists", "no-lineage")
    results = tmp_path / "eff-quick"
    ledger = results / "ledgers" / "example-task" / "ledger.sqlite"
    driver = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300  # a failure's timeout only: no verdict reads the clock
    while _launches(ledger) < 2 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # until the baseline and trial 1 have launched
    driver.send_signal(signal.SIGINT)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 130, err[-2000:]
    assert "example-task/specialists/seed0: exit 130" in out
    assert "no-lineage" not in out  # none started after the stop
    (search,) = read_searches(ledger).values()
    assert search["end"]["reason"] == "interrupted"
    assert (results / "ledgers" / "example-task.sqlite.xz").exists()
    shutil.copytree(results, tmp_path / "moved-quick")  # the same state, on "another machine"
    again = run(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "example-task/specialists/seed0: exit 0" in again.stdout
    for arm in ("specialists", "no-lineage"):
        record = json.loads((results / "example-task" / f"{arm}-seed0.json").read_text())
        assert record["ending"] == "trial_budget", arm
    _abandoned_search_starts_afresh(tmp_path, search["started"]["originator_id"])


def test_the_overhead_benchmark_gives_no_figure_when_its_search_fails(tmp_path):
    task = tmp_path / "broken-task"
    shutil.copytree(ROOT / "docs" / "example-task", task)
    recipe = task / "recipe" / "train.py"
    recipe.write_text("raise SystemExit('this recipe never trains')\n" + recipe.read_text())
    done = run("benchmarks/overhead.py", "--task", str(task), "--trials", "2")
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout.strip() == ""
    assert "no figure: asked for 2 trials after the baseline; 0 ran" in done.stderr
    assert "baseline_failed" in done.stderr


def test_sigusr1_lets_the_running_search_finish_and_starts_no_other(tmp_path):
    args = ("benchmarks/effectiveness.py", "--quick", "--out", str(tmp_path / "eff"))
    args += ("--arms", "specialists", "no-lineage")
    ledger = tmp_path / "eff-quick" / "ledgers" / "example-task" / "ledger.sqlite"
    driver = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300  # a failure's timeout only: no verdict reads the clock
    while _launches(ledger) < 1 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # until the baseline has launched
    driver.send_signal(signal.SIGUSR1)
    out, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, err[-2000:]
    assert "example-task/specialists/seed0: exit 0" in out
    assert "no-lineage" not in out
    assert "drained: run the same command again" in err
    (search,) = read_searches(ledger).values()
    assert search["end"]["reason"] == "trial_budget"
    _superseded_search_runs_again(tmp_path, search["started"]["originator_id"])


def _superseded_search_runs_again(tmp_path: Path, old: str) -> None:
    """A finished search whose arm's code changed is given up by id: its result is set
    aside, it is listed with the reason, a new search runs; naming the same id again
    supersedes nothing more."""
    args = ("benchmarks/effectiveness.py", "--quick", "--out", str(tmp_path / "eff"))
    args += ("--arms", "specialists", "--supersede", old, "--why", "policy 2")
    results = tmp_path / "eff-quick"
    first = run(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "example-task: 1 searches superseded (policy 2)" in first.stdout
    aside = json.loads(
        (results / "example-task" / "superseded" / f"specialists-seed0-{old[:8]}.json").read_text()
    )
    assert aside["search_id"] == old
    record = json.loads((results / "example-task" / "specialists-seed0.json").read_text())
    assert record["search_id"] != old
    assert record["ending"] == "trial_budget"
    listing = json.loads((results / "ledgers" / "example-task.abandoned.json").read_text())
    assert listing == {old: "policy 2"}
    again = run(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "example-task: 0 searches superseded (policy 2)" in again.stdout
    assert "example-task/specialists/seed0: done already" in again.stdout
    assert run("benchmarks/effectiveness.py", "--supersede", old).returncode == 2  # no --why
    snapshot = run(
        "benchmarks/effectiveness.py", "--quick", "--out", str(tmp_path / "eff"), "--snapshot"
    )
    assert snapshot.returncode == 0, snapshot.stderr[-2000:]
    assert f"{record['search_id'][:8]} -> example-task/specialists-seed0.json" in snapshot.stdout
    assert old[:8] not in snapshot.stdout  # a superseded search is not tabulated again


def test_a_search_killed_under_the_driver_stops_the_run_and_the_next_run_resumes_it(tmp_path):
    """A search that dies (here: killed at its second proposal, as kill -9 would) or
    cannot start stops the driver with exit 1; no later search is started to fail."""
    args = ("benchmarks/effectiveness.py", "--quick", "--out", str(tmp_path / "eff"))
    args += ("--arms", "specialists", "no-lineage")
    killed = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "AUTORECIPE_FAULT": "propose:2"}, check=False,
    )  # fmt: skip
    assert killed.returncode == 1, killed.stderr[-2000:]
    assert "stopped: example-task/specialists/seed0 (exit" in killed.stderr
    assert "did not finish on its own" in killed.stderr
    assert "no-lineage" not in killed.stdout
    again = run(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "example-task/specialists/seed0: exit 0" in again.stdout
    assert "example-task/no-lineage/seed0: exit 0" in again.stdout


def _abandoned_search_starts_afresh(tmp_path: Path, stopped: str) -> None:
    """On another machine the stopped search is given up, listed with the reason, and a
    new one runs for its arm and seed; the old one's trials stay in the ledger."""
    args = ("benchmarks/effectiveness.py", "--quick", "--out", str(tmp_path / "moved"))
    moved = run(*args, "--arms", "specialists", "--abandon-unfinished", "another VM")
    assert moved.returncode == 0, moved.stderr[-2000:]
    assert "example-task: 1 unfinished searches abandoned (another VM)" in moved.stdout
    results = tmp_path / "moved-quick"
    listing = json.loads((results / "ledgers" / "example-task.abandoned.json").read_text())
    assert listing == {stopped: "another VM"}
    record = json.loads((results / "example-task" / "specialists-seed0.json").read_text())
    assert record["ending"] == "trial_budget"
    assert record["search_id"] != stopped
    searches = read_searches(results / "ledgers" / "example-task" / "ledger.sqlite")
    assert stopped in searches
    assert len(searches) == 2


@pytest.mark.slow  # three real runs beside busy loops, six torch probes: minutes under load
def test_the_load_reference_benchmark_measures_each_condition(tmp_path):
    """One round on the example task: three real runs, each with its probes, and JSON."""
    done = run(
        "benchmarks/load_reference.py", "--task", "docs/example-task", "--rounds", "1",
        "--hogs", "1", "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (written,) = tmp_path.glob("load-reference-*.json")
    record = json.loads(written.read_text())
    assert [r["condition"] for r in record["runs"]] == ["alone", "spin", "torch"]
    for row in record["runs"]:
        assert row["train_cpu_s"] > 0
        assert row["probe_before_s"] > 0
        assert row["probe_after_s"] > 0
    assert record["summary"]["alone"]["raw_ratio"] == 1.0
