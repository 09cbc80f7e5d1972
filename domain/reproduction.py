"""When a re-run reproduces a trial: the rule `cli.py reproduce` applies and records.

A scored trial reproduces when its score comes back bit for bit, or within the search's
noise floor. A failed trial reproduces when the re-run fails with the same label and
the numbers that decided the failure come back equal, or within 1% of the recorded
ones: the gate's mean over seeds (`disqualified`), a cap's measured value
(`size_blocked`), as evaluators/classify.py records them in the evidence. A crash or a
budget overrun has no such number: the label is the whole claim (seconds measured on a
busy machine would not repeat).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from domain.base import Immutable

DECIDING = ("mean", "threshold", "measured", "cap")  # evidence keys of the gate and caps
RELATIVE = 0.01  # a failure's deciding numbers may move by 1% and still reproduce


class Match(Immutable):
    identical: bool
    within: bool
    tolerance: float  # absolute for scores (the noise floor), relative for failures
    numbers: dict[str, tuple[float, float]] = Field(default_factory=dict)  # (recorded, again)


def of_scores(recorded: float | None, score: float | None, tolerance: float) -> Match:
    identical = score is not None and score == recorded
    within = identical or (
        score is not None and recorded is not None and abs(score - recorded) <= tolerance
    )
    return Match(identical=identical, within=within, tolerance=tolerance)


def of_failures(
    recorded_label: str,
    recorded_evidence: Mapping[str, Any],
    label: str | None,
    evidence: Mapping[str, Any],
) -> Match:
    numbers = {
        key: (float(recorded_evidence[key]), float(evidence[key]))
        for key in DECIDING
        if _number(recorded_evidence.get(key)) and _number(evidence.get(key))
    }
    missing = [k for k in DECIDING if _number(recorded_evidence.get(k)) and k not in numbers]
    same_label = label == recorded_label and not missing
    return Match(
        identical=same_label and all(a == b for a, b in numbers.values()),
        within=same_label and all(_close(a, b) for a, b in numbers.values()),
        tolerance=RELATIVE,
        numbers=numbers,
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1e-12)


def failure_lines(match: Match, recorded_label: str, label: str | None) -> tuple[str, str, bool]:
    """What `reproduce` says of a failed trial: the comparison, the verdict, and whether
    it reproduced."""
    numbers = ", ".join(f"{k} {a:g} -> {b:g}" for k, (a, b) in match.numbers.items())
    again = label or "valid"
    head = f"recorded {recorded_label}, reproduced {again}" + (f" ({numbers})" if numbers else "")
    if match.within:
        how = "identical" if match.identical else f"within {RELATIVE:.0%}"
        what = f"its deciding numbers {how}" if match.numbers else "no number decides this label"
        return head, f"reproduced: the same failure, {what}", True
    if label != recorded_label:
        return (
            head,
            f"the reproduction ended {again}, where the trial recorded {recorded_label}",
            False,
        )
    return head, f"the reproduction's deciding numbers differ by more than {RELATIVE:.0%}", False
