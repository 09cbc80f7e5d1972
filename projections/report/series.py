"""Series the report reads beside the trials: training-loss curves and the search's resumes.

Curves come from the recorded TrainingProgressed samples (the `progress` table); resumes
from the SearchResumed events, each placed after the last trial that had ended before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from uuid import UUID

import duckdb

_CURVES_SQL = (
    "SELECT t.seq, p.seed, p.step, p.loss FROM progress p JOIN trials t USING (trial_id)"
    " WHERE t.search_id = ? ORDER BY t.seq, p.seed, p.position"
)
_RESUMES_SQL = (
    "SELECT e.position, e.time, e.payload->>'reopened', json_array_length(e.payload->'abandoned'),"
    " (SELECT max(t.seq) FROM trials t WHERE t.search_id = e.search_id"
    "  AND t.finished_position < e.position)"
    " FROM events e WHERE e.search_id = ? AND e.type = 'SearchResumed' ORDER BY e.position"
)


@dataclass(frozen=True)
class Curve:
    """One trial's training loss by step, on its first seed (every seed trains the same
    recipe; one curve a trial keeps the chart readable)."""

    seed: int
    steps: tuple[int, ...]
    losses: tuple[float, ...]


@dataclass(frozen=True)
class Resume:
    position: int  # the SearchResumed event's ledger position
    time: str
    after_seq: int | None  # the last trial that had ended before it; None: none had
    reopened: str  # the ending it undid, if it reopened a finished search
    abandoned: int  # trials in flight that it ended as harness_abort


def curves(con: duckdb.DuckDBPyConnection, search_id: UUID) -> dict[int, Curve]:
    """Finite samples of each trial's first seed, in the order they were recorded."""
    out: dict[int, Curve] = {}
    for seq, seed, steps, losses in con.execute(_CURVES_SQL, [search_id]).fetchall():
        known = out.get(seq)
        if known is not None and known.seed != seed:
            continue
        pairs = [
            (s, v)
            for s, v in zip(steps, losses, strict=False)
            if v is not None and math.isfinite(v)
        ]
        before = (known.steps, known.losses) if known else ((), ())
        out[seq] = Curve(
            seed,
            before[0] + tuple(s for s, _ in pairs),
            before[1] + tuple(v for _, v in pairs),
        )
    return out


def resumes(con: duckdb.DuckDBPyConnection, search_id: UUID) -> tuple[Resume, ...]:
    rows = con.execute(_RESUMES_SQL, [search_id]).fetchall()
    return tuple(
        Resume(
            position=position,
            time=time.isoformat(timespec="seconds"),
            after_seq=after,
            reopened=reopened or "",
            abandoned=abandoned or 0,
        )
        for position, time, reopened, abandoned, after in rows
    )
