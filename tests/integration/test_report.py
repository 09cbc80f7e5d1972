"""The HTML report: drawn by a real headless Chromium, linked, escaped, and offline."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import pytest

from domain.labels import FailureLabel, FinishReason
from domain.progress import fold
from ledger.recovery import recovery_events
from projections import report_data, report_html, report_png
from projections.display import resolve_search
from projections.report_knobs import parse
from projections.report_stats import best_so_far, label_windows, repair_chains
from projections.report_svg import PLOT_H, progress_svg, trial_domain
from projections.report_tree import layout
from tests.browser import Dom, Element, dump_dom
from tests.report_support import HOSTILE, PLANNED_TRIALS, planned_search
from tests.support import by_lr, failed, scripted_loop
from tests.test_cli import cli

TRIALS = PLANNED_TRIALS + 1  # and the seed recipe's run, #0


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
    return dump_dom((written / "report.html").as_uri())


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


def _in_chart(dom: Dom, tag: str, chart: str) -> list[Element]:
    return [e for e in dom.find(tag) if e.within("svg", **{"data-chart": chart})]


def test_the_best_line_sits_in_a_band_of_the_recorded_noise(ledger, dom):
    data = _data(ledger)
    sigma = data.search.noise_sigma
    assert sigma
    assert data.search.noise_runs == 2  # the tiny task's [seeds] noise
    (band,) = [e for e in dom.find("g") if e.attrs.get("class") == "noiseband"]
    assert float(band.attrs["data-sigma"]) == sigma
    rects = [e for e in dom.find("rect") if e.within("g", **{"class": "noiseband"})]
    assert len(rects) == len(best_so_far(data.trials, lower_is_better=True))
    lo, hi = trial_domain(data.trials)
    for rect in rects:  # one band segment per step of the line, 2 sigma high
        assert float(rect.attrs["height"]) == pytest.approx(
            PLOT_H * 2 * sigma / (hi - lo), abs=0.15
        )


def test_one_wild_score_does_not_flatten_the_plot(ledger):
    trials = list(_data(ledger).trials)
    assert trials[6].outcome == "discard"
    spread = trial_domain(trials)
    for wild in (1e6, -1e6):  # a diverged run, or a score too good to be true
        trials[6] = dataclasses.replace(trials[6], score=wild)
        assert trial_domain(trials) == pytest.approx(spread, rel=0.05)
        svg = progress_svg(trials, "loss", lower_is_better=True)
        assert svg.count('class="mark clipped"') == 1  # drawn at the edge, as a triangle
    trials[1] = dataclasses.replace(trials[1], score=50.0)  # a keep is never clamped away
    assert trial_domain(trials)[1] > 50


def test_a_gate_miss_keeps_its_score_and_is_drawn_as_failing_the_gate(ledger, dom):
    data = _data(ledger)
    missed = [t for t in data.trials if t.outcome == "disqualified"]
    assert [t.seq for t in missed] == [13, 17]
    for trial in missed:  # the score the run measured, from its knobs (report_support)
        k = data.knobs.values[trial.seq]
        expected = 1 + abs(k["LR"] - 0.004) * 100 - k["WIDTH"] * 0.002 - k["STEPS"] * 0.003
        assert trial.score == pytest.approx(expected)
        assert trial.gate_failed
    marks = [e for e in dom.find("path") if e.attrs.get("class") == "mark gatefail"]
    assert sorted(m.parent.attrs["href"] for m in marks) == ["#trial-13", "#trial-17"]
    tips = [e.text for e in _in_chart(dom, "title", "progress") if e.text.startswith("#13 ")]
    assert len(tips) == 1
    assert "fails the gate" in tips[0]


@pytest.mark.parametrize(
    ("status", "measured", "expected"),
    [
        ("disqualified", {"loss": 1.5}, 1.5),
        ("disqualified", {"score": 2.5}, 2.5),
        ("disqualified", {"train_s": 2.0}, None),  # an illegal model: it was never scored
        ("disqualified", {"loss": float("nan")}, None),
        ("disqualified", {"loss": "1.5"}, None),
        ("crash", {"loss": 1.5}, None),  # only a gate miss ran to a score
    ],
)
def test_only_a_finite_recorded_score_of_a_gate_miss_is_read(status, measured, expected):
    assert report_data.gate_score(status, measured, "loss") == expected


def test_every_trial_has_its_loss_curve(ledger, dom):
    data = _data(ledger)
    assert set(data.curves) == set(range(TRIALS))  # every trial reported progress
    assert data.curves[3].steps == (0, 1, 2)
    assert data.curves[3].losses == (2.0, 1.9, 1.8)
    lines = _in_chart(dom, "polyline", "curves")
    assert sorted(e.parent.attrs["href"] for e in lines) == sorted(
        f"#trial-{n}" for n in range(TRIALS)
    )
    assert dom.find("svg", **{"data-chart": "curves"})[0].attrs["data-drawn"] == str(TRIALS)


def test_knobs_are_read_from_each_recipe_and_drawn_in_parallel(ledger, dom):
    knobs = _data(ledger).knobs
    assert knobs.names == ("LR", "STEPS", "WIDTH")
    assert knobs.values[0] == {"LR": 0.001, "STEPS": 10, "WIDTH": 8}
    assert knobs.values[2]["WIDTH"] == 64  # trial 2's edit, on #1 (LR 0.002)
    assert knobs.values[2]["LR"] == 0.002
    assert dom.find("svg", **{"data-chart": "parallel"})[0].attrs["data-drawn"] == str(TRIALS)
    changed = [e for e in dom.find("td") if e.attrs.get("class") == "changed"]
    assert "64" in [e.text for e in changed]  # the edited knob is marked in its row


def test_knobs_are_literals_read_never_run(tmp_path):
    marker = tmp_path / "ran"
    text = (
        "LR = 0.1  # learning rate\nNAME: int = 4\nS = 'a # b'\n  INDENTED = 3\n"
        f"BAD = __import__('os').system('touch {marker}')\nlower = 1\nLR = 9\n"
    )
    found = parse({"train.py": text})
    assert found == {"LR": 0.1, "NAME": 4, "S": "a # b", "BAD": found["BAD"]}
    assert isinstance(found["BAD"], str)
    assert len(found["BAD"]) <= 40
    assert not marker.exists()


def test_the_baseline_is_not_counted_as_a_keep(ledger, dom):
    with duckdb.connect(str(Path(ledger).with_suffix(".duckdb")), read_only=True) as con:
        (keeps,) = con.execute(
            "SELECT count(*) FROM trials WHERE status = 'keep' AND seq > 0"
        ).fetchone()
    legend = [e.text for e in dom.find("button")]
    assert "baseline (1)" in legend
    assert f"keep ({keeps})" in legend
    assert any(f"; {keeps} kept" in e.text for e in dom.find("dd"))


def test_the_lineage_tree_fills_its_box(dom):
    tree = dom.find("svg", **{"data-chart": "tree"})[0]
    assert 95 <= int(tree.attrs["data-fill"]) <= 100  # measured by the browser, in percent


def test_a_resume_is_shown_where_it_happened(tmp_path):
    down = [True]

    def script(job):
        if down[0] and job.sequence >= 1:
            return failed(FailureLabel.HARNESS_ABORT, "killed by the OOM killer")
        return by_lr(job)

    loop, store, location = scripted_loop(tmp_path, trials=4, script=script)
    assert loop.run() is FinishReason.HARNESS_FAULTS
    sid = loop.state.started.id
    store.append(sid, recovery_events(fold(store.stream(sid)), "host-b"))
    done = cli("report", "--ledger", location, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    data = _data(location)
    (resume,) = data.resumes
    assert resume.after_seq == max(t.seq for t in data.trials)
    assert resume.reopened == "harness_faults"
    page = Dom((tmp_path / "out" / "report.html").read_text())
    (mark,) = [e for e in page.find("g") if e.attrs.get("class") == "resume"]
    assert mark.within("svg", **{"data-chart": "progress"})
    assert any("1 time(s)" in e.text for e in page.find("dd"))
