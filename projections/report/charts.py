"""The report's other charts as inline SVG: loss curves, parallel coordinates of the knobs,
the outcome mix over time and the specialists' share bars."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from projections.report.data import Trial
from projections.report.knobs import Knobs
from projections.report.series import Curve
from projections.report.stats import Window
from projections.report.svg import LEFT, RIGHT, colour, css_name, num, svg, ticks, y_domain

CURVE_W, CURVE_H, CURVE_TOP, CURVE_PLOT_H = 960, 320, 16, 260
PC_W, PC_H, PC_TOP, PC_PLOT_H = 960, 330, 28, 250
PC_LABEL_W = 56  # room right of the score axis for its name and tick labels


def _line(trial: Trial, points: Sequence[tuple[float, float]], tip: str) -> str:
    """One trial's polyline, coloured by its outcome and linked to its section."""
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    outcome = css_name(trial.outcome)
    return (
        f'<a href="#{trial.anchor}"><polyline class="mark line o-{outcome}"'
        f' data-outcome="{outcome}" stroke="{colour(trial.outcome)}" points="{coords}">'
        f"<title>{escape(tip)}</title></polyline></a>"
    )


def curves_svg(trials: Sequence[Trial], curves: Mapping[int, Curve]) -> str:
    """Each trial's training loss by step (its first seed), on a robust y range."""
    shown = [(t, curves[t.seq]) for t in trials if len(curves.get(t.seq, Curve(0, (), ())).steps)]
    steps = [s for _, c in shown for s in c.steps]
    lo, hi = y_domain([v for _, c in shown for v in c.losses])
    x_lo, x_hi = (min(steps), max(steps)) if steps else (0, 1)
    inner = CURVE_W - LEFT - RIGHT

    def xy(step: float, loss: float) -> tuple[float, float]:
        x = LEFT + inner * (step - x_lo) / ((x_hi - x_lo) or 1)
        clamped = min(max(loss, lo), hi)  # a diverged curve runs along the edge
        return x, CURVE_TOP + CURVE_PLOT_H * (hi - clamped) / (hi - lo)

    parts = [_area(CURVE_TOP, CURVE_PLOT_H, inner)]
    for value in ticks(lo, hi):
        parts.append(_ytick(xy(x_lo, value)[1], num(value, 4)))
    for value in ticks(x_lo, x_hi, 8):
        parts.append(
            f'<text class="tick" x="{xy(value, lo)[0]:.1f}" y="{CURVE_TOP + CURVE_PLOT_H + 16}"'
            f' text-anchor="middle">{num(value, 6)}</text>'
        )
    parts.append(_xlabel(CURVE_W, CURVE_H, "training step"))
    for trial, curve in shown:
        points = [xy(s, v) for s, v in zip(curve.steps, curve.losses, strict=True)]
        tip = (
            f"#{trial.seq} {trial.outcome}: loss {num(curve.losses[-1])} at step {curve.steps[-1]}"
        )
        parts.append(_line(trial, points, f"{tip} (seed {curve.seed})"))
    return svg("curves", CURVE_W, CURVE_H, "Training loss of every trial by step", parts)


def _area(top: float, height: float, inner: float) -> str:
    return f'<rect class="plot-area" x="{LEFT}" y="{top}" width="{inner}" height="{height}"/>'


def _ytick(y: float, text: str) -> str:
    return f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'


def _xlabel(width: int, height: int, text: str) -> str:
    return (
        f'<text class="axis-label" x="{LEFT + (width - LEFT - RIGHT) / 2:.0f}" y="{height - 4}"'
        f' text-anchor="middle">{escape(text)}</text>'
    )


def _axis_scale(values: Sequence[float]) -> tuple[float, float, bool]:
    """(low, high, log): a log axis when every value is positive and they span 20x or more."""
    lo, hi = min(values), max(values)
    log = lo > 0 and hi / lo >= 20
    return (math.log10(lo), math.log10(hi), True) if log else (lo, hi, False)


def _pc_axis(x: float, name: str, top: str, bottom: str) -> str:
    bottom_y = PC_TOP + PC_PLOT_H
    return (
        f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{PC_TOP}" y2="{bottom_y}"/>'
        f'<text class="axis-label" x="{x:.1f}" y="{PC_TOP - 12}" text-anchor="middle">'
        f"{escape(name)}</text>"
        f'<text class="tick" x="{x + 4:.1f}" y="{PC_TOP + 4}">{top}</text>'
        f'<text class="tick" x="{x + 4:.1f}" y="{bottom_y + 12}">{bottom}</text>'
    )


def parallel_svg(trials: Sequence[Trial], knobs: Knobs, metric: str, lower_is_better: bool) -> str:
    """One vertical axis per numeric knob that varies, then the score; one line per trial.

    The score axis puts better at the top; a trial without a score ends on the lane
    under it, and a score beyond the robust range sits on the axis's edge."""
    names = knobs.numeric()
    axes: list[tuple[str, float, float, bool]] = []
    for name in names:
        values = [float(v[name]) for v in knobs.values.values() if name in v]
        axes.append((name, *_axis_scale(values)))
    scores = [t.score for t in trials if t.score is not None]
    lo, hi = y_domain(scores)  # robust, but unpadded: the axis ends are real scores
    kept = [v for v in scores if lo <= v <= hi] or [0.0, 1.0]
    lo, hi = min(kept), max(kept)
    gap = (PC_W - LEFT - RIGHT - PC_LABEL_W) / max(len(axes), 1)
    parts = []
    for i, (name, a_lo, a_hi, log) in enumerate([*axes, (metric, lo, hi, False)]):
        x = LEFT + gap * i
        last = i == len(axes)
        top_label = num(10**a_hi if log else a_hi, 4)
        bottom_label = num(10**a_lo if log else a_lo, 4)
        if last and lower_is_better:
            top_label, bottom_label = bottom_label, top_label
        parts.append(_pc_axis(x, name + (" (log)" if log else ""), top_label, bottom_label))
    lane = PC_TOP + PC_PLOT_H + 30
    parts.append(
        f'<text class="tick" x="{LEFT + gap * len(axes) - 6:.1f}" y="{lane + 4}"'
        ' text-anchor="end">no score</text>'
    )

    def y(value: float, a_lo: float, a_hi: float, log: bool, flip: bool) -> float:
        v = math.log10(value) if log else value
        share = (min(max(v, a_lo), a_hi) - a_lo) / ((a_hi - a_lo) or 1)
        return PC_TOP + PC_PLOT_H * (share if flip else 1 - share)

    for trial in trials:
        own = knobs.values.get(trial.seq)
        if own is None:
            continue
        points = [
            (LEFT + gap * i, y(float(own[n]), a_lo, a_hi, log, False))
            for i, (n, a_lo, a_hi, log) in enumerate(axes)
            if n in own
        ]
        sx = LEFT + gap * len(axes)
        sy = lane if trial.score is None else y(trial.score, lo, hi, False, lower_is_better)
        settings = ", ".join(f"{n}={own[n]}" for n in names if n in own)
        tip = f"#{trial.seq} {trial.outcome} {metric}={num(trial.score)}: {settings}"
        parts.append(_line(trial, [*points, (sx, sy)], tip))
    return svg("parallel", PC_W, PC_H, "Knob values and score of every trial", parts)


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
    return svg("mix", width, height, "Share of each outcome per window of trials", parts)


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
