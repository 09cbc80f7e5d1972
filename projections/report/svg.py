"""Inline SVG for the report: outcome colours, axes, the progress plot and the label mix."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from projections.report.data import Trial
from projections.report.series import Resume
from projections.report.stats import REFERENCES, best_so_far

# Okabe-Ito based, so the labels stay apart for colour-blind readers.
COLOURS = {
    "baseline": "#0072b2",
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
OUTLIER_MADS = 10  # scores further than this from the median do not set the y range
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
    if trial.gate_failed:
        score += " (fails the gate)"
    text = f"#{trial.seq} {trial.specialist}: {trial.outcome}{score} — {trial.hypothesis[:160]}"
    return f"<title>{escape(text)}</title>"


def y_domain(scores: Sequence[float], anchors: Sequence[float] = ()) -> tuple[float, float]:
    """A robust y range: every anchor (the seed run and the keeps), and the scores within
    ten median absolute deviations (MAD) of the median.

    One wild score (a diverged run) would flatten the improvements people look for, so
    scores beyond that fence are left out of the range, clamped to the plot's edge and
    drawn as triangles instead. The MAD, unlike quartiles, finds the one wild score of
    three; for normal scores the fence is about 6.7 standard deviations.
    """
    core = [v for v in scores if math.isfinite(v)]  # inf or nan has no place on an axis
    if len(core) >= 3:
        middle = statistics.median(core)
        mad = statistics.median(abs(v - middle) for v in core)
        fence = OUTLIER_MADS * (mad or abs(middle) * 0.05 or 1.0)
        core = [v for v in core if abs(v - middle) <= fence]
    core += [v for v in anchors if math.isfinite(v)]
    if not core:
        return 0.0, 1.0
    lo, hi = min(core), max(core)
    pad = (hi - lo) * 0.06 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


def trial_domain(trials: Sequence[Trial]) -> tuple[float, float]:
    """The progress plot's y range: the seed run and the keeps anchor it."""
    scores = [t.score for t in trials if t.score is not None]
    anchors = [t.score for t in trials if t.score is not None and t.outcome in REFERENCES]
    return y_domain(scores, anchors)


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


def progress_svg(
    trials: Sequence[Trial],
    metric: str,
    lower_is_better: bool,
    sigma: float | None = None,
    resumes: Sequence[Resume] = (),
) -> str:
    """Every trial a linked point coloured by outcome, the best-so-far step line with its
    noise band, and a dashed line where the search was resumed."""
    scale = Scale(max([t.seq for t in trials] + [1]), *trial_domain(trials))
    parts = [_frame(scale, metric, lower_is_better)]
    steps = best_so_far(trials, lower_is_better)
    if steps and sigma:
        parts.append(_band(steps, scale, sigma))
    if steps:
        d = f"M{scale.x(steps[0][0]):.1f},{scale.y(steps[0][1]):.1f}"
        for seq, best in steps[1:]:
            d += f" H{scale.x(seq):.1f} V{scale.y(best):.1f}"
        d += f" H{scale.x(scale.x_hi):.1f}"
        parts.append(f'<path class="bestline" d="{d}"><title>best so far</title></path>')
    parts.extend(_resume(r, scale) for r in resumes)
    parts.extend(_point(trial, scale, metric) for trial in trials)
    return svg("progress", W, H, "Score of every trial and the best so far", parts)


def _band(steps: Sequence[tuple[int, float]], scale: Scale, sigma: float) -> str:
    """Best so far plus and minus one run's noise sigma, clipped to the plot area."""
    ends = [seq for seq, _ in steps[1:]] + [scale.x_hi]
    rects = []
    for (seq, best), end in zip(steps, ends, strict=True):
        top = max(scale.y(best + sigma), TOP)
        bottom = min(scale.y(best - sigma), TOP + PLOT_H)
        x0, x1 = scale.x(seq), scale.x(end)
        rects.append(
            f'<rect x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0, 1):.1f}"'
            f' height="{max(bottom - top, 0):.1f}"/>'
        )
    text = f"noise band: best so far ± σ = {num(sigma, 4)} (one run's spread between seeds)"
    return f'<g class="noiseband" data-sigma="{sigma!r}"><title>{text}</title>{"".join(rects)}</g>'


def _resume(resume: Resume, scale: Scale) -> str:
    x = scale.x(resume.after_seq + 0.5) if resume.after_seq is not None else LEFT
    text = f"resumed at {resume.time}" + (
        f", reopening {resume.reopened}" if resume.reopened else ""
    )
    if resume.abandoned:
        text += f"; {resume.abandoned} trial(s) in flight ended harness_abort"
    return (
        f'<g class="resume"><line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + PLOT_H}"/>'
        f'<text x="{x + 3:.1f}" y="{TOP + 11}">resumed</text><title>{escape(text)}</title></g>'
    )


def _point(trial: Trial, scale: Scale, metric: str) -> str:
    attrs = f'data-outcome="{css_name(trial.outcome)}" fill="{colour(trial.outcome)}"'
    cx = scale.x(trial.seq)
    if trial.score is None:
        mark, end = (
            f'<circle class="mark lane" cx="{cx:.1f}" cy="{LANE_Y}" r="4.5" {attrs}>',
            "</circle>",
        )
    elif trial.gate_failed and scale.lo <= trial.score <= scale.hi:
        cy = scale.y(trial.score)  # a diamond: scored, but the accuracy gate failed it
        d = (
            f"M{cx:.1f},{cy - 6:.1f} L{cx + 6:.1f},{cy:.1f} L{cx:.1f},{cy + 6:.1f}"
            f" L{cx - 6:.1f},{cy:.1f} Z"
        )
        mark, end = f'<path class="mark gatefail" d="{d}" {attrs}>', "</path>"
    elif scale.lo <= trial.score <= scale.hi:
        keep = trial.outcome in REFERENCES
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


def svg(chart: str, width: int, height: int, label: str, parts: Sequence[str]) -> str:
    return (
        f'<svg class="chart" data-chart="{chart}" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f"{''.join(parts)}</svg>"
    )
