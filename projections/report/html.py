"""The report page: header, charts, tables and trial sections in one self-contained HTML file.

Styles and the script are inlined, and a Content-Security-Policy admits only those two by
their hashes and nothing from the network, so the page works offline and any markup that
slipped past escaping still could not run.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from decimal import Decimal
from html import escape
from pathlib import Path

from projections import final_test
from projections.report import derived as report_derived
from projections.report import sections as report_sections
from projections.report import stats
from projections.report.charts import bar_svg, mix_svg
from projections.report.data import Costs, ReportData
from projections.report.svg import colour, css_name, num, progress_svg
from projections.report.tree import tree_svg
from projections.report.trials import chip, link, trial_sections

ASSETS = Path(__file__).parent
SECTIONS = (
    ("derived", "Compared with its source"),
    ("final", "Final test"),
    ("progress", "Progress"),
    ("curves", "Loss curves"),
    ("knobs", "Knobs"),
    ("tree", "Lineage tree"),
    ("specialists", "Specialists"),
    ("mix", "Outcome mix over time"),
    ("repairs", "Repair chains"),
    ("costs", "Costs"),
    ("trials", "Trials"),
)


def page(data: ReportData, live: int | None = None) -> str:
    """The report of one search; `live` (a ledger position) makes it a live view's page."""
    order = stats.outcomes(data.trials)
    s = data.search
    title = f"autorecipe report: {s.task} search {s.ordinal} ({s.search_id[:8]})"
    body = [
        _header(data, order, title),
        _section("derived", report_derived.html(data.derived)) if data.derived else "",
        _section("final", _final(data)),
        _section("progress", _progress(data)),
        _section("curves", report_sections.curves(data)),
        _section("knobs", report_sections.knobs(data)),
        _section("tree", _tree(data)),
        _section("specialists", _specialists(data, order)),
        _section("mix", _mix(data, order)),
        _section("repairs", _repairs(data)),
        _section("costs", _costs(data.costs)) if data.costs else "",
        _section("trials", _finished_note(data) + trial_sections(data.trials, s.metric)),
    ]
    footer = (
        f"Derived from the projections of ledger search {escape(s.search_id)}; every value"
        " here can be re-derived with <code>cli.py audit</code>."
    )
    return document(title, "".join(body), footer, _outcome_css(order), live)


def document(title: str, body: str, footer: str, css: str = "", live: int | None = None) -> str:
    """A whole page with the report's styles and script inlined, admitted by their hashes.

    A live page (`live` = the ledger position it shows) may also fetch from its own
    server, which it polls to reload when the ledger moves on."""
    css = (ASSETS / "report.css").read_text() + css
    script = (ASSETS / "report.js").read_text()
    connect = "connect-src 'self'; " if live is not None else ""
    policy = (
        f"default-src 'none'; {connect}style-src '{_digest(css)}'; script-src"
        f" '{_digest(script)}'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    banner, attrs = "", ""
    if live is not None:
        attrs = f' data-live="{live}"'
        banner = (
            f'<div class="live">live view at ledger position {live}: this page reloads'
            " when new events arrive</div>"
        )
    return (
        f'<!DOCTYPE html><html lang="en"{attrs}><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{css}</style></head><body>{banner}"
        f"{body}<footer>{footer}</footer><script>{script}</script></body></html>"
    )


def _digest(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _outcome_css(order: Sequence[str]) -> str:
    return "".join(f".o-{css_name(o)} {{ --c: {colour(o)}; }}\n" for o in order)


def _section(anchor: str, content: str) -> str:
    heading = dict(SECTIONS)[anchor]
    return f'<section class="part"><h2 id="{anchor}">{heading}</h2>{content}</section>'


def _header(data: ReportData, order: Sequence[str], title: str) -> str:
    s = data.search
    best = f"{link(s.best_seq)} {num(s.best_score, 6)}" if s.best_seq is not None else ""
    facts = [
        ("search", escape(s.search_id)),
        ("task", f"{escape(s.task)} (task sha256 {escape(s.task_sha256)})"),
        ("rules", escape(s.rules_version)),
        ("metric", f"{escape(s.metric)}, {'lower' if s.lower_is_better else 'higher'} is better"),
        (
            "proposer",
            f"{escape(s.agent)}, policy {escape(s.policy)}, lineage {'on' if s.lineage else 'off'}",
        ),
        ("noise", _noise(data)),
        ("ran", f"{escape(s.started_at)} → {escape(s.finished_at) or 'still running'}"),
        ("resumed", _resumed(data)),
        ("finished", escape(s.finish_reason)),
        ("best", best),
        ("trials", _trial_counts(data)),
    ]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts if v)
    shown = {"costs": data.costs is not None, "derived": data.derived is not None}
    nav = "".join(f'<a href="#{a}">{h}</a>' for a, h in SECTIONS if shown.get(a, True))
    headline = f'<p class="headline">{escape(final_test.line(data.final_test))}</p>'
    return (
        f"<header><h1>{escape(title)}</h1>{headline}<nav>{nav}</nav>"
        f'<dl class="facts">{body}</dl>{_legend(data, order)}</header>'
    )


def _noise(data: ReportData) -> str:
    s = data.search
    if s.noise_sigma is None:
        return num(s.noise_floor)
    return (
        f"σ {num(s.noise_sigma)} between training seeds ({s.noise_runs} runs of the seed"
        f" recipe); noise floor {num(s.noise_floor)}"
    )


def _resumed(data: ReportData) -> str:
    if not data.resumes:
        return ""
    return f"{len(data.resumes)} time(s){report_sections.resumes(data)}"


def _trial_counts(data: ReportData) -> str:
    keeps = sum(1 for t in data.trials if t.outcome == "keep")
    return (
        f"{len(data.trials)} (#0 is the seed recipe's run, the baseline every keep is"
        f" measured against); {keeps} kept"
    )


def _legend(data: ReportData, order: Sequence[str]) -> str:
    counts = {o: sum(1 for t in data.trials if t.outcome == o) for o in order}
    buttons = "".join(
        f'<button type="button" class="chip o-{css_name(o)}" data-toggle="{css_name(o)}"'
        f' aria-pressed="true">{escape(o)} ({counts[o]})</button>'
        for o in order
    )
    return f'<div class="legend" title="click to fade an outcome">{buttons}</div>'


def _final(data: ReportData) -> str:
    """The final test's per-seed scores on the test split, its test and method."""
    event = data.final_test.event
    note = (
        '<p class="muted">When the search ended, the best kept recipe and the seed recipe'
        " ran on fresh training seeds and were scored on the task's test split, which no"
        " trial saw (docs/TASKS.md).</p>"
    )
    if event is None or not event.get("seeds"):
        return note
    rows = "".join(
        f"<tr><td>{escape(name)}</td>{''.join(f'<td>{escape(c)}</td>' for c in cells)}</tr>"
        for name, cells in final_test.seed_rows(event)
    )
    test = event.get("test") or {}
    facts = [("verdict", f"{event['status']}: {event['reason']}"), ("method", event["method"])]
    if test.get("p") is not None:
        facts.append(("p", f"{test['p']:.4g} (alpha {test['alpha']:g})"))
    if (test.get("examples") or {}).get("method"):
        facts.append(("examples", test["examples"]["method"]))
    body = "".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    return f'{note}<table><tbody>{rows}</tbody></table><dl class="facts">{body}</dl>'


def _progress(data: ReportData) -> str:
    s = data.search
    svg = progress_svg(data.trials, s.metric, s.lower_is_better, s.noise_sigma, data.resumes)
    return (
        '<p class="muted">Each point is a trial (click it for details); the line is the best'
        " kept score so far, in a band of ± one run's noise σ. Diamonds ran but failed the"
        " accuracy gate. Trials without a score sit on the lower lane; triangles mark"
        " scores beyond the robust range (ten median absolute deviations from the median);"
        " dashed lines mark resumes. Also written as progress.png.</p>"
        f'<div class="scroll">{svg}</div>'
    )


def _tree(data: ReportData) -> str:
    svg = tree_svg(data.trials, data.search.best_seq, data.search.metric)
    return (
        '<p class="muted">Depth grows to the right; large rings are keeps, the thick green'
        " path leads to the best. Hover a node to light its ancestry; click it for the"
        f' trial.</p><div class="scroll">{svg}</div>'
    )


def _specialists(data: ReportData, order: Sequence[str]) -> str:
    head = "".join(f"<th>{chip(o)}</th>" for o in order)
    rows = []
    for specialist, counts in stats.by_specialist(data.trials):
        cells = "".join(f"<td>{counts.get(o, 0) or ''}</td>" for o in order)
        rows.append(
            f"<tr><td>{escape(specialist)}</td><td>{sum(counts.values())}</td>{cells}"
            f"<td>{bar_svg(dict(counts), order)}</td></tr>"
        )
    return (
        f"<table><thead><tr><th>specialist</th><th>proposals</th>{head}<th>shares</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _mix(data: ReportData, order: Sequence[str]) -> str:
    windows = stats.label_windows(data.trials)
    if not windows:
        return '<p class="muted">No finished trial yet.</p>'
    size = windows[0].last - windows[0].first + 1
    note = f"Finished proposals in sequence order, in windows of {size} trial numbers."
    return f'<p class="muted">{note}</p><div class="scroll">{mix_svg(windows, order)}</div>'


def _repairs(data: ReportData) -> str:
    chains = stats.repair_chains(data.trials)
    if not chains:
        return '<p class="muted">No failure was followed by a child on its branch.</p>'
    items = []
    for chain in chains:
        steps = '<span class="arrow">→</span>'.join(
            f"{link(t.seq)} {chip(t.outcome)}" for t in chain
        )
        last = chain[-1]
        detail = f" {escape(last.specialist)}" + (
            f", {num(last.score, 6)}" if last.score is not None else ""
        )
        items.append(f"<li>{steps}<span class=muted> — attempt by{detail}</span></li>")
    return (
        '<p class="muted">A failure followed by a child whose parent is the failed trial,'
        " with how each attempt ended.</p>"
        f'<ol class="chains">{"".join(items)}</ol>'
    )


def _costs(costs: Costs) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in costs.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in costs.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _cell(value: object) -> str:
    if isinstance(value, float | Decimal):  # sums of DECIMAL columns come back as Decimal
        return f"{value:,.4f}"
    return "" if value is None else str(value)


def _finished_note(data: ReportData) -> str:
    done = sum(1 for t in data.trials if t.finished)
    return f'<p class="muted">{done} of {len(data.trials)} trials finished.</p>'
