"""What a search shows when it ends: the leaderboard, its outcomes, its noise floor, and
the recorded ending, read from the projections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import duckdb
from rich.console import RenderableType

from projections import display


@dataclass(frozen=True)
class Summary:
    shown: list[RenderableType]  # printed in order
    ending: tuple[Any, ...] | None  # (finish_reason, best_score) as the projections hold them


def search_summary(con: duckdb.DuckDBPyConnection, search_id: UUID, width: int) -> Summary:
    """The end-of-search summary of `search_id` for a terminal `width` columns wide."""
    shown: list[RenderableType] = [
        display.leaderboard(con, search_id, width),
        f"outcomes: {display.status_counts(con, search_id) or 'none (baseline only)'}",
        display.noise_line(con, search_id),
    ]
    ending = con.execute(
        "SELECT finish_reason, best_score FROM searches WHERE search_id = ?", [search_id]
    ).fetchone()
    return Summary(shown, ending)
