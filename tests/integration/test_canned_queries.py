"""Canned audit queries: each answers its question on a search planned to contain the answer."""

from __future__ import annotations

import json

import pytest

from benchmarks.synthetic import generate
from ledger.store import open_ledger
from projections import audit, canned
from projections.db import projections_path, reading
from tests.integration.test_claude_search import AGENT_CHECKS
from tests.report_support import planned_search
from tests.test_cli import assert_one_line_error, cli

# retried_ideas as it was written before window functions: a self-join of trials.
RETRIED_BY_SELF_JOIN = """
SELECT
    s.ordinal AS search,
    t.seq,
    t.specialist,
    t.parent_seq,
    t.idea,
    t.status AS outcome,
    min(e.seq) AS earlier_seq,
    arg_min(e.specialist, e.seq) AS earlier_specialist,
    arg_min(e.status, e.seq) AS earlier_outcome,
    count(*) AS earlier_tries,
    CASE WHEN bool_or(t.child_sha256 = e.child_sha256) THEN 'recipe' ELSE 'idea' END AS same
FROM trials t
JOIN trials e
  ON e.search_id = t.search_id AND e.parent_id = t.parent_id AND e.seq < t.seq
 AND (e.child_sha256 = t.child_sha256 OR (t.idea <> '' AND e.idea = t.idea))
JOIN searches s ON s.search_id = t.search_id
GROUP BY s.ordinal, t.search_id, t.seq, t.specialist, t.parent_seq, t.idea, t.status
ORDER BY search, t.seq
"""


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    return planned_search(tmp_path_factory.mktemp("canned"))


def run(ledger: str, name: str) -> list[dict]:
    done = cli("audit", "--query", name, "--format", "json", "--ledger", ledger)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def keeps_per_specialist(rows):
    by = {r["specialist"]: r for r in rows}
    assert (by["opt"]["proposals"], by["opt"]["keeps"]) == (9, 3)  # keeps 1, 3, 7
    assert (by["arch"]["proposals"], by["arch"]["keeps"]) == (8, 4)  # keeps 8, 12, 14, 16
    assert by["arch"]["best_keep_seq"] == 16
    assert by["opt"]["improvement"] == pytest.approx(0.23)  # 0.1 + 0.1 + 0.03


def label_mix_per_specialist(rows):
    mix = {(r["specialist"], r["outcome"]): r["trials"] for r in rows}
    assert mix[("arch", "size_blocked")] == 2
    assert mix[("arch", "crash")] == 1
    assert mix[("opt", "train_budget_overrun")] == 1
    assert mix[("opt", "disqualified")] == 2
    for specialist in ("opt", "arch"):
        shares = [r["share"] for r in rows if r["specialist"] == specialist]
        assert sum(shares) == pytest.approx(1, abs=1e-3)  # rounded to 4 places


def repair_chains(rows):
    assert [
        (r["failure_seq"], r["attempt"], r["repair_seq"], r["repair_outcome"]) for r in rows
    ] == [
        (2, 1, 4, "size_blocked"),
        (2, 2, 6, "discard"),
        (5, 1, 7, "keep"),
        (10, 1, 12, "keep"),
        (13, 1, 15, "discard"),
    ]
    assert rows[1]["chain"] == "#2 size_blocked -> #4 size_blocked -> #6 discard"


def time_per_kept_improvement(rows):
    total = next(r for r in rows if r["specialist"] == "(all)")
    assert (total["trials"], total["keeps"]) == (17, 7)
    assert total["cpu_s"] == pytest.approx(6 * 2.5)  # six failures measured 2.5 s of CPU each
    assert total["cpu_s_per_keep"] == pytest.approx(15 / 7, abs=1e-3)
    assert total["train_s"] == pytest.approx(6 * 2.0 + 11 * 1.0)
    assert sum(r["trials"] for r in rows if r["specialist"] != "(all)") == 17


def retried_ideas(rows):
    found = [(r["seq"], r["earlier_seq"], r["earlier_tries"], r["same"]) for r in rows]
    assert found == [(9, 8, 1, "recipe"), (17, 13, 1, "idea")]  # one row per re-try


def off_surface_edits(rows):
    assert [(r["seq"], r["specialist"], r["outside"]) for r in rows] == [(8, "arch", ["opt"])]


def best_ancestry(rows):
    assert [r["seq"] for r in rows] == [0, 1, 3, 5, 7, 8, 10, 12, 14, 16]
    assert [r["step"] for r in rows] == list(range(10))
    assert rows[-1]["outcome"] == "keep"


CHECKS = {
    f.__name__: f
    for f in (
        keeps_per_specialist,
        label_mix_per_specialist,
        repair_chains,
        time_per_kept_improvement,
        retried_ideas,
        off_surface_edits,
        best_ancestry,
    )
}


def test_every_canned_query_has_a_check():
    # The cost queries need a search with model calls: test_claude_search.py runs them;
    # keeps_no_longer_standing needs a re-judged search: test_rejudge.py runs it.
    derived = {"keeps_no_longer_standing"}
    assert {q.name for q in canned.available()} == set(CHECKS) | set(AGENT_CHECKS) | derived


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_canned_query_answers_its_question(ledger, name):
    CHECKS[name](run(ledger, name))


def test_every_query_is_documented():
    for query in canned.available():
        assert query.summary.endswith("?"), query.name
        assert "Columns:" in query.header, query.name


def test_the_list_names_every_query():
    done = cli("audit", "--list", "--format", "csv")
    assert done.returncode == 0, done.stderr
    for query in canned.available():
        assert query.name in done.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--query", "no_such"), "no canned query 'no_such'"),
        (("--query", "../../etc/passwd"), "no canned query"),
        (("select 1", "--query", "repair_chains"), "give one SQL statement or --query"),
        ((), "give one SQL statement or --query"),
    ],
)
def test_bad_audit_requests_are_one_line(ledger, args, fragment):
    assert_one_line_error(cli("audit", *args, "--ledger", ledger), fragment)


def _rows(location: str, sql: str) -> list[tuple]:
    with reading(open_ledger(location), projections_path(location)) as con:
        return audit.run(con, sql).rows


def test_retried_ideas_gives_the_rows_of_the_self_join(ledger, tmp_path):
    synthetic = str(tmp_path / "synthetic.sqlite")  # scripted knob edits: many re-tries
    generate(open_ledger(synthetic), 4000, trials_per_search=150)
    window = canned.load("retried_ideas").sql
    for location in (ledger, synthetic):
        expected = _rows(location, RETRIED_BY_SELF_JOIN)
        assert len(expected) > 1
        assert _rows(location, window) == expected


def test_a_table_shows_a_first_page_and_csv_every_row(ledger):
    sql = "select position from events order by position"
    table = cli("audit", sql, "--limit", "3", "--ledger", ledger)
    assert table.returncode == 0, table.stderr
    shown = [line for line in table.stdout.splitlines() if line.strip("│ ").isdigit()]
    assert [int(line.strip("│ ")) for line in shown] == [1, 2, 3]
    assert "--limit" in table.stderr
    full = cli("audit", sql, "--format", "csv", "--ledger", ledger)
    assert full.returncode == 0, full.stderr
    assert len(full.stdout.splitlines()) - 1 == len(_rows(ledger, sql)) > 3
