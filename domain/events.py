"""The catalogue of every stored event class, and decoding stored envelopes into events.

Stored payloads of an older `class_version` are upcast, one version at a time, by the
class's `upcasters` before validation, so old ledgers keep loading.
"""

from __future__ import annotations

from typing import Any

from domain.agent import AGENT_EVENTS
from domain.base import DomainEvent
from domain.envelope import StoredRecord, open_envelope, topic_name
from domain.search import SEARCH_EVENTS
from domain.trial import TRIAL_EVENTS

ALL_EVENTS: list[type[DomainEvent]] = [*SEARCH_EVENTS, *TRIAL_EVENTS, *AGENT_EVENTS]
EVENTS_BY_NAME: dict[str, type[DomainEvent]] = {cls.__name__: cls for cls in ALL_EVENTS}


class UnknownEventError(ValueError):
    pass


def topic_of(cls: type[DomainEvent]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def event_class(topic: str) -> type[DomainEvent]:
    try:
        return EVENTS_BY_NAME[topic_name(topic)]
    except KeyError:
        raise UnknownEventError(f"no event class for topic {topic!r}") from None


def upcast(cls: type[DomainEvent], body: dict[str, Any], stored_version: int) -> dict[str, Any]:
    """Upcasters take the version-n dict and may edit it in place or return a new one."""
    for version in range(stored_version, cls.class_version):
        body = cls.upcasters[version](body) or body
    return body


def body_of(event: DomainEvent) -> dict[str, Any]:
    return event.model_dump(mode="json")


def decode(record: StoredRecord) -> DomainEvent:
    cls = event_class(record.topic)
    opened = open_envelope(record.state)
    return cls.model_validate(upcast(cls, opened.body, opened.class_version))
