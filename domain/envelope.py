"""The stored form of an event: a canonical JSON envelope chained by SHA-256 per search.

state = canonical({"event": body, "v": class_version, "stream": search id,
                   "prev": hash of the stream's previous event, "hash": h})
h     = sha256(canonical({"event", "v", "stream", "prev"} + {"topic", "id", "version"}))

`canonical` is Python's json.dumps with sorted keys, no spaces and ASCII escapes; the
row's topic, aggregate id and version are hashed too, so no stored column can change
unseen. docs/LEDGER.md gives the rules for an independent verifier.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

GENESIS = "0" * 64


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def chain_hash(envelope: dict[str, Any], topic: str, aggregate_id: str, version: int) -> str:
    """The hash of an envelope (without its "hash" key) bound to its stored columns."""
    hashed = {k: v for k, v in envelope.items() if k != "hash"}
    hashed.update(topic=topic, id=aggregate_id, version=version)
    return hashlib.sha256(canonical(hashed)).hexdigest()


def seal(
    body: dict[str, Any],
    class_version: int,
    stream: str,
    prev: str,
    topic: str,
    aggregate_id: str,
    version: int,
) -> tuple[bytes, str]:
    """Build the stored bytes of one event and return them with the event's hash."""
    envelope: dict[str, Any] = {
        "event": body,
        "v": class_version,
        "stream": stream,
        "prev": prev,
    }
    digest = chain_hash(envelope, topic, aggregate_id, version)
    envelope["hash"] = digest
    return canonical(envelope), digest


class StoredRecord(NamedTuple):
    """One row of the event store, in notification (ledger) order."""

    position: int
    aggregate_id: str
    version: int
    topic: str
    state: bytes


class Opened(NamedTuple):
    body: dict[str, Any]
    class_version: int
    stream: str
    prev: str
    hash: str


def open_envelope(state: bytes) -> Opened:
    env = json.loads(state)
    return Opened(env["event"], env["v"], env["stream"], env["prev"], env["hash"])


def topic_name(topic: str) -> str:
    """`domain.trial:TrialProposed` -> `TrialProposed`."""
    return topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
