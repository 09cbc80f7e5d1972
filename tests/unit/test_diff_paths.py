"""`show N --diff` paths for git apply (projections/diff_paths.py): headers rebased onto
the recipe folder, hunk bodies untouched, and the apply root git itself uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

from domain.recipe import make_diff
from projections.diff_paths import apply_root, rebase

PARENT = {"train.py": "a = 1\n-- a/x\nb = 2\n", "old.py": "gone\n"}
CHILD = {"train.py": "a = 1\nb = 3\n", "new.py": "fresh\n"}


def test_rebase_moves_every_header_under_the_folder_and_leaves_hunks_alone() -> None:
    diff = make_diff(PARENT, CHILD)
    assert "\n--- a/x\n" in diff  # a removed line that reads like a header

    moved = rebase(diff, "tasks/mine/recipe")

    headers = [line for line in moved.splitlines() if line.startswith(("--- ", "+++ "))]
    assert headers == [
        "--- /dev/null",
        "+++ b/tasks/mine/recipe/new.py",
        "--- a/tasks/mine/recipe/old.py",
        "+++ /dev/null",
        "--- a/tasks/mine/recipe/train.py",
        "+++ b/tasks/mine/recipe/train.py",
        "--- a/x",
    ]
    assert moved.replace("tasks/mine/recipe/", "") == diff
    assert rebase(diff, "") == diff


def test_the_rebased_diff_applies_with_git_from_the_top_level(tmp_path: Path) -> None:
    folder = tmp_path / "tasks" / "mine" / "recipe"
    folder.mkdir(parents=True)
    for name, text in PARENT.items():
        (folder / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert apply_root(folder).resolve() == tmp_path.resolve()

    applied = subprocess.run(
        ["git", "apply", "--check", "-"],
        input=rebase(make_diff(PARENT, CHILD), "tasks/mine/recipe"),
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert applied.returncode == 0, applied.stderr


def test_outside_a_repository_the_apply_root_is_the_current_folder(tmp_path: Path) -> None:
    assert apply_root(tmp_path) == tmp_path
