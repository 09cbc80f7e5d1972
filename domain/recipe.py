"""Recipes as text: content hashes, unified diffs that apply strictly, surface regions.

A recipe is a mapping of relative file path to file text. Diffs are multi-file unified
diffs (`--- a/path`, `+++ b/path`); applying one never fuzzes, so a patch written for
another parent fails loudly instead of landing somewhere else.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping

Recipe = Mapping[str, str]

NO_NEWLINE = "\\ No newline at end of file"
CORE_SURFACE = "core"  # lines outside every marked region
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_SURFACE_START = re.compile(r"^\s*#\s*-{2,}\s*surface:\s*([a-z][a-z0-9_]*)\s*-{2,}\s*$")
_SURFACE_END = re.compile(r"^\s*#\s*-{2,}\s*end surface\b.*$")


class PatchError(ValueError):
    """A diff that does not apply to the recipe it was given."""


def recipe_sha256(recipe: Recipe) -> str:
    """Hash of the sorted (path, text) pairs; lengths prefix each part so no two differ."""
    digest = hashlib.sha256()
    for path in sorted(recipe):
        data = recipe[path].encode()
        digest.update(f"{len(path)}:{path}:{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_diff(parent: Recipe, child: Recipe) -> str:
    """Unified diff (3 lines of context) from parent to child, files in sorted order."""
    parts: list[str] = []
    for path in sorted(set(parent) | set(child)):
        old, new = parent.get(path), child.get(path)
        if old == new:
            continue
        parts.extend(_file_diff(path, old, new))
    return "".join(parts)


def _file_diff(path: str, old: str | None, new: str | None) -> list[str]:
    a = f"a/{path}" if old is not None else "/dev/null"
    b = f"b/{path}" if new is not None else "/dev/null"
    lines = list(
        difflib.unified_diff(_split(old or ""), _split(new or ""), fromfile=a, tofile=b, n=3)
    )
    if not lines:  # an empty file added or removed: headers alone say it
        return [f"--- {a}\n", f"+++ {b}\n"]
    out: list[str] = []
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:  # the last line of a file without a trailing newline
            out.append(line + "\n" + NO_NEWLINE + "\n")
    return out


def _split(text: str) -> list[str]:
    """Lines with their endings, split on "\n" only (never on form feeds or U+2028)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def diff_paths(diff: str) -> list[str]:
    """Files a diff touches, from its headers (so deletions and creations count too)."""
    paths: list[str] = []
    for old, new, _hunks in _parse_files(diff):
        for path in (old, new):
            if path is not None and path not in paths:
                paths.append(path)
    return paths


def changed_lines(diff: str) -> tuple[int, int]:
    """(added, removed) lines over every hunk of a diff."""
    added = removed = 0
    for _old, _new, hunks in _parse_files(diff):
        for _start, body in hunks:
            added += sum(1 for line in body if line[:1] == "+")
            removed += sum(1 for line in body if line[:1] == "-")
    return added, removed


def apply_diff(recipe: Recipe, diff: str) -> dict[str, str]:
    """Apply a unified diff exactly; raise PatchError on any mismatch."""
    result = dict(recipe)
    for old_path, new_path, hunks in _parse_files(diff):
        if old_path is None and new_path in result:
            raise PatchError(f"{new_path}: the diff creates a file the recipe already has")
        source = "" if old_path is None else _existing(result, old_path)
        text = _apply_hunks(source, hunks, old_path or new_path or "?")
        if old_path is not None:
            del result[old_path]
        if new_path is not None:
            result[new_path] = text
    return result


def _existing(recipe: Recipe, path: str) -> str:
    if path not in recipe:
        raise PatchError(f"{path}: file is not in the recipe")
    return recipe[path]


def _strip_prefix(name: str) -> str | None:
    name = name.split("\t")[0].strip()
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


Hunk = tuple[int, list[str]]  # (1-based old start, body lines with their markers)


def _parse_files(diff: str) -> list[tuple[str | None, str | None, list[Hunk]]]:
    files: list[tuple[str | None, str | None, list[Hunk]]] = []
    lines = _split(diff)
    i = 0
    while i < len(lines):
        if not lines[i].startswith("--- "):
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise PatchError(f"line {i + 1}: '---' header without a '+++' line")
        old, new = _strip_prefix(lines[i][4:]), _strip_prefix(lines[i + 1][4:])
        hunks, i = _parse_hunks(lines, i + 2)
        files.append((old, new, hunks))
    if not files and diff.strip():
        raise PatchError("no file headers found in the diff")
    return files


def _parse_hunks(lines: list[str], i: int) -> tuple[list[Hunk], int]:
    """Hunks after a file header; each body is exactly as long as its header says."""
    hunks: list[Hunk] = []
    while i < len(lines) and lines[i].startswith("@@"):
        match = _HUNK.match(lines[i])
        if not match:
            raise PatchError(f"line {i + 1}: malformed hunk header {lines[i].strip()!r}")
        start = int(match.group(1))
        old_left = int(match.group(2) or "1")
        new_left = int(match.group(4) or "1")
        body: list[str] = []
        i += 1
        while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
            tag = lines[i][:1]
            if tag not in (" ", "+", "-", "\\"):
                raise PatchError(f"line {i + 1}: hunk shorter than its header says")
            old_left -= tag in (" ", "-")
            new_left -= tag in (" ", "+")
            body.append(lines[i])
            i += 1
        if old_left > 0 or new_left > 0:
            raise PatchError("the diff ends inside a hunk")
        hunks.append((start, body))
    return hunks, i


def _apply_hunks(source: str, hunks: list[Hunk], path: str) -> str:
    old = _split(source)
    out: list[str] = []
    cursor = 0  # index into old
    for start, body in hunks:
        want, put = _hunk_sides(body)
        at = max(start - 1, 0) if want else start
        if at < cursor or old[at : at + len(want)] != want:
            raise PatchError(f"{path}: hunk at line {start} does not match the recipe")
        out.extend(old[cursor:at])
        out.extend(put)
        cursor = at + len(want)
    out.extend(old[cursor:])
    return "".join(out)


def _hunk_sides(body: list[str]) -> tuple[list[str], list[str]]:
    """Old and new line lists of one hunk; a '\\ No newline' marker trims the line before."""
    old: list[str] = []
    new: list[str] = []
    last: list[list[str]] = []
    for line in body:
        tag, text = line[:1], line[1:]
        if tag == "\\":
            for side in last:
                side[-1] = side[-1].rstrip("\n")
            continue
        last = [old, new] if tag == " " else [old] if tag == "-" else [new]
        for side in last:
            side.append(text)
    return old, new


def _surface_scan(text: str) -> tuple[list[str], list[str]]:
    """Per line, the surface owning it (markers belong to core); per gap before line i,
    the surface open there (so an insertion right after a start marker is inside)."""
    owners: list[str] = []
    gaps: list[str] = [CORE_SURFACE]
    current = CORE_SURFACE
    for line in _split(text):
        start = _SURFACE_START.match(line.rstrip("\n"))
        if start:
            owners.append(CORE_SURFACE)
            current = start.group(1)
        elif _SURFACE_END.match(line.rstrip("\n")):
            owners.append(CORE_SURFACE)
            current = CORE_SURFACE
        else:
            owners.append(current)
        gaps.append(current)
    return owners, gaps


def surface_map(text: str) -> list[str]:
    """The surface that owns each line (0-based); markers themselves belong to core."""
    return _surface_scan(text)[0]


def surfaces_declared(recipe: Recipe) -> list[str]:
    found: set[str] = set()
    for text in recipe.values():
        found.update(s for s in surface_map(text) if s != CORE_SURFACE)
    return sorted(found)


def touched_surfaces(parent: Recipe, diff: str) -> list[str]:
    """Surfaces whose lines a diff removes, changes or inserts between.

    A pure insertion belongs to the surface open at the insertion point, so adding a line
    at the start or end of a region counts for that region, not for core.
    """
    touched: set[str] = set()
    for old_path, new_path, hunks in _parse_files(diff):
        if old_path is None:  # a new file has no regions yet: it is a core change
            touched.add(CORE_SURFACE)
            continue
        owners, gaps = _surface_scan(parent.get(old_path, ""))
        for start, body in hunks:
            touched.update(_hunk_owners(owners, gaps, start, body))
        if new_path is None:
            touched.add(CORE_SURFACE)
    return sorted(touched)


def _hunk_owners(owners: list[str], gaps: list[str], start: int, body: list[str]) -> set[str]:
    found: set[str] = set()
    has_old = any(entry[:1] in (" ", "-") for entry in body)
    line = max(start - 1, 0) if has_old else start  # 0-based index of the next old line
    for entry in body:
        tag = entry[:1]
        if tag == " ":
            line += 1
        elif tag == "-":
            found.add(owners[line] if 0 <= line < len(owners) else CORE_SURFACE)
            line += 1
        elif tag == "+":
            found.add(gaps[min(line, len(gaps) - 1)])
    return found
