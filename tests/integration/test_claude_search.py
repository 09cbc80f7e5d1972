"""A scripted Claude search end to end: the real loop, ledger and projections, then decision
replay, a re-run through the recorded backend, the costs projection and its audits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple
from uuid import UUID

import pytest

from agents.claude import prices
from agents.claude.api import RetryPolicy
from agents.claude.proposer import ClaudeProposer
from agents.claude.recorded import recorded_calls, recorded_client, replay_policy
from agents.claude.session import Settings
from domain import agent as a
from domain import trial as t
from domain.labels import FinishReason
from evaluators.preflight import static_check
from ledger.replay import replay, search_events
from projections import audit, canned
from projections.db import connect, projections_path, refresh
from projections.report import data as report_data
from tests.claude_support import MODEL, Script, claude, lr_session, message, text, tool_use, usd
from tests.support import TINY_TASK, scripted_loop

TRIALS = 4


def _session_3() -> list:
    return [
        529,  # overloaded once: retried, counted in the exchange's attempts
        message(
            tool_use("view_trial", {"trial": 1}, "c1"),
            tool_use("query_lineage", {"sql": "SELECT seq, status FROM trials ORDER BY seq"}, "c2"),
            input_tokens=3000,
            cache_read=2000,
        ),
        message(tool_use("edit_recipe", {"old": "LR = 0.002", "new": "LR = 0.02"}, "c3")),
        message(
            tool_use(
                "submit_trial", {"hypothesis": "ten times the step", "expected_delta": -0.05}, "c4"
            ),
            cache_write=1500,
        ),
    ]


def _session_4() -> list:
    return [
        message(
            tool_use("view_trial", {"trial": 2}, "d1"), tool_use("rebase_to", {"trial": 1}, "d2")
        ),
        message(tool_use("edit_recipe", {"old": "WIDTH = 8", "new": "WIDTH = 16"}, "d3")),
        message(
            tool_use(
                "submit_trial",
                {
                    "hypothesis": "twice the width",
                    "expected_delta": -0.01,
                    "parent": 1,
                    "idea": "widen",
                },
                "d4",
            )
        ),
    ]


def _session_5() -> list:
    return [
        message(
            tool_use("read_recipe", {"path": "train.py", "start_line": 3, "end_line": 3}, "e1")
        ),
        message(tool_use("edit_recipe", {"old": "LR = 0.002", "new": "LR = 0.003"}, "e2")),
        message(
            tool_use("submit_trial", {"hypothesis": "a little more", "expected_delta": -0.1}, "e3")
        ),
    ]


SCRIPT = [
    *lr_session("0.001", "0.002", "double the learning rate", "a"),  # #1 keep
    message(text("Nothing in my surfaces is worth a trial now.")),  # no trial
    *_session_3(),  # #2 crash: the LR is over the scripted task's limit
    *_session_4(),  # #3 discard: width does not change the scripted score
    *_session_5(),  # #4 keep
]
BODIES = [answer for answer in SCRIPT if isinstance(answer, dict)]


class Run(NamedTuple):
    search_id: UUID
    events: list  # the search's events, in ledger order
    positioned: list  # (position, event) pairs, as decision replay takes them
    path: Path  # the projections
    sent: list[dict]  # the requests the scripted API saw


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> Run:
    tmp = tmp_path_factory.mktemp("claude-search")
    script = Script(*SCRIPT)
    loop, store, location = scripted_loop(tmp, trials=TRIALS, proposer=claude(script))
    assert loop.run() is FinishReason.TRIAL_BUDGET
    assert not script.answers
    positioned = search_events(store, loop.state.started.id)
    path = projections_path(location)
    refresh(store, path)
    events = [e for _, e in positioned]
    return Run(loop.state.started.id, events, positioned, path, script.requests)


def _result(run: Run, use_id: str) -> dict:
    for request in run.sent:
        for block in request["messages"][-1]["content"]:
            if block.get("tool_use_id") == use_id:
                return block
    raise KeyError(use_id)


def test_the_lineage_tools_read_the_projections_mid_search(search):
    trial = json.loads(_result(search, "c1")["content"])
    assert (trial["seq"], trial["status"], trial["hypothesis"]) == (
        1,
        "keep",
        "double the learning rate",
    )
    assert "+LR = 0.002" in trial["diff"]
    assert _result(search, "c2")["content"].splitlines()[:2] == [
        '{"seq": 0, "status": "keep"}',
        '{"seq": 1, "status": "keep"}',
    ]
    assert "crash" in _result(search, "d1")["content"]
    assert "loss went to NaN" in _result(search, "d1")["content"]
    assert _result(search, "d2")["content"].startswith("your copy is now #1's recipe")
    assert _result(search, "e1")["content"] == (
        "# train.py, lines 3-3 of 9 (your copy of #1)\nLR = 0.002  # learning rate"
    )


def test_the_trials_land_like_any_specialists(search):
    sid, events, path = search.search_id, search.events, search.path
    with connect(path, read_only=True) as con:
        rows = con.execute(
            "SELECT seq, agent, status, parent_seq, session_id IS NOT NULL"
            " FROM trials WHERE search_id = ? ORDER BY seq",
            [sid],
        ).fetchall()
    assert rows == [
        (0, "harness", "keep", None, False),
        (1, "claude", "keep", 0, True),
        (2, "claude", "crash", 1, True),
        (3, "claude", "discard", 1, True),
        (4, "claude", "keep", 1, True),
    ]
    ended = [e.outcome for e in events if isinstance(e, a.AgentSessionEnded)]
    assert ended == ["submitted", "no_submit", "submitted", "submitted", "submitted"]


def test_decision_replay_finds_no_divergence(search):
    report = replay(search.positioned)
    assert report.ok, report.divergence
    assert report.compared == report.events - 1
    assert report.ending == "finished"


def test_the_costs_projection_sums_to_the_recorded_usage(search):
    sid, events, path = search.search_id, search.events, search.path
    exchanged = [e for e in events if isinstance(e, a.AgentExchanged)]
    assert [e.usage for e in exchanged] == [prices.usage_of(b) for b in BODIES]
    assert all(e.usd == pytest.approx(prices.usd(MODEL, e.usage)) for e in exchanged)
    with connect(path, read_only=True) as con:
        got = con.execute(
            "SELECT count(*), sum(attempts), sum(input_tokens), sum(output_tokens),"
            " sum(cache_read_tokens), sum(cache_write_tokens), sum(usd) FROM costs"
            " WHERE search_id = ?",
            [sid],
        ).fetchone()
        unlinked = con.execute("SELECT DISTINCT seq FROM costs WHERE trial_id IS NULL").fetchall()
        contexts = con.execute("SELECT count(*) FROM contexts").fetchone()[0]
        costs = report_data.load(con, sid).costs
    total = sum(e.usd for e in exchanged)
    want = [
        len(BODIES),
        len(BODIES) + 1,
        *(
            sum(e.usage[k] for e in exchanged)
            for k in ("input", "output", "cache_read", "cache_write")
        ),
    ]
    assert list(got[:6]) == want
    assert got[6] == pytest.approx(total)
    assert total == pytest.approx(sum(usd(b) for b in BODIES))
    assert unlinked == [(2,)]  # the session that submitted nothing made no trial
    assert contexts == 5  # one per session: each saw a different lineage view
    assert costs is not None
    assert "turn" not in costs.columns
    assert sum(r[costs.columns.index("usd")] for r in costs.rows) == pytest.approx(total)


def test_the_recorded_backend_re_runs_the_same_proposals_and_diffs(search, tmp_path):
    events = search.events
    calls = recorded_calls(events)
    client, transport = recorded_client(calls)
    proposer = ClaudeProposer(
        client,
        TINY_TASK,
        lambda p, c, s: static_check(p, c, s, False),
        Settings(model=MODEL, max_turns=10, retry=replay_policy(calls)),
        name="recorded",
    )
    loop, store, _ = scripted_loop(tmp_path, trials=TRIALS, proposer=proposer)
    assert loop.run() is FinishReason.TRIAL_BUDGET
    again = [e for _, e in search_events(store, loop.state.started.id)]
    assert transport.differed == []
    assert not transport.answers
    assert _proposals(again) == _proposals(events)
    assert _diffs(again) == _diffs(events)
    assert [e.agent for e in again if isinstance(e, t.TrialProposed)][1:] == ["recorded"] * 4
    assert [(e.attempts, e.response) for e in again if isinstance(e, a.AgentExchanged)] == [
        (e.attempts, e.response) for e in events if isinstance(e, a.AgentExchanged)
    ]


def test_a_failed_call_replays_as_the_same_failure(tmp_path):
    script = Script("refused", "refused", *lr_session("0.001", "0.002", "step", "f"))
    loop, store, _ = scripted_loop(tmp_path / "live", trials=1, proposer=claude(script, attempts=2))
    loop.run()
    events = [e for _, e in search_events(store, loop.state.started.id)]
    calls = recorded_calls(events)
    client, transport = recorded_client(calls)
    proposer = ClaudeProposer(
        client,
        TINY_TASK,
        lambda p, c, s: None,
        Settings(model=MODEL, retry=replay_policy(calls)),
        name="recorded",
    )
    loop2, store2, _ = scripted_loop(tmp_path / "again", trials=1, proposer=proposer)
    loop2.run()
    again = [e for _, e in search_events(store2, loop2.state.started.id)]
    failed = [(e.error, e.attempts) for e in again if isinstance(e, a.AgentCallFailed)]
    assert failed == [("connection error: refused", 2)]
    assert _diffs(again) == _diffs(events)
    assert transport.differed == []


def test_a_retry_policy_waits_as_the_api_asks():
    policy = RetryPolicy(first_delay_s=2.0, max_delay_s=60.0)
    assert [policy.delay(n, None) for n in (1, 2, 3, 7)] == [2.0, 4.0, 8.0, 60.0]
    assert policy.delay(1, 5.0) == 5.0  # retry-after wins, within the cap


def _proposals(events):
    return [
        (e.sequence, e.specialist, e.parent_id, e.hypothesis, e.expected_delta, e.idea)
        for e in events
        if isinstance(e, t.TrialProposed)
    ]


def _diffs(events):
    return [e.diff for e in events if isinstance(e, t.RecipeEdited)]


# Canned queries, on this search (tests/integration/test_canned_queries.py lists them too):


def costs_per_specialist(rows):
    assert sum(r["sessions"] for r in rows) == 5
    assert (sum(r["submitted"] for r in rows), sum(r["no_submit"] for r in rows)) == (4, 1)
    assert sum(r["exchanges"] for r in rows) == len(BODIES)
    assert sum(r["attempts"] for r in rows) == len(BODIES) + 1  # the overloaded retry
    assert sum(r["usd"] for r in rows) == pytest.approx(sum(usd(b) for b in BODIES), abs=1e-5)


def costs_per_trial(rows):
    assert [(r["seq"], r["session_outcome"], r["trial_status"]) for r in rows] == [
        (1, "submitted", "keep"),
        (2, "no_submit", None),
        (2, "submitted", "crash"),
        (3, "submitted", "discard"),
        (4, "submitted", "keep"),
    ]
    assert [r["exchanges"] for r in rows] == [4, 1, 3, 3, 3]


def cost_per_kept_improvement(rows):
    total = next(r for r in rows if r["specialist"] == "(all)")
    assert (total["sessions"], total["keeps"]) == (5, 2)
    assert total["improvement"] == pytest.approx(0.2)  # 1.3 -> 1.2 -> 1.1
    assert total["usd_per_keep"] == pytest.approx(total["usd"] / 2, abs=1e-6)


def what_specialist_saw(rows):
    claude_rows = [r for r in rows if r["session_outcome"] is not None]
    assert [(r["seq"], r["trial_status"]) for r in claude_rows] == [
        (1, "keep"),
        (2, None),
        (2, "crash"),
        (3, "discard"),
        (4, "keep"),
    ]
    for row in claude_rows:
        assert row["context"].startswith(f"You are specialist {row['specialist']} ")
        assert f"# Trial {row['seq']}: you are specialist {row['specialist']}" in row["context"]


AGENT_CHECKS = {
    f.__name__: f
    for f in (costs_per_specialist, costs_per_trial, cost_per_kept_improvement, what_specialist_saw)
}


@pytest.mark.parametrize("name", sorted(AGENT_CHECKS))
def test_canned_cost_query_answers_its_question(search, name):
    with connect(search.path, read_only=True) as con:
        result = audit.run(con, canned.load(name).sql)
    rows = json.loads(audit.to_json(result))
    AGENT_CHECKS[name](rows)
