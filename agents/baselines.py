"""Non-LLM baselines as proposer policies: random search and Optuna TPE.

Both search the same space (the catalogue's technique switches, grouped so every point
applies) and always edit the seed recipe, as HPO does: a trial is a full configuration,
not an edit of the best. They are stateless like the offline specialists: Optuna's study
is rebuilt from the lineage's scores at each proposal, so a search is deterministic,
resumable and replayable. Optuna is an optional extra (`pip install -e .[optuna]`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from agents.search_space import SearchSpace, decode, encode
from agents.techniques import Technique
from agents.view import render_view
from domain.lineage import LineageView
from domain.ports import LineageQuery, Proposal, ProposalRequest


class RandomProposer:
    name = "random"

    def __init__(self, catalogue: Sequence[Technique], seed_recipe: Mapping[str, str]) -> None:
        self.space = SearchSpace(catalogue)
        self.seed_recipe = dict(seed_recipe)

    def propose(self, request: ProposalRequest, lineage: LineageQuery) -> Proposal:
        view = lineage.view(request.search_id, request.specialist.key, True)
        rng = random.Random(f"random/{request.seed}/{request.sequence}")
        point = {name: rng.choice(options) for name, options in self.space.choices().items()}
        return _proposal(self, request, view, point)

    def baseline_id(self, view: LineageView) -> Any:
        return view.chain[0].trial_id if view.chain else None


class OptunaProposer:
    name = "optuna"

    def __init__(self, catalogue: Sequence[Technique], seed_recipe: Mapping[str, str]) -> None:
        try:
            import optuna
        except ModuleNotFoundError:
            raise ValueError("--policy optuna needs Optuna: pip install -e '.[optuna]'") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.space = SearchSpace(catalogue)
        self.seed_recipe = dict(seed_recipe)

    def propose(self, request: ProposalRequest, lineage: LineageQuery) -> Proposal:
        view = lineage.view(request.search_id, request.specialist.key, True)
        study = self._study(view, request)
        trial = study.ask(self._distributions())
        return _proposal(self, request, view, {k: str(v) for k, v in trial.params.items()})

    def baseline_id(self, view: LineageView) -> Any:
        return view.chain[0].trial_id if view.chain else None

    def _distributions(self) -> dict[str, Any]:
        dist = self.optuna.distributions.CategoricalDistribution
        return {name: dist(options) for name, options in self.space.choices().items()}

    def _study(self, view: LineageView, request: ProposalRequest) -> Any:
        """The study so far, rebuilt from the lineage: every scored or failed trial."""
        direction: Literal["minimize", "maximize"] = (
            "minimize" if view.lower_is_better else "maximize"
        )
        sampler = self.optuna.samplers.TPESampler(seed=request.seed * 100_003 + request.sequence)
        study = self.optuna.create_study(direction=direction, sampler=sampler)
        distributions = self._distributions()
        for edit in view.tried:
            point = decode(edit.idea)
            if point is None or set(point) != set(distributions):
                continue
            state = self.optuna.trial.TrialState
            done = edit.score is not None and edit.status in ("keep", "discard")
            study.add_trial(
                self.optuna.trial.create_trial(
                    params=point,
                    distributions=distributions,
                    value=edit.score if done else None,
                    state=state.COMPLETE if done else state.FAIL,
                )
            )
        return study


def _proposal(
    policy: Any, request: ProposalRequest, view: LineageView, point: dict[str, str]
) -> Proposal:
    parent = policy.baseline_id(view)
    try:
        child = policy.space.apply(policy.seed_recipe, point)
        error = ""
    except ValueError as failure:  # an EditError: the point does not apply
        child, error = None, str(failure)
    if child == policy.seed_recipe:
        child, error = None, "the sampled configuration is the seed recipe itself"
    return Proposal(
        specialist=request.specialist.key,
        agent=policy.name,
        parent_id=parent,
        hypothesis=f"{policy.name}: {policy.space.describe(point)}",
        idea=encode(point),
        recipe=child,
        edit_error=error,
        view_text=render_view(view, request.specialist.surfaces, request.sequence),
    )
