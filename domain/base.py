"""Immutable values, the domain-event base class that every event extends, and the one
fold (`projector`, `advance`) that every aggregate's evolution uses."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

JSONValue = Any  # JSON-encodable value carried as evidence or configuration


def utc_now() -> datetime:
    return datetime.now(UTC)


class Immutable(BaseModel):
    """A frozen value: equal content means equal objects, and nothing mutates it."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DomainEvent(Immutable):
    """A fact about one aggregate, numbered by the aggregate's version.

    `class_version` is bumped when a stored shape changes; the ledger's mapper runs
    `upcasters[n]` (stored dict of version n -> version n+1) on older payloads.
    """

    class_version: ClassVar[int] = 1
    upcasters: ClassVar[dict[int, Any]] = {}

    originator_id: UUID
    originator_version: int = Field(ge=1)
    timestamp: datetime = Field(default_factory=utc_now)


class DomainError(Exception):
    """A command that the current state does not allow. The CLI prints its message."""


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN or infinity: non-finite numbers are stored as null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


# An aggregate's state: a frozen model with a `version`, the number of its latest event.
State = TypeVar("State", bound=Immutable)


def advance(state: State | None, event: DomainEvent, first: str, **changes: Any) -> State:
    """The state after `event`: `changes` applied, the version moved to the event's. Only
    the aggregate's `first` event may start it from nothing."""
    if state is None:
        raise ValueError(f"{type(event).__name__} before {first}")
    return state.model_copy(update={"version": event.originator_version, **changes})


def projector(
    mutate: Callable[[DomainEvent, State | None], State],
) -> Callable[[Iterable[DomainEvent]], State]:
    """The fold of one aggregate's events, oldest first, into its current state."""

    def project(events: Iterable[DomainEvent]) -> State:
        state: State | None = None
        for event in events:
            state = mutate(event, state)
        if state is None:
            raise ValueError("no events to fold")
        return state

    return project
