"""Recipes as text: strict diffs that round-trip, content hashes, surface regions."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.recipe import (
    CORE_SURFACE,
    PatchError,
    apply_diff,
    diff_paths,
    make_diff,
    recipe_sha256,
    surface_map,
    surfaces_declared,
    text_sha256,
    touched_surfaces,
)

PATHS = st.sampled_from(["a.py", "b.py", "conf/c.txt"])
LINES = st.sampled_from(["a", "b", "c", "x = 1", "", "    y = 2"])


@st.composite
def texts(draw: st.DrawFn) -> str:
    """A file as a list of lines, with or without a newline after the last one."""
    lines = draw(st.lists(LINES, max_size=10))
    if draw(st.booleans()):
        return "".join(line + "\n" for line in lines)
    return "\n".join(lines)


RECIPES = st.dictionaries(PATHS, texts(), max_size=3)

# Round trip:


@settings(max_examples=150, deadline=None)
@given(
    others=RECIPES,
    path=PATHS,
    old=st.none() | texts(),
    new=st.none() | texts(),
)
def test_a_one_file_diff_applies_back_to_the_child(
    others: dict[str, str], path: str, old: str | None, new: str | None
) -> None:
    # An added or removed *empty* file is test_an_empty_file_..., below.
    if old == new or {old, new} == {None, ""}:
        return
    parent = {k: v for k, v in others.items() if k != path}
    child = dict(parent)
    if old is not None:
        parent[path] = old
    if new is not None:
        child[path] = new

    diff = make_diff(parent, child)

    assert apply_diff(parent, diff) == child
    assert diff_paths(diff) == [path]


@settings(max_examples=100, deadline=None, derandomize=True)
@given(parent=RECIPES, child=RECIPES)
@example(parent={"a.py": "x\n", "b.py": "y\n"}, child={"a.py": "x2\n", "b.py": "y2\n"})
def test_any_multi_file_diff_applies_back_to_the_child(
    parent: dict[str, str], child: dict[str, str]
) -> None:
    assert apply_diff(parent, make_diff(parent, child)) == child


@settings(max_examples=50, deadline=None)
@given(parent=RECIPES)
def test_an_identical_recipe_gives_an_empty_diff_that_changes_nothing(
    parent: dict[str, str],
) -> None:
    assert make_diff(parent, dict(parent)) == ""
    assert apply_diff(parent, "") == parent


def test_a_missing_final_newline_is_marked_and_restored() -> None:
    parent = {"a.py": "a\nb"}
    child = {"a.py": "a\nb\n"}

    diff = make_diff(parent, child)

    assert "-b\n\\ No newline at end of file\n+b\n" in diff
    assert apply_diff(parent, diff) == child
    assert apply_diff(child, make_diff(child, parent)) == parent


def test_added_and_removed_files_use_dev_null_headers() -> None:
    added = make_diff({}, {"new.py": "x\n"})
    removed = make_diff({"old.py": "y\n"}, {})

    assert added.startswith("--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+x\n")
    assert removed.startswith("--- a/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-y\n")
    assert apply_diff({"k.py": "k\n"}, added) == {"k.py": "k\n", "new.py": "x\n"}
    assert apply_diff({"old.py": "y\n", "k.py": "k\n"}, removed) == {"k.py": "k\n"}


def test_a_two_file_diff_applies() -> None:
    parent = {"a.py": "x\n", "b.py": "y\n"}
    child = {"a.py": "x2\n", "b.py": "y2\n"}

    assert apply_diff(parent, make_diff(parent, child)) == child


def test_an_empty_file_can_be_added() -> None:
    parent = {"a.py": "x\n"}
    child = {"a.py": "x\n", "__init__.py": ""}

    assert apply_diff(parent, make_diff(parent, child)) == child


def test_an_empty_file_can_be_removed() -> None:
    parent = {"a.py": "x\n", "__init__.py": ""}
    child = {"a.py": "x\n"}

    assert apply_diff(parent, make_diff(parent, child)) == child


def test_a_line_with_a_form_feed_round_trips() -> None:
    parent = {"a.py": "a\x0cb\nq\n"}
    child = {"a.py": "a\x0cb\nr\n"}

    assert apply_diff(parent, make_diff(parent, child)) == child


# Strictness:

LONG = "".join(f"line {n}\n" for n in range(1, 11))


def test_a_changed_context_line_makes_the_diff_fail() -> None:
    diff = make_diff({"a.py": LONG}, {"a.py": LONG.replace("line 5\n", "five\n")})
    drifted = {"a.py": LONG.replace("line 3\n", "line three\n")}

    with pytest.raises(PatchError, match=r"a\.py: hunk at line 2 does not match"):
        apply_diff(drifted, diff)


def test_a_changed_removed_line_makes_the_diff_fail() -> None:
    diff = make_diff({"a.py": LONG}, {"a.py": LONG.replace("line 5\n", "five\n")})
    drifted = {"a.py": LONG.replace("line 5\n", "line 5 \n")}

    with pytest.raises(PatchError, match="does not match the recipe"):
        apply_diff(drifted, diff)


def test_a_lost_final_newline_makes_the_diff_fail() -> None:
    diff = make_diff({"a.py": "a\nb\n"}, {"a.py": "a\nc\n"})

    with pytest.raises(PatchError, match="does not match"):
        apply_diff({"a.py": "a\nb"}, diff)


def test_a_diff_for_another_file_fails() -> None:
    diff = make_diff({"a.py": "x\n"}, {"a.py": "y\n"})

    with pytest.raises(PatchError, match=r"a\.py: file is not in the recipe"):
        apply_diff({"b.py": "x\n"}, diff)


def test_creating_a_file_that_exists_fails() -> None:
    diff = make_diff({}, {"a.py": "new\n"})

    with pytest.raises(PatchError):
        apply_diff({"a.py": "old\n"}, diff)


@pytest.mark.parametrize(
    ("diff", "message"),
    [
        ("just some prose\n", "no file headers found"),
        ("--- a/a.py\n@@ -1 +1 @@\n", "'---' header without a '\\+\\+\\+' line"),
        ("--- a/a.py\n+++ b/a.py\n@@ -x +1 @@\n-x\n", "malformed hunk header"),
    ],
)
def test_a_malformed_diff_fails(diff: str, message: str) -> None:
    with pytest.raises(PatchError, match=message):
        apply_diff({"a.py": "x\n"}, diff)


def test_apply_diff_returns_a_new_mapping() -> None:
    parent = {"a.py": "x\n"}

    child = apply_diff(parent, make_diff(parent, {"a.py": "y\n"}))

    assert parent == {"a.py": "x\n"}
    assert child == {"a.py": "y\n"}


# Hashes:

CHARS = "ab\n\t é€\x00"


@settings(max_examples=60, deadline=None)
@given(
    recipe=st.dictionaries(PATHS, st.text(CHARS, min_size=1, max_size=20), min_size=1),
    data=st.data(),
)
def test_the_recipe_hash_changes_with_any_character(
    recipe: dict[str, str], data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(sorted(recipe)))
    text = recipe[path]
    at = data.draw(st.integers(0, len(text) - 1))
    char = data.draw(st.sampled_from(CHARS.replace(text[at], "")))
    changed = {**recipe, path: text[:at] + char + text[at + 1 :]}

    assert recipe_sha256(changed) != recipe_sha256(recipe)


@settings(max_examples=50, deadline=None)
@given(recipe=RECIPES)
def test_the_recipe_hash_ignores_the_order_of_the_mapping(
    recipe: dict[str, str],
) -> None:
    reordered = dict(reversed(list(recipe.items())))

    assert recipe_sha256(reordered) == recipe_sha256(recipe)


def test_the_recipe_hash_separates_path_text_and_presence() -> None:
    hashes = {
        recipe_sha256(r) for r in [{}, {"a": ""}, {"a": "bc"}, {"ab": "c"}, {"a": "b", "c": ""}]
    }

    assert len(hashes) == 5
    assert recipe_sha256({}) == hashlib.sha256(b"").hexdigest()


def test_text_sha256_is_the_sha256_of_the_utf8_bytes() -> None:
    assert text_sha256("héllo") == hashlib.sha256("héllo".encode()).hexdigest()


# Surfaces:

TRAIN = (
    "import os\n"  # 0
    "# ---- surface: opt ----\n"  # 1
    "LR = 0.001\n"  # 2
    "STEPS = 10\n"  # 3
    "# ---- end surface: opt ----\n"  # 4
    "# ---- surface: arch ----\n"  # 5
    "WIDTH = 8\n"  # 6
    "# ---- end surface: arch ----\n"  # 7
    "print(LR)\n"  # 8
)


def test_surface_map_gives_markers_and_outside_lines_to_core() -> None:
    assert surface_map(TRAIN) == [
        "core",
        "core",
        "opt",
        "opt",
        "core",
        "core",
        "arch",
        "core",
        "core",
    ]
    assert surfaces_declared({"train.py": TRAIN, "x.py": "pass\n"}) == ["arch", "opt"]


def test_surface_markers_tolerate_spacing_but_need_a_lowercase_name() -> None:
    text = "  #--  surface: data_2 --\nA\n#-- end surface --\n# -- surface: Data --\nB\n"

    assert surface_map(text) == ["core", "data_2", "core", "core", "core"]


def lines_of(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def touched(*edits: tuple[int, int, list[str]], text: str = TRAIN) -> list[str]:
    """Replace lines[start:stop] by `new` for each edit (applied bottom-up)."""
    lines = lines_of(text)
    for start, stop, new in sorted(edits, reverse=True):
        lines[start:stop] = new
    parent = {"train.py": text}
    return touched_surfaces(parent, make_diff(parent, {"train.py": "".join(lines)}))


@pytest.mark.parametrize(
    ("edit", "surfaces"),
    [
        ((2, 3, ["LR = 0.002\n"]), ["opt"]),  # first line of a region
        ((3, 4, ["STEPS = 20\n"]), ["opt"]),  # last line of a region
        ((2, 4, []), ["opt"]),  # the whole body removed
        ((2, 2, ["WD = 0.1\n"]), ["opt"]),  # inserted right after the start marker
        ((4, 4, ["WD = 0.1\n"]), ["opt"]),  # inserted right before the end marker
        ((5, 5, ["X = 1\n"]), ["core"]),  # between two regions
        ((0, 1, ["import sys\n"]), ["core"]),  # outside every region
        ((9, 9, ["exit()\n"]), ["core"]),  # appended at the end of the file
        ((4, 5, []), ["core"]),  # an end marker removed
        ((6, 7, ["WIDTH = 16\n"]), ["arch"]),
    ],
)
def test_touched_surfaces_of_one_edit(
    edit: tuple[int, int, list[str]], surfaces: list[str]
) -> None:
    assert touched(edit) == surfaces


def test_rewriting_a_marker_counts_as_core() -> None:
    assert CORE_SURFACE in touched((1, 2, ["# ---- surface: optim ----\n"]))


def test_touched_surfaces_reads_every_hunk_of_a_file() -> None:
    padding = "".join(f"P{n} = {n}\n" for n in range(8))
    text = TRAIN.replace("# ---- surface: arch", padding + "# ---- surface: arch")

    child = text.replace("LR = 0.001", "LR = 0.5").replace("WIDTH = 8", "W = 1")
    diff = make_diff({"t.py": text}, {"t.py": child})

    assert diff.count("\n@@ ") == 2  # two hunks, far apart
    assert touched_surfaces({"t.py": text}, diff) == ["arch", "opt"]


def test_a_new_file_is_a_core_change_and_so_is_a_removed_one() -> None:
    parent = {"train.py": TRAIN}

    added = make_diff(parent, {**parent, "extra.py": "X = 1\n"})
    removed = make_diff({**parent, "old.py": "# ---- surface: opt ----\nA\n"}, parent)

    assert touched_surfaces(parent, added) == ["core"]
    assert touched_surfaces({**parent, "old.py": "# ---- surface: opt ----\nA\n"}, removed) == [
        "core",
        "opt",
    ]


def test_an_insertion_into_an_empty_region_belongs_to_it() -> None:
    text = "# ---- surface: opt ----\n# ---- end surface: opt ----\n"

    assert touched((1, 1, ["LR = 1\n"]), text=text) == ["opt"]


def test_touched_surfaces_of_a_two_file_diff() -> None:
    data = "# ---- surface: data ----\nD = 1\n# ---- end surface: data ----\n"
    parent = {"a.py": TRAIN, "b.py": data}
    child = {
        "a.py": TRAIN.replace("LR = 0.001", "LR = 2"),
        "b.py": data.replace("1", "2"),
    }

    assert touched_surfaces(parent, make_diff(parent, child)) == ["data", "opt"]


# Paths:


def test_diff_paths_reads_modified_added_and_removed_files_in_order() -> None:
    diff = (
        "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"
        "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+n\n"
        "--- a/old.py\t2024-01-01\n+++ /dev/null\n@@ -1 +0,0 @@\n-o\n"
    )

    assert diff_paths(diff) == ["a.py", "new.py", "old.py"]
    assert diff_paths("") == []


def test_diff_paths_ignores_removed_lines_that_look_like_headers() -> None:
    parent = {"q.sql": "-- note\nSELECT 1;\n"}

    assert diff_paths(make_diff(parent, {"q.sql": "SELECT 1;\n"})) == ["q.sql"]
