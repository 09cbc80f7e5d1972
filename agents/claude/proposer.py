"""The Claude specialist: one session per trial proposal, through the real SDK.

It reads the lineage only through the LineageQuery port, like the offline specialists, and
returns a Proposal that carries the whole session, so the loop stores what the model saw,
said and cost with the trial it produced (or without one, when it submitted nothing).
"""

from __future__ import annotations

import anthropic

from agents.claude import prices
from agents.claude.prompt import system_prompt
from agents.claude.session import Ended, Prompt, Settings, converse
from agents.claude.tools import Check, Workbench, tool_specs
from agents.view import render_view
from domain.agent import EMPTY_OUTCOMES, SessionRecord
from domain.ports import LineageQuery, Proposal, ProposalRequest
from domain.task import TaskSpec
from domain.trial import trial_id


class ClaudeProposer:
    def __init__(
        self,
        client: anthropic.Anthropic,
        task: TaskSpec,
        check: Check,
        settings: Settings | None = None,
        name: str = "claude",  # "recorded" when the client serves a recording
    ) -> None:
        self.settings = settings or Settings()
        prices.price_of(self.settings.model)  # no price, no cost cap: refuse at once
        self.client = client.with_options(max_retries=0)  # retries are ours, each one counted
        self.task, self.check, self.name = task, check, name

    def propose(self, request: ProposalRequest, lineage: LineageQuery) -> Proposal:
        entry = request.specialist
        view = lineage.view(request.search_id, entry.key, request.lineage)
        text = render_view(view, entry.surfaces, request.sequence)
        if view.best is None:
            return Proposal(
                specialist=entry.key,
                agent=self.name,
                parent_id=None,
                hypothesis="",
                edit_error="no trial to start from",
                view_text=text,
            )
        system = system_prompt(self.task, entry, request.strict_surfaces, request.lineage)
        prompt = Prompt(system, text, tool_specs(request.lineage))
        base = view.best.sequence
        bench = Workbench(request, lineage, self.check, base, lineage.recipe(view.best.trial_id))
        ended = converse(self.client, self.settings, prompt, bench, request.budget_usd)
        return self._proposal(request, bench, ended, text)

    def _proposal(
        self, request: ProposalRequest, bench: Workbench, ended: Ended, text: str
    ) -> Proposal:
        session = SessionRecord(
            specialist=request.specialist.key,
            model=self.settings.model,
            backend=self.name,
            outcome=ended.outcome,
            exchanges=ended.exchanges,
            detail=ended.detail,
        )
        done = bench.submission
        if done is None:  # only an API failure still makes a trial (harness_abort)
            parent = None if ended.outcome in EMPTY_OUTCOMES else bench.base
            return Proposal(
                specialist=request.specialist.key,
                agent=self.name,
                parent_id=None if parent is None else trial_id(request.search_id, parent),
                hypothesis=f"(no submission: {ended.outcome})",
                edit_error=ended.detail,
                view_text=text,
                session=session,
            )
        return Proposal(
            specialist=request.specialist.key,
            agent=self.name,
            parent_id=trial_id(request.search_id, done.parent),
            hypothesis=done.hypothesis,
            expected_delta=done.expected_delta,
            idea=done.idea,
            recipe=done.recipe,
            view_text=text,
            session=session,
        )
