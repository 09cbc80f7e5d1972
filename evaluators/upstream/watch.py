"""What every adapter's log watcher speaks: samples in, stop requests, one verdict out.

A watcher is fed the upstream's output one line at a time with the wrapper's clock
(seconds since launch, taken when the line arrived); it never reads a clock itself, so a
fixture log with synthetic times tests it exactly as a live run drives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from domain.labels import FailureLabel

# Why the wrapper stopped an upstream run before it ended by itself.
SMOKE_DONE = "smoke_done"  # the smoke run has shown what the preflight needs
RUN_DONE = "run_done"  # one run finished; the script would go on with more runs
TRAIN_OVERRUN = "train_overrun"
EVAL_OVERRUN = "eval_overrun"

Json = str | int | float | bool | None | list["Json"] | dict[str, "Json"]


@dataclass(frozen=True)
class Sample:
    step: int
    loss: float | None


@dataclass(frozen=True)
class Raised:
    """An exception as a traceback shows it; `file` and `line` are its deepest frame in
    the recipe (or its last frame when none is the recipe's)."""

    type: str
    message: str
    file: str = ""
    line: int = 0
    func: str = ""
    rank: str = ""

    @property
    def where(self) -> str:
        if not self.file:
            return ""
        return f"{self.file}:{self.line}" + (f" in {self.func}" if self.func else "")


@dataclass(frozen=True)
class Exit:
    rc: int | None  # negative: killed by that signal
    at: float  # wrapper clock when it ended
    stopped: str = ""  # why the wrapper stopped it, "" if it ended by itself
    raised: Raised | None = None  # its first error, from the log


@dataclass
class Verdict:
    label: FailureLabel | None  # None: valid
    reason: str = ""
    score: float | None = None
    measurements: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, Json] = field(default_factory=dict)


class Watch(Protocol):
    def feed(self, line: str, at: float) -> Sample | None: ...

    def stop_reason(self, now: float, smoke: bool) -> str:
        """A reason to stop the run now (a constant above), or ""."""
        ...

    def verdict(self, end: Exit, smoke: bool) -> Verdict: ...


def number(text: str) -> float | None:
    """A logged number; NaN and infinity (a diverged loss) become None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def seconds(value: str, unit: str) -> float:
    """`592054` `ms`, `9.9` `m` or `525.5` `s` as seconds."""
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    return float(value) * scale


def crash(end: Exit) -> Verdict:
    """The run failed by itself: its exit and first error."""
    raised = end.raised
    detail = f": {raised.type}: {raised.message} ({raised.where})" if raised else ""
    evidence: dict[str, Json] = {"rc": end.rc}
    if raised:
        evidence["exception"] = {
            "type": raised.type,
            "message": raised.message,
            "where": raised.where,
            "rank": raised.rank,
        }
    return Verdict(FailureLabel.CRASH, f"upstream run exited {end.rc}{detail}", evidence=evidence)


def failed_by_itself(end: Exit) -> bool:
    """Non-zero exit the wrapper did not cause by stopping the run."""
    return end.rc != 0 and not end.stopped


def no_result(what: str, end: Exit) -> Verdict:
    return Verdict(FailureLabel.CRASH, f"the run ended (rc {end.rc}) without {what}")
