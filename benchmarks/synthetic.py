"""A realistic large ledger for scale tests, written by the real search loop.

The loop, the domain rules and the hash chain are the real ones, so the ledger verifies,
projects and replays like any other. Only the world is scripted: proposals edit one knob
of the golf-cpu seed recipe (real diffs) and carry a lineage view of the size agents
really read; trials "finish" at once with three progress batches and a realistic mix of
outcomes. Commits are batched (a live search commits one step at a time, which here
would only cost time).
"""

from __future__ import annotations

import contextlib
import random
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from domain.base import DomainEvent
from domain.config import SearchConfig
from domain.labels import FailureLabel
from domain.ports import (
    JobPlan,
    JobSite,
    LineageQuery,
    Outcome,
    Proposal,
    ProposalRequest,
    TrialJob,
)
from domain.reports import RunReport
from domain.task import RosterEntry
from domain.trial import ProgressSample, SeedResult
from evaluators.preflight import static_check
from evaluators.tasks import load
from ledger import session
from ledger.executor import Finished, Message, Progressed
from ledger.store import Ledger

KNOBS = ("LR", "STEPS", "BATCH_SIZE", "N_EMBD", "WEIGHT_DECAY", "GRAD_CLIP", "QUANT_BITS")
VALUES = ("0.5", "2", "3", "6", "1e-3", "96", "128", "0.1")
VIEW = (
    "## LEADERBOARD\n"
    + "#12  val_bpb=2.45390  Δ=-0.01234  opt  raise the LR with warmup\n" * 12
    + "## Recent Activity\n"
    + "- #40 [arch, size_blocked] widen to 96 channels\n" * 10
)
FAILURES = (FailureLabel.SIZE_BLOCKED, FailureLabel.CRASH, FailureLabel.TRAIN_BUDGET_OVERRUN)


class BufferedSink:
    def __init__(self, ledger: Ledger, batch: int = 5000) -> None:
        self.ledger, self.batch = ledger, batch
        self.pending: list[DomainEvent] = []
        self.stream: UUID | None = None

    def append(self, stream: UUID, events: Sequence[DomainEvent]) -> None:
        self.stream = stream
        self.pending.extend(events)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.pending and self.stream is not None:
            self.ledger.append(self.stream, self.pending)
        self.pending = []


class KnobProposer:
    """Proposes one knob change on the seed recipe; recipes are kept in memory."""

    name = "scripted"

    def __init__(self, rng: random.Random, recipes: dict[UUID, dict[str, str]]) -> None:
        self.rng, self.recipes = rng, recipes

    def propose(self, request: ProposalRequest, lineage: Any) -> Proposal:
        parent = next(iter(self.recipes))  # the baseline: recorded first
        text = self.recipes[parent]["train.py"]
        knob, value = self.rng.choice(KNOBS), self.rng.choice(VALUES)
        child = re.sub(rf"^{knob} = [^ #\n]+", f"{knob} = {value}", text, count=1, flags=re.M)
        return Proposal(
            specialist=request.specialist.key,
            agent=self.name,
            parent_id=parent,
            hypothesis=f"set {knob} to {value}",
            idea=f"{knob}={value}",
            recipe={"train.py": child},
            view_text=VIEW,
        )


class MemoryLineage:
    def __init__(self, recipes: dict[UUID, dict[str, str]]) -> None:
        self.recipes = recipes

    def hold(self) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()

    def recipe(self, trial_id: UUID) -> dict[str, str]:
        return self.recipes[trial_id]


class ScriptedWorld:
    """The evaluator and executor: every job finishes at once, with a realistic outcome."""

    def __init__(self, rng: random.Random, recipes: dict[UUID, dict[str, str]], runs: Path) -> None:
        task = load("golf-cpu")
        self.task, self.task_dir, self.task_sha256 = task.spec, str(task.folder), task.sha256
        self.seed = task.seed_recipe()
        self.rng, self.recipes = rng, recipes
        self.site = JobSite(task_dir=self.task_dir, runs_root=str(runs))
        self.queue: list[Message] = []
        # static_check is pure, and one-knob edits give only a few dozen distinct children:
        # memoised, it returns the same outcome without the compile and diffs that were
        # most of the generation time.
        self.checked: dict[tuple[Any, ...], Outcome | None] = {}

    def seed_recipe(self) -> dict[str, str]:
        return dict(self.seed)

    def check_edit(
        self,
        parent: Mapping[str, str],
        child: Mapping[str, str],
        specialist: RosterEntry,
        strict: bool,
    ) -> Outcome | None:
        key = (tuple(sorted(parent.items())), tuple(sorted(child.items())), specialist, strict)
        if key not in self.checked:
            self.checked[key] = static_check(parent, child, specialist, strict)
        return self.checked[key]

    def job(self, plan: JobPlan) -> TrialJob:
        self.recipes[plan.trial_id] = dict(plan.recipe)
        return TrialJob.of(plan, self.task, self.site, lambda budgets, seeds: 60)

    def classify(self, report: RunReport, scoring_seeds: tuple[int, ...]) -> Outcome:
        raise AssertionError("the scripted world classifies as it finishes each job")

    def submit(self, trial_id: UUID, job: TrialJob) -> None:
        for batch in range(3):
            samples = [
                ProgressSample(step=batch * 100 + i * 10, loss=3 - i / 10, elapsed_s=float(i))
                for i in range(10)
            ]
            self.queue.append(Progressed(trial_id, job.seeds[0], samples))
        self.queue.append(Finished(trial_id, self._outcome(job)))

    def _outcome(self, job: TrialJob) -> Outcome:
        measured = {"train_s": 15.0, "eval_s": 3.0, "artifact_bytes": 145_000.0, "cpu_s": 20.0}
        if job.sequence > 0 and self.rng.random() < 0.35:
            label = self.rng.choice(FAILURES)
            return Outcome(
                label=label,
                reason=str(label),
                evidence={"seed": 0},
                log_excerpt="Traceback ...\nValueError: x",
                measurements=measured,
                rules_version="golf-cpu/1",
            )
        scores = [2.8 - self.rng.random() * 0.3 for _ in job.seeds]
        per_seed = tuple(
            SeedResult(seed=s, score=v, scoring=s in job.scoring_seeds)
            for s, v in zip(job.seeds, scores, strict=True)
        )
        return Outcome(
            label=None,
            score=scores[0],
            per_seed=per_seed,
            measurements=measured,
            rules_version="golf-cpu/1",
        )

    def next(self, timeout: float) -> Message | None:
        return self.queue.pop(0) if self.queue else None

    def cancel_all(self) -> None:
        self.queue.clear()


def generate(
    ledger: Ledger,
    events: int,
    trials_per_search: int = 2000,
    seed: int = 0,
    runs: Path | None = None,
) -> dict[str, Any]:
    """Searches of `trials_per_search` trials (about 9 events each) until `events`."""
    rng = random.Random(seed)
    ordinal = 0
    while ledger.max_position() < events:
        recipes: dict[UUID, dict[str, str]] = {}
        world = ScriptedWorld(rng, recipes, runs or Path(tempfile.gettempdir()))
        left = max(1, (events - ledger.max_position()) // 9)
        config = SearchConfig(task="golf-cpu", trials=min(trials_per_search, left), seed=ordinal)
        sink = BufferedSink(ledger)
        proposer = KnobProposer(rng, recipes)
        # The knob proposer reads recipes and never the lineage view: enough of the port.
        reads_recipes_only = cast(LineageQuery, MemoryLineage(recipes))
        state = session.start(ledger, config, world, proposer)
        loop = session.build_loop(
            state, sink, world, world, proposer, reads_recipes_only, config, "scripted", "bench"
        )
        loop.run()
        sink.flush()
        ordinal += 1
    return {"events": ledger.max_position(), "searches": ordinal}
