"""Scripted Anthropic answers for the Claude specialist's tests.

The client is the real `anthropic.Anthropic` over an `httpx2.MockTransport` whose handler
answers from a script (response bodies, HTTP error statuses, connection failures) and
keeps every request body it was sent, so tests assert on the exact requests.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from agents.claude.api import RetryPolicy
from agents.claude.proposer import ClaudeProposer
from agents.claude.session import Settings
from domain.ports import Proposal, ProposalRequest
from evaluators.preflight import static_check
from projections.db import projections_path
from projections.lineage import DuckLineage
from tests.support import TINY_TASK, scripted_loop

MODEL = "claude-sonnet-5-5"  # $2 input, $10 output, $0.10 cache read, $2.50 cache write per MTok
LR_LINE = "LR = 0.001  # learning rate"
Answer = dict[str, Any] | int | str  # a response body, an HTTP error status, a connection error


def tool_use(name: str, args: Any, use_id: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": use_id, "name": name, "input": args}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words}


def message(
    *blocks: dict[str, Any],
    input_tokens: int = 1000,
    output_tokens: int = 100,
    cache_read: int = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    uses = any(b["type"] == "tool_use" for b in blocks)
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": list(blocks),
        "stop_reason": "tool_use" if uses else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
    }


def usd(body: dict[str, Any]) -> float:
    """What a scripted body costs at MODEL's prices."""
    u = body["usage"]
    return (
        u["input_tokens"] * 2
        + u["output_tokens"] * 10
        + u["cache_read_input_tokens"] * 0.1
        + u["cache_creation_input_tokens"] * 2.5
    ) / 1e6


def lr_session(old: str, new: str, hypothesis: str, tag: str) -> list[Answer]:
    """read, edit LR, preflight, submit: the rule's order."""
    return [
        message(tool_use("read_recipe", {}, f"{tag}-1")),
        message(
            text("Raising the learning rate."),
            tool_use("edit_recipe", {"old": f"LR = {old}", "new": f"LR = {new}"}, f"{tag}-2"),
        ),
        message(tool_use("preflight", {}, f"{tag}-3")),
        message(
            tool_use(
                "submit_trial",
                {"hypothesis": hypothesis, "expected_delta": -0.1, "idea": f"lr-{new}"},
                f"{tag}-4",
            )
        ),
    ]


class Script:
    """The MockTransport handler: scripted answers in order, every request body kept."""

    def __init__(self, *answers: Answer) -> None:
        self.answers: deque[Answer] = deque(answers)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content))
        answer = self.answers.popleft()
        if isinstance(answer, dict):
            return httpx2.Response(200, json=answer)
        if isinstance(answer, str):
            raise httpx2.ConnectError(answer, request=request)
        kind = {529: "overloaded_error", 429: "rate_limit_error"}.get(answer, "api_error")
        return httpx2.Response(
            answer, json={"type": "error", "error": {"type": kind, "message": "Overloaded"}}
        )

    def client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key="test",
            max_retries=0,
            http_client=httpx2.Client(transport=httpx2.MockTransport(self)),
        )


def claude(
    script: Script,
    strict: bool = False,
    max_turns: int = 10,
    attempts: int = 3,
    sleeps: list[float] | None = None,
) -> ClaudeProposer:
    waits = sleeps if sleeps is not None else []
    retry = RetryPolicy(attempts=attempts, first_delay_s=0.5, sleep=waits.append)
    return ClaudeProposer(
        script.client(),
        TINY_TASK,
        lambda p, c, s: static_check(p, c, s, strict),
        Settings(model=MODEL, max_turns=max_turns, retry=retry),
    )


class GivesUp:
    """Proposes no edit: its trial fails preflight and the best stays the baseline."""

    name = "scripted"

    def propose(self, request: ProposalRequest, lineage: Any) -> Proposal:
        return Proposal(
            specialist=request.specialist.key,
            agent=self.name,
            parent_id=None,
            hypothesis="nothing to try",
            edit_error="no edit",
        )


def after_baseline(tmp_path: Path) -> tuple[DuckLineage, ProposalRequest]:
    """A real ledger and projections: the judged baseline, a failed #1; the request for #2."""
    loop, store, location = scripted_loop(tmp_path, trials=1, proposer=GivesUp())
    loop.run()
    lineage = DuckLineage(store, projections_path(location))
    request = ProposalRequest(
        search_id=loop.state.started.id,
        sequence=2,
        specialist=TINY_TASK.specialist("opt"),
        seed=0,
        lineage=True,
    )
    return lineage, request
