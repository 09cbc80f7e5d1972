"""Reading train_gpt.py's log: steps, the train and eval phases, the final val_bpb.

Both log styles of the challenge are read: the baseline's `step:12/20000 train_loss:3.1
train_time:480ms step_avg:40.0ms` and later records' `12/20000 train_loss: 3.1
train_time: 0.8m tok/s: ...`. The script trains, then (after `peak memory ...`) quantizes,
writes its artifact and evaluates, all in one process under two separate 600 s caps.

Who owns the clock: the wrapper. The training phase runs from the line just before the
first step (the last warm-up line or the step-0 validation, after which the script starts
its own timer) to the last `train_loss` line before the first post-training line; the
evaluation phase from that post-training line to the process's exit. Both are arrival
times of lines, never numbers the script prints. The script's own `train_time` is
recorded and checked too (it is its admission), but cannot excuse the wrapper's clock.

The score is the last evaluation line after training that is not a diagnostic, such as
`final_int8_zlib_roundtrip_exact val_loss:2.07 val_bpb:1.2244` or `quantized_ttt_phased
val_loss:2.32 val_bpb:1.0608 eval_time:525512ms`: the full pipeline's number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.labels import FailureLabel
from evaluators.upstream.config import Phases
from evaluators.upstream.watch import (
    EVAL_OVERRUN,
    SMOKE_DONE,
    TRAIN_OVERRUN,
    Exit,
    Json,
    Sample,
    Verdict,
    crash,
    failed_by_itself,
    no_result,
    number,
    seconds,
)

_STEP = r"^(?:step:)?(?P<step>\d+)/(?P<total>\d+)\s+"
_TRAIN = re.compile(
    _STEP + r"train_loss:\s*(?P<loss>\S+)\s+train_time:\s*(?P<t>[\d.]+)(?P<unit>ms|m|s)\b"
)
_VAL = re.compile(_STEP + r"val_loss:")
_WARMUP = re.compile(r"^(?:\w+_)?warmup_step:\s*\d+/\d+")
_POST = re.compile(r"^(?:stopping_early\b|peak memory|ema:applying|serialized model)", re.I)
_STOPPED = re.compile(r"^stopping_early:.*?train_time:\s*(?P<t>[\d.]+)(?P<unit>ms|m|s)\b")
_FINAL = re.compile(
    r"^(?P<label>[A-Za-z]\S*(?: [A-Za-z]\S*)*?)\s+val_loss[:=]\s*(?P<loss>[\d.]+)"
    r"\s+val_bpb[:=]\s*(?P<bpb>[\d.]+)"
)
# The compressed total (`... int8+zlib: N bytes`); the raw one before it has no qualifier.
_TOTAL = re.compile(r"^Total submission size \S[^:]*:\s*(?P<n>\d+)\s*bytes")
_DIAGNOSTIC = ("diagnostic", "pre-quant")  # numbers logged on the way, not the score


@dataclass
class GolfWatch:
    phases: Phases
    anchor: float | None = None  # the line after which the script starts timing
    last_train: float | None = None
    post: float | None = None  # the first line after training
    step: int = 0
    total: int = 0
    train_reported_s: float | None = None
    final: tuple[str, float, float] | None = None  # label, val_loss, val_bpb
    reported_bytes: int | None = None

    def feed(self, line: str, at: float) -> Sample | None:
        text = line.rstrip()  # never lstrip: an indented line is no log line (a code dump)
        if self.post is None and not _POST.match(text):
            return self._training(text, at)
        if self.post is None:
            self.post = at
        self._after_training(text)
        return None

    def stop_reason(self, now: float, smoke: bool) -> str:
        if smoke:  # the preflight needs the artifact's bytes, not the evaluation
            return SMOKE_DONE if self.reported_bytes is not None else ""
        caps = self.phases
        if self.post is None and self.anchor is not None and caps.train_seconds is not None:
            limit = caps.train_seconds + caps.tolerance_seconds + caps.train_grace_seconds
            return TRAIN_OVERRUN if now - self.anchor > limit else ""
        if self.post is not None and caps.eval_seconds is not None:
            return EVAL_OVERRUN if now - self.post > caps.eval_seconds else ""
        return ""

    def verdict(self, end: Exit, smoke: bool) -> Verdict:
        verdict = self._judge(end, smoke)
        verdict.measurements = {**self._measurements(end), **verdict.measurements}
        return verdict

    def _training(self, text: str, at: float) -> Sample | None:
        train = _TRAIN.match(text)
        if train:
            self.anchor = at if self.anchor is None else self.anchor
            self.last_train = at
            self.step, self.total = int(train["step"]), int(train["total"])
            self.train_reported_s = seconds(train["t"], train["unit"])
            return Sample(self.step, number(train["loss"]))
        if self.last_train is None and (_WARMUP.match(text) or _VAL.match(text)):
            self.anchor = at
        return None

    def _after_training(self, text: str) -> None:
        stopped, final, total = _STOPPED.match(text), _FINAL.match(text), _TOTAL.match(text)
        if stopped:
            self.train_reported_s = seconds(stopped["t"], stopped["unit"])
        elif total:
            self.reported_bytes = int(total["n"])
        elif final and _is_final(final["label"]):
            self.final = (final["label"], float(final["loss"]), float(final["bpb"]))

    def _judge(self, end: Exit, smoke: bool) -> Verdict:
        caps, eval_s = self.phases, self._eval_s(end)
        if end.stopped == EVAL_OVERRUN:
            return _eval_overrun(f"evaluation passed its {caps.eval_seconds:g} s cap: stopped")
        over = self._train_overrun(end)
        if over:
            evidence: dict[str, Json] = {"cap_s": caps.train_seconds, "stopped": end.stopped}
            return Verdict(FailureLabel.TRAIN_BUDGET_OVERRUN, over, evidence=evidence)
        if caps.eval_seconds is not None and eval_s is not None and eval_s > caps.eval_seconds:
            return _eval_overrun(
                f"evaluation took {eval_s:.1f} s, over the {caps.eval_seconds:g} s cap"
            )
        if failed_by_itself(end):
            return crash(end)
        if smoke:
            return Verdict(None)
        if self.final is None:
            return no_result("a final val_bpb line after training", end)
        label, _loss, bpb = self.final
        return Verdict(None, score=bpb, evidence={"final_line": label})

    def _train_overrun(self, end: Exit) -> str:
        caps = self.phases
        if caps.train_seconds is None:
            return ""
        cap = f"the {caps.train_seconds:g} s cap"
        if end.stopped == TRAIN_OVERRUN:
            past = caps.tolerance_seconds + caps.train_grace_seconds
            return f"still training {past:g} s past {cap}: stopped"
        limit = caps.train_seconds + caps.tolerance_seconds
        train_s, reported = self._train_s(), self.train_reported_s
        if train_s is not None and train_s > limit:
            return f"training took {train_s:.1f} s by the harness clock, over {cap}"
        if reported is not None and reported > limit:
            return f"the script reports {reported:.1f} s of training, over {cap}"
        return ""

    def _train_s(self) -> float | None:
        if self.anchor is None or self.last_train is None:
            return None
        return self.last_train - self.anchor

    def _eval_s(self, end: Exit) -> float | None:
        return None if self.post is None else end.at - self.post

    def _measurements(self, end: Exit) -> dict[str, float]:
        found = {
            "train_phase_s": self._train_s(),
            "eval_phase_s": self._eval_s(end),
            "train_time_reported_s": self.train_reported_s,
            "reported_bytes": self.reported_bytes,
            "steps": self.step if self.last_train is not None else None,
            "val_loss": self.final[1] if self.final else None,
            "val_bpb": self.final[2] if self.final else None,
        }
        return {k: round(float(v), 6) for k, v in found.items() if v is not None}


def _is_final(label: str) -> bool:
    lower = label.lower()
    return not lower.startswith("step") and not any(word in lower for word in _DIAGNOSTIC)


def _eval_overrun(reason: str) -> Verdict:
    return Verdict(FailureLabel.EVAL_BUDGET_OVERRUN, reason)
