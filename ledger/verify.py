"""Verifying the hash chain: recompute every event's hash and its link to the one before.

Linear in the ledger: one pass in notification order, one running head per search.
Reports the first position where a stored byte, a column, a deletion or a reordering
breaks the chain. The rules are in docs/LEDGER.md, so an independent script can check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from domain.envelope import GENESIS, StoredRecord, chain_hash


@dataclass(frozen=True)
class Verdict:
    events: int
    streams: int
    heads: dict[str, str]  # search id -> hash of its last event (anchor it elsewhere)
    bad_position: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_position is None


def verify(records: Iterable[StoredRecord]) -> Verdict:
    heads: dict[str, str] = {}
    count = 0
    for record in records:
        count += 1
        problem = _check(record, heads)
        if problem:
            return Verdict(count, len(heads), heads, record.position, problem)
    return Verdict(count, len(heads), heads)


def _check(record: StoredRecord, heads: dict[str, str]) -> str:
    try:
        envelope = json.loads(record.state)
        stream, prev, stored = envelope["stream"], envelope["prev"], envelope["hash"]
    except (ValueError, KeyError, TypeError) as error:
        return f"the stored state is not a readable envelope ({type(error).__name__})"
    actual = chain_hash(envelope, record.topic, record.aggregate_id, record.version)
    if actual != stored:
        return (
            f"its content does not match its hash (stored {stored[:12]}…, computed {actual[:12]}…)"
        )
    expected = heads.get(stream, GENESIS)
    if prev != expected:
        return (
            f"it links to {prev[:12]}… but the previous event of search {stream[:8]} "
            f"hashes to {expected[:12]}… (an event was removed, inserted or reordered)"
        )
    heads[stream] = stored
    return ""
