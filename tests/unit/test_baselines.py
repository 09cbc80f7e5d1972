"""Random search and Optuna TPE as proposer policies over the catalogue's switches."""

from __future__ import annotations

import contextlib
import random
from uuid import UUID

import pytest

from agents.baselines import OptunaProposer, RandomProposer
from agents.catalogues import catalogue_for
from agents.search_space import NONE, SearchSpace, decode, encode
from domain.lineage import LineageView, TrialLine, TriedEdit
from domain.ports import ProposalRequest
from domain.task import RosterEntry
from evaluators.tasks import load

SEED_RECIPE = load("golf-cpu").seed_recipe()
CATALOGUE = catalogue_for("golf-cpu", SEED_RECIPE)
BASE = UUID(int=7)


def _line(seq: int) -> TrialLine:
    return TrialLine(
        trial_id=BASE,
        sequence=seq,
        specialist="baseline",
        parent_sequence=None,
        depth=0,
        status="keep",
        score=2.76,
        delta=None,
        hypothesis="",
        idea="baseline",
        note="",
        child_sha256=None,
        measurements={},
    )


class Lineage:
    """A hand-written LineageQuery: a fixed view, the seed recipe for every trial."""

    def __init__(self, tried: tuple[TriedEdit, ...] = ()) -> None:
        self.tried = tried

    def view(self, search_id, specialist, lineage) -> LineageView:
        return LineageView(
            search_id=UUID(int=1),
            specialist=specialist,
            lineage=True,
            metric="val_bpb",
            lower_is_better=True,
            size_cap_bytes=147_000,
            budgets={},
            best=_line(0),
            chain=(_line(0),),
            tried=self.tried,
        )

    def recipe(self, trial_id):
        return SEED_RECIPE

    def hold(self):
        return contextlib.nullcontext()


def _request(sequence: int, seed: int = 0) -> ProposalRequest:
    return ProposalRequest(
        search_id=UUID(int=1),
        sequence=sequence,
        seed=seed,
        lineage=True,
        specialist=RosterEntry(key="generalist", surfaces=("*",)),
    )


def test_grouped_switches_never_conflict_so_every_point_applies():
    space = SearchSpace(CATALOGUE)
    rng = random.Random(0)
    for _ in range(200):
        point = {name: rng.choice(options) for name, options in space.choices().items()}
        space.apply(SEED_RECIPE, point)  # raises EditError on a conflict
    grouped = {key for options in space.choices().values() for key in options if key != NONE}
    assert grouped == {t.key for t in CATALOGUE}
    lr_group = next(opts for opts in space.choices().values() if "opt.lr_x2" in opts)
    assert "opt.lr6_warmup_cosine" in lr_group  # both scale LR: one choice, never both


def test_a_point_round_trips_through_its_idea_key():
    point = {"g0": "arch.relu2", "g1": NONE}
    assert decode(encode(point)) == point
    assert decode("opt.lr_x2") is None


def test_random_search_is_deterministic_and_edits_the_seed_recipe():
    proposer = RandomProposer(CATALOGUE, SEED_RECIPE)
    first = proposer.propose(_request(3), Lineage())
    again = proposer.propose(_request(3), Lineage())
    other = proposer.propose(_request(4), Lineage())
    assert first == again
    assert first.idea != other.idea
    assert first.parent_id == BASE
    assert first.recipe
    assert first.recipe != SEED_RECIPE
    assert first.hypothesis.startswith("random: ")


def test_optuna_rebuilds_its_study_from_the_lineage_deterministically():
    proposer = OptunaProposer(CATALOGUE, SEED_RECIPE)
    space = SearchSpace(CATALOGUE)
    rng = random.Random(1)
    history = []
    for seq in range(1, 13):
        point = {n: rng.choice(o) for n, o in space.choices().items()}
        failed = seq % 4 == 0
        history.append(
            TriedEdit(
                parent_sequence=0,
                child_sha256=None,
                idea=encode(point),
                specialist="generalist",
                status="crash" if failed else "discard",
                sequence=seq,
                score=None if failed else 2.5 + seq / 100,
            )
        )
    lineage = Lineage(tuple(history))
    proposal = proposer.propose(_request(13), lineage)
    assert proposal == proposer.propose(_request(13), lineage)
    assert proposal.agent == "optuna"
    assert set(decode(proposal.idea)) == set(space.choices())
    assert proposal.recipe is not None


def test_optuna_without_the_extra_is_one_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_optuna(name, *args, **kwargs):
        if name == "optuna":
            raise ModuleNotFoundError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_optuna)
    with pytest.raises(ValueError, match=r"pip install -e '\.\[optuna\]'"):
        OptunaProposer(CATALOGUE, SEED_RECIPE)
