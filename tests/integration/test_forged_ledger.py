"""A forged ledger (events inserted, the hash chain rewritten to match, so `verify`
passes) is a divergence that replay reports in one line, never a crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest

from domain import trial as t
from domain.labels import FailureLabel
from ledger.replay import replay, search_events
from tests.support import scripted_loop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def search(tmp_path):
    loop, store, location = scripted_loop(tmp_path, trials=3)
    loop.run()
    return store, location, loop.state.started.id


def _edit_of_a_trial_never_proposed() -> t.RecipeEdited:
    return t.RecipeEdited(
        originator_id=uuid4(), originator_version=2, diff="", parent_sha256="p" * 64,
        child_sha256="c" * 64,
    )  # fmt: skip


def _forgeries(events):
    trial_id = next(e.originator_id for _, e in events if isinstance(e, t.TrialLaunched))
    return {
        "edit of a trial never proposed": _edit_of_a_trial_never_proposed(),
        "a second failure of a trial": t.TrialFailed(
            originator_id=trial_id, originator_version=99, label=FailureLabel.CRASH, reason="x"
        ),
        "a second start": events[0][1].model_copy(update={"originator_version": 7}),
        "a patch that does not apply": t.RecipeEdited(
            originator_id=events[1][1].originator_id,
            originator_version=2,
            diff="--- a/train.py\n+++ b/train.py\n@@ -1,1 +1,1 @@\n-nothing here\n+x\n",
            parent_sha256="p" * 64,
            child_sha256="c" * 64,
        ),
    }


@pytest.mark.parametrize(
    "forgery",
    [
        "edit of a trial never proposed",
        "a second failure of a trial",
        "a second start",
        "a patch that does not apply",
    ],
)
def test_an_inserted_event_is_a_divergence_not_a_crash(search, forgery):
    store, _location, sid = search
    events = search_events(store, sid)
    position = events[5][0]
    forged = _forgeries(events)[forgery]
    report = replay([*events[:5], (position, forged), *events[5:]])
    assert not report.ok
    assert report.ending == "diverged"
    assert report.divergence.position is not None


def test_cli_replay_names_the_forged_event_in_one_line(search):
    store, location, sid = search
    store.append(sid, [_edit_of_a_trial_never_proposed()])  # chained like any event
    verify = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "verify", "--ledger", location],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0  # the chain holds: only replay can tell
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "replay", "--ledger", location],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "divergence at position" in lines[0]
    assert "never proposed" in lines[0]
