"""Fault points: the domain declares them and does nothing; the entry point arms a trap."""

from __future__ import annotations

import signal

import pytest

from domain import faults
from ledger.faults import FaultSpecError, arm_from_environment


@pytest.fixture(autouse=True)
def disarmed():
    yield
    faults.arm(None)


def test_an_unarmed_point_does_nothing():
    faults.point("append")


def test_an_armed_trap_sees_every_point_passed():
    passed = []
    faults.arm(passed.append)
    faults.point("propose")
    faults.point("project")
    assert passed == ["propose", "project"]


@pytest.mark.parametrize("spec", ["nowhere:1", "append", "append:0", "append:x"])
def test_a_malformed_fault_is_refused_in_one_line(spec):
    with pytest.raises(FaultSpecError, match="expected <point>:<n>"):
        arm_from_environment({"AUTORECIPE_FAULT": spec})


def test_the_armed_trap_kills_on_the_nth_hit_of_its_point_only(monkeypatch):
    kills = []
    monkeypatch.setattr("ledger.faults.os.kill", lambda pid, sig: kills.append(sig))
    arm_from_environment({"AUTORECIPE_FAULT": "final test:2"})
    faults.point("append")
    faults.point("final test")
    assert kills == []
    faults.point("final test")
    assert kills == [signal.SIGKILL]


def test_no_variable_arms_nothing(monkeypatch):
    kills = []
    monkeypatch.setattr("ledger.faults.os.kill", lambda pid, sig: kills.append(sig))
    arm_from_environment({})
    for point in faults.POINTS:
        faults.point(point)
    assert kills == []
