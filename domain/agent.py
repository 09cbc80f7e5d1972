"""An LLM specialist's session as events: every model exchange, its cost, how it ended.

One session proposes at most one trial. Agents return ExchangeRecords as values; the loop
stores them as AgentSession events in the same transaction as the trial they produced,
so what each agent saw and said, and what it cost, is part of the ledger.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID, uuid5

from pydantic import Field

from domain.base import DomainEvent, Immutable, JSONValue

SessionOutcome = Literal["submitted", "no_submit", "turn_limit", "cost_cap", "error"]
# Outcomes that leave no trial behind; "error" still records a harness_abort trial.
EMPTY_OUTCOMES = frozenset({"no_submit", "turn_limit", "cost_cap"})


def session_id(search_id: UUID, index: int) -> UUID:
    """Sessions are numbered on their own: one that submits nothing uses no trial number."""
    return uuid5(search_id, f"session/{index}")


class ExchangeRecord(Immutable):
    """One request and its response (or the error that ended the retries)."""

    turn: int
    model: str
    request_sha256: str  # canonical JSON of the whole request
    context_sha256: str  # the system prompt and first user message the agent saw
    context: str  # stored once per search (ContextStored), referenced by hash after
    response: dict[str, JSONValue] = Field(default_factory=dict)  # content blocks, stop reason
    usage: dict[str, int] = Field(default_factory=dict)  # input, output, cache read/write tokens
    usd: float = 0.0
    price_table: str = ""  # which dated price table priced it
    attempts: int = 1  # 1 + retries after overload or rate limits
    error: str = ""  # set when the call failed after its last retry


class SessionRecord(Immutable):
    specialist: str
    model: str
    backend: str  # claude or recorded
    outcome: SessionOutcome
    exchanges: tuple[ExchangeRecord, ...] = ()
    detail: str = ""


class AgentSessionStarted(DomainEvent):
    search_id: UUID
    sequence: int  # the trial number this session proposes for
    specialist: str
    model: str
    backend: str


class ContextStored(DomainEvent):
    sha256: str
    text: str


class AgentExchanged(DomainEvent):
    turn: int
    model: str
    request_sha256: str
    context_sha256: str
    response: dict[str, JSONValue]
    usage: dict[str, int]
    usd: float
    price_table: str
    attempts: int = 1


class AgentCallFailed(DomainEvent):
    turn: int
    model: str
    request_sha256: str
    context_sha256: str
    error: str
    attempts: int
    usd: float = 0.0


class AgentSessionEnded(DomainEvent):
    outcome: SessionOutcome
    turns: int
    usd: float
    detail: str = ""


AGENT_EVENTS: tuple[type[DomainEvent], ...] = (
    AgentSessionStarted,
    ContextStored,
    AgentExchanged,
    AgentCallFailed,
    AgentSessionEnded,
)


def session_events(
    search_id: UUID, index: int, sequence: int, record: SessionRecord, known_contexts: set[str]
) -> list[DomainEvent]:
    """The session's events, versions 1..n; each context text stored once per search."""
    sid = session_id(search_id, index)
    out: list[DomainEvent] = []

    def add(cls: type[DomainEvent], **fields: object) -> None:
        out.append(cls(originator_id=sid, originator_version=len(out) + 1, **fields))

    add(
        AgentSessionStarted,
        search_id=search_id,
        sequence=sequence,
        specialist=record.specialist,
        model=record.model,
        backend=record.backend,
    )
    for ex in record.exchanges:
        if ex.context_sha256 not in known_contexts:
            known_contexts.add(ex.context_sha256)
            add(ContextStored, sha256=ex.context_sha256, text=ex.context)
        call = {
            "turn": ex.turn,
            "model": ex.model,
            "request_sha256": ex.request_sha256,
            "context_sha256": ex.context_sha256,
            "attempts": ex.attempts,
            "usd": ex.usd,
        }
        if ex.error:
            add(AgentCallFailed, error=ex.error, **call)
        else:
            add(
                AgentExchanged,
                response=ex.response,
                usage=ex.usage,
                price_table=ex.price_table,
                **call,
            )
    add(
        AgentSessionEnded,
        outcome=record.outcome,
        turns=len(record.exchanges),
        usd=sum(ex.usd for ex in record.exchanges),
        detail=record.detail,
    )
    return out
