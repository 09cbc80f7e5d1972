"""The trial cache's key and reuse rules, and re-judging one recorded outcome (#17, #18):
given a recorded run, when the rules change, then its new outcome or a refusal."""

from __future__ import annotations

import pytest

from domain.cache import cacheable, key_of, reusable
from domain.labels import FailureLabel
from domain.ports import Outcome
from domain.rejudge import NotJudgeableError, RuleChange, derived_rules, reclassify
from domain.task import Gate
from domain.trial import SeedResult
from tests.support import CACHED_TASK, TINY_TASK, failed, scored

FACTS = {
    "rules_version": "tiny/1",
    "recipe_sha256": "a" * 64,
    "seeds": (0,),
    "threads": 1,
    "budgets": {"train_seconds": 10.0},
    "sandbox": "bwrap",
}
ENV = {"python": "3.11", "torch": "2.13.0", "host": "a", "executable": "/x/python"}


def _key(**changes):
    return key_of("t" * 64, changes.pop("env", ENV), {**FACTS, **changes}, (0,), True).digest


def test_every_fact_of_a_run_is_in_its_key_but_where_it_ran():
    base = _key()
    for change in (
        {"recipe_sha256": "b" * 64},
        {"seeds": (1,)},
        {"threads": 2},
        {"rules_version": "tiny/2"},
        {"budgets": {"train_seconds": 11.0}},
        {"sandbox": "none (--unsafe-no-sandbox)"},
        {"env": {**ENV, "torch": "2.14.0"}},
    ):
        assert _key(**change) != base, change
    assert _key(env={**ENV, "host": "b", "executable": "/y/python"}) == base


def test_a_first_look_and_a_racing_look_never_share_a_key():
    first = key_of("t" * 64, ENV, FACTS, (0,), False, first_look=True)
    more = key_of("t" * 64, ENV, FACTS, (0,), False, first_look=False)
    assert first.digest != more.digest


def test_only_a_declared_deterministic_single_thread_run_is_cacheable():
    assert cacheable(CACHED_TASK, deterministic_run=True)
    assert not cacheable(CACHED_TASK, deterministic_run=False)
    assert not cacheable(TINY_TASK, deterministic_run=True)


def _overrun(settled: bool) -> Outcome:
    outcome = failed(FailureLabel.TRAIN_BUDGET_OVERRUN)
    return outcome.model_copy(update={"evidence": {"settled": settled}})


@pytest.mark.parametrize(
    ("outcome", "ok"),
    [
        (scored(1.0), True),
        (failed(FailureLabel.CRASH), True),
        (failed(FailureLabel.SIZE_BLOCKED), True),
        (failed(FailureLabel.HARNESS_ABORT), False),
        (failed(FailureLabel.TRAIN_BUDGET_OVERRUN), False),
        (_overrun(settled=False), False),  # one noisy reading, or a varying recipe
        (_overrun(settled=True), True),  # every measurement of the same work over the cap
        (failed(FailureLabel.EVAL_BUDGET_OVERRUN), False),
        (Outcome(label=None, score=None), False),
    ],
)
def test_what_may_be_reused(outcome, ok):
    assert reusable(outcome) is ok


def _sized(size: float) -> Outcome:
    return scored(1.0).model_copy(update={"measurements": {"artifact_bytes": size}})


def test_a_tighter_cap_blocks_exactly_the_artifacts_over_it():
    task = derived_rules(TINY_TASK, RuleChange(size_cap_scale=0.98))
    assert task.size_cap_bytes == 980
    assert task.rules_version == "tiny/1+size_cap_bytes=980"
    assert reclassify(_sized(980.0), task, 1).label is None
    blocked = reclassify(_sized(981.0), task, 1)
    assert blocked.label is FailureLabel.SIZE_BLOCKED
    assert blocked.evidence["over_by"] == 1.0
    assert blocked.rules_version == task.rules_version


def test_the_largest_seed_artifact_decides():
    per_seed = tuple(
        SeedResult(seed=s, score=1.0, measurements={"artifact_bytes": b})
        for s, b in ((0, 900.0), (1, 990.0))
    )
    outcome = scored(1.0).model_copy(update={"per_seed": per_seed, "measurements": {}})
    task = TINY_TASK.model_copy(update={"size_cap_bytes": 950})
    assert reclassify(outcome, task, 2).label is FailureLabel.SIZE_BLOCKED


def test_a_new_gate_is_judged_on_the_scoring_seeds_mean():
    per_seed = (SeedResult(seed=0, score=1.0, measurements={"acc": 0.8}),)
    outcome = scored(1.0).model_copy(update={"per_seed": per_seed})
    gated = TINY_TASK.model_copy(update={"gate": Gate(metric="acc", threshold=0.9)})
    assert reclassify(outcome, gated, 1).label is FailureLabel.DISQUALIFIED
    missing = TINY_TASK.model_copy(update={"gate": Gate(metric="f1", threshold=0.5)})
    with pytest.raises(NotJudgeableError, match="recorded no f1"):
        reclassify(outcome, missing, 1)


def test_a_failure_the_new_rules_would_score_is_not_judgeable():
    blocked = failed(FailureLabel.SIZE_BLOCKED).model_copy(
        update={"measurements": {"artifact_bytes": 1200.0}}
    )
    looser = TINY_TASK.model_copy(update={"size_cap_bytes": 2000})
    with pytest.raises(NotJudgeableError, match="never measured"):
        reclassify(blocked, looser, 3)
    assert reclassify(blocked, TINY_TASK, 3) == blocked  # still over: it stands


def test_a_cap_to_scale_must_exist():
    uncapped = TINY_TASK.model_copy(update={"size_cap_bytes": None})
    with pytest.raises(NotJudgeableError, match="no size cap"):
        derived_rules(uncapped, RuleChange(size_cap_scale=0.9))


def test_a_keep_rule_change_shows_in_the_rules_version():
    task = derived_rules(TINY_TASK, RuleChange(keep_rule="welch"))
    assert (task.keep.name, task.rules_version) == ("welch", "tiny/1+keep=welch")
