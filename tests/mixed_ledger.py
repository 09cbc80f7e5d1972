"""A generated ledger that holds every event type the domain defines, for read-side tests.

Searches through the real loop and ledger: the first with LLM sessions (submitted, one
that submitted nothing, one that failed on the API, a failed model call), failures of
several labels (a gate miss with its score among them), a crash and a resume, and a
reproduction, and a final test skipped (its task has no test split); the second races
seeds, has a specialist yield its turn, and ends with a final test; then a deterministic
search run twice, the second time from the trial cache (TrialReused). Afterwards every
TrialLaunched, and every TrialFailed without a score, is rewritten as the v1 program
stored it (resealing the chain), so the ledger needs upcasting as an old one does.
`EVENT_TYPES` names what it contains.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from domain import trial as t
from domain.agent import ExchangeRecord, SessionRecord
from domain.envelope import GENESIS, seal
from domain.labels import FailureLabel
from domain.ports import Outcome, Proposal, ProposalRequest, TrialJob
from domain.progress import fold
from ledger import session
from ledger.recovery import recovery_events
from ledger.store import Ledger
from projections.lineage import DuckLineage
from tests.support import (
    CACHED_TASK,
    TESTED_TASK,
    ScriptedEvaluator,
    StepProposer,
    SyncExecutor,
    by_lr,
    failed,
    scripted_loop,
)


def _exchange(turn: int, context: str, error: str = "") -> ExchangeRecord:
    return ExchangeRecord(
        turn=turn,
        model="claude-test",
        request_sha256=f"{turn:064d}",
        context_sha256=f"{len(context):064x}",
        context=context,
        response={} if error else {"stop_reason": "tool_use"},
        usage={} if error else {"input": 100 * turn, "output": 10, "cache_read": 5},
        usd=0.0 if error else 0.25,
        price_table="" if error else "test-2026",
        attempts=3 if error else 1,
        error=error,
    )


class SessionProposer(StepProposer):
    """StepProposer's edits, with the LLM sessions behind some of them."""

    name = "claude"

    def __init__(self) -> None:
        super().__init__()
        self.asked: dict[int, int] = {}

    def propose(self, request: ProposalRequest, lineage: Any) -> Proposal:
        seq = request.sequence
        self.asked[seq] = self.asked.get(seq, 0) + 1
        proposal = super().propose(request, lineage)
        record = self._session(request.specialist.key, seq, self.asked[seq])
        return proposal.model_copy(update={"session": record})

    @staticmethod
    def _session(specialist: str, seq: int, ask: int) -> SessionRecord | None:
        def make(outcome: Any, *exchanges: ExchangeRecord) -> SessionRecord:
            return SessionRecord(
                specialist=specialist,
                model="claude-test",
                backend="claude",
                outcome=outcome,
                exchanges=exchanges,
                detail="" if outcome == "submitted" else f"{outcome} at #{seq}",
            )

        if seq == 1:
            return make("submitted", _exchange(1, "prompt A"), _exchange(2, "prompt A", "529"))
        if seq == 2 and ask == 1:
            return make("no_submit", _exchange(1, "prompt B"))
        if seq == 2:
            return make("submitted", _exchange(1, "prompt B"), _exchange(2, "prompt C"))
        if seq == 3:
            return make("error", _exchange(1, "prompt C", "connection refused"))
        return None


def _outcome(job: TrialJob) -> Outcome:
    if job.sequence == 4:
        return failed(FailureLabel.SIZE_BLOCKED, "artifact 1200 B > 1000 B")
    if job.sequence == 5:
        timed_out = failed(FailureLabel.TRAIN_BUDGET_OVERRUN, "train_s 11 > 10 s")
        return timed_out.model_copy(update={"measurements": {"train_s": 11.0, "cpu_s": 9.5}})
    if job.sequence == 7:
        return GATE_MISS
    return by_lr(job)


GATE_MISS = failed(FailureLabel.DISQUALIFIED, "mean accuracy 0.88 misses the gate 0.9").model_copy(
    update={"score": 1.25}
)


class YieldOnceProposer(StepProposer):
    """StepProposer, whose first turn at trial 2 finds no idea left and yields it."""

    def __init__(self) -> None:
        super().__init__()
        self.yielded = False

    def propose(self, request: ProposalRequest, lineage: Any) -> Proposal:
        proposal = super().propose(request, lineage)
        if request.sequence != 2 or self.yielded:
            return proposal
        self.yielded = True
        return proposal.model_copy(update={"recipe": None, "yielded": "nothing left to try"})


class _Crash(BaseException):
    pass


def _first_search(tmp: Path) -> tuple[Ledger, UUID]:
    """Sessions and failures, killed after trial 6 is launched, then resumed."""
    loop, store, _ = scripted_loop(tmp, trials=8, script=_outcome, proposer=SessionProposer())
    submit = loop.executor.submit

    def crash(trial_id: UUID, job: TrialJob) -> None:
        submit(trial_id, job)
        if job.sequence == 6:
            raise _Crash

    loop.executor.submit = crash  # type: ignore[method-assign]
    with contextlib.suppress(_Crash):
        loop.run()
    sid = loop.state.started.id
    state = fold(store.stream(sid))
    store.append(sid, recovery_events(state, "host-b"))
    resumed = session.build_loop(
        state,
        store,
        ScriptedEvaluator(tmp, _outcome),
        SyncExecutor(_outcome),
        StepProposer(),
        DuckLineage(store, tmp / "ledger.duckdb"),
        session.config_of(state),
        "sync",
        "host-b",
    )
    resumed.run()
    return store, sid


def _reproduce(store: Ledger, sid: UUID, sequence: int) -> None:
    state = fold(store.stream(sid))
    trial = next(tr for tr in state.trials.values() if tr.sequence == sequence)
    event = t.record_reproduction(
        trial,
        outcome="scored",
        score=trial.score,
        recorded_score=trial.score,
        identical=True,
        within_noise=True,
        tolerance=0.01,
        measurements={"train_s": 1.0},
    )
    store.append(sid, [event])


def rewritten(path: Path, edit: Callable[[str, dict[str, Any]], int | None]) -> int:
    """Let `edit(topic, body)` change stored bodies in place (returning the class version
    to store, or None to leave the row alone), resealing the whole chain as a forger
    would; returns how many rows it changed."""
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        rows = con.execute(
            "SELECT rowid, originator_id, originator_version, topic, state"
            " FROM stored_events ORDER BY rowid"
        ).fetchall()
        heads: dict[str, str] = {}
        changed = 0
        for rowid, aggregate, version, topic, state in rows:
            envelope = json.loads(state)
            body, v = envelope["event"], envelope["v"]
            edited = edit(topic, body)
            if edited is not None:
                v, changed = edited, changed + 1
            stream = envelope["stream"]
            new_state, heads[stream] = seal(
                body, v, stream, heads.get(stream, GENESIS), topic, str(UUID(aggregate)), version
            )
            con.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", [new_state, rowid])
    return changed


def as_written_by_v1(path: Path) -> int:
    """Rewrite every TrialLaunched, every TrialFailed without a score, and the task rules
    each search recorded, as the v1 program stored them, resealing the chain; returns how
    many events it stored at v1."""

    def v1(topic: str, body: dict[str, Any]) -> int | None:
        if topic.endswith(":TrialLaunched"):
            del body["deterministic"], body["clock"]  # v1 had neither
            for key in ("wall_backstop", "remeasures", "remeasure_within"):
                body["budgets"].pop(key, None)
            return 1
        if topic.endswith(":SearchStarted"):  # nor rules that name a clock
            for budgets in (body["config"]["budgets"], body["config"]["task_spec"]["budgets"]):
                for key in (
                    "clock",
                    "wall_backstop",
                    "seed_multiple",
                    "remeasures",
                    "remeasure_within",
                ):
                    budgets.pop(key, None)
        elif topic.endswith(":TrialFailed") and body["score"] is None:
            del body["score"], body["accounting"]
            return 1
        return None

    return rewritten(path, v1)


def mixed_ledger(tmp: Path) -> Ledger:
    """Both searches in one ledger at tmp/ledger.sqlite, TrialLaunched stored as v1."""
    store, first = _first_search(tmp)
    _reproduce(store, first, 1)
    # races (TrialExtended), then tests its best (FinalTestLaunched):
    second, _, _ = scripted_loop(tmp, trials=3, task=TESTED_TASK, proposer=YieldOnceProposer())
    second.run()
    for _ in range(2):  # the second run of a deterministic search reuses (TrialReused)
        scripted_loop(tmp, trials=2, task=CACHED_TASK, cache=True)[0].run()
    assert as_written_by_v1(tmp / "ledger.sqlite") > 0
    return store
