"""A task's `requirements` are checked before the baseline: one line naming what is
missing, too old or malformed, and nothing written; a task whose packages are there runs."""

from __future__ import annotations

import shutil

import pytest

from evaluators import requirements
from evaluators.tasks import TaskError
from tests.test_cli import ROOT, assert_one_line_error, cli

EXAMPLE = ROOT / "docs" / "example-task"


def _task_needing(tmp_path, *needs: str):
    task = tmp_path / "task"
    shutil.copytree(EXAMPLE, task)
    toml = task / "task.toml"
    listed = ", ".join(f'"{need}"' for need in needs)
    text = toml.read_text().replace("recipe = [", f"requirements = [{listed}]\nrecipe = [", 1)
    toml.write_text(text)
    return task


@pytest.mark.parametrize(
    ("need", "fragment"),
    [
        ("no-such-package-xyz>=1", "no-such-package-xyz>=1, which is not installed"),
        ("numpy>=999", "numpy>=999, but numpy"),
        ("numpy; os_name == 'posix'", "no URL, no marker"),
        ("numpy @ https://example.org/numpy.whl", "no URL, no marker"),
        ("$(rm -rf ~)", "which is not a requirement"),
    ],
)
def test_a_missing_old_or_malformed_requirement_is_one_line_before_anything_runs(
    tmp_path, need, fragment
):
    task, ledger = _task_needing(tmp_path, need), tmp_path / "runs" / "ledger.sqlite"
    done = cli("search", "--task", str(task), "--trials", "1", "--ledger", str(ledger))
    assert_one_line_error(done, "task example-regression needs", fragment, "pip install")
    assert not ledger.exists()


def test_every_problem_is_named_at_once_and_present_packages_pass():
    requirements.check("t", ["numpy>=1", "scipy"])  # installed: no error
    with pytest.raises(TaskError) as refused:
        requirements.check("t", ["numpy>=1", "nope-a", "nope-b==2"])
    assert "nope-a, which is not installed; nope-b==2, which is not installed" in str(refused.value)
