"""The CLI as the ecosystem expects it: formats for tools, output that pipes into patch
and git apply unwrapped, a list of searches, audits scoped to one, help that keeps
option names whole, and start-up that leaves the heavy libraries unimported."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import sys

import pytest
from rich.console import Console

from evaluators.tasks import builtin_names, load
from projections.display import task_table
from tests.support import scripted_loop
from tests.test_cli import ROOT, assert_one_line_error, cli

HEAVY = ("anthropic", "torch", "matplotlib", "ray")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    """Two searches in one ledger: 3 trials, then 5."""
    tmp = tmp_path_factory.mktemp("eco")
    for trials in (3, 5):
        loop, _store, location = scripted_loop(tmp, trials=trials)
        loop.run()
    return location


def _piped(*args: str) -> subprocess.CompletedProcess[str]:
    """As in a pipe with no COLUMNS: rich would default to 80 columns."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip


def _stored(ledger: str, sql: str) -> list[dict[str, object]]:
    return json.loads(cli("audit", sql, "--format", "json", "--ledger", ledger).stdout)


def test_searches_lists_every_search_in_every_format(ledger):
    rows = json.loads(cli("searches", "--format", "json", "--ledger", ledger).stdout)
    assert [r["trials"] for r in rows] == [3, 5]
    assert set(rows[0]) == {
        "search_id", "task", "policy", "started_at", "status", "trials", "best_score"
    }  # fmt: skip
    assert {r["status"] for r in rows} == {"trial_budget"}
    lines = cli("searches", "--format", "jsonl", "--ledger", ledger).stdout.splitlines()
    assert [json.loads(line) for line in lines] == rows
    table = list(
        csv.reader(io.StringIO(cli("searches", "--format", "csv", "--ledger", ledger).stdout))
    )
    assert table[0][0] == "search_id"
    assert len(table) == 3
    shown = cli("searches", "--ledger", ledger)
    assert rows[1]["search_id"] in shown.stdout


def test_audit_search_scopes_every_table_to_one_search(ledger):
    first, second = (r["search_id"] for r in _stored(ledger, "select search_id from searches"))
    count = "select count(*) n from trials"
    assert _stored(ledger, count) == [{"n": 4 + 6}]
    scoped = cli("audit", count, "--search", second[:8], "--format", "json", "--ledger", ledger)
    assert json.loads(scoped.stdout) == [{"n": 6}]
    joined = cli(
        "audit", "select count(distinct search_id) n from trials join searches using (search_id)",
        "--search", first, "--format", "json", "--ledger", ledger,
    )  # fmt: skip
    assert json.loads(joined.stdout) == [{"n": 1}]
    assert_one_line_error(
        cli("audit", count, "--search", "ffffffff", "--ledger", ledger), "no single search"
    )


def test_lineage_show_and_tasks_speak_every_format(ledger):
    rows = json.loads(cli("lineage", "--format", "json", "--ledger", ledger).stdout)
    assert [r["seq"] for r in rows] == list(range(5 + 1))
    assert rows[1]["parent_seq"] == 0
    (trial,) = json.loads(cli("show", "2", "--format", "json", "--ledger", ledger).stdout)
    assert trial["seq"] == 2
    assert trial["diff"].startswith("--- a/")
    tasks = json.loads(cli("tasks", "--format", "json").stdout)
    assert {t["task"] for t in tasks} == set(builtin_names())
    assert_one_line_error(cli("tasks", "--format", "xml"), "unknown format 'xml'")


def test_show_diff_raw_is_the_stored_diff_and_git_apply_accepts_it(ledger, tmp_path):
    (row,) = _stored(ledger, "select diff, parent_id from trials where seq = 2 and"
                     " search_id = (select max_by(search_id, ordinal) from searches)")  # fmt: skip
    raw = cli("show", "2", "--diff", "--raw", "--ledger", ledger)
    assert raw.stdout == row["diff"]
    parent_sql = "select files from recipes where sha256 = (select child_sha256 from"
    parent_sql += f" trials where trial_id = '{row['parent_id']}')"
    (parent,) = _stored(ledger, parent_sql)
    for name, text in json.loads(parent["files"]).items():
        (tmp_path / name).write_text(text)
    applied = subprocess.run(
        ["git", "apply", "--check", "-"], input=raw.stdout, cwd=tmp_path,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr


@pytest.fixture(scope="module")
def example_search(tmp_path_factory) -> str:
    """A real search of docs/example-task, the repository's own folder, from its root."""
    ledger = str(tmp_path_factory.mktemp("example") / "ledger.sqlite")
    done = cli("search", "--task", "docs/example-task", "--trials", "2", "--ledger", ledger,
               timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return ledger


def _pipeline(command: str) -> subprocess.CompletedProcess[str]:
    """A shell pipeline run at the repository's root, as the README's walk-through does;
    `autorecipe` is this checkout's cli.py (an installed script may be another copy)."""
    autorecipe = f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'cli.py'))}"
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command.replace("autorecipe", autorecipe)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_show_diff_piped_to_git_apply_check_works_from_the_repository_root(example_search):
    trials = json.loads(cli("lineage", "--format", "json", "--ledger", example_search).stdout)
    child = next(t["seq"] for t in trials if t["parent_seq"] == 0 and t["seq"] > 0)
    ledger = shlex.quote(example_search)

    walkthrough = _pipeline(f"autorecipe show {child} --diff --ledger {ledger} | git apply --check")

    assert walkthrough.returncode == 0, walkthrough.stderr
    assert walkthrough.stderr == ""  # its parent is the seed recipe on disk: no note
    rebased = _pipeline(f"autorecipe show {child} --diff --ledger {ledger}").stdout
    assert "--- a/docs/example-task/recipe/train.py\n" in rebased
    raw = _pipeline(f"autorecipe show {child} --diff --raw --ledger {ledger} | git apply --check")
    assert raw.returncode != 0  # the stored paths are the recipe folder's own
    seeded = _pipeline(
        f"autorecipe show {child} --diff --from-seed --ledger {ledger} | git apply --check"
    )
    assert seeded.returncode == 0, seeded.stderr


def test_show_diff_of_a_deeper_trial_says_its_parent_is_not_the_seed(example_search):
    trials = json.loads(cli("lineage", "--format", "json", "--ledger", example_search).stdout)
    deeper = [t["seq"] for t in trials if t["parent_seq"] not in (None, 0)]
    assert deeper, trials  # the example's second trial builds on its first keep

    shown = cli("show", str(deeper[0]), "--diff", "--ledger", example_search)

    assert shown.returncode == 0
    (note,) = shown.stderr.splitlines()
    assert "not the seed recipe" in note
    assert "--from-seed" in note
    assert shown.stdout.startswith("--- a/docs/example-task/recipe/")


def _latest(ledger: str, sql: str) -> list[dict[str, object]]:
    """`sql` over the latest search only (audit --search)."""
    (latest,) = _stored(ledger, "select max_by(search_id, ordinal) s from searches")
    done = cli("audit", sql, "--search", str(latest["s"]), "--format", "json", "--ledger", ledger)
    return json.loads(done.stdout)


def test_show_diff_from_seed_applies_to_the_seed_recipe_and_gives_the_trial_s(ledger, tmp_path):
    (deepest,) = _latest(ledger, "select seq, child_sha256 from trials where child_sha256"
                         " is not null order by depth desc, seq limit 1")  # fmt: skip
    files = {
        row["seq"]: row["files"]
        for row in _latest(ledger, "select seq, files from recipes join trials"
                           " on sha256 = child_sha256")
    }  # fmt: skip
    seed, child = files[0], files[deepest["seq"]]
    for name, text in json.loads(seed).items():
        (tmp_path / name).write_text(text)
    diff = cli("show", str(deepest["seq"]), "--diff", "--from-seed", "--ledger", ledger).stdout
    subprocess.run(["git", "apply", "-"], input=diff, cwd=tmp_path, text=True, check=True)
    for name, text in json.loads(child).items():
        assert (tmp_path / name).read_text() == text


def test_piped_show_and_audit_are_never_wrapped_or_padded(ledger):
    (row,) = _stored(ledger, "select diff, hypothesis from trials where seq = 2 and"
                     " search_id = (select max_by(search_id, ordinal) from searches)")  # fmt: skip
    shown = _piped("show", "2", "--ledger", ledger).stdout
    for line in row["diff"].splitlines():
        assert line in shown.splitlines()  # each diff line whole, no padding
    long_sql = "select repeat('x', 300) as wide"
    audited = _piped("audit", long_sql, "--ledger", ledger).stdout
    assert "x" * 300 in audited


def test_help_keeps_every_option_name_whole_at_80_columns():
    env = {**os.environ, "COLUMNS": "80"}
    for command in ("search", "audit", "show", "lineage", "searches", "tasks", "reproduce"):
        done = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), command, "--help"],
            cwd=ROOT, capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert done.returncode == 0
        assert "…" not in done.stdout, command
        for name in ("--deadline-minutes", "--unsafe-no-sandbox", "--no-strict-surfaces"):
            if command == "search":
                assert name in done.stdout


def test_the_autorecipe_console_script_is_the_same_app():
    import tomllib

    import cli as module

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    target, name = scripts["autorecipe"].split(":")
    assert target == "cli"
    assert getattr(module, name) is module.app


def test_version_and_shell_completion():
    version = cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("autorecipe 0.")
    assert "--install-completion" in cli("--help").stdout
    script = cli("--show-completion", "bash")
    assert script.returncode == 0
    assert "complete" in script.stdout


def test_tasks_read_well_at_80_columns():
    console = Console(width=80, record=True)
    specs = [load(name).spec for name in builtin_names()]
    console.print(task_table(specs))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    words = {word.strip(";,") for word in text.split()}
    for spec in specs:
        assert spec.name in words
        for entry in spec.roster:
            assert entry.key in words  # roster keys are never cut in two


@pytest.mark.parametrize("args", [["--help"], ["audit", "select 1"]])
def test_start_up_leaves_the_heavy_libraries_unimported(ledger, args):
    """The module set after a real command, read in the same process (not a timing)."""
    argv = ["cli.py", *args, *(["--ledger", ledger] if args[0] == "audit" else [])]
    probe = (
        "import runpy, sys\n"
        f"sys.argv = {argv!r}\n"
        "try:\n"
        f"    runpy.run_path({str(ROOT / 'cli.py')!r}, run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout, done.stdout[-500:]
