"""Collection order for the parallel run: the longest files first.

`make test` spreads whole files over the workers (pytest-xdist, `--dist loadfile`) in
collection order (`--no-loadscope-reorder`: by default xdist sends the files with the
most tests first, so the long one-test searches ran last, alone, while the other worker
idled: 8 minutes of a 38-minute run). Starting the longest first lets the short ones
fill in beside them. Only the order changes, never a test.
"""

from __future__ import annotations

import pytest

# The longest files of a measured run (--durations), longest first.
LONGEST_FIRST = (
    "test_search_determinism.py",
    "test_search_e2e.py",
    "test_parallel_search.py",
    "test_benchmarks.py",
    "test_faults.py",
    "test_ray_search.py",
    "test_eval_under_load.py",
    "test_adversarial.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: ties keep order
