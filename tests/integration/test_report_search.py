"""The report of one search, compared and decided on: the noise band, a robust y-axis,
scored gate misses, loss curves, knobs, the baseline, the tree's box and resumes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

from domain.labels import FailureLabel, FinishReason
from domain.progress import fold
from ledger.recovery import recovery_events
from projections.report import data as report_data
from projections.report.knobs import Knobs, parse
from projections.report.stats import best_so_far
from projections.report.svg import PLOT_H, progress_svg, trial_domain, y_domain
from tests.browser import Dom, Element
from tests.report_support import PLANNED_TRIALS, report_of
from tests.support import by_lr, failed, scripted_loop
from tests.test_cli import cli

TRIALS = PLANNED_TRIALS + 1  # and the seed recipe's run, #0


def _in_chart(dom: Dom, tag: str, chart: str) -> list[Element]:
    return [e for e in dom.find(tag) if e.within("svg", **{"data-chart": chart})]


def test_the_best_line_sits_in_a_band_of_the_recorded_noise(report_ledger, report_dom):
    data = report_of(report_ledger)
    sigma = data.search.noise_sigma
    assert sigma
    assert data.search.noise_runs == 2  # the tiny task's [seeds] noise
    (band,) = [e for e in report_dom.find("g") if e.attrs.get("class") == "noiseband"]
    assert float(band.attrs["data-sigma"]) == sigma
    rects = [e for e in report_dom.find("rect") if e.within("g", **{"class": "noiseband"})]
    assert len(rects) == len(best_so_far(data.trials, lower_is_better=True))
    lo, hi = trial_domain(data.trials)
    for rect in rects:  # one band segment per step of the line, 2 sigma high
        assert float(rect.attrs["height"]) == pytest.approx(
            PLOT_H * 2 * sigma / (hi - lo), abs=0.15
        )


def test_one_wild_score_does_not_flatten_the_plot(report_ledger):
    trials = list(report_of(report_ledger).trials)
    assert trials[6].outcome == "discard"
    spread = trial_domain(trials)
    for wild in (1e6, -1e6):  # a diverged run, or a score too good to be true
        trials[6] = dataclasses.replace(trials[6], score=wild)
        assert trial_domain(trials) == pytest.approx(spread, rel=0.05)
        svg = progress_svg(trials, "loss", lower_is_better=True)
        assert svg.count('class="mark clipped"') == 1  # drawn at the edge, as a triangle
    trials[1] = dataclasses.replace(trials[1], score=50.0)  # a keep is never clamped away
    assert trial_domain(trials)[1] > 50
    assert y_domain([1.0, 1.1, 1e6], anchors=[1.0])[1] < 2  # one wild score of three
    assert y_domain([1.0, 1.0, 1.0, 1.0, 9.0])[1] < 2  # ties leave no spread: 5% of the middle
    assert y_domain([1.0, 1.2, float("inf"), float("nan")], anchors=[float("-inf")])[1] < 2


def test_a_gate_miss_keeps_its_score_and_is_drawn_as_failing_the_gate(report_ledger, report_dom):
    data = report_of(report_ledger)
    missed = [t for t in data.trials if t.outcome == "disqualified"]
    assert [t.seq for t in missed] == [13, 17]
    for trial in missed:  # the score the run measured, from its knobs (report_support)
        k = data.knobs.values[trial.seq]
        expected = 1 + abs(k["LR"] - 0.004) * 100 - k["WIDTH"] * 0.002 - k["STEPS"] * 0.003
        assert trial.score == pytest.approx(expected)
        assert trial.gate_failed
    marks = [e for e in report_dom.find("path") if e.attrs.get("class") == "mark gatefail"]
    assert sorted(m.parent.attrs["href"] for m in marks) == ["#trial-13", "#trial-17"]
    tips = [e.text for e in _in_chart(report_dom, "title", "progress") if e.text.startswith("#13 ")]
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


def test_every_trial_has_its_loss_curve(report_ledger, report_dom):
    data = report_of(report_ledger)
    assert set(data.curves) == set(range(TRIALS))  # every trial reported progress
    assert data.curves[3].steps == (0, 1, 2)
    assert data.curves[3].losses == (2.0, 1.9, 1.8)
    lines = _in_chart(report_dom, "polyline", "curves")
    assert sorted(e.parent.attrs["href"] for e in lines) == sorted(
        f"#trial-{n}" for n in range(TRIALS)
    )
    assert report_dom.find("svg", **{"data-chart": "curves"})[0].attrs["data-drawn"] == str(TRIALS)


def test_knobs_are_read_from_each_recipe_and_drawn_in_parallel(report_ledger, report_dom):
    knobs = report_of(report_ledger).knobs
    assert knobs.names == ("LR", "STEPS", "WIDTH")
    assert knobs.values[0] == {"LR": 0.001, "STEPS": 10, "WIDTH": 8}
    assert knobs.values[2]["WIDTH"] == 64  # trial 2's edit, on #1 (LR 0.002)
    assert knobs.values[2]["LR"] == 0.002
    assert report_dom.find("svg", **{"data-chart": "parallel"})[0].attrs["data-drawn"] == str(
        TRIALS
    )
    changed = [e for e in report_dom.find("td") if e.attrs.get("class") == "changed"]
    assert "64" in [e.text for e in changed]  # the edited knob is marked in its row


def test_knobs_are_literals_read_never_run(tmp_path):
    marker = tmp_path / "ran"
    text = (
        "LR = 0.1  # learning rate\nNAME: int = 4\nS = 'a # b'\n  INDENTED = 3\n"
        f"BAD = __import__('os').system('touch {marker}')\nlower = 1\nLR = 9\n"
    )
    found = parse({"train.py": text + f"LONG = '{'y' * 500}'\nHUGE = 1e999\n"})
    assert found == {
        "LR": 0.1, "NAME": 4, "S": "a # b", "BAD": found["BAD"], "LONG": "y" * 40,
        "HUGE": float("inf"),
    }  # fmt: skip
    assert isinstance(found["BAD"], str)
    assert len(found["BAD"]) <= 40
    assert not marker.exists()
    values = {0: found, 1: {**found, "HUGE": 1.0, "LR": 0.2}}
    assert Knobs(("LR", "HUGE"), {}, values).numeric() == ("LR",)  # inf has no place on an axis


def test_the_baseline_is_not_counted_as_a_keep(report_ledger, report_dom):
    with duckdb.connect(str(Path(report_ledger).with_suffix(".duckdb")), read_only=True) as con:
        (keeps,) = con.execute(
            "SELECT count(*) FROM trials WHERE status = 'keep' AND seq > 0"
        ).fetchone()
    legend = [e.text for e in report_dom.find("button")]
    assert "baseline (1)" in legend
    assert f"keep ({keeps})" in legend
    assert any(f"; {keeps} kept" in e.text for e in report_dom.find("dd"))


def test_the_lineage_tree_fills_its_box(report_dom):
    tree = report_dom.find("svg", **{"data-chart": "tree"})[0]
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
    data = report_of(location)
    (resume,) = data.resumes
    assert resume.after_seq == max(t.seq for t in data.trials)
    assert resume.reopened == "harness_faults"
    page = Dom((tmp_path / "out" / "report.html").read_text())
    (mark,) = [e for e in page.find("g") if e.attrs.get("class") == "resume"]
    assert mark.within("svg", **{"data-chart": "progress"})
    assert any("1 time(s)" in e.text for e in page.find("dd"))
