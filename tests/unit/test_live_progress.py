"""The live progress bar counts as the budget counts (no "4/3" after a harness_abort),
and shows an ETA and the running trial's step and loss."""

from __future__ import annotations

from rich.console import Console

from domain import trial as t
from domain.labels import FailureLabel, TrialStatus
from domain.progress import SearchState, fold
from domain.trial import ProgressSample
from projections.live import LiveProgress, counted_done
from tests.support import by_lr, failed, scripted_loop


def _aborting_once(job):
    if job.sequence == 2:
        return failed(FailureLabel.HARNESS_ABORT, "the machine went away")
    return by_lr(job)


def test_an_aborted_trial_is_not_counted_and_the_bar_never_passes_the_budget(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=3, script=_aborting_once)
    loop.run()
    events = store.stream(loop.state.started.id)
    console = Console(record=True, width=200, force_terminal=True)
    state = SearchState()
    bar = LiveProgress(console, 3, "loss", state)
    done = []
    for event in events:
        state.apply(event)
        bar(event, state)
        done.append(bar.progress.tasks[0].completed)
    assert max(done) == 3  # four trials ended; the aborted one is not counted
    assert done == sorted(done)
    assert counted_done(fold(events)) == 3
    assert "eta" in bar.progress.columns[4].text_format


def test_the_running_trial_shows_its_step_and_loss(tmp_path):
    loop, store, _ = scripted_loop(tmp_path, trials=1)
    loop.run()
    state = SearchState()
    bar = LiveProgress(Console(record=True, width=200), 1, "loss", state)
    for event in store.stream(loop.state.started.id):  # up to the first launch
        state.apply(event)
        if isinstance(event, t.TrialLaunched):
            break
    (launched,) = (tr for tr in state.trials.values() if tr.status is TrialStatus.LAUNCHED)
    samples = (ProgressSample(step=40, loss=2.5, elapsed_s=1.0),)
    event = t.record_progress(launched, seed=0, samples=samples)
    state.apply(event)
    bar(event, state)
    running = bar.progress.tasks[0].fields["running"]
    assert running == f"#{launched.sequence} seed 0 step 40 loss 2.5;"
