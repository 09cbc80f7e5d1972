"""The offline specialists in a whole search, over the real loop, ledger and projections,
on a task with no catalogue (the generic knob catalogue): they never run a recipe twice,
repair a blow-up with a stabilising edit, yield when out of ideas so the search ends
"exhausted", and every decision replays."""

from __future__ import annotations

import pytest

from agents.offline import OfflineProposer
from agents.techniques import generic_catalogue
from domain import search as s
from domain import trial as t
from domain.labels import FailureLabel, FinishReason
from domain.ports import Outcome, TrialJob
from ledger.replay import regenerate, replay, search_events
from projections import display
from projections.db import connect, rebuild
from projections.lineage import DuckReadModel
from tests.support import TINY_RECIPE, failed, scored, scripted_loop


def knob(text: str, name: str) -> float:
    return float(text.split(f"{name} = ")[1].split()[0])


def blows_up(job: TrialJob) -> Outcome:
    """Training diverges once LR x STEPS reaches 0.02; below it, nearer 0.015 is better."""
    text = job.recipe["train.py"]
    lr_steps = knob(text, "LR") * knob(text, "STEPS")
    if lr_steps >= 0.02:
        return failed(FailureLabel.CRASH, "loss went to NaN at step 7")
    return scored(1.0 + 100 * abs(lr_steps - 0.015), job.seeds)


@pytest.fixture(scope="module")
def exhausted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("offline")
    proposer = OfflineProposer(generic_catalogue(TINY_RECIPE))
    loop, store, _ = scripted_loop(tmp, trials=200, script=blows_up, proposer=proposer)
    reason = loop.run()
    rebuild(store, tmp / "read.duckdb")
    return reason, loop, store, str(tmp / "read.duckdb"), proposer, tmp


def test_the_search_ends_exhausted_when_every_specialist_has_yielded(exhausted):
    reason, loop, store, location, _, _ = exhausted
    events = [e for _, e in search_events(store, loop.state.started.id)]
    yields = [e for e in events if isinstance(e, s.SpecialistYielded)]
    assert reason is FinishReason.EXHAUSTED
    assert loop.state.proposals < 200
    assert {e.specialist for e in yields} == {"opt", "arch"}
    assert isinstance(events[-1], s.SearchFinished)
    assert events[-1].reason is FinishReason.EXHAUSTED
    with connect(location, read_only=True) as con:
        row = con.execute("SELECT finish_reason, yields FROM searches").fetchone()
        empty = con.execute(
            "SELECT count(*) FROM trials WHERE specialist <> 'baseline'"
            " AND (label = 'preflight_crash' OR idea IN ('', 'none'))"
        ).fetchone()[0]
        summary = display.status_counts(con, loop.state.started.id)
    assert row == ("exhausted", len(yields))
    assert empty == 0  # running out of ideas is no trial and no preflight_crash
    assert summary.endswith(f"; turns yielded, out of ideas: {len(yields)}")


def query(exhausted, sql: str) -> list[tuple]:
    with connect(exhausted[3], read_only=True) as con:
        return con.execute(sql).fetchall()


def test_no_recipe_is_run_twice(exhausted):
    twice = query(
        exhausted, "SELECT child_sha256, list(seq) FROM trials GROUP BY ALL HAVING count(*) > 1"
    )
    assert query(exhausted, "SELECT count(*) > 10 FROM trials") == [(True,)]
    assert twice == []


def test_a_blow_up_is_repaired_with_a_stabilising_edit_and_shows_as_a_repair_chain(exhausted):
    repairs = query(
        exhausted,
        "SELECT c.idea, c.hypothesis, c.status FROM trials c JOIN trials p"
        " ON p.trial_id = c.parent_id WHERE p.status = 'crash'",
    )
    assert repairs
    assert all(idea.startswith("opt.lr_x0.5") for idea, _, _ in repairs)
    assert all(hypothesis.startswith("Repair #") for _, hypothesis, _ in repairs)
    assert {status for _, _, status in repairs} & {"keep", "discard"}


def test_no_expected_delta_is_claimed_without_a_catalogue(exhausted):
    [(proposed, claimed)] = query(
        exhausted,
        "SELECT count(*), count(expected_delta) FROM trials WHERE specialist <> 'baseline'",
    )
    assert proposed > 0
    assert claimed == 0


def test_every_decision_and_every_yield_replays(exhausted):
    _, loop, store, _, proposer, tmp = exhausted
    events = search_events(store, loop.state.started.id)
    assert replay(events).ok
    assert regenerate(events, DuckReadModel(store, tmp / "regen.duckdb"), proposer) is None


def test_a_yield_recorded_where_the_specialist_had_an_idea_is_a_divergence(exhausted):
    """Attack: a hand-inserted yield (a turn skipped on purpose) does not regenerate."""
    _, loop, store, _, proposer, tmp = exhausted
    events = search_events(store, loop.state.started.id)
    position, first = next((p, e) for p, e in events if isinstance(e, t.TrialProposed) and p > 9)
    forged = s.SpecialistYielded(
        originator_id=loop.state.started.id,
        originator_version=99,
        sequence=first.sequence,
        specialist=first.specialist,
        agent=first.agent,
        reason="nothing left",
        lineage_view_sha256=first.lineage_view_sha256,
        lineage_view=first.lineage_view,
    )
    at = events.index((position, first))
    edited = [*events[:at], (position, forged), *events[at:]]  # a turn skipped on purpose
    found = regenerate(edited, DuckReadModel(store, tmp / "forged.duckdb"), proposer)
    assert found is not None
    assert found.what == f"trial {first.sequence}'s proposal differs in yield"
