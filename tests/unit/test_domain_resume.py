"""Which options a resume takes from the ledger and which from the command line."""

from __future__ import annotations

import pytest

from domain import resume
from domain import search as s
from domain.config import SearchConfig
from domain.labels import FinishReason
from tests.unit.test_domain_search import given, started

RECORDED = SearchConfig(task="tiny", trials=30, seed=0, threads=1)


def test_options_equal_to_the_recorded_ones_are_accepted_and_change_nothing():
    assert resume.changes(RECORDED, {"seed": 0, "task": "tiny", "trials": 30}) == {}


def test_every_option_that_differs_from_the_ledger_is_named_in_one_line():
    with pytest.raises(resume.ResumeConflictError) as refused:
        resume.changes(RECORDED, {"seed": 4, "threads": 2, "trials": 5, "agent": "claude"})
    message = str(refused.value)
    assert "\n" not in message
    for part in ("--seed 4 (recorded: 0)", "--threads 2 (recorded: 1)", "--agents claude"):
        assert part in message
    assert "--trials" not in message  # a stop limit is the command line's to set


def test_a_tuple_option_equal_to_the_recorded_list_is_no_conflict():
    recorded = RECORDED.model_copy(update={"specialists": ("opt", "arch")})
    assert resume.changes(recorded, {"specialists": ("opt", "arch")}) == {}
    with pytest.raises(resume.ResumeConflictError, match="--specialists opt"):
        resume.changes(recorded, {"specialists": ("opt",)})


def test_stop_limits_and_the_runner_come_from_the_command_line():
    assert resume.changes(RECORDED, {"trials": 5, "patience": 3, "runner": "local"}) == {
        "trials": 5,
        "patience": 3,
    }


def test_an_option_a_resume_does_not_know_is_refused():
    with pytest.raises(resume.ResumeConflictError, match="no option bogus"):
        resume.changes(RECORDED, {"bogus": 1})


def test_a_resume_s_changes_are_the_search_s_config_from_then_on():
    first = started()
    finished = s.finish(given(first), FinishReason.INTERRUPTED, trials=1, best_trial_id=None,
                        best_score=None)  # fmt: skip
    search = given(first, finished)
    resumed = s.resume(search, abandoned=(), host="h", config={"trials": 9})
    after = given(first, finished, resumed)
    assert after.config["trials"] == 9
    assert after.finished is None
    assert given(first).config["trials"] == 5  # the start is never rewritten


def test_describe_says_where_each_option_comes_from():
    line = resume.describe(RECORDED.model_copy(update={"trials": 5}), {"trials": 5})
    assert "from the ledger: task=tiny seed=0" in line
    assert "command line: trials=5" in line
    assert line.endswith("(this resume changed trials)")
