"""A task's `requirements`: the Python packages its recipe, prepare and evaluate commands
import beyond autorecipe's own, checked in the harness's interpreter before the baseline.

The sandbox runs that same interpreter with its environment bound read-only
(evaluators/harness/mounts.py), so a package the harness lacks the recipe lacks too, and one it
has the recipe sees. The check reads installed metadata only: it imports nothing.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterable

from packaging.requirements import InvalidRequirement, Requirement

from evaluators.tasks import TaskError


def check(task: str, requirements: Iterable[str]) -> None:
    """Raise TaskError naming every requirement that is malformed, missing or too old."""
    problems = [problem for text in requirements if (problem := _problem(text))]
    if problems:
        raise TaskError(
            f"task {task} needs {'; '.join(problems)} in {sys.executable}"
            " (pip install them there: the sandbox sees that environment, read-only)"
        )


def _problem(text: str) -> str | None:
    try:
        wanted = Requirement(text)
    except InvalidRequirement:
        return f"{text!r}, which is not a requirement (PEP 508, e.g. 'scikit-learn>=1.5')"
    if wanted.url or wanted.marker:
        return f"{text!r}: give a name and versions only (no URL, no marker)"
    try:
        installed = importlib.metadata.version(wanted.name)
    except importlib.metadata.PackageNotFoundError:
        return f"{text}, which is not installed"
    if not wanted.specifier.contains(installed, prereleases=True):
        return f"{text}, but {wanted.name} {installed} is installed"
    return None
