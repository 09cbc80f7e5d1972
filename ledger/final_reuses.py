"""The reuse check for the final test's sides, which ledger/cache.py `check_reuses` runs
after the trials' own. A side that FinalTested says the trial cache copied must carry the
key its launch gives that side, name a side its source search recorded under that key,
and hold the outcome the source recorded. Replay trusts the log's outcomes (and a
forger may reseal the chain), so this is what shows a copied side was not forged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from uuid import UUID

from domain import search as s
from domain.base import DomainEvent
from domain.cache import CacheHit, final_side_key, final_sides
from ledger.recording import recorded_outcome

# A search's cache entries by key digest, read from the ledger (ledger/cache.py).
Entries = Callable[[UUID], Mapping[str, CacheHit]]


def check_final_reuses(
    started: s.SearchStarted, events: list[DomainEvent], entries: Entries
) -> tuple[int, str]:
    """(copied sides, "") when each checks out against its source; else the first that
    does not. A resumed search may launch its final test again: the latest launch is
    the one its FinalTested answers."""
    launched: s.FinalTestLaunched | None = None
    count = 0
    for event in events:
        if isinstance(event, s.FinalTestLaunched):
            launched = event
        elif isinstance(event, s.FinalTested) and launched is not None:
            for side in final_sides(event):
                if side.reused_from_search_id is None:
                    continue  # it ran
                count += 1
                problem = _problem(started, launched, side, entries)
                if problem:
                    return count, problem
    return count, ""


def _problem(
    started: s.SearchStarted, launched: s.FinalTestLaunched, side: s.FinalSide, entries: Entries
) -> str:
    which = f"the final test's side #{side.sequence}"
    if final_side_key(started, launched, side.trial_id).digest != side.cache_key:
        return f"{which} carries another run's key"
    source = side.reused_from_search_id
    hit = entries(source).get(side.cache_key) if source is not None else None
    if hit is None or hit.source_trial_id != side.reused_from_trial_id:
        return f"{which} names a final-test run search {source} never made"
    if recorded_outcome(side) != hit.outcome:
        return f"{which} is reused, but its outcome is not the one its source recorded"
    return ""
