"""Canned audit queries: documented .sql files under projections/queries/, looked up by name.

Each file opens with a comment block: its first line is the question the query answers,
the rest describes its rules and columns. `cli.py audit --list` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from projections.audit import Result

QUERY_DIR = Path(__file__).parent / "queries"


class UnknownQueryError(LookupError):
    pass


@dataclass(frozen=True)
class CannedQuery:
    name: str
    summary: str  # the question it answers
    header: str  # the whole comment block: rules and columns
    sql: str


def _parse(path: Path) -> CannedQuery:
    text = path.read_text(encoding="utf-8")
    comments = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        comments.append(line[2:].strip())
    summary = comments[0] if comments else ""
    # The comment wraps at the file's line length; rejoin it, with the columns apart.
    rules, _, cols = " ".join(comments[1:]).partition("Columns:")
    parts = (summary, rules.strip(), f"Columns: {cols.strip()}" if cols else "")
    return CannedQuery(path.stem, summary, "\n".join(p for p in parts if p), text)


def available() -> list[CannedQuery]:
    return [_parse(path) for path in sorted(QUERY_DIR.glob("*.sql"))]


def load(name: str) -> CannedQuery:
    path = QUERY_DIR / f"{name}.sql"
    if not name.replace("_", "").isalnum() or not path.is_file():
        names = ", ".join(q.name for q in available())
        raise UnknownQueryError(f"no canned query {name!r}; there are: {names}")
    return _parse(path)


def listing() -> Result:
    """The canned queries as an audit result, so every output format can show them."""
    rows = [(q.name, q.header) for q in available()]
    return Result(["query", "what it answers and its columns"], rows)
