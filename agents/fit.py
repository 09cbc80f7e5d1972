"""Sizing a time cut from what the harness measured, as a researcher would.

A trial's measurements say how much of its training cap it used, on the task's clock
(`train_used_s` of `train_cap_s`: CPU-seconds under the CPU clock, wall seconds under
the wall clock; evaluators/overrun.py `budget_use`). After a training overrun that is
the size of the cut it needs: a run that used 1.3 times its cap needs its horizon (the
STEPS, EPOCHS or ITERATIONS knob) scaled by MARGIN / 1.3, not by a catalogue's fixed
0.8, which leaves it over the cap again (docs/BENCHMARKS.md: four repairs in a row of
one overrun, each too small). A fixed cut known to be too small is no repair at all,
and an edit known to take the best over its cap (steps x3 at 99% of it; anything that
adds time past MARGIN) is not proposed either.

MARGIN aims under the cap because the same work measures a few percent apart from run
to run on a shared machine (benchmarks/load_reference.py: single runs up to 5% from
their condition's mean); a repair sized to land exactly on the cap fails half the time.
A run stopped at its limit used at least what it measured, so the first cut may fall
short; the repair of that repair is sized from its own measurement.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from agents.edits import ScaleKnob
from agents.techniques import ADDS_TIME, CUTS_TIME, Technique, knobs_by_surface
from domain.lineage import TrialLine

MARGIN = 0.9  # of the cap, where a sized cut aims
NOISE = 1.0 - MARGIN  # how far apart the same work may measure: the margin's reason
FIT_PRIOR = 2.0  # a cut sized from a measurement is preferred to an unsized one
# Knob names that, by the usual conventions, hold the training horizon: STEPS, NUM_EPOCHS,
# MAX_ITERS... but not WARMUP_STEPS or DECAY_STEPS, which spend no time of their own.
HORIZON = re.compile(r"^((NUM|MAX|TOTAL|TRAIN)_)?(STEPS|EPOCHS|ITERATIONS|ITERS)$")


def time_share(line: TrialLine) -> float | None:
    """The share of its training cap the trial used (over 1: it overran); None when the
    harness recorded neither (a trial that never trained, or an older record)."""
    used = line.measurements.get("train_used_s")
    cap = line.measurements.get("train_cap_s")
    return used / cap if used and cap else None


def fitted_cuts(failed: TrialLine, recipe: Mapping[str, str]) -> list[Technique]:
    """One cut per horizon knob of the recipe, each sized to bring the failed trial's
    training from what it measured to MARGIN of its cap; [] when it fits already."""
    share = time_share(failed)
    if share is None or share <= MARGIN:
        return []
    factor = round(MARGIN / share, 3)
    return [
        _horizon_cut(failed, surface, name, value, factor)
        for surface, knobs in knobs_by_surface(recipe).items()
        for name, value in knobs
        if HORIZON.search(name)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and value > 0
    ]


def _horizon_cut(
    failed: TrialLine, surface: str, name: str, value: float, factor: float
) -> Technique:
    used, cap = failed.measurements["train_used_s"], failed.measurements["train_cap_s"]
    return Technique(
        f"{surface}.{name.lower()}_fit",
        surface,
        f"Scale {name} by {factor:g} (from {value!r}): #{failed.sequence} trained"
        f" {used:.1f} s of its {cap:g} s cap, and {MARGIN:.0%} of the cap leaves room"
        " for the machine's noise.",
        (ScaleKnob(name, factor, 1, value),),
        None,
        frozenset({CUTS_TIME}),
        FIT_PRIOR,
    )


def predicted_share(technique: Technique, line: TrialLine) -> float | None:
    """The share of its cap an edit of `line` would use, where that is known: `line`'s
    share times the factor of an edit that only scales the horizon; else None."""
    share = time_share(line)
    scales = [op for op in technique.ops if isinstance(op, ScaleKnob) and HORIZON.search(op.name)]
    if share is None or not scales or len(scales) != len(technique.ops):
        return None
    return share * math.prod(op.factor for op in scales)


def too_small(cut: Technique, failed: TrialLine) -> bool:
    """A cut known to leave the failed trial over its cap: no repair."""
    predicted = predicted_share(cut, failed)
    return predicted is not None and predicted > 1.0


def out_of_reach(technique: Technique, best: TrialLine) -> bool:
    """An edit of `best` known to overrun by more than the machine's noise: a horizon
    scale predicted past 1 + NOISE of the cap (steps x3 on a best at 99% of it; x3 on a
    seed at a third of it is a fair gamble, and a sized repair follows a miss), or one
    that adds time to a run already past MARGIN of its cap."""
    share = time_share(best)
    if share is not None and share > MARGIN and ADDS_TIME in technique.effects:
        return True
    predicted = predicted_share(technique, best)
    return predicted is not None and predicted > 1.0 + NOISE
