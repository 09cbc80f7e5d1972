"""A projections file holds one version's read model, in a format DuckDB 1.x clients open.

A file another version wrote (another fold, other columns, no stamp) is rebuilt, never
patched; the file is written for DuckDB storage 1.5, so the DuckDB shell from PyPI reads it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from projections import schema, stamp
from projections.db import connect, rebuild, refresh
from tests.support import scripted_loop

# `make deps` installs the DuckDB shell from PyPI (duckdb-cli 1.5.x) beside the venv.
SHELL = Path(
    os.environ.get("AUTORECIPE_DUCKDB_SHELL", Path(sys.prefix) / "duckdb-cli-pkg/duckdb_cli/duckdb")
)


@pytest.fixture
def projected(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=4)
    loop.run()
    path = tmp_path / "p.duckdb"
    refresh(store, path)
    return store, path


def _hash(path: Path) -> str:
    with connect(path, read_only=True) as con:
        return schema.content_hash(con)


def _fresh(store, path: Path) -> str:
    rebuild(store, path.with_name("fresh.duckdb"))
    return _hash(path.with_name("fresh.duckdb"))


def test_a_file_stamped_by_another_version_is_rebuilt(projected):
    store, path = projected
    with connect(path) as con:
        con.execute("UPDATE read_model SET format = 'another-version'")
        con.execute("ALTER TABLE trials DROP COLUMN judge_test")  # an older table shape
        con.execute("CREATE TABLE leftover (x INTEGER)")
    assert refresh(store, path) == store.max_position()  # every event projected again
    with connect(path, read_only=True) as con:
        assert stamp.of(con) == stamp.current()
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "leftover" not in tables
    assert _hash(path) == _fresh(store, path)


def test_a_file_from_before_stamps_is_rebuilt(projected):
    store, path = projected
    with connect(path) as con:
        con.execute("DROP TABLE read_model")
    assert refresh(store, path) == store.max_position()
    assert _hash(path) == _fresh(store, path)


def test_a_current_file_is_only_caught_up(projected):
    store, path = projected
    assert refresh(store, path) == 0


def test_the_stamp_follows_the_storage_version(monkeypatch):
    before = stamp.current()
    monkeypatch.setattr(stamp, "STORAGE_VERSION", "v1.4.0")
    stamp.current.cache_clear()
    try:
        assert stamp.current() != before
    finally:
        stamp.current.cache_clear()


def test_the_duckdb_shell_from_pypi_opens_the_projections(projected):
    if not SHELL.is_file():
        if os.environ.get("AUTORECIPE_REQUIRE_DUCKDB_SHELL"):
            pytest.fail(f"the DuckDB 1.x shell is required but missing at {SHELL}")
        pytest.skip(f"no DuckDB 1.x shell at {SHELL} (make deps installs it)")
    _store, path = projected
    done = subprocess.run(
        [
            str(SHELL),
            "-readonly",
            "-csv",
            str(path),
            "-c",
            "SELECT version(), count(*) FROM trials",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    version, count = done.stdout.strip().splitlines()[-1].split(",")
    assert version.startswith("v1."), version
    assert int(count) == 5  # the baseline and four trials
