"""Read-only commands beside another process's connection to the projections file: a
notebook or the DuckDB shell holding it read-only, or a process holding it read-write
(a running search). They answer from current projections and never wait on the holder."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.db import projections_path, readers_path, refresh
from tests.support import scripted_loop
from tests.test_cli import cli

# The other process: opens the file as a DuckDB client would and keeps it open.
HOLD = (
    "import duckdb, sys\n"
    "con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'ro')\n"
    "con.execute('SELECT count(*) FROM trials').fetchall()\n"
    "print('holding', flush=True)\n"
    "sys.stdin.read()\n"
)


@contextlib.contextmanager
def held(path: Path, mode: str) -> Iterator[None]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)


def _search(tmp_path: Path, trials: int) -> str:
    """A finished search; its projections file is current."""
    loop, store, location = scripted_loop(tmp_path, trials=trials)
    loop.run()
    refresh(store, projections_path(location))
    return location


def _count(location: str, sql: str) -> int:
    done = cli("audit", sql, "--format", "csv", "--ledger", location)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.splitlines()[1])


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_audit_lineage_and_show_answer_beside_a_holder(tmp_path, mode):
    location = _search(tmp_path, trials=3)
    with held(projections_path(location), mode):
        assert _count(location, "select count(*) from trials") == 4
        for command in (("lineage",), ("show", "2")):
            done = cli(*command, "--ledger", location)
            assert done.returncode == 0, done.stderr
            assert "Error" not in done.stderr


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_events_appended_while_the_file_is_held_are_shown(tmp_path, mode):
    location = _search(tmp_path, trials=2)
    with held(projections_path(location), mode):
        loop, _, _ = scripted_loop(tmp_path, trials=1)  # a search while the file is held
        loop.run()
        assert _count(location, "select count(*) from searches") == 2
        assert _count(location, "select count(*) from trials") == 5
    assert readers_path(projections_path(location)).exists()  # served from the copy
