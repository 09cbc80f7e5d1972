"""A derived search and its source, read from the projections (#18): a re-judgement
under other rules or a counterfactual under another policy, trial by trial, with the
runs the trial cache answered instead of training them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import duckdb

_SOURCE = (
    "SELECT d.config->>'$.derived_from.kind', d.config->>'$.derived_from.head', s.search_id,"
    " s.ordinal, s.policy, s.rules_version FROM searches d JOIN searches s"
    " ON CAST(s.search_id AS VARCHAR) = d.config->>'$.derived_from.search'"
    " WHERE d.search_id = ?"
)
# Both searches' trials side by side by trial number; either side may lack a number.
_PAIRS = (
    "SELECT coalesce(o.seq, d.seq) AS seq, o.specialist, o.status, o.score, d.specialist,"
    " d.status, d.score, d.reused_from IS NOT NULL"
    " FROM (SELECT * FROM trials WHERE search_id = ?) o"
    " FULL JOIN (SELECT * FROM trials WHERE search_id = ?) d ON d.seq = o.seq ORDER BY 1"
)


@dataclass(frozen=True)
class Derived:
    kind: str  # rejudge or counterfactual
    head: str  # the source's head hash when the derived search began
    source_id: str
    source_ordinal: int
    source_policy: str
    source_rules: str
    rows: tuple[tuple[Any, ...], ...]  # seq, then each side's specialist, status, score; cached

    @property
    def from_cache(self) -> int:
        return sum(1 for row in self.rows if row[7])


def read_derived(con: duckdb.DuckDBPyConnection, search_id: UUID) -> Derived | None:
    """The comparison, or None for a search derived from nothing (or from a search the
    projections no longer hold)."""
    found = con.execute(_SOURCE, [search_id]).fetchone()
    if found is None:
        return None
    kind, head, source, ordinal, policy, rules = found
    rows = con.execute(_PAIRS, [source, search_id]).fetchall()
    return Derived(kind, head, str(source), ordinal, policy, rules, tuple(map(tuple, rows)))
