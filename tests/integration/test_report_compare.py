"""Several searches in one report: their best-so-far lines overlaid, their outcomes tabled,
each one's own report beside the comparison; drawn and screenshot in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from PIL import Image

from ledger.store import open_ledger
from projections.db import projections_path
from projections.report.compare import PALETTE
from projections.report.serve import LiveReport
from tests.browser import Dom, dump_dom, screenshot
from tests.support import StepProposer, scripted_loop
from tests.test_cli import assert_one_line_error, cli


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    """Three searches in one ledger: two arms that differ, and a third left out."""
    tmp = tmp_path_factory.mktemp("compare")
    arms = [
        (6, StepProposer(), {}),
        (8, StepProposer(factors=(1.5, 1.2, 1.1)), {"lineage": False}),
        (2, StepProposer(), {}),
    ]
    location = ""
    for trials, proposer, config in arms:
        loop, _store, location = scripted_loop(tmp, trials=trials, proposer=proposer, **config)
        loop.run()
    return location


def _searches(ledger: str) -> list[tuple[str, int, float]]:
    """(id, trials after the baseline, best score) of each search, from the projections."""
    with duckdb.connect(str(Path(ledger).with_suffix(".duckdb")), read_only=True) as con:
        rows = con.execute(
            "SELECT CAST(search_id AS VARCHAR), trials, best_score FROM searches ORDER BY ordinal"
        ).fetchall()
    return [(sid, trials, best) for sid, trials, best in rows]


@pytest.fixture(scope="module")
def compared(ledger, tmp_path_factory) -> Path:
    first, second, _third = _searches(ledger)
    out = tmp_path_factory.mktemp("out")
    done = cli("report", "--ledger", ledger, "--search", first[0][:8], "--search", second[0][:8],
               "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "comparison of 2 searches" in done.stdout
    return out


def test_the_comparison_tables_each_search_and_links_its_own_report(ledger, compared):
    page = Dom((compared / "report.html").read_text())
    rows = [e for e in page.find("tr") if "data-search" in e.attrs]
    chosen = _searches(ledger)[:2]
    assert [r.attrs["data-search"] for r in rows] == [sid for sid, _, _ in chosen]
    cells = [[c.text for c in page.elements if c.tag == "td" and c.parent is r] for r in rows]
    for (sid, trials, best), row in zip(chosen, cells, strict=True):
        assert row[6] == str(trials)  # trials after the seed run
        assert row[8].startswith(f"{best:.6g} (#")
        assert (compared / f"search-{sid[:8]}" / "report.html").is_file()
        assert (compared / f"search-{sid[:8]}" / "progress.png").is_file()
    links = {e.attrs["href"] for e in page.find("a") if e.within("table")}
    assert links == {f"search-{sid[:8]}/report.html" for sid, _, _ in chosen}


def test_every_search_draws_its_line_on_one_plot(ledger, compared, tmp_path):
    dom = dump_dom((compared / "report.html").as_uri())
    assert dom.find("html")[0].attrs.get("data-ready") == "1"
    (overlay,) = dom.find("svg", **{"data-chart": "overlay"})
    assert overlay.attrs["data-drawn"] == "2"
    # The screenshot shows both lines in their own colours, not only markup that says so.
    shot = Image.open(screenshot((compared / "report.html").as_uri(), tmp_path / "c.png"))
    pixels = {rgb for _, rgb in shot.convert("RGB").getcolors(maxcolors=1 << 24) or ()}
    for colour in PALETTE[:2]:
        assert tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) in pixels, colour


def test_all_compares_every_search(ledger, tmp_path):
    done = cli("report", "--ledger", ledger, "--all", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    page = Dom((tmp_path / "report.html").read_text())
    rows = [e.attrs["data-search"] for e in page.find("tr") if "data-search" in e.attrs]
    assert rows == [sid for sid, _, _ in _searches(ledger)]


def test_a_search_named_twice_is_one_report_and_a_bad_prefix_one_line(ledger, tmp_path):
    sid = _searches(ledger)[0][0]
    done = cli("report", "--ledger", ledger, "--search", sid[:8], "--search", sid[:6],
               "--out", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "report of" in done.stdout  # one search: its own report, not a comparison
    bad = cli("report", "--ledger", ledger, "--search", sid[:8], "--search", "ffffffff")
    assert_one_line_error(bad, "no single search matches 'ffffffff'")


def test_the_live_view_serves_the_comparison_and_each_search_it_links(ledger):
    store = open_ledger(ledger)
    live = LiveReport(store, projections_path(ledger), [], every=True)
    at = store.max_position()
    page = Dom(live.page("/"))
    assert page.find("html")[0].attrs["data-live"] == str(at)
    links = sorted(e.attrs["href"] for e in page.find("a") if e.within("table"))
    assert links == sorted(f"search-{sid[:8]}/report.html" for sid, _, _ in _searches(ledger))
    for link in links:  # the same relative links lead to the live pages of each search
        own = Dom(live.page("/" + link))
        assert own.find("html")[0].attrs["data-live"] == str(at)
        assert link[7:15] in own.find("title")[0].text
    with pytest.raises(LookupError):
        live.page("/report.html/../../ledger.sqlite")
