"""Claiming a new search: its id, its lease and its SearchStarted, safe against a race.

A search id is uuid5 of an ordinal that counts the ledger's searches, so two processes
that start a search at the same moment on one PostgreSQL ledger can pick the same
ordinal. Each takes the lease on its id before writing; the loser, whose lease is
refused or whose SearchStarted row already exists (ConcurrentWriteError), moves on to
the next free ordinal. On SQLite the lease covers the whole file, so a busy ledger is
refused as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from uuid import UUID

from domain.config import SearchConfig
from domain.ports import Evaluator, Proposer
from domain.progress import SearchState
from domain.search import search_id
from ledger import session
from ledger.lease import LedgerInUseError, lease
from ledger.store import ConcurrentWriteError, Ledger, LedgerError

ATTEMPTS = 64  # each lost race means another search started: far more than ever happens


@contextlib.contextmanager
def new_search(
    ledger: Ledger,
    config: SearchConfig,
    evaluator: Evaluator,
    proposer: Proposer,
) -> Iterator[SearchState]:
    """Start a search under its own lease, held until the block ends."""
    ordinal = session.count_searches(ledger)
    for _ in range(ATTEMPTS):
        sid = search_id(ordinal, evaluator.task.name, config.seed)
        with contextlib.ExitStack() as held:
            state = _try_start(held, sid, ordinal, ledger, config, evaluator, proposer)
            if state is not None:
                yield state
                return
        ordinal = max(ordinal + 1, session.count_searches(ledger))
    raise LedgerError(f"no free search id on {ledger.location.text} after {ATTEMPTS} tries")


def _try_start(
    held: contextlib.ExitStack,
    sid: UUID,
    ordinal: int,
    ledger: Ledger,
    config: SearchConfig,
    evaluator: Evaluator,
    proposer: Proposer,
) -> SearchState | None:
    """The started search, or None if another process took this ordinal first."""
    try:
        held.enter_context(lease(ledger.location, sid))
        return session.start(ledger, config, evaluator, proposer, ordinal=ordinal)
    except LedgerInUseError:
        if ledger.location.file is not None:
            raise  # SQLite's lease is the whole file: another search is running there
    except ConcurrentWriteError:
        pass
    return None
