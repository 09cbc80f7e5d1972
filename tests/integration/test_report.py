"""The HTML report: drawn by a real headless Chromium, linked, escaped, and offline."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from projections import report_data, report_html, report_png
from projections.display import resolve_search
from projections.report_stats import best_so_far, label_windows, repair_chains
from projections.report_tree import layout
from tests.report_support import HOSTILE, PLANNED_TRIALS, planned_search
from tests.test_cli import cli

TRIALS = PLANNED_TRIALS + 1  # and the seed recipe's run, #0
VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "source", "col", "area", "base"}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("AUTORECIPE_REQUIRE_CHROMIUM"):
        pytest.fail("AUTORECIPE_REQUIRE_CHROMIUM is set but chromium is not on PATH")
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI requires it")


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.text = ""

    def within(self, tag: str, **attrs: str) -> bool:
        node = self.parent
        while node is not None:
            if node.tag == tag and all(node.attrs.get(k) == v for k, v in attrs.items()):
                return True
            node = node.parent
        return False


class Dom(HTMLParser):
    """Every element of a serialized DOM, with its attributes, ancestors and own text."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self.stack: list[Element] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(
            tag, {k: v or "" for k, v in attrs}, self.stack[-1] if self.stack else None
        )
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.stack[-1].text += data

    def find(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if (tag is None or e.tag == tag) and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    return planned_search(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def written(ledger, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    done = cli("report", "--ledger", ledger, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def dom(written) -> Dom:
    """The page after its scripts ran, as headless Chromium serializes it."""
    done = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         (written / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Dom(done.stdout)


def test_the_script_ran_and_both_charts_were_drawn(dom):
    assert dom.find("html")[0].attrs.get("data-ready") == "1"  # the script ran to its end
    plot = dom.find("svg", **{"data-chart": "progress"})[0]
    tree = dom.find("svg", **{"data-chart": "tree"})[0]
    # data-drawn counts marks the browser laid out with a real size (getBBox).
    assert plot.attrs["data-drawn"] == str(TRIALS)
    assert tree.attrs["data-drawn"] == str(TRIALS)
    assert (
        len([e for e in dom.find("circle") if e.within("svg", **{"data-chart": "tree"})]) == TRIALS
    )
    edges = [e for e in dom.find("path") if "edge" in e.attrs.get("class", "").split()]
    assert len(edges) == TRIALS - 1  # every trial but the seed run hangs from a parent
    assert len([e for e in dom.find("path") if e.attrs.get("class") == "bestline"]) == 1
    mix = dom.find("svg", **{"data-chart": "mix"})[0]
    assert int(mix.attrs["data-drawn"]) >= 6  # windows x outcomes present


def test_every_trial_section_is_linked_from_the_tree_and_the_plot(dom):
    sections = {
        e.attrs["id"] for e in dom.find("section") if e.attrs.get("id", "").startswith("trial-")
    }
    assert sections == {f"trial-{n}" for n in range(TRIALS)}
    for chart in ("tree", "progress"):
        links = {
            e.attrs["href"].lstrip("#")
            for e in dom.find("a")
            if e.within("svg", **{"data-chart": chart})
        }
        assert links == sections, chart


def test_agent_and_log_text_is_shown_as_text_never_as_markup(dom):
    assert dom.find("img") == []  # the hostile hypothesis carries an <img onerror>
    assert len(dom.find("script")) == 1  # only the report's own
    hypothesis = [
        e for e in dom.find("p") if e.attrs.get("class") == "hyp" and "lower the LR" in e.text
    ]
    assert len(hypothesis) == 1  # trial 13's
    assert HOSTILE in hypothesis[0].text
    logs = [e for e in dom.find("pre") if HOSTILE in e.text]
    assert logs  # log excerpts and failure reasons keep their angle brackets as text


def test_the_page_needs_no_network(dom, written):
    assert dom.find("link") == []
    assert all(not e.attrs.get("src") for e in dom.elements)
    assert all(e.attrs["href"].startswith("#") for e in dom.find("a") if "href" in e.attrs)
    policy = dom.find("meta", **{"http-equiv": "Content-Security-Policy"})[0].attrs["content"]
    assert "default-src 'none'" in policy
    head = (written / "report.html").read_text().split("<body>")[0]
    assert "://" not in head
    assert "url(" not in head
    assert "@import" not in head


def test_the_progress_png_is_a_real_image(written):
    png = (written / "progress.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000  # points, a line and a legend, not an empty canvas


def _data(ledger: str, path: Path | None = None) -> report_data.ReportData:
    with duckdb.connect(str(path or Path(ledger).with_suffix(".duckdb")), read_only=True) as con:
        return report_data.load(con, resolve_search(con, None))


def test_repair_chains_follow_children_of_failed_trials(ledger):
    chains = [[(t.seq, t.outcome) for t in chain] for chain in repair_chains(_data(ledger).trials)]
    assert chains == [
        [(2, "size_blocked"), (4, "size_blocked")],
        [(2, "size_blocked"), (4, "size_blocked"), (6, "discard")],
        [(5, "train_budget_overrun"), (7, "keep")],
        [(10, "crash"), (12, "keep")],
        [(13, "disqualified"), (15, "discard")],
    ]


def test_best_so_far_and_outcome_windows(ledger):
    trials = _data(ledger).trials
    assert [seq for seq, _ in best_so_far(trials, lower_is_better=True)] == [
        0, 1, 3, 7, 8, 12, 14, 16,
    ]  # fmt: skip
    windows = label_windows(trials, size=5)
    assert [(w.first, w.last, w.total) for w in windows] == [
        (1, 5, 5), (6, 10, 5), (11, 15, 5), (16, 17, 2),
    ]  # fmt: skip
    assert windows[0].counts == {"keep": 2, "size_blocked": 2, "train_budget_overrun": 1}


def test_the_tree_layout_is_tidy(ledger):
    trials = _data(ledger).trials
    placed = {p.trial.seq: p for p in layout(trials)}
    assert len({(p.depth, p.row) for p in placed.values()}) == TRIALS  # no two nodes overlap
    for seq, p in placed.items():
        kids = sorted(
            (c for c in placed.values() if c.trial.parent_seq == seq), key=lambda c: c.row
        )
        if kids:
            assert p.row == (kids[0].row + kids[-1].row) / 2  # centred over its children
            assert all(c.depth == p.depth + 1 for c in kids)


def test_a_chain_deeper_than_the_recursion_limit_lays_out(ledger):
    seed = _data(ledger).trials[0]
    chain = [dataclasses.replace(seed, seq=i, parent_seq=i - 1 if i else None) for i in range(5000)]
    placed = layout(chain)
    assert [p.depth for p in placed] == list(range(5000))
    assert {p.row for p in placed} == {0.0}


def test_the_cost_section_appears_only_with_a_costs_table(ledger, tmp_path):
    assert 'id="costs"' not in report_html.page(_data(ledger))
    copy = tmp_path / "with-costs.duckdb"
    shutil.copyfile(Path(ledger).with_suffix(".duckdb"), copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("DROP VIEW costs")  # the projections' own (empty here) gives way to a table
        con.execute(
            "CREATE TABLE costs AS SELECT trial_id, search_id, 1000 AS input_tokens,"
            " 0.25 AS usd FROM trials WHERE seq > 0"
        )
    data = _data(ledger, copy)
    assert data.costs is not None
    assert data.costs.columns == ("specialist", "input_tokens", "usd")
    assert {row[0]: row[2] for row in data.costs.rows} == {"arch": 2.0, "opt": 2.25}
    page = report_html.page(data)
    assert 'id="costs"' in page
    assert "2.2500" in page


def test_a_search_without_trials_still_renders(ledger, tmp_path):
    data = dataclasses.replace(_data(ledger), trials=())
    assert "No finished trial yet." in report_html.page(data)
    png = report_png.write_png(data.trials, "loss", True, tmp_path / "p.png", "empty")
    assert png.read_bytes().startswith(b"\x89PNG")
