"""Rows to the terminal or to a pipe, in every `--format`: a table for people, csv, json
or jsonl for tools. Piped, a table is never wrapped or padded (for patch, grep, diff
and `less -S`)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

from projections import audit, display
from projections.audit import Result

PIPED_WIDTH = 100_000  # piped output is never wrapped: lines are as long as their content
WRITERS = {"csv": audit.to_csv, "json": audit.to_json, "jsonl": audit.to_jsonl}


def out(console: Console) -> Console:
    """`console` on a terminal; piped, one that never wraps or pads a line."""
    if console.is_terminal:
        return console
    return Console(width=PIPED_WIDTH, soft_wrap=True, highlight=False)


def emit(console: Console, result: Result, fmt: str, table: Any = None) -> None:
    """Rows as a table (`table`, or one made from the rows), or as csv, json or jsonl."""
    if fmt in WRITERS:
        sys.stdout.write(WRITERS[fmt](result))
        sys.stdout.flush()
    else:
        out(console).print(display.result_table(result) if table is None else table)
