"""How each event changes the read model: one handler per event type, on plain row dicts.

Handlers run on a `Batch` (rows loaded or created in this batch); the projector writes
the batch to DuckDB in one transaction with its tracking position. Events of a type no
handler knows still land in the `events` table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.recipe import PatchError, apply_diff
from projections.legacy.schema import SEARCH_COLUMNS, TRIAL_COLUMNS

Row = dict[str, Any]
MEASURED_COLUMNS = (
    "artifact_bytes",
    "train_s",
    "eval_s",
    "cpu_s",
    "peak_rss_mb",
    "wall_s",
)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Batch:
    """Rows touched by one batch of events; `known_*` were loaded from DuckDB first."""

    def __init__(
        self,
        trials: dict[str, Row],
        searches: dict[str, Row],
        lineage: dict[str, Row],
        recipes: dict[str, dict[str, str]],
    ) -> None:
        self.trials = trials
        self.searches = searches
        self.lineage = lineage
        self.recipes = recipes
        self.new_lineage: list[Row] = []
        self.new_recipes: dict[str, dict[str, str]] = {}
        self.views: dict[str, str] = {}
        self.progress: list[tuple[Any, ...]] = []
        # SQL other projections queue (costs.py), run in order after the rows above
        self.statements: list[tuple[str, list[Any]]] = []
        self.touched_trials: set[str] = set()
        self.touched_searches: set[str] = set()

    def trial(self, trial_id: str) -> Row:
        self.touched_trials.add(trial_id)
        return self.trials[trial_id]

    def search(self, search_id: str) -> Row:
        self.touched_searches.add(search_id)
        return self.searches[search_id]


class Meta:
    """Where an event sits: its position, stream (search), aggregate and time."""

    __slots__ = ("aggregate_id", "position", "stream", "time")

    def __init__(self, position: int, stream: str, aggregate_id: str, time: datetime) -> None:
        self.position, self.stream, self.aggregate_id, self.time = (
            position,
            stream,
            aggregate_id,
            time,
        )


Handler = Callable[[Batch, dict[str, Any], Meta], None]
HANDLERS: dict[str, Handler] = {}


def handles(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


def empty_row(columns: tuple[tuple[str, str], ...]) -> Row:
    return dict.fromkeys(name for name, _ in columns)


# Searches:


@handles("SearchStarted")
def _search_started(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    row = empty_row(SEARCH_COLUMNS)
    row.update(
        search_id=m.aggregate_id,
        ordinal=e["ordinal"],
        task=e["task_id"],
        task_sha256=e["task_sha256"],
        rules_version=e["rules_version"],
        metric=e["metric"],
        lower_is_better=e["lower_is_better"],
        seed=e["seed"],
        policy=e["policy"],
        agent=e["agent"],
        lineage=e["lineage"],
        roster=list(e["roster"]),
        keep_rule=dumps(e["keep_rule"]),
        config=dumps(e["config"]),
        environment=dumps(e["environment"]),
        started_at=m.time,
        trials=0,
        resumes=0,
    )
    batch.searches[m.aggregate_id] = row
    batch.touched_searches.add(m.aggregate_id)


@handles("NoiseFloorMeasured")
def _noise(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    noise = e["noise"]
    batch.search(m.aggregate_id).update(
        baseline_trial=e["baseline_trial_id"],
        noise_sigma=noise["sigma"],
        noise_floor=noise["floor"],
        noise_scores=list(noise["scores"]),
    )


@handles("SearchResumed")
def _resumed(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    row = batch.search(m.aggregate_id)
    row["resumes"] = (row["resumes"] or 0) + 1


@handles("SearchFinished")
def _finished(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    batch.search(m.aggregate_id).update(
        finished_at=m.time,
        finish_reason=e["reason"],
        best_trial=e["best_trial_id"],
        best_score=e["best_score"],
        trials=e["trials"],
    )


# Trials:


@handles("TrialProposed")
def _proposed(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    parent_id = e["parent_id"]
    parent = batch.trials.get(parent_id) if parent_id else None
    parent_path = batch.lineage.get(parent_id) if parent_id else None
    row = empty_row(TRIAL_COLUMNS)
    row.update(
        trial_id=m.aggregate_id,
        search_id=e["search_id"],
        seq=e["sequence"],
        parent_id=parent_id,
        parent_seq=parent["seq"] if parent else None,
        depth=(parent["depth"] + 1) if parent else 0,
        specialist=e["specialist"],
        agent=e["agent"],
        surfaces=list(e["surfaces"]),
        idea=e["idea"],
        hypothesis=e["hypothesis"],
        expected_delta=e["expected_delta"],
        status="proposed",
        lineage_view_sha256=e["lineage_view_sha256"],
        session_id=e.get("session_id"),
        proposed_at=m.time,
        progress_samples=0,
    )
    batch.trials[m.aggregate_id] = row
    batch.touched_trials.add(m.aggregate_id)
    path = f"{parent_path['path']}/{e['sequence']}" if parent_path else str(e["sequence"])
    ancestors = [*parent_path["ancestors"], parent_id] if parent_path else []
    lineage = {
        "trial_id": m.aggregate_id,
        "search_id": e["search_id"],
        "depth": row["depth"],
        "path": path,
        "ancestors": ancestors,
    }
    batch.lineage[m.aggregate_id] = lineage
    batch.new_lineage.append(lineage)
    batch.views.setdefault(e["lineage_view_sha256"], e["lineage_view"])


@handles("RecipeEdited")
def _edited(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    batch.trial(m.aggregate_id).update(
        status="edited",
        diff=e["diff"],
        diff_lines=e["lines_added"] + e["lines_removed"],
        parent_sha256=e["parent_sha256"],
        child_sha256=e["child_sha256"],
        surfaces_touched=list(e["surfaces_touched"]),
    )
    child = e["child_sha256"]
    if child in batch.recipes:
        return
    try:
        files = apply_diff(batch.recipes.get(e["parent_sha256"], {}), e["diff"])
    except PatchError:
        return  # a diff the ledger accepted always applies; never guess a recipe
    batch.recipes[child] = files
    batch.new_recipes[child] = files


@handles("TrialLaunched")
def _launched(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    batch.trial(m.aggregate_id).update(
        status="launched",
        runner=e["runner"],
        host=e["host"],
        seeds=list(e["seeds"]),
        threads=e["threads"],
        sandbox=e["sandbox"],
        rules_version=e["rules_version"],
        launched_at=m.time,
    )


@handles("TrainingProgressed")
def _progress(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    row = batch.trial(m.aggregate_id)
    samples = e["samples"]
    batch.progress.append(
        (
            m.position,
            m.aggregate_id,
            e["seed"],
            [x["step"] for x in samples],
            [x["loss"] for x in samples],
            [x["elapsed_s"] for x in samples],
        )
    )
    row["progress_samples"] = (row["progress_samples"] or 0) + len(samples)
    if samples:
        row["last_loss"] = samples[-1]["loss"]


def _measure(row: Row, measurements: dict[str, float]) -> None:
    merged = {**json.loads(row["measurements"] or "{}"), **measurements}
    row["measurements"] = dumps(merged)
    for name in MEASURED_COLUMNS:
        if name in merged:
            row[name] = merged[name]


@handles("TrialScored")
def _scored(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    row = batch.trial(m.aggregate_id)
    row.update(status="scored", score=e["score"], rules_version=e["rules_version"])
    _measure(row, e["measurements"])


@handles("TrialFailed")
def _failed(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    row = batch.trial(m.aggregate_id)
    row.update(
        status=e["label"],
        label=e["label"],
        reason=e["reason"],
        log_excerpt=e["log_excerpt"],
        evidence=dumps(e["evidence"]),
        finished_at=m.time,
        finished_position=m.position,
    )
    if e["rules_version"]:
        row["rules_version"] = e["rules_version"]
    _measure(row, e["measurements"])


@handles("TrialJudged")
def _judged(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    batch.trial(m.aggregate_id).update(
        status=e["verdict"],
        verdict=e["verdict"],
        delta=e["delta"],
        best_before=e["best_before_score"],
        judge_rule=e["rule"],
        judge_numbers=dumps(e["numbers"]),
        finished_at=m.time,
        finished_position=m.position,
    )


@handles("TrialReproduced")
def _reproduced(batch: Batch, e: dict[str, Any], m: Meta) -> None:
    batch.trial(m.aggregate_id).update(
        reproduced_score=e["score"], reproduced_identical=e["identical"]
    )


TRIAL_EVENT_NAMES = frozenset(
    {
        "RecipeEdited",
        "TrialLaunched",
        "TrainingProgressed",
        "TrialScored",
        "TrialFailed",
        "TrialJudged",
        "TrialReproduced",
    }
)
SEARCH_EVENT_NAMES = frozenset({"NoiseFloorMeasured", "SearchResumed", "SearchFinished"})
