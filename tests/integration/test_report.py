"""The HTML report: drawn by a real headless Chromium, linked, escaped, and offline."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb

from projections.report import html as report_html
from projections.report import png as report_png
from projections.report.stats import best_so_far, label_windows, repair_chains
from projections.report.tree import layout
from tests.report_support import HOSTILE, PLANNED_TRIALS, report_of

TRIALS = PLANNED_TRIALS + 1  # and the seed recipe's run, #0


def test_the_script_ran_and_both_charts_were_drawn(report_dom):
    assert report_dom.find("html")[0].attrs.get("data-ready") == "1"  # the script ran to its end
    plot = report_dom.find("svg", **{"data-chart": "progress"})[0]
    tree = report_dom.find("svg", **{"data-chart": "tree"})[0]
    # data-drawn counts marks the browser laid out with a real size (getBBox).
    assert plot.attrs["data-drawn"] == str(TRIALS)
    assert tree.attrs["data-drawn"] == str(TRIALS)
    assert (
        len([e for e in report_dom.find("circle") if e.within("svg", **{"data-chart": "tree"})])
        == TRIALS
    )
    edges = [e for e in report_dom.find("path") if "edge" in e.attrs.get("class", "").split()]
    assert len(edges) == TRIALS - 1  # every trial but the seed run hangs from a parent
    assert len([e for e in report_dom.find("path") if e.attrs.get("class") == "bestline"]) == 1
    mix = report_dom.find("svg", **{"data-chart": "mix"})[0]
    assert int(mix.attrs["data-drawn"]) >= 6  # windows x outcomes present


def test_every_trial_section_is_linked_from_the_tree_and_the_plot(report_dom):
    sections = {
        e.attrs["id"]
        for e in report_dom.find("section")
        if e.attrs.get("id", "").startswith("trial-")
    }
    assert sections == {f"trial-{n}" for n in range(TRIALS)}
    for chart in ("tree", "progress"):
        links = {
            e.attrs["href"].lstrip("#")
            for e in report_dom.find("a")
            if e.within("svg", **{"data-chart": chart})
        }
        assert links == sections, chart


def test_agent_and_log_text_is_shown_as_text_never_as_markup(report_dom):
    assert report_dom.find("img") == []  # the hostile hypothesis carries an <img onerror>
    assert len(report_dom.find("script")) == 1  # only the report's own
    hypothesis = [
        e
        for e in report_dom.find("p")
        if e.attrs.get("class") == "hyp" and "lower the LR" in e.text
    ]
    assert len(hypothesis) == 1  # trial 13's
    assert HOSTILE in hypothesis[0].text
    logs = [e for e in report_dom.find("pre") if HOSTILE in e.text]
    assert logs  # log excerpts and failure reasons keep their angle brackets as text


def test_the_page_needs_no_network(report_dom, report_written):
    assert report_dom.find("link") == []
    assert all(not e.attrs.get("src") for e in report_dom.elements)
    assert all(e.attrs["href"].startswith("#") for e in report_dom.find("a") if "href" in e.attrs)
    policy = report_dom.find("meta", **{"http-equiv": "Content-Security-Policy"})[0].attrs[
        "content"
    ]
    assert "default-src 'none'" in policy
    head = (report_written / "report.html").read_text().split("<body>")[0]
    assert "://" not in head
    assert "url(" not in head
    assert "@import" not in head


def test_the_progress_png_is_a_real_image(report_written):
    png = (report_written / "progress.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000  # points, a line and a legend, not an empty canvas


def test_repair_chains_follow_children_of_failed_trials(report_ledger):
    chains = [
        [(t.seq, t.outcome) for t in chain]
        for chain in repair_chains(report_of(report_ledger).trials)
    ]
    assert chains == [
        [(2, "size_blocked"), (4, "size_blocked")],
        [(2, "size_blocked"), (4, "size_blocked"), (6, "discard")],
        [(5, "train_budget_overrun"), (7, "keep")],
        [(10, "crash"), (12, "keep")],
        [(13, "disqualified"), (15, "discard")],
    ]


def test_best_so_far_and_outcome_windows(report_ledger):
    trials = report_of(report_ledger).trials
    assert [seq for seq, _ in best_so_far(trials, lower_is_better=True)] == [
        0, 1, 3, 7, 8, 12, 14, 16,
    ]  # fmt: skip
    windows = label_windows(trials, size=5)
    assert [(w.first, w.last, w.total) for w in windows] == [
        (1, 5, 5), (6, 10, 5), (11, 15, 5), (16, 17, 2),
    ]  # fmt: skip
    assert windows[0].counts == {"keep": 2, "size_blocked": 2, "train_budget_overrun": 1}


def test_the_tree_layout_is_tidy(report_ledger):
    trials = report_of(report_ledger).trials
    placed = {p.trial.seq: p for p in layout(trials)}
    assert len({(p.depth, p.row) for p in placed.values()}) == TRIALS  # no two nodes overlap
    for seq, p in placed.items():
        kids = sorted(
            (c for c in placed.values() if c.trial.parent_seq == seq), key=lambda c: c.row
        )
        if kids:
            assert p.row == (kids[0].row + kids[-1].row) / 2  # centred over its children
            assert all(c.depth == p.depth + 1 for c in kids)


def test_a_chain_deeper_than_the_recursion_limit_lays_out(report_ledger):
    seed = report_of(report_ledger).trials[0]
    chain = [dataclasses.replace(seed, seq=i, parent_seq=i - 1 if i else None) for i in range(5000)]
    placed = layout(chain)
    assert [p.depth for p in placed] == list(range(5000))
    assert {p.row for p in placed} == {0.0}


def test_the_cost_section_appears_only_with_a_costs_table(report_ledger, tmp_path):
    assert 'id="costs"' not in report_html.page(report_of(report_ledger))
    copy = tmp_path / "with-costs.duckdb"
    shutil.copyfile(Path(report_ledger).with_suffix(".duckdb"), copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("DROP VIEW costs")  # the projections' own (empty here) gives way to a table
        con.execute(
            "CREATE TABLE costs AS SELECT trial_id, search_id, 1000 AS input_tokens,"
            " 0.25 AS usd FROM trials WHERE seq > 0"
        )
    data = report_of(report_ledger, copy)
    assert data.costs is not None
    assert data.costs.columns == ("specialist", "input_tokens", "usd")
    assert {row[0]: row[2] for row in data.costs.rows} == {"arch": 2.0, "opt": 2.25}
    page = report_html.page(data)
    assert 'id="costs"' in page
    assert "2.2500" in page


def test_a_search_without_trials_still_renders(report_ledger, tmp_path):
    data = dataclasses.replace(report_of(report_ledger), trials=())
    assert "No finished trial yet." in report_html.page(data)
    png = report_png.write_png(data.trials, "loss", True, tmp_path / "p.png", "empty")
    assert png.read_bytes().startswith(b"\x89PNG")
