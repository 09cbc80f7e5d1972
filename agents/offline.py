"""The offline specialists: no key, no network, deterministic given the search seed.

Each proposal draws its randomness from (search seed, sequence, specialist) alone and
reads the lineage only through the LineageQuery port, so a resumed or replayed search
regenerates exactly the same proposals. A specialist with no untried edit that applies
yields its turn (Proposal.yielded): a recorded outcome of its own, not a trial.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from agents.policy import Choice, decide
from agents.techniques import Technique, generic_catalogue
from agents.view import render_view
from domain.lineage import TrialLine
from domain.ports import LineageQuery, Proposal, ProposalRequest

OUT_OF_IDEAS = "no untried edit in my surfaces applies to the best or its near misses"


def proposal_rng(seed: int, sequence: int, specialist: str) -> random.Random:
    return random.Random(f"offline/{seed}/{sequence}/{specialist}")


class OfflineProposer:
    name = "offline"

    def __init__(self, catalogue: Sequence[Technique]) -> None:
        self.catalogue = list(catalogue)

    def propose(self, request: ProposalRequest, lineage: LineageQuery) -> Proposal:
        entry = request.specialist
        view = lineage.view(request.search_id, entry.key, request.lineage)
        text = render_view(view, entry.surfaces, request.sequence)
        rng = proposal_rng(request.seed, request.sequence, entry.key)
        recipes: dict[int, Mapping[str, str]] = {}

        def recipe_of(line: TrialLine) -> Mapping[str, str]:
            if line.sequence not in recipes:
                recipes[line.sequence] = lineage.recipe(line.trial_id)
            return recipes[line.sequence]

        mine = [t for t in self.catalogue if entry.may_edit(t.surface)]
        choice = decide(view, mine, recipe_of, rng, entry.may_edit)
        if choice is None and view.best is not None:  # the catalogue is spent: tweak knobs
            generic = [
                t for t in generic_catalogue(recipe_of(view.best)) if entry.may_edit(t.surface)
            ]
            choice = decide(view, generic, recipe_of, rng, entry.may_edit)
        if choice is None:
            return Proposal(
                specialist=entry.key,
                agent=self.name,
                parent_id=view.best.trial_id if view.best else None,
                hypothesis="",
                yielded=OUT_OF_IDEAS,
                view_text=text,
            )
        return _proposal(entry.key, choice, text, self.name)


def _proposal(specialist: str, choice: Choice, text: str, agent: str) -> Proposal:
    hypothesis = choice.technique.hypothesis
    if choice.repairs is not None:
        failed = choice.repairs
        hypothesis = (
            f"Repair #{failed.sequence} ({failed.status}: {failed.note[:90]}): {hypothesis}"
        )
    return Proposal(
        specialist=specialist,
        agent=agent,
        parent_id=choice.parent.trial_id,
        hypothesis=hypothesis,
        expected_delta=choice.technique.expected_delta,
        idea=choice.technique.key,
        recipe=choice.child,
        view_text=text,
    )
