"""Hand-written test doubles and builders: a tiny task, a scripted evaluator and executor.

They stand in for the trial pipeline only (no torch, no subprocess); the ledger, the
projections and the loop under test are the real ones.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.budgets import Budgets
from domain.config import SearchConfig
from domain.keep import KeepRule
from domain.labels import FailureLabel
from domain.ports import JobPlan, JobSite, Outcome, Proposal, ProposalRequest, TrialJob
from domain.reports import RunReport
from domain.task import Commands, Metric, RosterEntry, Seeds, TaskSpec
from domain.trial import ProgressSample, SeedResult
from evaluators.preflight import static_check
from ledger import session
from ledger.cache import TrialCache
from ledger.executor import Finished, Message, Progressed
from ledger.loop import SearchLoop
from ledger.store import Ledger, open_ledger
from projections.db import projections_path
from projections.lineage import DuckLineage

TINY_RECIPE = {
    "train.py": (
        "import json\n"
        "# ---- surface: opt ----\n"
        "LR = 0.001  # learning rate\n"
        "STEPS = 10  # optimizer steps\n"
        "# ---- end surface: opt ----\n"
        "# ---- surface: arch ----\n"
        "WIDTH = 8  # hidden units\n"
        "# ---- end surface: arch ----\n"
        "print(json.dumps({'step': STEPS, 'loss': LR}))\n"
    )
}

TINY_TASK = TaskSpec(
    name="tiny",
    description="a scripted task for loop tests",
    rules_version="tiny/1",
    recipe=("train.py",),
    metric=Metric(name="loss", direction="minimize"),
    budgets=Budgets(train_seconds=10, eval_seconds=5),
    size_cap_bytes=1000,
    commands=Commands(train=("{python}", "train.py"), evaluate=("true",)),
    roster=(
        RosterEntry(key="opt", surfaces=("opt",)),
        RosterEntry(key="arch", surfaces=("arch",)),
    ),
    # The loop tests written before the paired rule pin the noise-floor rule they assert;
    # RACING_TASK below runs the default rule.
    keep=KeepRule(name="noise_floor"),
    seeds=Seeds(per_trial=1, noise=2),
)

RACING_TASK = TINY_TASK.model_copy(
    update={"keep": KeepRule(), "seeds": Seeds(per_trial=1, max_per_trial=3, noise=5)}
)

# RACING_TASK with a test split: its searches end with a final test on 3 fresh seeds.
TESTED_TASK = TaskSpec.model_validate(
    {
        **RACING_TASK.model_dump(),
        "commands": {**RACING_TASK.commands.model_dump(), "prepare": ("prep", "{test}")},
        "test": {"seeds": 3},
    }
)

# TINY_TASK, declared deterministic: its trials may come from the trial cache.
CACHED_TASK = TINY_TASK.model_copy(update={"deterministic": True})

Script = Callable[[TrialJob], Outcome]


def scored(score: float, seeds: tuple[int, ...] = (0,), spread: float = 0.01) -> Outcome:
    per_seed = tuple(
        SeedResult(
            seed=s,
            score=score + spread * i,
            measurements={"train_s": 1.0},
            scoring=i == 0,
        )
        for i, s in enumerate(seeds)
    )
    return Outcome(
        label=None,
        score=score,
        per_seed=per_seed,
        measurements={"train_s": 1.0, "artifact_bytes": 900.0},
        rules_version="tiny/1",
    )


def failed(label: FailureLabel, reason: str = "scripted failure") -> Outcome:
    return Outcome(label=label, reason=reason, evidence={"why": reason}, rules_version="tiny/1")


def by_lr(job: TrialJob) -> Outcome:
    """A deterministic 'training': the loss falls as LR rises toward 0.004."""
    text = job.recipe["train.py"]
    lr = float(text.split("LR = ")[1].split()[0])
    if lr > 0.01:
        return failed(FailureLabel.CRASH, "loss went to NaN")
    return scored(abs(lr - 0.004) * 100 + 1.0, job.seeds)


def by_lr_per_seed(job: TrialJob) -> Outcome:
    """`by_lr` with seeds that matter, as in real training: each seed shifts every recipe's
    loss alike (what pairing cancels), plus a little of its own; every seed reports 16
    held-out blocks around its loss."""
    text = job.recipe["train.py"]
    lr = float(text.split("LR = ")[1].split()[0])
    if lr > 0.01:
        return failed(FailureLabel.CRASH, "loss went to NaN")
    per_seed = tuple(_seeded(lr, s, s in job.scoring_seeds) for s in job.seeds)
    scoring = [r.score for r in per_seed if r.scoring and r.score is not None]
    return Outcome(
        label=None,
        score=sum(scoring) / len(scoring),
        per_seed=per_seed,
        measurements={"train_s": 1.0, "artifact_bytes": 900.0},
        rules_version="tiny/1",
    )


def _seeded(lr: float, seed: int, scoring: bool) -> SeedResult:
    shared = 0.05 * ((seed * 7) % 5)  # the seed's luck, the same for every recipe
    own = 0.002 * ((seed + int(lr * 1e6)) % 3)  # this recipe's own wobble
    loss = abs(lr - 0.004) * 100 + 1.0 + shared + own
    return SeedResult(
        seed=seed,
        score=loss,
        measurements={"train_s": 1.0},
        scoring=scoring,
        per_example=tuple(loss + 0.01 * ((b * 5 + seed) % 7 - 3) for b in range(16)),
    )


class ScriptedEvaluator:
    """The Evaluator port for TINY_TASK; outcomes come from `script(job)`."""

    task_dir = "/nonexistent/tiny"
    task_sha256 = "0" * 64

    def __init__(self, runs_root: Path, script: Script = by_lr, task: TaskSpec = TINY_TASK) -> None:
        self.task, self.script = task, script
        self.site = JobSite(
            task_dir=self.task_dir,
            runs_root=str(runs_root),
            data_dir="/d",
            heldout_dir="/h",
            test_dir="/t",
        )

    def seed_recipe(self) -> dict[str, str]:
        return dict(TINY_RECIPE)

    def check_edit(
        self,
        parent: Mapping[str, str],
        child: Mapping[str, str],
        specialist: RosterEntry,
        strict: bool,
    ) -> Outcome | None:
        return static_check(parent, child, specialist, strict)

    def job(self, plan: JobPlan) -> TrialJob:
        return TrialJob.of(plan, self.task, self.site, lambda budgets, seeds: 60)

    def classify(self, report: RunReport, scoring_seeds: tuple[int, ...]) -> Outcome:
        raise AssertionError("the scripted executor classifies by itself")


class SyncExecutor:
    """Runs nothing: each submitted job completes, in submission order, with script(job)."""

    def __init__(self, script: Script, progress: bool = True) -> None:
        self.script, self.progress = script, progress
        self.queue: deque[Message] = deque()
        self.cancelled = False

    def submit(self, trial_id: UUID, job: TrialJob) -> None:
        if self.progress:
            samples = [
                ProgressSample(step=i, loss=2.0 - i / 10, elapsed_s=i / 10) for i in range(3)
            ]
            self.queue.append(Progressed(trial_id, job.seeds[0], samples))
        self.queue.append(Finished(trial_id, self.script(job)))

    def next(self, timeout: float) -> Message | None:
        return self.queue.popleft() if self.queue else None

    def cancel_all(self) -> None:
        self.cancelled = True


class StepProposer:
    """Scales LR by a factor per proposal, always on the current best; `arch` widens."""

    name = "scripted"

    def __init__(self, factors: tuple[float, ...] = (2.0, 1.5, 1.2, 0.5, 3.0, 1.1)) -> None:
        self.factors = factors

    def propose(self, request: ProposalRequest, lineage: Any) -> Proposal:
        view = lineage.view(request.search_id, request.specialist.key, request.lineage)
        parent = lineage.recipe(view.best.trial_id)
        text = parent["train.py"]
        if request.specialist.key == "arch":
            width = int(text.split("WIDTH = ")[1].split()[0])
            child = text.replace(f"WIDTH = {width}", f"WIDTH = {width + 8}")
            hypothesis = f"widen to {width + 8}"
        else:
            lr = float(text.split("LR = ")[1].split()[0])
            factor = self.factors[request.sequence % len(self.factors)]
            child = text.replace(f"LR = {lr}", f"LR = {lr * factor:.6g}")
            hypothesis = f"scale LR by {factor}"
        return Proposal(
            specialist=request.specialist.key,
            agent=self.name,
            parent_id=view.best.trial_id,
            hypothesis=hypothesis,
            recipe={"train.py": child},
            view_text=f"view for {request.sequence}",
            idea=hypothesis,
        )


def open_test_ledger(tmp_path: Path) -> tuple[Ledger, str]:
    location = str(tmp_path / "ledger.sqlite")
    return open_ledger(location), location


def scripted_loop(
    tmp_path: Path,
    trials: int = 6,
    script: Script = by_lr,
    proposer: Any = None,
    task: TaskSpec = TINY_TASK,
    cache: bool = False,
    **config: Any,
) -> tuple[SearchLoop, Ledger, str]:
    store, location = open_test_ledger(tmp_path)
    evaluator = ScriptedEvaluator(tmp_path, script, task)
    proposer = proposer or StepProposer()
    cfg = SearchConfig(task="tiny", trials=trials, **config)
    state = session.start(store, cfg, evaluator, proposer)
    lineage = DuckLineage(store, projections_path(location))
    loop = session.build_loop(
        state,
        store,
        evaluator,
        SyncExecutor(script),
        proposer,
        lineage,
        cfg,
        "sync",
        "testhost",
        cache=TrialCache.from_ledger(store, state.started.id, task) if cache else None,
    )
    return loop, store, location


def forge_a_discard_as_keep(location: str | Path) -> int:
    """Hand-edit the first stored `discard` verdict into a `keep`, in place and without
    resealing the chain: the forgery that `verify` and replay must catch. Returns the
    forged event's ledger position."""
    with sqlite3.connect(location) as con:
        rows = con.execute(
            "SELECT rowid, state FROM stored_events WHERE topic LIKE '%TrialJudged' ORDER BY rowid"
        ).fetchall()
        rowid, state = next((r, st) for r, st in rows if b'"verdict":"discard"' in st)
        con.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?",
            [state.replace(b'"verdict":"discard"', b'"verdict":"keep"'), rowid],
        )
    return int(rowid)
