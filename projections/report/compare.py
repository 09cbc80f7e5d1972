"""Several searches side by side (the paper's arms and ablations): their best-so-far lines
overlaid on one plot per metric, and their outcomes in one table."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from domain.labels import BASELINE
from projections import final_test
from projections.report.data import ReportData
from projections.report.html import document
from projections.report.stats import best_so_far
from projections.report.svg import LEFT, PLOT_H, RIGHT, TOP, H, Scale, W, num, svg, ticks, y_domain

# Okabe-Ito, then darker tones: searches stay apart for colour-blind readers; past ten
# they repeat with a dash pattern.
PALETTE = (
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00",
    "#56b4e9", "#000000", "#8c2d04", "#6a3d9a", "#b8860b",
)  # fmt: skip
TEST_PREFIX = "test split: "


def folder_name(search_ids: Sequence[str], every: bool) -> str:
    return "all-searches" if every else "compare-" + "-".join(s[:8] for s in search_ids)


def link(data: ReportData) -> str:
    """The search's own report, written beside the comparison (and served by the live view)."""
    s = data.search
    return f'<a href="search-{s.search_id[:8]}/report.html">{escape(s.search_id[:8])}</a>'


def page(searches: Sequence[ReportData], live: int | None = None) -> str:
    title = f"autorecipe: {len(searches)} searches compared"
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, data in enumerate(searches):
        groups.setdefault((data.search.metric, data.search.lower_is_better), []).append(i)
    plots = "".join(
        f"<h3>{escape(metric)} ({'lower' if lower else 'higher'} is better)</h3>"
        f'<div class="scroll">{overlay_svg(searches, members, metric, lower)}</div>'
        for (metric, lower), members in groups.items()
    )
    body = (
        f'<header><h1>{escape(title)}</h1><nav><a href="#outcomes">Outcomes</a>'
        '<a href="#overlay">Best so far</a></nav></header>'
        '<section class="part"><h2 id="outcomes">Outcomes</h2>'
        '<p class="muted">Trials are proposals after the seed recipe\'s run (#0); keeps do'
        " not count it. The test split is the final test of the best against the seed"
        " recipe on data no trial saw.</p>"
        f"{_table(searches)}</section>"
        '<section class="part"><h2 id="overlay">Best so far</h2><p class="muted">Each line'
        " is one search's best kept score by trial number, from its seed recipe's run;"
        f" hover a line for its search.</p>{plots}</section>"
    )
    footer = "Derived from the projections; every value can be re-derived with cli.py audit."
    return document(title, body, footer, live=live)


def _table(searches: Sequence[ReportData]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "", "search", "task", "policy", "agent", "lineage", "trials", "keeps", "best",
            "Δ vs seed", "status", "test split",
        )
    )  # fmt: skip
    rows = "".join(_row(i, data) for i, data in enumerate(searches))
    return (
        '<div class="scroll"><table class="compare">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _row(index: int, data: ReportData) -> str:
    s = data.search
    seed = next((t.score for t in data.trials if t.outcome == BASELINE), None)
    delta = s.best_score - seed if s.best_score is not None and seed is not None else None
    keeps = sum(1 for t in data.trials if t.outcome == "keep")
    best = f"{num(s.best_score, 6)} (#{s.best_seq})" if s.best_seq is not None else ""
    test = final_test.line(data.final_test).removeprefix(TEST_PREFIX)
    cells = (
        _swatch(index), link(data), escape(s.task), escape(s.policy), escape(s.agent),
        "on" if s.lineage else "off", str(sum(1 for t in data.trials if t.seq > 0)),
        str(keeps), best, "" if delta is None else f"{delta:+.4g}",
        escape(s.finish_reason or "running"), escape(test),
    )  # fmt: skip
    return (
        f'<tr data-search="{escape(s.search_id)}">'
        + "".join(f"<td>{c}</td>" for c in cells)
        + "</tr>"
    )


def _swatch(index: int) -> str:
    return (
        f'<svg width="22" height="10" role="img" aria-label="line colour"><line x1="0" y1="5"'
        f' x2="22" y2="5" stroke="{PALETTE[index % len(PALETTE)]}" stroke-width="3"'
        f"{_dash(index)}/></svg>"
    )


def _dash(index: int) -> str:
    return ' stroke-dasharray="6 3"' if index >= len(PALETTE) else ""


def overlay_svg(
    searches: Sequence[ReportData], members: Sequence[int], metric: str, lower: bool
) -> str:
    """Every member search's best-so-far steps on shared axes."""
    lines = {i: best_so_far(searches[i].trials, lower) for i in members}
    x_hi = max([t.seq for i in members for t in searches[i].trials] + [1])
    values = [v for steps in lines.values() for _, v in steps]
    scale = Scale(x_hi, *y_domain([], values))
    parts = [
        f'<rect class="plot-area" x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}"'
        f' height="{PLOT_H}"/>'
    ]
    for value in ticks(scale.lo, scale.hi):
        y = scale.y(value)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{num(value, 4)}</text>"
        )
    for value in ticks(0, x_hi, 10):
        if value == int(value):
            parts.append(
                f'<text class="tick" x="{scale.x(value):.1f}" y="{TOP + PLOT_H + 16}"'
                f' text-anchor="middle">{int(value)}</text>'
            )
    parts.append(
        f'<text class="axis-label" x="{LEFT + (W - LEFT - RIGHT) / 2:.0f}" y="{TOP + PLOT_H + 40}"'
        ' text-anchor="middle">trial</text>'
    )
    for i, steps in lines.items():
        if steps:
            parts.append(_line(searches[i], i, steps, scale))
    return svg("overlay", W, H - 40, f"Best so far of {len(members)} searches", parts)


def _line(data: ReportData, index: int, steps: list[tuple[int, float]], scale: Scale) -> str:
    s = data.search
    d = f"M{scale.x(steps[0][0]):.1f},{scale.y(steps[0][1]):.1f}"
    for seq, best in steps[1:]:
        d += f" H{scale.x(seq):.1f} V{scale.y(best):.1f}"
    last = max(t.seq for t in data.trials)
    d += f" H{scale.x(last):.1f}"
    tip = (
        f"{s.task} search {s.ordinal} ({s.search_id[:8]}), policy {s.policy}, agent {s.agent}:"
        f" best {num(steps[-1][1], 6)} after {last} trials"
    )
    return (
        f'<path class="mark overlay" data-search="{escape(s.search_id)}"'
        f' color="{PALETTE[index % len(PALETTE)]}"{_dash(index)}'
        f' d="{d}"><title>{escape(tip)}</title></path>'
    )
