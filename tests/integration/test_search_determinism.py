"""Two whole searches with the same seed, through the CLI on a tiny golf-cpu (30 steps),
make the same proposals, diffs and scores."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.golf_support import tiny_golf
from tests.test_cli import cli


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return tiny_golf(tmp_path_factory.mktemp("determinism"), split_bytes=8192)


def _decisions(ledger):
    """Proposals, diffs and scores in ledger order: what must repeat exactly."""
    with sqlite3.connect(ledger) as con:
        rows = con.execute("SELECT topic, state FROM stored_events ORDER BY rowid").fetchall()
    keep = {
        "TrialProposed": ("sequence", "specialist", "parent_id", "hypothesis", "idea"),
        "RecipeEdited": ("diff", "child_sha256"),
        "TrialScored": ("score",),
        "TrialFailed": ("label",),
        "TrialJudged": ("verdict",),
    }
    out = []
    for topic, state in rows:
        name = topic.rsplit(":", 1)[-1]
        if name in keep:
            body = json.loads(state)["event"]
            out.append((name, *(body[k] for k in keep[name])))
    return out


def test_two_searches_with_the_same_seed_make_the_same_proposals_diffs_and_scores(task, tmp_path):
    runs = []
    for name in ("a", "b"):
        ledger = tmp_path / name / "ledger.sqlite"
        done = cli(
            "search",
            "--task",
            str(task),
            "--trials",
            "3",
            "--seed",
            "5",
            "--ledger",
            str(ledger),
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        runs.append(_decisions(ledger))
    assert runs[0] == runs[1]
    assert sum(1 for row in runs[0] if row[0] == "TrialScored") >= 2
