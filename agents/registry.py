"""Proposer builders, one per agent and per HPO baseline, for the entry point's registries.

The entry point keeps the names in plain dicts (cli.py's AGENTS and POLICIES) that map
to these builders. Each takes the opened task (the Evaluator port), the search options
and what a model agent needs beyond them (`Extras`). The model SDK and the baselines'
numpy and optuna load only inside the builders that need them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agents.catalogues import catalogue_for
from agents.claude.prices import DEFAULT_MODEL, UnknownPriceError, price_of
from agents.offline import OfflineProposer
from domain.config import SearchConfig
from domain.ports import Evaluator, Proposer

if TYPE_CHECKING:  # the Anthropic SDK loads only when a model agent is built
    from agents.claude.recorded import RecordedCall, RecordedTransport
    from agents.claude.session import Settings


class AgentSetupError(ValueError):
    """An agent that cannot be built as asked; one line for the user."""


@dataclass(frozen=True)
class Extras:
    client: Any = None  # a live, checked Anthropic client (--agents claude)
    calls: list[RecordedCall] | None = None  # the recorded model calls (--agents recorded)


Built = tuple[Proposer, "RecordedTransport | None"]  # the transport: recorded re-runs only


def offline(evaluator: Evaluator, config: SearchConfig, extras: Extras) -> Built:
    return OfflineProposer(catalogue_for(evaluator.task.name, evaluator.seed_recipe())), None


def random_search(evaluator: Evaluator, config: SearchConfig, extras: Extras) -> Built:
    from agents.baselines import RandomProposer  # numpy: only here

    return _baseline(RandomProposer, evaluator)


def optuna(evaluator: Evaluator, config: SearchConfig, extras: Extras) -> Built:
    from agents.baselines import OptunaProposer

    return _baseline(OptunaProposer, evaluator)


def _baseline(kind: Any, evaluator: Evaluator) -> Built:
    seed = evaluator.seed_recipe()
    try:
        return kind(catalogue_for(evaluator.task.name, seed), seed), None
    except ValueError as error:
        raise AgentSetupError(str(error)) from None


def claude(evaluator: Evaluator, config: SearchConfig, extras: Extras) -> Built:
    from agents.claude.proposer import ClaudeProposer  # the SDK: only for model agents

    check, settings = _check(evaluator, config), _settings(config)
    return ClaudeProposer(extras.client, evaluator.task, check, settings), None


def recorded(evaluator: Evaluator, config: SearchConfig, extras: Extras) -> Built:
    from agents.claude.proposer import ClaudeProposer
    from agents.claude.recorded import recorded_client, replay_policy
    from agents.claude.session import Settings

    calls = extras.calls
    if calls is None:
        raise AgentSetupError(
            "a recorded re-run cannot be resumed: start it again with --agents recorded"
        )
    client, transport = recorded_client(calls)
    base = _settings(config)
    settings = Settings(base.model, base.max_turns, retry=replay_policy(calls))
    proposer = ClaudeProposer(
        client, evaluator.task, _check(evaluator, config), settings, "recorded"
    )
    return proposer, transport


def _check(evaluator: Evaluator, config: SearchConfig) -> Any:
    strict = config.strict_surfaces
    return lambda parent, child, specialist: evaluator.check_edit(parent, child, specialist, strict)


def _settings(config: SearchConfig) -> Settings:
    from agents.claude.session import Settings

    return Settings(model=config.model or DEFAULT_MODEL, max_turns=config.max_turns)


def claude_client(config: SearchConfig) -> Any:
    """A live client, checked before any trial: key, price, model and reachability."""
    key = os.environ.get("ANTHROPIC_API_KEY", "")
    if not key:
        raise AgentSetupError("--agents claude needs an API key: set ANTHROPIC_API_KEY")
    from agents.claude.api import ModelCheckError, check_model
    from agents.claude.api import claude_client as connect

    model = config.model or DEFAULT_MODEL
    try:
        price_of(model)
        client = connect(key)
        check_model(client, model)
    except (UnknownPriceError, ModelCheckError) as error:
        raise AgentSetupError(str(error)) from None
    return client
