"""One specialist session: the explicit tool-use loop, bounded in turns and dollars.

Every request and its response (or the error that ended its retries) becomes an
ExchangeRecord. The session ends when the model submits (`submitted`), stops calling tools
(`no_submit`), runs out of turns (`turn_limit`) or of budget (`cost_cap`), or a call fails
for good (`error`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import anthropic

from agents.claude import prices
from agents.claude.api import DEFAULT_MODEL, CallResult, RetryPolicy, call, sha256_json
from agents.claude.prompt import context
from agents.claude.tools import Workbench
from domain.agent import ExchangeRecord, SessionOutcome

_EPHEMERAL = {"type": "ephemeral"}


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    max_turns: int = 40  # model calls per session
    max_tokens: int = 16_000  # room for adaptive thinking before the tool call
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str  # the lineage view
    tools: list[dict[str, Any]]


@dataclass(frozen=True)
class Ended:
    outcome: SessionOutcome
    detail: str
    exchanges: tuple[ExchangeRecord, ...]


def request_of(
    settings: Settings, prompt: Prompt, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """The whole request. The system block is a cache breakpoint, and so is the newest
    message, so each turn reads the conversation so far from the cache."""
    *earlier, last = messages
    *blocks, newest = last["content"]
    marked = {**last, "content": [*blocks, {**newest, "cache_control": _EPHEMERAL}]}
    return {
        "model": settings.model,
        "max_tokens": settings.max_tokens,
        "system": [{"type": "text", "text": prompt.system, "cache_control": _EPHEMERAL}],
        "tools": prompt.tools,
        "messages": [*earlier, marked],
    }


def _record(
    turn: int, settings: Settings, request: dict[str, Any], seen: str, result: CallResult
) -> ExchangeRecord:
    common: dict[str, Any] = {
        "turn": turn,
        "model": settings.model,
        "request_sha256": sha256_json(request),
        "context_sha256": hashlib.sha256(seen.encode()).hexdigest(),
        "context": seen,
        "attempts": result.attempts,
    }
    if result.body is None:
        return ExchangeRecord(**common, error=result.error)
    usage = prices.usage_of(result.body)
    return ExchangeRecord(
        **common,
        response=result.body,
        usage=usage,
        usd=prices.usd(settings.model, usage),
        price_table=prices.TABLE_VERSION,
    )


def _tool_results(bench: Workbench, uses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the calls in order; stop at a submission, which ends the session."""
    results = []
    for use in uses:
        result = bench.run(str(use.get("name")), use.get("input"))
        if bench.submission is not None:
            break
        results.append(
            {
                "type": "tool_result",
                "tool_use_id": use.get("id"),
                "content": result.text,
                "is_error": result.is_error,
            }
        )
    return results


def converse(
    client: anthropic.Anthropic,
    settings: Settings,
    prompt: Prompt,
    bench: Workbench,
    budget_usd: float | None,
) -> Ended:
    seen = context(prompt.system, prompt.user)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": prompt.user}]}
    ]
    exchanges: list[ExchangeRecord] = []
    spent = 0.0
    for turn in range(1, settings.max_turns + 1):
        if budget_usd is not None and spent >= budget_usd:  # the search's cap is reached
            return Ended(
                "cost_cap", f"spent ${spent:.4f} of the ${budget_usd:.4f} left", tuple(exchanges)
            )
        request = request_of(settings, prompt, messages)
        result = call(client, request, settings.retry)
        exchanges.append(_record(turn, settings, request, seen, result))
        spent += exchanges[-1].usd
        if result.body is None:
            return Ended("error", result.error, tuple(exchanges))
        content = list(result.body.get("content") or [])
        uses = [block for block in content if block.get("type") == "tool_use"]
        if not uses:
            why = result.body.get("stop_reason")
            return Ended(
                "no_submit", f"the model stopped ({why}) without submitting", tuple(exchanges)
            )
        results = _tool_results(bench, uses)
        if bench.submission is not None:
            return Ended("submitted", "", tuple(exchanges))
        messages += [
            {"role": "assistant", "content": content},
            {"role": "user", "content": results},
        ]
    return Ended("turn_limit", f"no submission after {settings.max_turns} turns", tuple(exchanges))
