"""The report's section comparing a derived search with its source (#18)."""

from __future__ import annotations

from html import escape
from typing import Any

from projections.derived import Derived
from projections.report.trials import chip


def html(derived: Derived) -> str:
    what = (
        f"a re-judgement under other rules of search {derived.source_ordinal}"
        f" ({escape(derived.source_rules)})"
        if derived.kind == "rejudge"
        else f"a counterfactual of search {derived.source_ordinal}"
        f" (policy {escape(derived.source_policy)})"
    )
    rows = "".join(_row(row) for row in derived.rows)
    return (
        f'<p class="muted">This search is {what}, {escape(derived.source_id[:8])} at head'
        f" {escape(derived.head[:12])}…; {derived.from_cache} of its trials took results"
        " from the trial cache instead of training.</p>"
        "<table><thead><tr><th>trial</th><th>source</th><th>outcome</th><th>score</th>"
        "<th>this search</th><th>outcome</th><th>score</th><th>cached</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _row(row: tuple[Any, ...]) -> str:
    seq, o_who, o_status, o_score, d_who, d_status, d_score, cached = row
    return (
        f"<tr><td>#{seq}</td><td>{escape(o_who or '')}</td><td>{_chip(o_status)}</td>"
        f"<td>{_num(o_score)}</td><td>{escape(d_who or '')}</td><td>{_chip(d_status)}</td>"
        f"<td>{_num(d_score)}</td><td>{'yes' if cached else ''}</td></tr>"
    )


def _chip(status: str | None) -> str:
    return chip(status) if status else ""


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.5g}"
