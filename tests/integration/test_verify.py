"""Tamper evidence: the chain names the first bad position, and the documented
independent verifier agrees with `cli.py verify`."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.verify import verify
from tests.support import scripted_loop

DOC = Path(__file__).resolve().parents[2] / "docs" / "LEDGER.md"


@pytest.fixture
def ledger(tmp_path):
    loop, store, location = scripted_loop(tmp_path, trials=3)
    loop.run()
    return store, Path(location)


def _flip_byte(path: Path, position: int, old: bytes, new: bytes) -> None:
    with sqlite3.connect(path) as con:
        (state,) = con.execute(
            "SELECT state FROM stored_events WHERE rowid = ?", [position]
        ).fetchone()
        assert old in state
        con.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?",
            [state.replace(old, new, 1), position],
        )


def _independent(path: Path) -> subprocess.CompletedProcess[str]:
    script = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    return subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=False
    )


def test_an_untouched_ledger_verifies(ledger):
    store, path = ledger
    verdict = verify(store.read_all())
    assert verdict.ok
    assert verdict.events == store.max_position()
    assert verdict.streams == 1
    done = _independent(path)
    assert done.returncode == 0
    assert done.stdout.startswith(f"ok: {verdict.events} events")


def test_one_changed_byte_is_named_by_its_position(ledger):
    store, path = ledger
    with sqlite3.connect(path) as con:
        (position,) = con.execute(
            "SELECT min(rowid) FROM stored_events WHERE topic LIKE"
            " '%TrialProposed' AND CAST(state AS TEXT) LIKE '%scale LR%'"
        ).fetchone()
    _flip_byte(path, position, b'"hypothesis":"scale', b'"hypothesis":"Scale')
    verdict = verify(store.read_all())
    assert verdict.bad_position == position
    assert "does not match its hash" in verdict.problem
    assert _independent(path).stderr.strip().startswith(f"position {position}:")


def test_a_deleted_event_breaks_the_link_of_the_next(ledger):
    store, path = ledger
    with sqlite3.connect(path) as con:
        con.execute("DELETE FROM stored_events WHERE rowid = 4")
    verdict = verify(store.read_all())
    assert verdict.bad_position == 5
    assert "link" in verdict.problem
    assert "position 5" in _independent(path).stderr


def test_a_changed_column_is_caught(ledger):
    store, path = ledger
    with sqlite3.connect(path) as con:
        con.execute("UPDATE stored_events SET originator_version = 9 WHERE rowid = 3")
    assert verify(store.read_all()).bad_position == 3
