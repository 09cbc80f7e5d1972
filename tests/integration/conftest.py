"""Fixtures shared by the report tests: the planned search (tests/report_support.py), its
report written by the command line, and that page as headless Chromium leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import Dom, dump_dom
from tests.report_support import planned_search
from tests.test_cli import cli


@pytest.fixture(scope="module")
def report_ledger(tmp_path_factory) -> str:
    return planned_search(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report_written(report_ledger, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    done = cli("report", "--ledger", report_ledger, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def report_dom(report_written) -> Dom:
    """The page after its scripts ran, as headless Chromium serializes it."""
    return dump_dom((report_written / "report.html").as_uri())
