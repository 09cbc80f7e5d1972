"""A whole search through the CLI, as a user runs it, on a tiny golf-cpu (30 steps); its
determinism is tests/integration/test_search_determinism.py (a file of its own, so the two
long tests run on different workers: pytest-xdist keeps a file on one)."""

from __future__ import annotations

import json

import pytest

from tests.golf_support import tiny_golf
from tests.test_cli import cli


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return tiny_golf(tmp_path_factory.mktemp("e2e"), split_bytes=8192)


def test_a_search_runs_end_to_end_and_verifies_and_replays(task, tmp_path):
    ledger = tmp_path / "runs" / "ledger.sqlite"
    done = cli("search", "--task", str(task), "--trials", "3", "--ledger", str(ledger), timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Leaderboard (val_bpb)" in done.stdout
    assert "finished (trial_budget)" in done.stdout
    counts = cli(
        "audit", "select count(*) n from trials", "--format", "json", "--ledger", str(ledger)
    )
    assert json.loads(counts.stdout) == [{"n": 4}]
    verified = cli("verify", "--ledger", str(ledger))
    assert verified.returncode == 0
    assert verified.stdout.startswith("ok:")
    replayed = cli("replay", "--ledger", str(ledger))
    assert replayed.returncode == 0, replayed.stderr
    assert "no divergence" in replayed.stdout
