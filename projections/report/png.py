"""The progress plot as a PNG (matplotlib on the Agg canvas), for slides and notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from projections.report.data import Trial
from projections.report.series import Resume
from projections.report.stats import REFERENCES, best_so_far, outcomes
from projections.report.svg import colour, trial_domain


def write_png(
    trials: Sequence[Trial],
    metric: str,
    lower_is_better: bool,
    path: Path,
    title: str,
    sigma: float | None = None,
    resumes: Sequence[Resume] = (),
) -> Path:
    """Scored trials by outcome with the best-so-far steps and their noise band; unscored
    ones on a lane below; the y range is the HTML plot's robust one."""
    # A bare Figure on the Agg canvas: no pyplot state and no display, so it is safe on
    # servers, in CI and from threads.
    fig = Figure(figsize=(10, 4.6), dpi=120)
    FigureCanvasAgg(fig)  # attaches itself to the figure
    ax, lane = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [6, 1]})
    lo, hi = trial_domain(trials)
    for outcome in outcomes(trials):
        _scatter(ax, lane, [t for t in trials if t.outcome == outcome], outcome, (lo, hi))
    steps = best_so_far(trials, lower_is_better)
    if steps:
        xs = [seq for seq, _ in steps] + [max(t.seq for t in trials)]
        ys = [best for _, best in steps] + [steps[-1][1]]
        ax.step(xs, ys, where="post", color=colour("keep"), linewidth=2, label="best so far")
        if sigma:
            ax.fill_between(
                xs,
                [y - sigma for y in ys],
                [y + sigma for y in ys],
                step="post",
                color=colour("keep"),
                alpha=0.15,
                label=f"± noise σ {sigma:.3g}",
            )
    ax.set_ylim(lo, hi)
    for resume in resumes:  # as in the HTML plot: between the last trial ended and the next
        x = -0.5 if resume.after_seq is None else resume.after_seq + 0.5
        ax.axvline(x, color="#6e7781", linestyle="--", linewidth=1)
    ax.set_ylabel(f"{metric} ({'lower' if lower_is_better else 'higher'} is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if trials:  # an empty legend only draws a warning
        ax.legend(fontsize=8, loc="best")
    lane.set_yticks([])
    lane.set_ylabel("no score", rotation=0, ha="right", va="center", fontsize=8)
    lane.set_xlabel("trial")
    lane.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _scatter(
    ax: Axes, lane: Axes, group: Sequence[Trial], outcome: str, span: tuple[float, float]
) -> None:
    scored = [(t.seq, min(max(t.score, span[0]), span[1])) for t in group if t.score is not None]
    unscored = [t.seq for t in group if t.score is None]
    # Label on the main axes even when every trial sits on the lane, so the legend is whole.
    # A disqualified trial with a score ran but failed the gate: a diamond.
    marker = "D" if outcome == "disqualified" else "o"
    label = f"{outcome} ({len(group)})"
    _dots(ax, [x for x, _ in scored], [y for _, y in scored], outcome, label, marker)
    if unscored:
        _dots(lane, unscored, [0.0] * len(unscored), outcome, None)


def _dots(
    axes: Axes,
    xs: list[int],
    ys: list[float],
    outcome: str,
    label: str | None,
    marker: str = "o",
) -> None:
    axes.scatter(
        xs,
        ys,
        marker=marker,
        s=60 if outcome in REFERENCES else 28,
        c=colour(outcome),
        edgecolors="#333333",
        linewidths=0.6,
        zorder=3,
        label=label,
    )
