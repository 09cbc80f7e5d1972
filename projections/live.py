"""The live progress bar of a search: trials counted as the budget counts them, an ETA,
and the running trial's latest step and loss (from its TrainingProgressed events)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.labels import BASELINE
from domain.progress import SearchState
from projections import final_test


def counted_done(state: SearchState) -> int:
    """Ended trials that the budget counts: the budget's count less those still running.
    A harness_abort counts for nothing (its slot runs again), nor does the baseline, so a
    resumed search never shows more trials done than its budget."""
    running = sum(1 for tid in state.open if state.trials[tid].specialist != BASELINE)
    return state.proposals - running


class LiveProgress:
    """A progress bar fed by loop events: trials done, ETA, the running trial, the best."""

    def __init__(self, console: Console, trials: int, metric: str, state: SearchState) -> None:
        self.metric = metric
        done = counted_done(state)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[running]}"),
            TextColumn("{task.fields[status]}"),
            console=console,
        )
        self.task = self.progress.add_task(
            "trials",
            total=trials,
            completed=done,
            running="",
            status="running the seed recipe" if not done else f"resumed after {done} trials",
        )

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: DomainEvent, state: SearchState) -> None:
        trial = state.trials.get(event.originator_id)
        if isinstance(event, t.TrainingProgressed) and trial is not None and event.samples:
            self._running(trial, event)
        elif isinstance(event, t.TrialJudged | t.TrialFailed) and trial is not None:
            self._ended(trial, event, state)
        elif isinstance(event, t.TrialExtended) and trial is not None:
            self.progress.console.print(
                f"  #{trial.sequence:<3} {trial.specialist:<10} races on: seed"
                f" {', '.join(map(str, event.seeds))} ({event.test.reason})"
            )
        elif isinstance(event, s.FinalTestLaunched):
            self.progress.update(self.task, status="final test on the test split")
            self.progress.console.print(
                f"  final test: the best and the seed recipe on fresh seeds"
                f" {', '.join(map(str, event.seeds))}, scored on the test split"
            )
        elif isinstance(event, s.FinalTested):
            shown = final_test.FinalTest(event.status, event.model_dump(mode="json"), None)
            self.progress.console.print(Text("  " + final_test.line(shown)))
        elif isinstance(event, s.SearchFinished):
            self.progress.update(self.task, running="", status=f"finished: {event.reason}")

    def _running(self, trial: t.Trial, event: t.TrainingProgressed) -> None:
        last = event.samples[-1]
        loss = "" if last.loss is None else f" loss {last.loss:.4g}"
        self.progress.update(
            self.task, running=f"#{trial.sequence} seed {event.seed} step {last.step}{loss};"
        )

    def _ended(
        self, trial: t.Trial, event: t.TrialJudged | t.TrialFailed, state: SearchState
    ) -> None:
        label = event.label if isinstance(event, t.TrialFailed) else event.verdict
        best = state.best
        best_text = (
            f"best #{best.sequence} {self.metric}={best.score:.5f}"
            if best and best.score is not None
            else ""
        )
        line = f"last #{trial.sequence} {trial.specialist}: {label}; {best_text}"
        self.progress.update(self.task, completed=counted_done(state), running="", status=line)
        self.progress.console.print(
            f"  #{trial.sequence:<3} {trial.specialist:<10} {label}"
            + (f"  {trial.score:.5f}" if trial.score is not None else "")
            + _reason(event)
        )


def _reason(event: DomainEvent) -> str:
    if isinstance(event, t.TrialFailed):
        return f"  ({event.reason[:100]})"
    if isinstance(event, t.TrialJudged) and event.test is not None:
        test = event.test
        p = "" if test.p is None else f"p {test.p:.3g}, "
        return f"  Δ {event.delta or 0.0:+.5f} ({p}{len(test.differences)} paired seeds)"
    if isinstance(event, t.TrialJudged) and event.delta is not None:
        return f"  Δ {event.delta:+.5f} (floor {event.numbers.get('floor', 0):.5f})"
    return ""
