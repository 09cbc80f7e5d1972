"""Series the report derives: outcome order, best so far, specialist counts, windows, repairs."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from domain.labels import BASELINE, FailureLabel, Verdict
from projections.report.data import Trial

OUTCOME_ORDER: tuple[str, ...] = (BASELINE, Verdict.KEEP, Verdict.DISCARD, *FailureLabel)
# The best-so-far line starts at the seed recipe's run and steps down (or up) at keeps.
REFERENCES = frozenset({BASELINE, Verdict.KEEP})
# Failures an agent can learn from; a harness abort is infrastructure, not a failed idea.
REPAIRABLE = frozenset(FailureLabel) - {FailureLabel.HARNESS_ABORT}


@dataclass(frozen=True)
class Window:
    first: int  # sequence numbers of the window's first and last trials
    last: int
    counts: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def outcomes(trials: Iterable[Trial]) -> list[str]:
    """The outcomes present, known ones in the taxonomy's order, then any others by name."""
    seen = {t.outcome for t in trials}
    return [o for o in OUTCOME_ORDER if o in seen] + sorted(seen - set(OUTCOME_ORDER))


def proposals(trials: Iterable[Trial]) -> list[Trial]:
    """Trials the specialists proposed: all but the harness's run of the seed recipe."""
    return [t for t in trials if t.specialist != "baseline"]


def best_so_far(trials: Sequence[Trial], lower_is_better: bool) -> list[tuple[int, float]]:
    """(seq, best keep score up to that trial) at every trial where the best changes."""
    steps: list[tuple[int, float]] = []
    for trial in sorted(trials, key=lambda t: t.seq):
        if trial.outcome not in REFERENCES or trial.score is None:
            continue
        if not steps or _better(trial.score, steps[-1][1], lower_is_better):
            steps.append((trial.seq, trial.score))
    return steps


def _better(score: float, than: float, lower_is_better: bool) -> bool:
    return score < than if lower_is_better else score > than


def by_specialist(trials: Iterable[Trial]) -> list[tuple[str, Counter[str]]]:
    """Each specialist's outcome counts, specialists in order of their first proposal."""
    counts: dict[str, Counter[str]] = {}
    for trial in proposals(trials):
        counts.setdefault(trial.specialist, Counter())[trial.outcome] += 1
    return list(counts.items())


def window_size(finished: int, windows: int = 10, smallest: int = 5) -> int:
    return max(smallest, math.ceil(finished / windows))


def label_windows(trials: Iterable[Trial], size: int | None = None) -> list[Window]:
    """Finished proposals in sequence order, cut into windows of `size` trials."""
    done = sorted((t for t in proposals(trials) if t.finished), key=lambda t: t.seq)
    size = size or window_size(len(done))
    return [
        Window(chunk[0].seq, chunk[-1].seq, Counter(t.outcome for t in chunk))
        for chunk in (done[i : i + size] for i in range(0, len(done), size))
    ]


def repair_chains(trials: Sequence[Trial]) -> list[tuple[Trial, ...]]:
    """Every path that starts at a failure and follows children while they keep failing.

    One chain per repair attempt: a failed child both ends one chain and, if it has
    children of its own, starts longer ones, so each attempt is shown with its history.
    """
    by_seq = {t.seq: t for t in trials}
    children: dict[int, list[Trial]] = {}
    for trial in sorted(trials, key=lambda t: t.seq):
        if trial.parent_seq is not None:
            children.setdefault(trial.parent_seq, []).append(trial)
    starts = [
        t
        for t in sorted(trials, key=lambda t: t.seq)
        if t.outcome in REPAIRABLE
        and not (t.parent_seq in by_seq and _failed(by_seq[t.parent_seq]))
    ]
    chains: list[tuple[Trial, ...]] = []
    pending: list[tuple[Trial, ...]] = [(start,) for start in reversed(starts)]
    while pending:  # depth-first without recursion: chains can be long
        path = pending.pop()
        for child in children.get(path[-1].seq, []):
            chains.append((*path, child))
        pending.extend((*path, c) for c in reversed(children.get(path[-1].seq, [])) if _failed(c))
    return chains


def _failed(trial: Trial) -> bool:
    return trial.outcome in REPAIRABLE
