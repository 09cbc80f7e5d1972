"""The typed boundary: every field of every domain event has a DuckDB type and a column."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import duckdb
import pytest

from domain.events import ALL_EVENTS
from domain.keep import KeepRule
from domain.labels import FailureLabel
from domain.trial import ProgressSample
from projections import schema
from projections.structs import catalogue, duck_shape, snake


@pytest.mark.parametrize(
    ("annotation", "shape"),
    [
        (UUID, "UUID"),
        (UUID | None, "UUID"),
        (bool, "BOOLEAN"),
        (int, "BIGINT"),
        (float | None, "DOUBLE"),
        (str, "VARCHAR"),
        (datetime, "TIMESTAMPTZ"),
        (FailureLabel, "VARCHAR"),
        (Literal["a", "b"], "VARCHAR"),
        (tuple[str, ...], ["VARCHAR"]),
        (tuple[UUID, ...], ["UUID"]),
        (dict[str, float], "JSON"),
        (dict[str, Any], "JSON"),
        (tuple[ProgressSample, ...], [{"step": "BIGINT", "loss": "DOUBLE", "elapsed_s": "DOUBLE"}]),
        (
            KeepRule,
            {
                "name": "VARCHAR",
                "alpha": "DOUBLE",
                "min_effect": "DOUBLE",
                "min_relative_effect": "DOUBLE",
                "example_blocks": "BIGINT",
                "resamples": "BIGINT",
                "sigmas": "DOUBLE",
                "min_floor": "DOUBLE",
            },
        ),
    ],
)
def test_field_types_map_to_duckdb_types(annotation, shape):
    assert duck_shape(annotation) == shape


def test_a_type_without_a_mapping_is_refused_by_name():
    with pytest.raises(TypeError, match="bytes"):
        duck_shape(bytes)


def test_every_event_field_is_in_its_shape():
    kinds = catalogue()
    assert set(kinds) == {cls.__name__ for cls in ALL_EVENTS}
    for kind in kinds.values():
        assert list(json.loads(kind.shape)) == list(kind.cls.model_fields), kind.name
        assert kind.view == f"ev_{snake(kind.name)}"


def test_every_event_field_is_a_column_of_its_typed_view():
    con = duckdb.connect()
    schema.create(con)
    for kind in catalogue().values():
        query = f"SELECT * FROM {kind.view} LIMIT 0"  # noqa: S608
        columns = [d[0] for d in con.execute(query).description]
        assert columns == ["position", "stream", *kind.cls.model_fields], kind.name
