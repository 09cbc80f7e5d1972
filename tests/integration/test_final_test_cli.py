"""The final test with real processes on docs/example-task: the sandbox never shows a
recipe the test split, and a search killed during its final test resumes, tests, and
shows the test line first in the leaderboard, `show` and the report."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from evaluators.evaluator import TaskEvaluator
from tests.golf_support import insert_after, run_trial
from tests.test_cli import ROOT, cli

EXAMPLE = ROOT / "docs" / "example-task"
MAIN = 'data = np.load(Path(os.environ["AUTORECIPE_DATA"])'  # main()'s first line


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SEARCH = """
if os.environ.get("AUTORECIPE_SMOKE") != "1":
    import hashlib
    wanted = {targets!r}
    sizes = {{size for size, _ in wanted.values()}}
    found = []
    for direct in {direct!r}:
        try:
            opened = os.listdir(direct) if os.path.isdir(direct) else open(direct, "rb").read(8)
            found.append(f"opened {{direct}}: {{opened}}")
        except OSError:
            pass
    for root, dirs, files in os.walk("/"):
        if root.startswith(("/proc", "/sys", "/dev")):
            dirs[:] = []
            continue
        for name in files:
            path = os.path.join(root, name)
            try:
                if os.path.getsize(path) in sizes:
                    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
                    found += [f"{{s}} at {{path}}" for s, (_, d) in wanted.items() if d == digest]
            except OSError:
                pass
    print("FOUND " + json.dumps(sorted(found)), flush=True)
"""


def test_a_recipe_that_searches_the_filesystem_for_the_test_split_finds_nothing(tmp_path):
    """It walks every path the sandbox shows and hashes each file of a split's size, and
    tries the test folder's real path. It finds its train data (so the search works), and
    neither held-out split."""
    task, runs = tmp_path / "task", tmp_path / "runs"
    shutil.copytree(EXAMPLE, task)
    evaluator = TaskEvaluator.open(str(task), runs)  # prepares the three splits
    files = {
        "train": evaluator.data_dir / "train.npz",
        "validation": evaluator.heldout_dir / "heldout.npz",
        "test": evaluator.test_dir / "heldout.npz",
    }
    targets = {split: (p.stat().st_size, _digest(p)) for split, p in files.items()}
    direct = [str(evaluator.test_dir), str(files["test"])]
    code = SEARCH.format(targets=targets, direct=direct)

    outcome, report = run_trial(task, runs, insert_after(MAIN, code))

    assert outcome.label is None, outcome.reason  # the attack changed nothing else
    assert report is not None
    log = report.seeds[0].train.log_tail
    found = json.loads(re.search(r"FOUND (\[.*\])", log).group(1))  # type: ignore[union-attr]
    assert found == [f"train at {files['train']}"]


def _search(task: Path, ledger: Path, *extra: str, fault: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    if fault:
        env["AUTORECIPE_FAULT"] = fault
    args = ["--resume"] if extra == ("--resume",) else ["--task", str(task), *extra]
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "search", *args, "--ledger", str(ledger)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_a_search_killed_in_its_final_test_resumes_and_shows_the_test_line_first(tmp_path):
    task, ledger = tmp_path / "task", tmp_path / "runs" / "ledger.sqlite"
    shutil.copytree(EXAMPLE, task)

    killed = _search(task, ledger, "--trials", "3", "--seed", "3", fault="final test:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = _search(task, ledger, "--resume")

    assert resumed.returncode == 0, resumed.stderr
    summary = resumed.stdout[resumed.stdout.index("finished: trial_budget") :]
    line = re.search(r"test split: best #(\d+) .*, (held|not held)\n", summary)
    assert line is not None, summary
    assert summary.index("test split:") < summary.index("Leaderboard (val_mse)")
    best = line.group(1)
    shown = cli("show", best, "--ledger", str(ledger))
    assert shown.stdout.startswith("test split: best #")
    assert "final test on the test split (3 fresh seeds)" in shown.stdout
    assert "seed recipe #0" in shown.stdout
    report = cli("report", "--ledger", str(ledger), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report" / "report.html").read_text()
    assert f'<p class="headline">test split: best #{best} ' in page
    replayed = cli("replay", "--ledger", str(ledger))
    assert replayed.returncode == 0, replayed.stderr
    assert "no divergence" in replayed.stdout
    _assert_only_the_final_test_saw_the_test_split(ledger.parent, best)


def _assert_only_the_final_test_saw_the_test_split(runs: Path, best: str) -> None:
    jobs = {p.parent.name: json.loads(p.read_text()) for p in runs.glob("searches/*/*/job.json")}
    trials = {name: job for name, job in jobs.items() if name.startswith("trial-")}
    tests = {name: job for name, job in jobs.items() if name.startswith("test-")}
    assert sorted(tests) == sorted({"test-0000", f"test-{int(best):04d}"})
    assert {job["split"] for job in tests.values()} == {"test"}
    assert {Path(job["heldout_dir"]).name for job in tests.values()} == {"test"}
    assert {Path(job["heldout_dir"]).name for job in trials.values()} == {"heldout"}
    assert all(seed >= 1_000_000 for job in tests.values() for seed in job["seeds"])
    assert all(seed < 1_000_000 for job in trials.values() for seed in job["seeds"])
