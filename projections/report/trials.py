"""One report section per trial: hypothesis, view shown, highlighted diff and outcome evidence.

Every string here was written by an agent, a recipe or a log, so each one is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from projections.report.data import Trial
from projections.report.svg import css_name, num

_OPEN_DIFF_LINES = 150  # longer diffs (the seed recipe's, from nothing) start folded
_DIFF_CLASSES = (("+++", "file"), ("---", "file"), ("@@", "hunk"), ("+", "add"), ("-", "del"))


def chip(outcome: str) -> str:
    return f'<span class="chip o-{css_name(outcome)}">{escape(outcome)}</span>'


def link(seq: int) -> str:
    return f'<a href="#trial-{seq}">#{seq}</a>'


def diff_html(diff: str) -> str:
    """Each line in a span classed by its marker: added, removed, hunk or file header."""
    lines = []
    for line in diff.splitlines():
        cls = next((c for marker, c in _DIFF_CLASSES if line.startswith(marker)), "ctx")
        lines.append(f'<span class="{cls}">{escape(line) or " "}</span>')
    return f'<pre class="diff">{"".join(lines)}</pre>'


def _pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def _json(value: dict[str, Any]) -> str:
    return _pre(json.dumps(value, indent=2, sort_keys=True, default=str))


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list; values arrive already escaped (some hold links)."""
    body = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in pairs if v)
    return f'<dl class="facts">{body}</dl>'


def _heading(trial: Trial, metric: str) -> str:
    score = ""
    if trial.score is not None:
        score = f" · {escape(metric)} {num(trial.score, 6)}"
        if trial.delta is not None:
            score += f" (Δ {trial.delta:+.4g})"
    return (
        f"<h3>{link(trial.seq)} {escape(trial.specialist)} · {chip(trial.outcome)}{score}</h3>"
        f'<p class="hyp">{escape(trial.hypothesis)}</p>'
    )


def _lineage_facts(trial: Trial, children: Sequence[int]) -> str:
    return _facts(
        [
            ("parent", link(trial.parent_seq) if trial.parent_seq is not None else "the seed"),
            ("children", " ".join(link(c) for c in children)),
            ("idea", escape(trial.idea)),
            ("expected Δ", num(trial.expected_delta)),
            ("surfaces", escape(", ".join(trial.surfaces) or "(none)")),
            ("touched", escape(", ".join(trial.surfaces_touched)) + _outside(trial)),
            ("agent", escape(trial.agent)),
            ("rules", escape(trial.rules_version)),
            ("trial id", escape(trial.trial_id)),
        ]
    )


def _outside(trial: Trial) -> str:
    """Flag an edit beyond the specialist's surfaces ('*' allows any): the partition leaked."""
    outside = [s for s in trial.surfaces_touched if s not in trial.surfaces]
    if not trial.surfaces or "*" in trial.surfaces or not outside:
        return ""
    return f' <span class="chip">outside its surfaces: {escape(", ".join(outside))}</span>'


def _evidence(trial: Trial) -> str:
    parts = [_facts([("reason", escape(trial.reason)), ("judged by", escape(trial.judge_rule))])]
    if trial.judge_numbers:
        parts.append("<h4>judge numbers</h4>" + _json(trial.judge_numbers))
    if trial.evidence:
        parts.append("<h4>evidence</h4>" + _json(trial.evidence))
    if trial.measurements:
        parts.append("<h4>measurements</h4>" + _json(trial.measurements))
    if trial.log_excerpt:
        parts.append("<h4>log excerpt</h4>" + _pre(trial.log_excerpt))
    return "".join(parts)


def trial_section(trial: Trial, children: Sequence[int], metric: str) -> str:
    failed = trial.outcome not in ("baseline", "keep", "discard")
    lines = sum(
        1
        for line in trial.diff.splitlines()
        if line[:1] in ("+", "-") and not line.startswith(("+++", "---"))
    )
    return (
        f'<section class="trial" id="{trial.anchor}">'
        f"{_heading(trial, metric)}{_lineage_facts(trial, children)}"
        f"<details{' open' if failed else ''}><summary>outcome evidence</summary>"
        f"{_evidence(trial)}</details>"
        f"<details{' open' if lines <= _OPEN_DIFF_LINES else ''}>"
        f"<summary>diff ({lines} changed lines)</summary>"
        f"{diff_html(trial.diff) if trial.diff else '<p class=muted>no diff</p>'}</details>"
        f"<details><summary>lineage view shown to the proposer</summary>"
        f"{_pre(trial.view) if trial.view else '<p class=muted>not recorded</p>'}</details>"
        '<p><a href="#tree">back to the tree</a></p></section>'
    )


def trial_sections(trials: Sequence[Trial], metric: str) -> str:
    children: dict[int, list[int]] = {}
    for trial in trials:
        if trial.parent_seq is not None:
            children.setdefault(trial.parent_seq, []).append(trial.seq)
    return "".join(trial_section(t, children.get(t.seq, []), metric) for t in trials)
