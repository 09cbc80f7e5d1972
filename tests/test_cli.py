"""The CLI as a user meets it: real processes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from ledger.lease import lease
from projections.display import leaderboard
from tests.support import scripted_loop

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("cli")
    loop, _store, location = scripted_loop(tmp, trials=6)
    loop.run()
    return location


def test_audit_answers_the_status_count(ledger):
    done = cli(
        "audit",
        "select status, count(*) as n from trials group by 1 order by 1",
        "--ledger",
        ledger,
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert sum(r["n"] for r in rows) == 7
    assert {r["status"] for r in rows} <= {"keep", "discard", "crash"}


def test_audit_csv_and_table_formats(ledger):
    csv = cli(
        "audit",
        "select seq from trials order by seq",
        "--ledger",
        ledger,
        "--format",
        "csv",
    )
    assert csv.stdout.splitlines()[:3] == ["seq", "0", "1"]
    table = cli("audit", "select seq, status from trials order by seq", "--ledger", ledger)
    assert table.returncode == 0
    assert "status" in table.stdout


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("selec nothing", "syntax error"),
        ("select * from no_such_table", "no_such_table"),
        ("delete from trials", "read-only"),
        ("select 1; drop table trials", "exactly one statement"),
        ("copy trials to '/tmp/stolen.csv'", "read-only"),
    ],
)
def test_bad_or_writing_sql_is_one_clear_line(ledger, sql, fragment):
    assert_one_line_error(cli("audit", sql, "--ledger", ledger), "bad query", fragment)


def test_deleting_the_projections_rebuilds_them(ledger):
    query = "select seq, status, score, child_sha256 from trials order by seq"
    before = cli("audit", query, "--ledger", ledger, "--format", "csv").stdout
    Path(ledger).with_suffix(".duckdb").unlink()
    after = cli("audit", query, "--ledger", ledger, "--format", "csv").stdout
    assert before == after
    assert before.count("\n") == 8


def test_lineage_and_show(ledger):
    tree = cli("lineage", "--ledger", ledger)
    assert tree.returncode == 0
    assert "#0" in tree.stdout
    assert "#6" in tree.stdout
    shown = cli("show", "1", "--ledger", ledger)
    assert shown.returncode == 0
    assert "LR" in shown.stdout
    assert_one_line_error(cli("show", "99", "--ledger", ledger), "no single trial")


def test_an_unknown_task_is_refused_before_anything_is_written(tmp_path):
    location = tmp_path / "l.sqlite"
    assert_one_line_error(
        cli("search", "--task", "no-such-task", "--ledger", str(location)),
        "unknown task",
        "not a built-in",
    )
    assert not location.exists()


def test_a_task_toml_with_several_mistakes_names_them_all_in_one_line(tmp_path):
    task = tmp_path / "my-task"
    (task / "recipe").mkdir(parents=True)
    (task / "task.toml").write_text('name = "my-task"\n[metric]\nname = "loss"\n')
    location = tmp_path / "l.sqlite"
    assert_one_line_error(
        cli("search", "--task", str(task), "--ledger", str(location)),
        "description: Field required",
        "rules_version: Field required",
        "metric.direction: Field required",
        "roster: Field required",
        "docs/TASKS.md",
    )
    assert not location.exists()


def test_a_prepare_command_that_writes_nothing_is_refused_in_one_line(tmp_path):
    task = tmp_path / "task"
    shutil.copytree(Path(__file__).parent.parent / "docs" / "example-task", task)
    toml = task / "task.toml"
    toml.write_text(
        toml.read_text().replace(
            '"{task}/prepare.py", "--train", "{data}", "--heldout", "{heldout}"', '"-c", "pass"'
        )
    )
    done = cli("search", "--task", str(task), "--ledger", str(tmp_path / "l.sqlite"))
    assert_one_line_error(done, "prepare command wrote nothing to {data} or {heldout}")


def test_a_ledger_path_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert_one_line_error(cli("search", "--ledger", str(blocker / "l.sqlite")), "cannot create")


def test_a_second_search_on_a_ledger_in_use_is_refused(ledger):
    with lease(ledger):
        done = cli("search", "--trials", "1", "--ledger", ledger)
    assert_one_line_error(done, "in use", f"pid {os.getpid()}")


def test_reading_commands_need_a_ledger(tmp_path):
    assert_one_line_error(
        cli("audit", "select 1", "--ledger", str(tmp_path / "none.sqlite")), "no ledger"
    )


def test_every_command_has_help():
    for command in ("search", "audit", "lineage", "show", "tasks"):
        done = cli(command, "--help")
        assert done.returncode == 0
        assert "Usage" in done.stdout


@pytest.mark.parametrize("width", [80, 140])
def test_the_leaderboard_keeps_every_number_whole_in_a_narrow_terminal(ledger, width):
    console = Console(width=width, record=True)
    with duckdb.connect(str(Path(ledger).with_suffix(".duckdb")), read_only=True) as con:
        search = con.execute("SELECT search_id FROM searches").fetchone()[0]
        scores = [f"{s:.5f}" for (s,) in con.execute("SELECT score FROM leaderboard").fetchall()]
        console.print(leaderboard(con, search, console.width))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in "".join(line[:60] for line in text.splitlines())  # only hypotheses cut
    for score in scores:
        assert score in text
    assert "#0" in text
