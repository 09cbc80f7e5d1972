"""The tools as the model sees them (name, description, JSON schema), and a strict check
of a call's input against the same schema, so the two can never disagree."""

from __future__ import annotations

from typing import Any

_INT = {"type": "integer", "minimum": 0}


class ToolInputError(ValueError):
    """A tool call the model got wrong; it is told why and the session goes on."""


def _tool(name: str, description: str, required: tuple[str, ...], **props: Any) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }
    return {"name": name, "description": description, "input_schema": schema}


SPECS: tuple[dict[str, Any], ...] = (
    _tool(
        "read_recipe",
        "Read your private copy of the recipe (at first: the current best's). Optional: one"
        " file, a line range.",
        (),
        path={"type": "string", "description": "a recipe file; default: every file"},
        start_line={**_INT, "description": "first line, 1-based"},
        end_line={**_INT, "description": "last line, inclusive"},
    ),
    _tool(
        "edit_recipe",
        "Replace text in your private copy. `old` must occur exactly once; copy it exactly,"
        " with enough lines around it. Returns your diff so far.",
        ("old", "new"),
        old={"type": "string", "description": "exact text to replace"},
        new={"type": "string", "description": "its replacement"},
        path={"type": "string", "description": "the file; default: whichever holds `old`"},
    ),
    _tool(
        "rebase_to",
        "Make your private copy trial N's recipe (dropping your edits), to build on another"
        " keep or repair a failed trial. Your submission's parent becomes N.",
        ("trial",),
        trial={**_INT, "description": "trial number"},
    ),
    _tool(
        "view_trial",
        "One trial: hypothesis, parent, outcome, score, evidence, log excerpt and its diff.",
        ("trial",),
        trial={**_INT, "description": "trial number"},
    ),
    _tool(
        "query_lineage",
        "One read-only SQL SELECT over the projections (tables: trials, searches, lineage,"
        " recipes, progress; view: leaderboard). At most 50 rows and 16 KB come back.",
        ("sql",),
        sql={"type": "string"},
    ),
    _tool(
        "preflight",
        "Run the static checks (syntax; surfaces) on your private copy against its parent.",
        (),
    ),
    _tool(
        "submit_trial",
        "Submit your private copy as the trial. Once per session; it ends the session.",
        ("hypothesis", "expected_delta"),
        hypothesis={"type": "string", "description": "one sentence: what changes and why"},
        expected_delta={"type": "number", "description": "signed estimated change of the metric"},
        parent={**_INT, "description": "the trial your copy is based on; default: that one"},
        idea={"type": "string", "description": "a short key for the technique, e.g. lr-warmup"},
    ),
)
_BY_NAME = {spec["name"]: spec for spec in SPECS}
_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float)}


def validate(name: str, args: object) -> dict[str, Any]:
    """The call's input as keyword arguments, or ToolInputError saying what is wrong."""
    schema = _BY_NAME[name]["input_schema"]
    if not isinstance(args, dict):
        raise ToolInputError(f"{name} takes a JSON object, not {type(args).__name__}")
    unknown = sorted(set(args) - set(schema["properties"]))
    if unknown:
        raise ToolInputError(f"{name} has no parameter {', '.join(unknown)}")
    missing = [key for key in schema["required"] if key not in args]
    if missing:
        raise ToolInputError(f"{name} needs {', '.join(missing)}")
    for key, value in args.items():
        _check_value(name, key, value, schema["properties"][key])
    return dict(args)


def _check_value(name: str, key: str, value: object, prop: dict[str, Any]) -> None:
    kind = prop["type"]
    if isinstance(value, bool) or not isinstance(value, _TYPES[kind]):
        raise ToolInputError(f"{name}: {key} must be a{'n' if kind == 'integer' else ''} {kind}")
    if "minimum" in prop and value < prop["minimum"]:
        raise ToolInputError(f"{name}: {key} must be at least {prop['minimum']}")
