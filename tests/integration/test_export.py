"""Exporting the projections: every table, and files that read back to the same rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from projections.report.export import SKIPPED, checksum, read_back
from tests.report_support import planned_search
from tests.test_cli import cli

TABLES = {
    "events",
    "upcasts",
    "searches",
    "trials",
    "lineage",
    "recipes",
    "views",
    "progress",
    "agent_sessions",
    "exchanges",
    "contexts",
}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    return planned_search(tmp_path_factory.mktemp("export"))


def _projected(ledger: str) -> dict[str, tuple[int, str]]:
    with duckdb.connect(str(Path(ledger).with_suffix(".duckdb")), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {name: checksum(con, name) for name in names if name not in SKIPPED}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_export_round_trips(ledger, tmp_path, fmt):
    done = cli("export", "--format", fmt, "--out", str(tmp_path), "--ledger", ledger)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert set(manifest["tables"]) == TABLES
    projected = _projected(ledger)
    assert projected["trials"][0] == 18
    assert projected["events"][0] > 18
    for table, entry in manifest["tables"].items():
        file = tmp_path / entry["file"]
        assert file.name == f"{table}.{fmt}"
        assert hashlib.sha256(file.read_bytes()).hexdigest() == entry["file_sha256"]
        assert (entry["rows"], entry["rows_sha256"]) == projected[table], table
    assert read_back(tmp_path) == projected  # from the files alone, with the manifest's types


def test_a_changed_value_in_an_exported_file_changes_its_checksum(ledger, tmp_path):
    assert (
        cli("export", "--format", "csv", "--out", str(tmp_path), "--ledger", ledger).returncode == 0
    )
    trials = tmp_path / "trials.csv"
    text = trials.read_text()
    trials.write_text(text.replace('"lr-up"', '"lr-UP"', 1))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    rows, digest = read_back(tmp_path)["trials"]
    assert rows == manifest["tables"]["trials"]["rows"]
    assert digest != manifest["tables"]["trials"]["rows_sha256"]


def test_an_unknown_format_is_one_clear_line(ledger, tmp_path):
    done = cli("export", "--format", "xlsx", "--out", str(tmp_path), "--ledger", ledger)
    assert done.returncode != 0
    assert "unknown format 'xlsx'" in done.stderr
    assert "Traceback" not in done.stderr
