"""Rendering the lineage view an agent reads, with the paper's caps and sections.

No clock and no randomness: the same projections give the same bytes, so a replay can
re-render a view and compare it with the hash stored in TrialProposed.
"""

from __future__ import annotations

from domain.lineage import LineageView, TrialLine

LEADERBOARD_CAP = 4_000  # bytes, as in the paper
KNOWLEDGE_CAP = 8_000
HYPOTHESIS_CHARS = 140
NOTE_CHARS = 160


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _capped(lines: list[str], limit: int) -> str:
    out: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > limit:
            out.append(f"… ({len(lines) - len(out)} more lines cut at {limit:,} bytes)")
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def _score(view: LineageView, line: TrialLine) -> str:
    if line.score is None:
        return ""
    delta = "" if line.delta is None else f", Δ={line.delta:+.5f}"
    return f", {view.metric}={line.score:.5f}{delta}"


def _brief(view: LineageView, line: TrialLine) -> str:
    return f"#{line.sequence} [{line.specialist}, {line.status}{_score(view, line)}]"


def _activity(view: LineageView, line: TrialLine) -> list[str]:
    out = [f"- {_brief(view, line)} {_cut(line.hypothesis, HYPOTHESIS_CHARS)}"]
    if line.note:
        out.append(f"    └─ {_cut(line.note, NOTE_CHARS)}")
    return out


def _leaderboard(view: LineageView) -> str:
    lines = [
        f"#{ln.sequence}  {view.metric}={ln.score:.5f}  "
        f"Δ={(ln.delta or 0.0):+.5f}  {ln.specialist}  {_cut(ln.hypothesis, HYPOTHESIS_CHARS)}"
        for ln in view.leaderboard
        if ln.score is not None
    ]
    return _capped(lines or ["(no keeps yet)"], LEADERBOARD_CAP)


def _knowledge(view: LineageView) -> str:
    lines = ["Root-to-best chain:"]
    lines += [f"  {_brief(view, ln)} {_cut(ln.hypothesis, HYPOTHESIS_CHARS)}" for ln in view.chain]
    lines.append("Children of the best (all outcomes):")
    for ln in view.best_children or ():
        lines.append(f"  {_brief(view, ln)} {_cut(ln.hypothesis, HYPOTHESIS_CHARS)}")
        if ln.note:
            lines.append(f"      └─ {_cut(ln.note, NOTE_CHARS)}")
    if not view.best_children:
        lines.append("  (none yet)")
    return _capped(lines, KNOWLEDGE_CAP)


def _limits(view: LineageView) -> str:
    parts = [f"metric {view.metric} ({'lower' if view.lower_is_better else 'higher'} is better)"]
    if view.size_cap_bytes:
        parts.append(f"artifact cap {view.size_cap_bytes:,} B")
    for name in ("train_seconds", "eval_seconds"):
        if name in view.budgets:
            parts.append(f"{name.replace('_seconds', '')} cap {view.budgets[name]:g} s")
    if view.noise_floor is not None:
        parts.append(f"noise floor {view.noise_floor:.5f} (a keep must beat the best by more)")
    return "; ".join(parts)


def render_view(view: LineageView, surfaces: tuple[str, ...], sequence: int) -> str:
    best = (
        "none yet"
        if view.best is None
        else (f"#{view.best.sequence} ({view.metric}={view.best.score:.5f})")
    )
    sections = [
        f"# Trial {sequence}: you are specialist {view.specialist} "
        f"(surfaces: {', '.join(surfaces)})",
        f"Current best: {best}",
        f"Limits: {_limits(view)}",
    ]
    if view.lineage:
        recent = [row for line in view.recent for row in _activity(view, line)]
        sections += [
            "## LEADERBOARD",
            _leaderboard(view),
            "## KNOWLEDGE",
            _knowledge(view),
            "## Recent Activity (last 10 trials, all specialists)",
            "\n".join(recent) or "(nothing finished yet)",
        ]
        if view.is_saturated():
            sections += [
                "## Saturation signal",
                "Your last 5 trials changed nothing beyond the noise floor or failed:"
                " try a structurally different idea, or rebase onto another keep.",
            ]
    else:
        sections.append("(lineage hidden: the no-lineage ablation)")
    sections += [
        "## Your task",
        "Make one edit inside your surfaces, check it, and submit it once.",
    ]
    return "\n".join(sections) + "\n"
