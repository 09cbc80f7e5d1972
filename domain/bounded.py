"""Bounds on the text and evidence a failure event carries, whatever produced them.

A failure's reason and evidence come from what agent-written code did: file names,
exception messages, log tails (one event once carried 2.7 MB of file names). Every
TrialFailed is cut to these bounds when it is made (trial.record_failure), so no
producer can forget: REASON_CHARS for the reason, EXCERPT_CHARS for the log excerpt,
and in the evidence TEXT_CHARS per string, ITEMS entries per list or mapping (a last
entry says how many were left out), DEPTH levels of nesting, EVIDENCE_BYTES in all.
"""

from __future__ import annotations

import json
from typing import Any

REASON_CHARS = 1000
EXCERPT_CHARS = 2000
TEXT_CHARS = 500
KEY_CHARS = 100
ITEMS = 64
DEPTH = 4
EVIDENCE_BYTES = 16384
CUT = "…"


def failure_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A TrialFailed's fields with its reason, excerpt and evidence within bounds."""
    out = dict(fields)
    if "reason" in out:
        out["reason"] = text(out["reason"], REASON_CHARS)
    if "log_excerpt" in out:  # the end of a log says most: keep it
        excerpt = out["log_excerpt"]
        out["log_excerpt"] = excerpt if len(excerpt) <= EXCERPT_CHARS else excerpt[-EXCERPT_CHARS:]
    if "evidence" in out:
        out["evidence"] = evidence(out["evidence"])
    return out


def text(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - len(CUT)] + CUT


def evidence(value: dict[str, Any]) -> dict[str, Any]:
    bounded = _value(value, 0)
    encoded = json.dumps(bounded, default=str)
    if len(encoded) <= EVIDENCE_BYTES:
        return dict(bounded)
    return {"cut": text(encoded, EVIDENCE_BYTES)}  # still readable, as text


def _value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return text(value, TEXT_CHARS)
    if not isinstance(value, dict | list | tuple):
        return value
    if depth >= DEPTH:
        return f"{CUT} nested deeper than {DEPTH} levels"
    if isinstance(value, dict):
        items = list(value.items())
        out = {text(str(k), KEY_CHARS): _value(v, depth + 1) for k, v in items[:ITEMS]}
        if len(items) > ITEMS:
            out[CUT] = f"{len(items) - ITEMS:,} more entries left out"
        return out
    kept = [_value(v, depth + 1) for v in value[:ITEMS]]
    if len(value) > ITEMS:
        kept.append(f"{CUT} {len(value) - ITEMS:,} more items left out")
    return kept
