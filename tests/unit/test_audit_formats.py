"""audit's output formats: json is one array ([] for none), jsonl one object per line."""

from __future__ import annotations

import json

from projections.audit import Result, to_csv, to_json, to_jsonl


def _result(rows):
    return Result(columns=["seq", "status"], rows=rows)


def test_json_is_one_array_and_empty_is_an_empty_array():
    assert json.loads(to_json(_result([(1, "keep"), (2, "crash")]))) == [
        {"seq": 1, "status": "keep"},
        {"seq": 2, "status": "crash"},
    ]
    assert to_json(_result([])) == "[]\n"


def test_jsonl_is_one_object_per_line_and_nothing_for_no_rows():
    lines = to_jsonl(_result([(1, "keep"), (2, "crash")])).splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2]
    assert to_jsonl(_result([])) == ""


def test_csv_has_its_header_even_without_rows():
    assert to_csv(_result([])) == "seq,status\n"
