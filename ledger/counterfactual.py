"""Counterfactual replay (#18 item 2): what another policy would have done with a
recorded search's task, seed recipe, search seed and budget.

It is a search of its own, started from the source's recorded options with the policy
changed, and its config names the source and the source's head hash (`derived_from`).
It runs through the normal loop with the trial cache on (ledger/cache.py), so every
run whose recipe, seeds and rules any search in the ledger already measured is reused
with zero training, and only new recipes are trained. On a deterministic task its
verdicts are those of a fresh search with that policy and seed.
"""

from __future__ import annotations

from uuid import UUID

from domain import search as s
from domain.config import SearchConfig
from domain.events import decode
from domain.progress import fold
from ledger.rejudge import DerivationError, source_events
from ledger.session import config_of, pick_search
from ledger.store import Ledger
from ledger.workspace import Ran, Tools, start

OFFLINE_POLICIES = ("specialists", "generalist", "random", "optuna")


def counterfactual_config(ledger: Ledger, source: UUID, policy: str) -> SearchConfig:
    """The source's options under `policy`, for the offline agents (a model-backed
    policy needs a key and is not a replay of the same world)."""
    if policy not in OFFLINE_POLICIES:
        raise DerivationError(
            f"unknown or keyed --policy {policy!r}: use {', '.join(OFFLINE_POLICIES)}"
        )
    events = source_events(ledger, source)
    config = config_of(fold([event for _, event in events]))
    if (config.derived_from or {}).get("kind") == "rejudge":
        raise DerivationError(f"search {source} is a re-judgement: ask of its source instead")
    if policy == "specialists":
        specialists = config.specialists if config.policy == "specialists" else ()
    else:
        specialists = ("generalist",)
    return config.model_copy(
        update={
            "policy": policy,
            "specialists": specialists,
            "agent": "offline",
            "model": None,
            "cache": True,
            "derived_from": {
                "kind": "counterfactual",
                "search": str(source),
                "head": ledger.head(source),
                "policy": policy,
            },
        }
    )


def same_task(ledger: Ledger, source: UUID, task_sha256: str) -> None:
    """Refuse a task folder whose content changed since the source ran: another world."""
    started = decode(ledger.stream_records(source)[0])
    if not isinstance(started, s.SearchStarted) or started.task_sha256 != task_sha256:
        raise DerivationError(
            f"the task changed since search {source} ran: a counterfactual needs the same world"
        )


def counterfactual(
    ledger: Ledger, prefix: str | None, policy: str, tools: Tools
) -> tuple[UUID, Ran]:
    """The use case: run `policy` on the finished search `prefix` names (default: the
    latest) as a search linked to it; returns the source's id and the run."""
    source = pick_search(ledger, prefix, unfinished=False)
    config = counterfactual_config(ledger, source, policy)
    ran = start(
        ledger,
        config,
        tools,
        lambda evaluator: same_task(ledger, source, evaluator.task_sha256),
    )
    return source, ran
