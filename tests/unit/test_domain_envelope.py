"""Stored events: canonical envelopes chained by hash, decoded (and upcast) back."""

from __future__ import annotations

import json
from typing import Any, ClassVar
from uuid import UUID

import pytest

from domain import events as ev
from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.envelope import (
    GENESIS,
    StoredRecord,
    canonical,
    chain_hash,
    open_envelope,
    seal,
    topic_name,
)
from domain.keep import KeepRule, NoiseFloor
from domain.labels import FailureLabel, Verdict

STREAM = str(UUID(int=42))
BODY = {"b": [1, 2.5, None], "a": "é", "nested": {"z": True, "y": 0}}


def sealed(**changes: Any) -> tuple[bytes, str]:
    args: dict[str, Any] = {
        "body": BODY,
        "class_version": 1,
        "stream": STREAM,
        "prev": GENESIS,
        "topic": "domain.trial:TrialProposed",
        "aggregate_id": STREAM,
        "version": 1,
    }
    return seal(**{**args, **changes})


# Envelopes:


def test_seal_then_open_gives_back_every_part() -> None:
    state, digest = sealed(class_version=3, prev="f" * 64)

    opened = open_envelope(state)

    assert opened.body == BODY
    assert (opened.class_version, opened.stream, opened.prev) == (3, STREAM, "f" * 64)
    assert opened.hash == digest
    assert len(digest) == 64


def test_the_stored_bytes_are_canonical_json() -> None:
    state, _ = sealed()

    assert state == canonical(json.loads(state))
    assert b" " not in state
    assert b"\\u00e9" in state  # ASCII escapes
    assert state.index(b'"event"') < state.index(b'"hash"') < state.index(b'"prev"')


def test_the_hash_covers_the_envelope_and_the_stored_columns() -> None:
    state, digest = sealed()
    envelope = json.loads(state)

    assert chain_hash(envelope, "domain.trial:TrialProposed", STREAM, 1) == digest


@pytest.mark.parametrize(
    "change",
    [
        {"topic": "domain.trial:TrialLaunched"},
        {"aggregate_id": str(UUID(int=43))},
        {"version": 2},
        {"class_version": 2},
        {"stream": str(UUID(int=43))},
        {"prev": "1" + GENESIS[1:]},
        {"body": {**BODY, "a": "e"}},
        {"body": {**BODY, "b": [1, 2.5000001, None]}},
        {"body": {**BODY, "extra": None}},
    ],
)
def test_any_change_changes_the_hash(change: dict[str, Any]) -> None:
    _, before = sealed()

    _, after = sealed(**change)

    assert after != before


def test_the_hash_ignores_key_order() -> None:
    _, digest = sealed()

    _, reordered = sealed(body=dict(reversed(list(BODY.items()))))

    assert reordered == digest


def test_topic_name_takes_the_class_name() -> None:
    assert topic_name("domain.trial:TrialProposed") == "TrialProposed"
    assert topic_name("domain.trial.TrialProposed") == "TrialProposed"
    assert topic_name("TrialProposed") == "TrialProposed"


# Decoding:

SEARCH = s.search_id(0, "tiny", 0)
TRIAL = t.trial_id(SEARCH, 1)

EXAMPLES: list[DomainEvent] = [
    s.start(
        0,
        "tiny",
        0,
        task_sha256="0" * 64,
        rules_version="tiny/1",
        metric="loss",
        lower_is_better=True,
        roster=("opt", "arch"),
        policy="specialists",
        agent="offline",
        lineage=True,
        keep_rule=KeepRule(name="welch"),
        config={"trials": 3, "surfaces": {"opt": ["opt"]}},
        environment={"python": "3.11"},
    ),
    s.NoiseFloorMeasured(
        originator_id=SEARCH,
        originator_version=2,
        baseline_trial_id=TRIAL,
        noise=NoiseFloor(k=2, scores=(1.0, 1.5), sigma=0.35, floor=0.5, seeds_per_trial=1),
        budgets=None,
    ),
    t.TrialProposed(
        originator_id=TRIAL,
        originator_version=1,
        search_id=SEARCH,
        sequence=1,
        specialist="opt",
        agent="offline",
        parent_id=None,
        hypothesis="héllo\nworld",
        surfaces=("opt",),
        lineage_view_sha256="a" * 64,
        lineage_view="VIEW",
    ),
    t.TrainingProgressed(
        originator_id=TRIAL,
        originator_version=4,
        seed=0,
        samples=(t.ProgressSample(step=1, loss=None, elapsed_s=0.5),),
    ),
    t.TrialScored(
        originator_id=TRIAL,
        originator_version=5,
        metric="loss",
        lower_is_better=True,
        score=0.1 + 0.2,
        measurements={"train_s": 1e-7},
        per_seed=(t.SeedResult(seed=0, score=0.3, scoring=False),),
        rules_version="tiny/1",
    ),
    t.TrialFailed(
        originator_id=TRIAL,
        originator_version=5,
        label=FailureLabel.CRASH,
        reason="nan",
        evidence={"steps": [1, 2], "why": None},
    ),
    t.TrialJudged(
        originator_id=TRIAL,
        originator_version=6,
        verdict=Verdict.KEEP,
        rule="noise_floor",
        score=0.3,
        best_before_id=UUID(int=3),
        best_before_score=1.0,
        delta=-0.7,
        numbers={"p": 0.01},
    ),
]


def record_of(event: DomainEvent, topic: str | None = None, v: int | None = None) -> StoredRecord:
    cls = type(event)
    topic = topic or ev.topic_of(cls)
    state, _ = seal(
        ev.body_of(event),
        cls.class_version if v is None else v,
        STREAM,
        GENESIS,
        topic,
        str(event.originator_id),
        event.originator_version,
    )
    return StoredRecord(1, str(event.originator_id), event.originator_version, topic, state)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_a_sealed_event_decodes_to_an_equal_event(event: DomainEvent) -> None:
    decoded = ev.decode(record_of(event))

    assert type(decoded) is type(event)
    assert decoded == event


def test_every_catalogued_class_is_found_by_its_topic() -> None:
    for cls in [*s.SEARCH_EVENTS, *t.TRIAL_EVENTS]:
        assert ev.event_class(ev.topic_of(cls)) is cls
    assert ev.topic_of(t.TrialScored) == "domain.trial:TrialScored"


def test_an_unknown_topic_is_refused() -> None:
    with pytest.raises(ev.UnknownEventError, match="no event class for topic 'x:Nope'"):
        ev.event_class("x:Nope")


# Upcasting:


def _litres(body: dict[str, Any]) -> None:
    body["litres"] = body.pop("amount")  # v1 -> v2: renamed


def _unit(body: dict[str, Any]) -> None:
    body["unit"] = "l"  # v2 -> v3: a new field with the old meaning


class PlantWatered(DomainEvent):
    """A test-only event at class_version 3, stored earlier as 1 and 2."""

    class_version: ClassVar[int] = 3
    upcasters: ClassVar[dict[int, Any]] = {1: _litres, 2: _unit}

    litres: float
    unit: str


class PlantPruned(DomainEvent):
    """A test-only event whose upcaster returns a new dict instead of mutating."""

    class_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Any]] = {1: lambda body: {**body, "cuts": 1}}

    cuts: int


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in (PlantWatered, PlantPruned):
        monkeypatch.setitem(ev.EVENTS_BY_NAME, cls.__name__, cls)


def stored(topic: str, body: dict[str, Any], v: int) -> StoredRecord:
    state, _ = seal(body, v, STREAM, GENESIS, topic, STREAM, 1)
    return StoredRecord(1, STREAM, 1, topic, state)


WATERED = "tests.unit:PlantWatered"
HEADER = {
    "originator_id": STREAM,
    "originator_version": 1,
    "timestamp": "2024-05-01T12:00:00Z",
}


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize(
    ("body", "v"),
    [
        ({"amount": 2.5}, 1),
        ({"litres": 2.5}, 2),
        ({"litres": 2.5, "unit": "l"}, 3),
    ],
)
def test_an_older_payload_is_upcast_one_version_at_a_time(body: dict[str, Any], v: int) -> None:
    event = ev.decode(stored(WATERED, {**HEADER, **body}, v))

    assert isinstance(event, PlantWatered)
    assert (event.litres, event.unit) == (2.5, "l")
    assert event.originator_id == UUID(STREAM)


@pytest.mark.usefixtures("registered")
def test_a_current_event_round_trips_without_upcasting() -> None:
    event = PlantWatered(originator_id=UUID(STREAM), originator_version=1, litres=1.0, unit="ml")

    assert ev.decode(record_of(event, topic=WATERED)) == event


@pytest.mark.usefixtures("registered")
def test_a_newer_shape_stored_as_old_fails_the_upcaster() -> None:
    with pytest.raises(KeyError, match="amount"):
        ev.decode(stored(WATERED, {**HEADER, "litres": 2.5}, 1))


@pytest.mark.usefixtures("registered")
def test_an_upcaster_may_return_the_new_payload() -> None:
    event = ev.decode(stored("tests.unit:PlantPruned", dict(HEADER), 1))

    assert event == PlantPruned(
        originator_id=UUID(STREAM),
        originator_version=1,
        timestamp=event.timestamp,
        cuts=1,
    )
