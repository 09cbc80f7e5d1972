"""Every table and view the README names exists in a projections file, and every table
in the file is in the README: the documentation cannot drift from the schema."""

from __future__ import annotations

import re
from pathlib import Path

from projections.db import connect, refresh
from tests.support import scripted_loop

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    return text[
        text.index("## Querying the ledger with SQL") : text.index(
            "```sh", text.index("## Querying the ledger with SQL")
        )
    ]


def test_the_readme_names_exactly_the_projection_tables(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=2)
    loop.run()
    path = tmp_path / "p.duckdb"
    refresh(store, path)
    with connect(path, read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {
            r[0]
            for r in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
    named = set(re.findall(r"`([a-z_]+)`", _section()))
    assert tables <= named, f"tables the README does not name: {sorted(tables - named)}"
    missing = named - tables - views
    assert not missing, f"names in the README that are no table or view: {sorted(missing)}"
    assert {"ev_trial_scored", "ev_search_finished", "leaderboard", "costs"} <= views
