"""The replay use case: every check `replay` makes on one search, as the lines to show.

In order: the projections rebuilt from the log must equal the live ones; the loop's
decisions are re-derived (ledger/replay.py); the trial cache's reuses must match their
sources' records; the offline specialists' proposals are regenerated from seed and
lineage. The read model arrives as callables the entry point wires (projections/).
The first failed line is the verdict; the entry point stops there.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from domain.base import DomainEvent
from domain.ports import Proposer, ReadModel
from ledger import session
from ledger.cache import check_reuses
from ledger.recording import Divergence, Recording
from ledger.replay import regenerate, replay, search_events
from ledger.store import Ledger

LIVE_SAME = "identical to the live ones"
LIVE_DIFFERENT = "[red]DIFFERENT from the live ones[/]"


@dataclass(frozen=True)
class Line:
    text: str
    failed: bool = False  # the verdict: the entry point reports it and stops


@dataclass(frozen=True)
class ReplayReads:
    """The projections, as replay needs them (wired from projections/ by the entry point)."""

    live_hash: Callable[[], str]  # the live projections' content hash
    rebuilt_hash: Callable[[Path], str]  # rebuild from the whole log into a file; its hash
    read_model: Callable[[Path], AbstractContextManager[ReadModel]]  # in a file of its own
    offline: Callable[[str, dict[str, str]], Proposer]  # a task's offline specialists


def diverged(divergence: Divergence) -> str:
    if divergence.recorded is None and divergence.produced is None:
        return f"divergence at {divergence}"
    return (
        f"divergence at {divergence}: recorded {divergence.recorded!r},"
        f" replay produced {divergence.produced!r}"
    )


def checks(store: Ledger, prefix: str | None, model: ReplayReads) -> Iterator[Line]:
    """Replay the search `prefix` names (default: the latest), one line per check."""
    try:
        sid = session.pick_search(store, prefix, unfinished=False)
        events = search_events(store, sid)
        Recording.of(events).task()
    except Divergence as divergence:  # a log no search wrote, its chain made to match
        yield Line(diverged(divergence), True)
        return
    except ValueError as error:
        yield Line(str(error), True)
        return
    live = model.live_hash()
    with tempfile.TemporaryDirectory() as tmp:
        same = live == model.rebuilt_hash(Path(tmp) / "rebuild.duckdb")
        rebuilt = LIVE_SAME if same else LIVE_DIFFERENT
        yield Line(f"projections rebuilt from {store.max_position()} events: {rebuilt}")
        yield from _decisions(store, events, Path(tmp) / "regen.duckdb", model)
    if not same:
        yield Line(
            "the live projections differ from a rebuild: delete the .duckdb file to rebuild it",
            True,
        )
    yield Line(f"search {sid}: no divergence")


def _decisions(
    store: Ledger, events: list[tuple[int, DomainEvent]], path: Path, model: ReplayReads
) -> Iterator[Line]:
    report = replay(events)
    compared = f"{report.compared} of {report.events - 1}"
    yield Line(f"decisions: {compared} events re-derived; {report.ending}")
    if report.divergence is not None:  # the proposals of a diverged log mean nothing
        yield Line(diverged(report.divergence), True)
    reused, problem = check_reuses(store, [event for _, event in events])
    if problem:
        yield Line(f"trial cache: {problem}", True)
    if reused:
        yield Line(f"trial cache: {reused} reused runs match their sources' records")
    yield from _proposals(events, path, model)


def _proposals(
    events: list[tuple[int, DomainEvent]], path: Path, model: ReplayReads
) -> Iterator[Line]:
    recording = Recording.of(events)
    if (recording.started.config.get("derived_from") or {}).get("kind") == "rejudge":
        yield Line("proposals: the source search's, re-judged; replay the source for them")
        return
    seed_recipe = recording.recipes[recording.proposals[0].originator_id]
    proposer = model.offline(recording.task().name, seed_recipe)
    with model.read_model(path) as read_model:
        divergence = regenerate(events, read_model, proposer)
    offline = sum(1 for p in recording.proposals.values() if p.agent == proposer.name)
    yield Line(
        f"offline proposals regenerated from seed and lineage: {offline}"
        + ("" if divergence else ", all identical")
    )
    if divergence is not None:
        yield Line(diverged(divergence), True)
