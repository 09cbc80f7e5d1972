"""What an agent may know of the lineage: values built by projections, rendered by agents.

The paper's lineage view, as data: leaderboard, root-to-best chain, the best's children,
recent activity (no harness aborts), the specialist's own recent trials for the saturation
signal, an index of edits already tried on each parent (with what each measured against
its parent), and the recipes this search has already run.
"""

from __future__ import annotations

from uuid import UUID

from domain.base import Immutable


class TrialLine(Immutable):
    """One trial as the lineage shows it. `status` is a label, a verdict, or in flight."""

    trial_id: UUID
    sequence: int
    specialist: str
    parent_sequence: int | None
    depth: int
    status: str
    score: float | None
    delta: float | None  # score minus the best at judgement time
    hypothesis: str
    idea: str
    note: str  # failure reason and log excerpt, or bytes against the cap
    child_sha256: str | None
    measurements: dict[str, float]


class TriedEdit(Immutable):
    """An edit already tried: same parent and same resulting recipe means the same idea."""

    parent_sequence: int | None
    child_sha256: str | None
    idea: str
    specialist: str
    status: str
    sequence: int
    score: float | None = None
    parent_score: float | None = None  # what the edit was measured against


class LineageView(Immutable):
    search_id: UUID
    specialist: str
    lineage: bool  # False: the no-lineage ablation; only `best` is filled in
    metric: str
    lower_is_better: bool
    size_cap_bytes: int | None
    budgets: dict[str, float]
    best: TrialLine | None
    leaderboard: tuple[TrialLine, ...] = ()
    chain: tuple[TrialLine, ...] = ()  # root to best
    best_children: tuple[TrialLine, ...] = ()
    recent: tuple[TrialLine, ...] = ()
    mine: tuple[TrialLine, ...] = ()  # this specialist's last trials, newest first
    tried: tuple[TriedEdit, ...] = ()
    known_recipes: tuple[str, ...] = ()  # sha256 of every recipe run or running here
    noise_floor: float | None = None

    def is_saturated(self, window: int = 5, epsilon: float | None = None) -> bool:
        """Paper: the last `window` trials of this specialist were all tiny or not valid."""
        if not self.lineage or len(self.mine) < window:
            return False
        tiny = self.noise_floor if epsilon is None else epsilon
        for line in self.mine[:window]:
            valid = line.status in ("keep", "discard")
            if valid and line.delta is not None and abs(line.delta) > (tiny or 0.0):
                return False
        return True
