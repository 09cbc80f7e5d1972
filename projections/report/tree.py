"""The lineage tree as SVG: a tidy layered layout, depth left to right, one row per leaf."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from projections.report.data import Trial
from projections.report.stats import REFERENCES
from projections.report.svg import colour, css_name, title

DX, DY, MARGIN = 54, 20, 24
BOX_W = 1006  # the report's content width: a shallow tree spreads out to fill it
LABEL_W = 60  # room right of the deepest node for its label


@dataclass(frozen=True)
class Placed:
    trial: Trial
    depth: int
    row: float  # leaves take consecutive rows; a parent sits midway between its children


def layout(trials: Sequence[Trial]) -> list[Placed]:
    """Leaves in pre-order get rows 0, 1, 2, …; each parent is centred on its children.

    Every subtree then spans a contiguous band of rows, so no two subtrees overlap and
    edges never cross. A trial whose parent is missing becomes a root of its own.
    """
    by_seq = {t.seq: t for t in trials}
    children: dict[int | None, list[Trial]] = {}
    for trial in sorted(trials, key=lambda t: t.seq):
        parent = trial.parent_seq if trial.parent_seq in by_seq else None
        children.setdefault(parent, []).append(trial)
    rows: dict[int, float] = {}
    depths: dict[int, int] = {}
    next_leaf = 0
    # Iterative post-order: a chain of keeps can be deeper than Python's recursion limit.
    roots = children.get(None, [])
    stack: list[tuple[Trial, int, bool]] = [(t, 0, False) for t in reversed(roots)]
    while stack:
        trial, depth, expanded = stack.pop()
        kids = children.get(trial.seq, [])
        depths[trial.seq] = depth
        if not kids:
            rows[trial.seq], next_leaf = float(next_leaf), next_leaf + 1
        elif expanded:
            rows[trial.seq] = (rows[kids[0].seq] + rows[kids[-1].seq]) / 2
        else:
            stack.append((trial, depth, True))
            stack.extend((kid, depth + 1, False) for kid in reversed(kids))
    return [Placed(by_seq[s], depths[s], rows[s]) for s in sorted(rows)]


def ancestry(trials: Sequence[Trial], seq: int | None) -> set[int]:
    """The trial and every ancestor: the path the best recipe took from the seed."""
    by_seq = {t.seq: t for t in trials}
    path: set[int] = set()
    while seq is not None and seq in by_seq and seq not in path:
        path.add(seq)
        seq = by_seq[seq].parent_seq
    return path


def tree_svg(trials: Sequence[Trial], best_seq: int | None, metric: str) -> str:
    placed = layout(trials)
    if not placed:
        return ""
    at = {p.trial.seq: p for p in placed}
    chain = ancestry(trials, best_seq)
    deepest = max(p.depth for p in placed)
    dx = max(DX, (BOX_W - MARGIN * 2 - LABEL_W) / max(deepest, 1))
    width = MARGIN * 2 + dx * deepest + LABEL_W
    height = MARGIN * 2 + DY * max(p.row for p in placed) + 8

    def xy(p: Placed) -> tuple[float, float]:
        return MARGIN + dx * p.depth, MARGIN + DY * p.row

    edges, nodes = [], []
    for p in placed:
        x, y = xy(p)
        parent = at.get(p.trial.parent_seq) if p.trial.parent_seq is not None else None
        if parent is not None:
            px, py = xy(parent)
            on_chain = " chain" if p.trial.seq in chain else ""
            edges.append(
                f'<path class="edge{on_chain}" data-child="{p.trial.seq}"'
                f' d="M{px:.1f},{py:.1f} C{px + dx / 2:.1f},{py:.1f} {x - dx / 2:.1f},{y:.1f}'
                f' {x:.1f},{y:.1f}"/>'
            )
        nodes.append(_node(p.trial, x, y, p.trial.seq == best_seq, metric))
    return (
        f'<svg class="chart" data-chart="tree" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" role="img"'
        f' aria-label="Lineage tree of every trial">{"".join(edges)}{"".join(nodes)}</svg>'
    )


def _node(trial: Trial, x: float, y: float, best: bool, metric: str) -> str:
    keep = trial.outcome in REFERENCES
    cls = "mark node" + (" keep" if keep else "") + (" best" if best else "")
    parent = "" if trial.parent_seq is None else f' data-parent="{trial.parent_seq}"'
    return (
        f'<a href="#{trial.anchor}"><g class="tnode" data-seq="{trial.seq}"{parent}>'
        f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="{7 if keep else 5}"'
        f' data-outcome="{css_name(trial.outcome)}" fill="{colour(trial.outcome)}"/>'
        f'<text class="nlabel" x="{x + 9:.1f}" y="{y - 6:.1f}">#{trial.seq}</text>'
        f"{title(trial, metric)}</g></a>"
    )
