"""The Claude specialist through the real SDK over httpx2.MockTransport: the tool-use loop,
the requests it sends, malformed tool calls, surfaces, retries, and how sessions end."""

from __future__ import annotations

import hashlib

import pytest

from agents.claude import prices
from agents.claude.api import sha256_json
from agents.claude.prompt import context
from agents.view import render_view
from domain import agent as a
from domain import trial as t
from domain.labels import FailureLabel, FinishReason
from domain.recipe import make_diff
from domain.trial import trial_id
from tests.claude_support import (
    LR_LINE,
    MODEL,
    Script,
    after_baseline,
    claude,
    lr_session,
    message,
    text,
    tool_use,
    usd,
)
from tests.support import TINY_RECIPE, scripted_loop

TOOLS = [
    "read_recipe",
    "edit_recipe",
    "rebase_to",
    "view_trial",
    "query_lineage",
    "preflight",
    "submit_trial",
]
EPHEMERAL = {"type": "ephemeral"}
SESSION = lr_session("0.001", "0.004", "LR 0.001 -> 0.004: the loss falls", "s")


def test_a_scripted_session_reads_edits_checks_and_submits(tmp_path):
    lineage, request = after_baseline(tmp_path)
    script = Script(*SESSION)
    proposal = claude(script).propose(request, lineage)

    child = TINY_RECIPE["train.py"].replace("LR = 0.001", "LR = 0.004")
    assert proposal.recipe == {"train.py": child}
    assert "-LR = 0.001  # learning rate\n+LR = 0.004  # learning rate" in make_diff(
        TINY_RECIPE, proposal.recipe
    )
    assert (proposal.parent_id, proposal.agent) == (trial_id(request.search_id, 0), "claude")
    assert (proposal.hypothesis, proposal.expected_delta, proposal.idea) == (
        "LR 0.001 -> 0.004: the loss falls",
        -0.1,
        "lr-0.004",
    )

    first = script.requests[0]
    system = first["system"][0]["text"]
    assert first["system"] == [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
    for rule in (
        "specialist opt",
        "Off-limits: arch, core",
        "A crash is a signal",
        "Anti-anchoring",
        "loss, lower is better",
        "at most 1,000 bytes",
    ):
        assert rule in system
    view = render_view(lineage.view(request.search_id, "opt", True), ("opt",), 2)
    assert proposal.view_text == view
    assert first["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": view, "cache_control": EPHEMERAL}]}
    ]
    assert [tool["name"] for tool in first["tools"]] == TOOLS
    assert (first["model"], first["max_tokens"]) == (MODEL, 16_000)

    second = script.requests[1]["messages"]
    assert second[1] == {"role": "assistant", "content": SESSION[0]["content"]}
    read = second[2]["content"][0]
    assert (read["type"], read["tool_use_id"], read["is_error"]) == ("tool_result", "s-1", False)
    assert TINY_RECIPE["train.py"].rstrip("\n") in read["content"]
    checked = script.requests[3]["messages"][-1]["content"][0]["content"]
    assert "ok: the static checks pass" in checked
    assert "surfaces touched: opt." in checked
    marks = str(script.requests[3]["messages"]).count("cache_control")
    assert marks == 1  # the newest message only: the conversation so far is read from cache

    session = proposal.session
    assert session is not None
    assert session.outcome == "submitted"
    assert [ex.turn for ex in session.exchanges] == [1, 2, 3, 4]
    seen = context(system, view)
    for ex, sent, body in zip(session.exchanges, script.requests, SESSION, strict=True):
        assert ex.request_sha256 == sha256_json(sent)
        assert (ex.context, ex.context_sha256) == (seen, hashlib.sha256(seen.encode()).hexdigest())
        assert ex.response == body
        assert ex.attempts == 1
        assert ex.usage == {"input": 1000, "output": 100, "cache_read": 0, "cache_write": 0}
        assert ex.usd == pytest.approx(usd(body))
        assert ex.price_table == prices.TABLE_VERSION


def test_malformed_tool_input_gets_an_error_result_and_the_session_goes_on(tmp_path):
    lineage, request = after_baseline(tmp_path)
    script = Script(
        message(
            tool_use("edit_recipe", {"old": 5}, "a"),
            tool_use("submit_trial", {"hypothesis": "x"}, "b"),
            tool_use("no_such_tool", {}, "c"),
            tool_use("read_recipe", {"start_line": -1}, "d"),
            tool_use("rebase_to", "7", "e"),
            tool_use("edit_recipe", {"old": "LR", "new": "LR2"}, "f"),
        ),
        message(text("Nothing in my surface is worth a trial.")),
    )
    proposal = claude(script).propose(request, lineage)
    results = script.requests[1]["messages"][-1]["content"]
    assert [r["is_error"] for r in results] == [True] * 6
    for result, fragment in zip(
        results,
        [
            "edit_recipe needs new",
            "submit_trial needs expected_delta",
            "no tool 'no_such_tool'",
            "start_line must be at least 0",
            "rebase_to takes a JSON object",
            "occurs more than once",
        ],
        strict=True,
    ):
        assert fragment in result["content"]
    assert proposal.session is not None
    assert proposal.session.outcome == "no_submit"
    assert "end_turn" in proposal.session.detail
    assert (proposal.recipe, proposal.parent_id) == (None, None)


OFF_SURFACE = [
    message(tool_use("edit_recipe", {"old": "WIDTH = 8", "new": "WIDTH = 16"}, "w1")),
    message(tool_use("preflight", {}, "w2")),
    message(tool_use("submit_trial", {"hypothesis": "widen", "expected_delta": -0.01}, "w3")),
]


@pytest.mark.parametrize("strict", [False, True])
def test_the_preflight_tool_reports_an_edit_outside_the_surface(tmp_path, strict):
    lineage, request = after_baseline(tmp_path)
    script = Script(*OFF_SURFACE)
    claude(script, strict=strict).propose(
        request.model_copy(update={"strict_surfaces": strict}), lineage
    )
    report = script.requests[2]["messages"][-1]["content"][0]["content"]
    assert "OUTSIDE your surfaces: arch" in report
    if strict:
        assert "FAIL (preflight_crash): edit outside opt's surfaces (opt): arch" in report
        assert (
            "an edit outside your surfaces fails preflight"
            in script.requests[0]["system"][0]["text"]
        )
    else:
        assert report.startswith("ok: the static checks pass")


def test_with_strict_surfaces_the_off_surface_trial_fails_preflight(tmp_path):
    script = Script(*OFF_SURFACE, *OFF_SURFACE)
    loop, store, _ = scripted_loop(
        tmp_path, trials=1, proposer=claude(script, strict=True), strict_surfaces=True
    )
    loop.run()
    events = store.stream(loop.state.started.id)
    failed = [e for e in events if isinstance(e, t.TrialFailed)]
    proposed = [e for e in events if isinstance(e, t.TrialProposed) and e.sequence == 1]
    if proposed[0].specialist == "arch":  # arch may widen: its trial runs instead
        assert failed == []
    else:
        assert failed[0].label is FailureLabel.PREFLIGHT_CRASH
        assert "outside opt's surfaces" in failed[0].reason


def test_an_overloaded_answer_is_retried_and_every_attempt_counted(tmp_path):
    lineage, request = after_baseline(tmp_path)
    session = lr_session("0.001", "0.002", "a smaller step up", "o")
    sleeps: list[float] = []
    script = Script(session[1], 529, 429, session[3])
    proposal = claude(script, sleeps=sleeps).propose(request, lineage)
    assert proposal.session is not None
    assert proposal.session.outcome == "submitted"
    assert [ex.attempts for ex in proposal.session.exchanges] == [1, 3]
    assert sleeps == [0.5, 1.0]  # exponential backoff between the attempts
    assert script.requests[1] == script.requests[2] == script.requests[3]  # the same request


@pytest.mark.parametrize(
    ("answers", "error", "attempts"),
    [
        ((529, 529, 529), "HTTP 529 overloaded_error: Overloaded", 3),
        (("refused", "refused", "refused"), "connection error: refused", 3),
        ((400,), "HTTP 400 api_error: Overloaded", 1),  # not retried
    ],
)
def test_when_retries_run_out_the_trial_is_a_harness_abort(tmp_path, answers, error, attempts):
    # A harness abort spends no trial of the budget: the next session makes the one trial.
    script = Script(*answers, *lr_session("0.001", "0.002", "step up", "r"))
    loop, store, _ = scripted_loop(tmp_path, trials=1, proposer=claude(script))
    loop.run()
    events = store.stream(loop.state.started.id)
    failed_call = next(e for e in events if isinstance(e, a.AgentCallFailed))
    assert (failed_call.error, failed_call.attempts, failed_call.usd) == (error, attempts, 0.0)
    ended = next(e for e in events if isinstance(e, a.AgentSessionEnded))
    assert (ended.outcome, ended.detail) == ("error", error)
    trial_failed = next(e for e in events if isinstance(e, t.TrialFailed))
    assert trial_failed.label is FailureLabel.HARNESS_ABORT  # the API failed, not the idea
    assert error in trial_failed.reason


def test_a_cost_cap_reached_mid_search_stops_the_search(tmp_path):
    costly = [
        message(
            tool_use("edit_recipe", {"old": LR_LINE, "new": "LR = 0.002"}, "c1"), input_tokens=5000
        ),
        message(
            tool_use("submit_trial", {"hypothesis": "up", "expected_delta": -0.1}, "c2"),
            input_tokens=5000,
        ),
    ]
    script = Script(*costly, *costly)  # $0.011 each: the cap is reached in the second session
    loop, store, _ = scripted_loop(tmp_path, trials=5, proposer=claude(script), cost_cap_usd=0.03)
    assert loop.run() is FinishReason.COST_CAP
    events = store.stream(loop.state.started.id)
    ended = [e for e in events if isinstance(e, a.AgentSessionEnded)]
    assert [e.outcome for e in ended] == ["submitted", "cost_cap"]
    assert ended[1].detail == "spent $0.0110 of the $0.0080 left"  # the budget: cap - spent
    assert [e.sequence for e in events if isinstance(e, t.TrialProposed)] == [0, 1]
    finished = events[-1]
    assert finished.reason is FinishReason.COST_CAP
    assert loop.state.cost_usd == pytest.approx(0.033)
    assert len(script.answers) == 1  # the last answer was never asked for


def test_a_session_without_a_submission_leaves_no_trial_and_the_next_specialist_goes(tmp_path):
    script = Script(
        message(text("No idea is worth a trial.")), *lr_session("0.001", "0.002", "step up", "n")
    )
    loop, store, _ = scripted_loop(tmp_path, trials=1, proposer=claude(script))
    loop.run()
    events = store.stream(loop.state.started.id)
    started = [e for e in events if isinstance(e, a.AgentSessionStarted)]
    ended = [e for e in events if isinstance(e, a.AgentSessionEnded)]
    assert [e.outcome for e in ended] == ["no_submit", "submitted"]
    assert started[0].specialist != started[1].specialist
    assert [e.sequence for e in started] == [1, 1]  # the empty session used no trial number
    proposed = [e for e in events if isinstance(e, t.TrialProposed) and e.sequence > 0]
    assert len(proposed) == 1
    assert proposed[0].specialist == started[1].specialist
    assert proposed[0].session_id == started[1].originator_id


def test_a_session_that_never_submits_ends_at_the_turn_limit(tmp_path):
    lineage, request = after_baseline(tmp_path)
    script = Script(*(message(tool_use("read_recipe", {}, f"r{i}")) for i in range(3)))
    proposal = claude(script, max_turns=2).propose(request, lineage)
    assert proposal.session is not None
    assert (proposal.session.outcome, proposal.session.detail) == (
        "turn_limit",
        "no submission after 2 turns",
    )
    assert len(script.answers) == 1  # no third call


def test_the_sql_tool_reads_the_projections_only_and_within_caps(tmp_path):
    lineage, request = after_baseline(tmp_path)
    queries = [
        "SELECT seq, status FROM trials ORDER BY seq",
        "DROP TABLE trials",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM range(100)",
    ]
    script = Script(
        message(*(tool_use("query_lineage", {"sql": q}, f"q{i}") for i, q in enumerate(queries))),
        message(text("done")),
    )
    claude(script).propose(request, lineage)
    results = script.requests[1]["messages"][-1]["content"]
    assert [r["is_error"] for r in results] == [False, True, True, False]
    assert (
        results[0]["content"]
        == '{"seq": 0, "status": "keep"}\n{"seq": 1, "status": "preflight_crash"}\n'
    )
    assert "read-only" in results[1]["content"]
    assert "disabled by configuration" in results[2]["content"]
    assert results[3]["content"].count("\n") == 51
    assert results[3]["content"].endswith("only the first 50 are shown\n")
    assert lineage.view(request.search_id, "opt", True).best is not None  # still projecting
