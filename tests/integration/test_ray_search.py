"""A whole search through a Ray cluster, as a user runs it (`--runner ray`), and the
one-line refusals when the Ray runner cannot be had."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.golf_support import tiny_golf
from tests.ray_support import require_ray
from tests.test_cli import ROOT, assert_one_line_error, cli


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return tiny_golf(tmp_path_factory.mktemp("ray-search"), split_bytes=8192)


def _audit(ledger, sql):
    done = cli("audit", sql, "--format", "json", "--ledger", str(ledger))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_search_runs_through_a_local_ray_cluster(task, tmp_path):
    require_ray()
    ledger = tmp_path / "runs" / "ledger.sqlite"
    done = cli("search", "--task", str(task), "--trials", "2", "--workers", "2",
               "--runner", "ray", "--ledger", str(ledger), timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "finished (trial_budget)" in done.stdout
    runners = _audit(ledger, "select distinct payload->>'runner' r from events"
                             " where type = 'TrialLaunched'")  # fmt: skip
    assert runners == [{"r": "ray"}]
    config = _audit(ledger, "select payload->'config'->>'runner' r from events"
                            " where type = 'SearchStarted'")  # fmt: skip
    assert config == [{"r": "ray"}]
    scored = _audit(ledger, "select count(*) n from trials where score is not null")
    assert scored[0]["n"] >= 2
    for command in ("verify", "replay"):
        checked = cli(command, "--ledger", str(ledger))
        assert checked.returncode == 0, checked.stderr


def test_without_ray_the_ray_runner_is_refused_in_one_line(task, tmp_path):
    stub = tmp_path / "no-ray" / "ray"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "search", "--task", str(task), "--runner", "ray",
         "--ledger", str(tmp_path / "l.sqlite")],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(stub.parent), "COLUMNS": "200"},
    )  # fmt: skip
    assert_one_line_error(done, "the ray runner needs Ray", "pip install -e '.[ray]'")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--runner", "slurm"), "unknown runner 'slurm'"),
        (("--gpus-per-trial", "1"), "need --runner ray"),
        (("--ray-address", "127.0.0.1:6379"), "need --runner ray"),
    ],
)
def test_runner_options_that_do_not_fit_are_one_line(task, tmp_path, args, fragment):
    done = cli("search", "--task", str(task), *args, "--ledger", str(tmp_path / "l.sqlite"))
    assert_one_line_error(done, fragment)
