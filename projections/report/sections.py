"""Report sections for comparing trials: loss curves, the knob table with its parallel
coordinates, and the search's resumes. Values from recipes and the ledger are escaped."""

from __future__ import annotations

from html import escape

from projections.report.charts import curves_svg, parallel_svg
from projections.report.data import ReportData, Trial
from projections.report.knobs import Knobs, Value
from projections.report.svg import num
from projections.report.trials import chip, link


def curves(data: ReportData) -> str:
    if not any(c.steps for c in data.curves.values()):
        return '<p class="muted">No training progress was recorded.</p>'
    return (
        '<p class="muted">The training loss each trial reported while it ran (its first'
        " seed), coloured by outcome; click a line for the trial. Losses far outside the"
        f' others run along the edge.</p><div class="scroll">{curves_svg(data.trials, data.curves)}'
        "</div>"
    )


def knobs(data: ReportData) -> str:
    k = data.knobs
    if not k.values:
        return '<p class="muted">No recipe was recorded.</p>'
    fixed = ", ".join(f"{escape(n)} = {escape(_value(v))}" for n, v in k.fixed.items())
    note = f'<p class="muted">Unchanged in every trial: {fixed or "none"}.</p>'
    if not k.names:
        return note
    s = data.search
    chart = ""
    if k.numeric():
        chart = (
            '<p class="muted">One axis per numeric knob that varies, then the score (better'
            " at the top); one line per trial.</p>"
            f'<div class="scroll">{parallel_svg(data.trials, k, s.metric, s.lower_is_better)}</div>'
        )
    return f"{chart}{note}{_table(data.trials, k)}"


def _table(trials: tuple[Trial, ...], k: Knobs) -> str:
    head = "".join(f"<th>{escape(n)}</th>" for n in k.names)
    by_seq = {t.seq: t for t in trials}
    rows = []
    for trial in trials:
        own = k.values.get(trial.seq)
        if own is None:
            continue
        parent = k.values.get(trial.parent_seq) if trial.parent_seq in by_seq else None
        cells = "".join(_cell(own, parent, n) for n in k.names)
        rows.append(
            f"<tr><td>{link(trial.seq)}</td><td>{chip(trial.outcome)}</td>"
            f"<td>{num(trial.score, 6)}</td>{cells}</tr>"
        )
    return (
        '<div class="scroll"><table class="knobs"><thead><tr><th>trial</th><th>outcome</th>'
        f"<th>score</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _cell(own: dict[str, Value], parent: dict[str, Value] | None, name: str) -> str:
    """A knob's value, marked when it differs from the trial's parent's."""
    if name not in own:
        return "<td></td>"
    changed = parent is not None and repr(parent.get(name)) != repr(own[name])
    cls = ' class="changed"' if changed else ""
    return f"<td{cls}>{escape(_value(own[name]))}</td>"


def _value(value: Value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def resumes(data: ReportData) -> str:
    if not data.resumes:
        return ""
    items = []
    for r in data.resumes:
        where = f"after {link(r.after_seq)}" if r.after_seq is not None else "before any trial"
        extra = f", reopening a search that ended {escape(r.reopened)}" if r.reopened else ""
        if r.abandoned:
            extra += f"; {r.abandoned} trial(s) in flight ended harness_abort and ran again"
        items.append(f"<li>{escape(r.time)}, {where} (ledger position {r.position}){extra}</li>")
    return f'<ul class="resumes">{"".join(items)}</ul>'
