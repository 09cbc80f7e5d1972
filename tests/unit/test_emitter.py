"""Progress thinning on the harness's clock: a flood is cut to a fixed number of evenly
spaced samples, a few lines are all kept, and the last line always is."""

from __future__ import annotations

import itertools
import json

import pytest

from domain.trial import ProgressSample
from evaluators.harness.emitter import BURST, PROGRESS_PER_TRIAL, Emitter


def _run(emitter: Emitter, lines: int, seconds: float, budget_s: float) -> None:
    emitter.start_seed(0, budget_s)
    for i in range(lines):
        emitter.sample(ProgressSample(step=i, loss=1.0, elapsed_s=seconds * i / lines))
    emitter.end_seed()


def _kept(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return [s for line in lines for s in line["samples"]]


def test_a_flood_is_cut_to_the_trials_share_evenly(capsys):
    _run(Emitter(seeds=1), lines=300_000, seconds=45.0, budget_s=46.0)
    kept = _kept(capsys)
    assert len(kept) <= PROGRESS_PER_TRIAL
    assert kept[-1]["step"] == 299_999  # the last line
    steady = [s["elapsed_s"] for s in kept[BURST:-1]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(steady)]
    assert max(gaps) < 2 * min(gaps)  # after the burst: a steady rate


def test_every_seed_gets_its_share_of_the_trials_samples(capsys):
    emitter = Emitter(seeds=5)
    for seed in range(5):
        emitter.start_seed(seed, 10.0)
        for i in range(10_000):
            emitter.sample(ProgressSample(step=i, loss=1.0, elapsed_s=i / 1000))
    emitter.end_seed()
    assert len(_kept(capsys)) <= PROGRESS_PER_TRIAL


def test_a_few_lines_are_all_kept(capsys):
    _run(Emitter(seeds=1), lines=6, seconds=0.01, budget_s=2200.0)
    assert [s["step"] for s in _kept(capsys)] == [0, 1, 2, 3, 4, 5]
