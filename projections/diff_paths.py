"""`show N --diff` for `git apply` where the user stands: the stored diff's paths are
relative to the task's recipe folder (a/train.py), so they are rebased onto that folder's
path as `git apply` resolves it (from the repository's top level inside a git work tree,
else from the current folder), with a one-line note where the diff will not apply to
the folder as it is on disk. `--raw` prints the stored bytes untouched.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from projections.listing import diff_from_seed

HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


@dataclass(frozen=True)
class Printable:
    text: str
    note: str = ""  # one line for stderr, or ""


def rebase(diff: str, prefix: str) -> str:
    """Every file header's path under `prefix` (a/x -> a/prefix/x; /dev/null stays).
    Hunk bodies are skipped by their line counts, so a removed line that reads
    "-- a/x" is never taken for a header."""
    if not prefix:
        return diff
    out: list[str] = []
    old = new = 0  # lines left in the current hunk, on each side
    for line in diff.splitlines(keepends=True):
        if old > 0 or new > 0:
            old -= line[:1] in (" ", "-")
            new -= line[:1] in (" ", "+")
        elif match := HUNK.match(line):
            old, new = (int(n) if n is not None else 1 for n in match.groups())
        elif line.startswith(("--- a/", "+++ b/")):
            line = f"{line[:6]}{prefix}/{line[6:]}"
        out.append(line)
    return "".join(out)


def apply_root(cwd: Path) -> Path:
    """Where `git apply` run in `cwd` resolves a diff's paths: the git top level, or `cwd`
    outside a repository (or without git)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=cwd, capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return cwd
    top = done.stdout.strip()
    return Path(top) if done.returncode == 0 and top else cwd


def for_git_apply(
    con: duckdb.DuckDBPyConnection,
    search_id: UUID,
    row: dict[str, Any],
    from_seed: bool,
    where: tuple[Path | None, Path] | None,
) -> Printable:
    """The trial's diff (from its parent, or `from_seed`). `where` is (the task's recipe
    folder if it is on disk here, the current folder): the paths are rebased so that
    `git apply` there finds the folder's files, or stay as stored, with a note, where it
    cannot. `where` None: the stored paths, as asked for (--raw)."""
    text = (diff_from_seed(con, search_id, row) if from_seed else row.get("diff")) or ""
    if where is None:
        return Printable(text)
    folder, cwd = where
    if folder is None or not folder.is_dir():
        note = "the task's recipe folder is not on disk here: the diff's paths are relative to it"
        return Printable(text, note)
    root = apply_root(cwd).resolve()
    try:
        prefix = folder.resolve().relative_to(root).as_posix()
    except ValueError:
        note = f"{folder} is outside {root}: the diff's paths are relative to that folder"
        return Printable(text, note)
    place = prefix if prefix != "." else ""
    return Printable(rebase(text, place), _mismatch(con, search_id, row, from_seed, folder))


def _mismatch(
    con: duckdb.DuckDBPyConnection,
    search_id: UUID,
    row: dict[str, Any],
    from_seed: bool,
    folder: Path,
) -> str:
    """One line when the diff will not apply to the folder as it is: a parent that is not
    the seed recipe, or a folder edited since the search ran."""
    seed = _seed_recipe(con, search_id)
    parent = row.get("parent_seq")
    if not from_seed and parent is not None and _sha_of(con, search_id, parent) != seed[0]:
        return (
            f"trial {row['seq']}'s parent is trial {parent}, not the seed recipe in {folder}:"
            f" this diff applies to trial {parent}'s recipe; --from-seed gives the whole"
            " change from the seed"
        )
    if any(_read(folder / name) != text for name, text in seed[1].items()):
        return f"{folder} differs from this search's seed recipe: git apply may refuse the diff"
    return ""


def _seed_recipe(con: duckdb.DuckDBPyConnection, search_id: UUID) -> tuple[str, dict[str, str]]:
    """The search's seed recipe (its first baseline's): sha256 and files."""
    found = con.execute(
        "SELECT r.sha256, r.files FROM trials t JOIN recipes r ON r.sha256 = t.child_sha256"
        " WHERE t.search_id = ? AND t.specialist = 'baseline' ORDER BY t.seq LIMIT 1",
        [search_id],
    ).fetchone()
    return (found[0], json.loads(found[1])) if found else ("", {})


def _sha_of(con: duckdb.DuckDBPyConnection, search_id: UUID, seq: int) -> str | None:
    found = con.execute(
        "SELECT child_sha256 FROM trials WHERE search_id = ? AND seq = ?", [search_id, seq]
    ).fetchone()
    return found[0] if found else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def recorded_task(con: duckdb.DuckDBPyConnection, search_id: UUID) -> str | None:
    """The task as the search was started with it (a built-in name or a folder)."""
    found = con.execute(
        "SELECT config->>'task' FROM searches WHERE search_id = ?", [search_id]
    ).fetchone()
    return found[0] if found else None
