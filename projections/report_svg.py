"""Inline SVG for the report: outcome colours, axes, the progress plot and the label mix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from projections.report_data import Trial
from projections.report_stats import Window, best_so_far

# Okabe-Ito based, so the labels stay apart for colour-blind readers.
COLOURS = {
    "keep": "#009e73",
    "discard": "#9a9a9a",
    "crash": "#d55e00",
    "preflight_crash": "#8c2d04",
    "size_blocked": "#cc79a7",
    "train_budget_overrun": "#e69f00",
    "eval_budget_overrun": "#b8860b",
    "disqualified": "#56b4e9",
    "harness_abort": "#3d3d3d",
}
PENDING = "#ffffff"  # proposed, edited, launched or scored but not yet judged
W, H = 960, 400
LEFT, RIGHT, TOP, PLOT_H = 72, 24, 20, 280
LANE_Y = TOP + PLOT_H + 22  # where trials without a score sit, under the plot area


def colour(outcome: str) -> str:
    return COLOURS.get(outcome, PENDING)


def css_name(outcome: str) -> str:
    """A class-safe name: outcomes come from the ledger, so never trust their spelling."""
    return outcome if outcome.replace("_", "").isalnum() and outcome.isascii() else "other"


def num(value: float | None, digits: int = 5) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def title(trial: Trial, metric: str) -> str:
    """An SVG tooltip naming the trial, its outcome and its hypothesis (escaped)."""
    score = f" {metric}={num(trial.score)}" if trial.score is not None else ""
    text = f"#{trial.seq} {trial.specialist}: {trial.outcome}{score} — {trial.hypothesis[:160]}"
    return f"<title>{escape(text)}</title>"


def _domain(trials: Sequence[Trial]) -> tuple[float, float]:
    """The y range: every keep, and the middle 90% of the other scores.

    Wild scores (a diverged run) would flatten the improvements people look for, so they
    are clamped to the plot's edge and drawn as triangles instead.
    """
    scores = sorted(t.score for t in trials if t.score is not None)
    keeps = [t.score for t in trials if t.score is not None and t.outcome == "keep"]
    cut = len(scores) // 20 if len(scores) >= 20 else 0
    core = scores[cut : len(scores) - cut] + keeps
    lo, hi = min(core), max(core)
    pad = (hi - lo) * 0.06 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


@dataclass(frozen=True)
class Scale:
    """Trial number to x and score to y, inside the progress plot's area."""

    x_hi: int
    lo: float
    hi: float

    def x(self, seq: float) -> float:
        return LEFT + (W - LEFT - RIGHT) * seq / self.x_hi

    def y(self, score: float) -> float:
        return TOP + PLOT_H * (self.hi - score) / (self.hi - self.lo)


def progress_svg(trials: Sequence[Trial], metric: str, lower_is_better: bool) -> str:
    """Every trial a linked point coloured by outcome, plus the best-so-far step line."""
    scored = [t for t in trials if t.score is not None]
    scale = Scale(max([t.seq for t in trials] + [1]), *(_domain(scored) if scored else (0, 1)))
    parts = [_frame(scale, metric, lower_is_better)]
    steps = best_so_far(trials, lower_is_better)
    if steps:
        d = f"M{scale.x(steps[0][0]):.1f},{scale.y(steps[0][1]):.1f}"
        for seq, best in steps[1:]:
            d += f" H{scale.x(seq):.1f} V{scale.y(best):.1f}"
        d += f" H{scale.x(scale.x_hi):.1f}"
        parts.append(f'<path class="bestline" d="{d}"><title>best so far</title></path>')
    parts.extend(_point(trial, scale, metric) for trial in trials)
    return _svg("progress", W, H, "Score of every trial and the best so far", parts)


def _point(trial: Trial, scale: Scale, metric: str) -> str:
    attrs = f'data-outcome="{css_name(trial.outcome)}" fill="{colour(trial.outcome)}"'
    cx = scale.x(trial.seq)
    if trial.score is None:
        mark, end = (
            f'<circle class="mark lane" cx="{cx:.1f}" cy="{LANE_Y}" r="4.5" {attrs}>',
            "</circle>",
        )
    elif scale.lo <= trial.score <= scale.hi:
        keep = trial.outcome == "keep"
        cls, r = ("mark keep", 6) if keep else ("mark", 4.5)
        cy = scale.y(trial.score)
        mark, end = (
            f'<circle class="{cls}" cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" {attrs}>',
            "</circle>",
        )
    else:  # clamped: a triangle at the edge, pointing to where the score really is
        edge, tip = (TOP + 1, -7) if trial.score > scale.hi else (TOP + PLOT_H - 1, 7)
        d = f"M{cx - 5:.1f},{edge} L{cx + 5:.1f},{edge} L{cx:.1f},{edge + tip} Z"
        mark, end = f'<path class="mark clipped" d="{d}" {attrs}>', "</path>"
    return f'<a href="#{trial.anchor}">{mark}{title(trial, metric)}{end}</a>'


def _frame(scale: Scale, metric: str, lower_is_better: bool) -> str:
    x, y, bottom = scale.x, scale.y, TOP + PLOT_H
    out = [
        f'<rect class="plot-area" x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}"'
        f' height="{PLOT_H}"/>'
    ]
    for value in ticks(scale.lo, scale.hi):
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(value):.1f}"'
            f' y2="{y(value):.1f}"/><text class="tick" x="{LEFT - 6}"'
            f' y="{y(value) + 4:.1f}" text-anchor="end">{num(value, 4)}</text>'
        )
    for value in ticks(0, scale.x_hi, 10):
        if value == int(value):
            out.append(
                f'<text class="tick" x="{x(value):.1f}" y="{LANE_Y + 24}"'
                f' text-anchor="middle">{int(value)}</text>'
            )
    out.append(
        f'<text class="tick" x="{LEFT - 6}" y="{LANE_Y + 4}" text-anchor="end">no score</text>'
    )
    out.append(f'<line class="axis" x1="{LEFT}" x2="{W - RIGHT}" y1="{bottom}" y2="{bottom}"/>')
    direction = "lower is better" if lower_is_better else "higher is better"
    out.append(
        f'<text class="axis-label" x="{LEFT + (W - LEFT - RIGHT) / 2:.0f}" y="{H - 8}"'
        ' text-anchor="middle">trial</text>'
    )
    out.append(
        f'<text class="axis-label" transform="translate(16 {TOP + PLOT_H / 2:.0f})'
        f' rotate(-90)" text-anchor="middle">{escape(metric)} ({direction})</text>'
    )
    return "".join(out)


def mix_svg(windows: Sequence[Window], order: Sequence[str]) -> str:
    """One 100% column per window of trials, stacked by outcome share."""
    width, height, top, plot_h = 960, 300, 16, 230
    inner = width - LEFT - RIGHT
    slot = inner / max(len(windows), 1)
    parts = [f'<rect class="plot-area" x="{LEFT}" y="{top}" width="{inner}" height="{plot_h}"/>']
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - share)
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{share:.0%}</text>"
        )
    for i, window in enumerate(windows):
        x, y = LEFT + i * slot + slot * 0.1, float(top + plot_h)
        for outcome in order:
            count = window.counts.get(outcome, 0)
            if not count:
                continue
            h = plot_h * count / window.total
            y -= h
            text = (
                f"trials {window.first}–{window.last}: {count} of {window.total}"
                f" {outcome} ({count / window.total:.0%})"
            )
            parts.append(
                f'<rect class="mark seg" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}"'
                f' height="{h:.1f}" data-outcome="{css_name(outcome)}"'
                f' fill="{colour(outcome)}"><title>{escape(text)}</title></rect>'
            )
        parts.append(
            f'<text class="tick" x="{x + slot * 0.4:.1f}" y="{top + plot_h + 18}"'
            f' text-anchor="middle">{window.first}–{window.last}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{LEFT + inner / 2:.0f}" y="{height - 6}"'
        ' text-anchor="middle">trials (window)</text>'
    )
    return _svg("mix", width, height, "Share of each outcome per window of trials", parts)


def bar_svg(counts: dict[str, int], order: Sequence[str], width: int = 160) -> str:
    """A small horizontal stacked bar of one specialist's outcome shares."""
    total = sum(counts.values()) or 1
    x, parts = 0.0, []
    for outcome in order:
        if counts.get(outcome):
            w = width * counts[outcome] / total
            parts.append(
                f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="12"'
                f' data-outcome="{css_name(outcome)}" fill="{colour(outcome)}">'
                f"<title>{escape(outcome)}: {counts[outcome]}</title></rect>"
            )
            x += w
    return (
        f'<svg class="bar" width="{width}" height="12" viewBox="0 0 {width} 12"'
        f' role="img" aria-label="outcome shares">{"".join(parts)}</svg>'
    )


def _svg(chart: str, width: int, height: int, label: str, parts: Sequence[str]) -> str:
    return (
        f'<svg class="chart" data-chart="{chart}" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f"{''.join(parts)}</svg>"
    )
