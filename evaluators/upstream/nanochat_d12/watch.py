"""Reading scripts/base_train.py's log: steps, validation bpb, CORE at the last step.

Lines read (nanochat's print0 formats): `step 00042/01234 (3.40%) | loss: 3.123456 | ...`
on every step, `Step 01234 | Validation bpb: 0.812345` every --eval-every steps and at
the last, `Step 01234 | CORE metric: 0.2244` at the last step (the launch passes a huge
--core-metric-every so that is the only one), and `Total training time: 12.34m`.

The 90-minute wall cap is the harness's own cap on the whole train command, so nothing
is timed here; nanochat never yields size_blocked or disqualified (no artifact cap, no
gate). The score must be the CORE of the final step: a CORE from an earlier step means
the run did not finish, which is a crash, not a score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evaluators.upstream.config import Phases
from evaluators.upstream.watch import (
    Exit,
    Sample,
    Verdict,
    crash,
    failed_by_itself,
    no_result,
    number,
    seconds,
)

_STEP = re.compile(r"^step (?P<step>\d+)/(?P<total>\d+) \([\d.]+%\) \| loss: (?P<loss>\S+)")
_VAL = re.compile(r"^Step (?P<step>\d+) \| Validation bpb: (?P<bpb>\S+)")
_CORE = re.compile(r"^Step (?P<step>\d+) \| CORE metric: (?P<core>\S+)")
_TIME = re.compile(r"^Total training time: (?P<t>[\d.]+)(?P<unit>m|s)\b")


@dataclass
class NanochatWatch:
    phases: Phases  # unused: one wall cap, the harness's
    step: int = 0
    total: int = 0
    val_bpb: float | None = None
    core: tuple[int, float] | None = None  # step, CORE
    train_reported_s: float | None = None

    def feed(self, line: str, at: float) -> Sample | None:
        text = line.rstrip()  # never lstrip: an indented line is no log line (a code dump)
        step = _STEP.match(text)
        if step:
            self.step, self.total = int(step["step"]), int(step["total"])
            return Sample(self.step, number(step["loss"]))
        val, core, took = _VAL.match(text), _CORE.match(text), _TIME.match(text)
        if val:
            self.val_bpb = number(val["bpb"])
        elif core and number(core["core"]) is not None:
            self.core = (int(core["step"]), float(core["core"]))
        elif took:
            self.train_reported_s = seconds(took["t"], took["unit"])
        return None

    def stop_reason(self, now: float, smoke: bool) -> str:
        return ""

    def verdict(self, end: Exit, smoke: bool) -> Verdict:
        verdict = self._judge(end, smoke)
        verdict.measurements = {**self._measurements(), **verdict.measurements}
        return verdict

    def _judge(self, end: Exit, smoke: bool) -> Verdict:
        if failed_by_itself(end):
            return crash(end)
        if smoke:
            return Verdict(None)
        if self.core is None:
            return no_result("a CORE metric line", end)
        step, core = self.core
        if self.total and step != self.total:
            return no_result(f"a CORE metric at its last step {self.total} (only at {step})", end)
        return Verdict(None, score=core, evidence={"core_step": step})

    def _measurements(self) -> dict[str, float]:
        found = {
            "CORE": self.core[1] if self.core else None,
            "val_bpb": self.val_bpb,
            "steps": float(self.step) if self.total else None,
            "train_time_reported_s": self.train_reported_s,
        }
        return {k: round(v, 6) for k, v in found.items() if v is not None}
