"""The typed boundary between the ledger's JSON and DuckDB: one struct per event type,
generated from the domain's pydantic models, so no field of an event can drop out unseen.

Each event class in `domain.events.ALL_EVENTS` gets a `json_transform` shape built from
its fields (UUID, BIGINT, DOUBLE, VARCHAR, BOOLEAN, TIMESTAMPTZ, lists, nested STRUCTs;
dicts stay JSON). The fold parses every event with its type's shape exactly once, and
the projections show each type as a typed view, `ev_<snake_case name>` (`ev_trial_judged`,
...), with one column per field, so a field added to a domain event is a column there the
next time the projections are built, with no code here.

Adding an event type:
1. define the DomainEvent subclass in domain/ and list it in its module's `*_EVENTS`
   tuple (domain/events.py gathers them into `ALL_EVENTS`): it is parsed, stored in
   `events`, and queryable in its typed view from then on;
2. if a summary table (trials, searches, agent_sessions, ...) should show it, add its
   columns to projections/schema.py and their SQL to projections/fold_tables.py (trial
   events: fold_trials.py), reading the parsed rows from the temp table `p_<snake name>`;
3. a field type this module cannot map raises `TypeError` naming it: add a case to
   `duck_shape`. tests/unit/test_projection_structs.py checks that every field of every
   event is a column of its typed view; tests/integration/test_typed_events.py that a
   field added to an event reaches the projections.
"""

from __future__ import annotations

import json
import re
import types
from datetime import datetime
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel

from domain.base import DomainEvent
from domain.events import ALL_EVENTS

Shape = str | list[Any] | dict[str, Any]
_SCALARS: tuple[tuple[type, str], ...] = (
    (bool, "BOOLEAN"),  # before int: bool is an int
    (Enum, "VARCHAR"),  # before str: StrEnum is a str
    (int, "BIGINT"),
    (float, "DOUBLE"),
    (str, "VARCHAR"),
    (UUID, "UUID"),
    (datetime, "TIMESTAMPTZ"),
)


def duck_shape(annotation: Any) -> Shape:
    """The json_transform shape of one pydantic field type."""
    annotation = _without_none(annotation)
    origin = get_origin(annotation)
    if origin in (tuple, list):
        items = [a for a in get_args(annotation) if a is not Ellipsis]
        return [duck_shape(items[0])] if len(set(items)) == 1 else "JSON"
    if origin is dict or annotation is dict or annotation is Any:
        return "JSON"  # open-ended: evidence, config, measurements, usage
    if origin is Literal:
        return "VARCHAR" if all(isinstance(a, str) for a in get_args(annotation)) else "JSON"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {name: duck_shape(f.annotation) for name, f in annotation.model_fields.items()}
    for python, duck in _SCALARS:
        if isinstance(annotation, type) and issubclass(annotation, python):
            return duck
    raise TypeError(f"no DuckDB type for {annotation!r}: add a case to projections/structs.py")


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else Any
    return annotation


def snake(name: str) -> str:
    """`TrialJudged` -> `trial_judged`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class EventType:
    """One event class as the fold sees it: its name, current version and parse shape."""

    def __init__(self, cls: type[DomainEvent]) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.version = cls.class_version
        self.table = f"p_{snake(self.name)}"  # the parsed rows of one fold step
        self.view = f"ev_{snake(self.name)}"  # every event of the type, typed
        self.fields = tuple(cls.model_fields)
        self.shape = json.dumps(
            {name: duck_shape(f.annotation) for name, f in cls.model_fields.items()},
            separators=(",", ":"),
        )

    def parse(self, body: str) -> str:
        """SQL for the typed struct of a body column: `json_transform(body, shape)`."""
        return f"json_transform({body}, '{self.shape}')"


def catalogue() -> dict[str, EventType]:
    """Every event type, read from the domain's catalogue each time it is asked for."""
    return {cls.__name__: EventType(cls) for cls in ALL_EVENTS}


def view_ddl(kind: EventType) -> str:
    """A typed view of one event type: position, search (stream), then one column per field.

    Events stored at an older class version are read through `upcasts` (the stored body
    upcast to the current version), so old ledgers show the same columns.
    """
    columns = ", ".join(f'p."{name}"' for name in kind.fields)
    return (
        f"CREATE OR REPLACE VIEW {kind.view} AS SELECT position, stream, {columns} FROM"  # noqa: S608
        f" (SELECT e.position, e.search_id AS stream,"
        f" {kind.parse('coalesce(u.payload, e.payload)')} AS p"
        " FROM events e LEFT JOIN upcasts u USING (position)"
        f" WHERE e.type = '{kind.name}')"
    )
