"""The live view (`report --watch`) against a real search running in another process:
it follows the ledger, draws in headless Chromium, and never stalls the search."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.browser import Dom, dump_dom, screenshot
from tests.support import scripted_loop
from tests.test_cli import ROOT, assert_one_line_error, cli

EXAMPLE = ROOT / "docs" / "example-task"
TRIALS = 6
WAIT_S = 300  # a bound on waits for a busy machine, never a measured duration


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _until(check, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def _started(ledger: Path) -> bool:
    if not ledger.exists():
        return False
    try:
        with sqlite3.connect(ledger) as con:
            rows = con.execute(
                "SELECT count(*) FROM stored_events WHERE topic LIKE '%SearchStarted'"
            ).fetchone()
    except sqlite3.OperationalError:  # the table is not created yet
        return False
    return bool(rows[0])


def get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (localhost)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def running(tmp_path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """A real search of the example task, and the live view of its ledger."""
    task, ledger = tmp_path / "task", tmp_path / "ledger.sqlite"
    shutil.copytree(EXAMPLE, task)
    search = _start("search", "--task", str(task), "--trials", str(TRIALS), "--ledger", str(ledger))
    _until(lambda: _started(ledger) or search.poll() is not None, "the search to start")
    watch = _start("report", "--watch", "--port", "0", "--ledger", str(ledger))
    line = watch.stdout.readline() if watch.stdout else ""
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert found, line + (watch.stderr.read() if watch.poll() is not None and watch.stderr else "")
    try:
        yield search, found.group(0), tmp_path
    finally:
        for process in (watch, search):
            process.terminate()
            process.wait(timeout=60)


def _live_position(html: str) -> int:
    return int(Dom(html).find("html")[0].attrs["data-live"])


def test_the_live_view_follows_a_running_search_without_stalling_it(running):
    search, url, tmp_path = running
    status, first = get(url)
    assert status == 200
    assert search.poll() is None, "the search ended before the live view was read"
    assert "still running" in first
    shown = _live_position(first)
    # Chromium draws the page while the search runs (it may have reloaded a newer one).
    root = dump_dom(url, budget_ms=5000).find("html")[0]
    assert root.attrs.get("data-ready") == "1"
    assert int(root.attrs["data-live"]) >= shown
    shot = Image.open(screenshot(url, tmp_path / "live.png", size="1100,1400"))
    assert (221, 244, 255) in {rgb for _, rgb in shot.convert("RGB").getcolors(1 << 24) or ()}
    _until(lambda: int(get(url + "position")[1]) > shown, "new events")
    assert _live_position(get(url)[1]) > shown  # rendered again from the newer ledger
    assert search.wait(timeout=WAIT_S) == 0, search.stderr.read() if search.stderr else ""
    final = get(url)[1]
    assert "trial_budget" in final  # the whole search, to its end
    assert "still running" not in final
    assert f"{TRIALS + 1} (#0 is the seed" in final
    # Once the ledger stands still, the page's poll finds nothing newer and stays.
    root = dump_dom(url, budget_ms=8000).find("html")[0]
    assert root.attrs["data-polled"] == root.attrs["data-live"] == str(_live_position(final))


def test_the_live_view_answers_only_its_own_routes_and_host(running):
    _search, url, _tmp = running
    port = url.rsplit(":", 1)[1].strip("/")
    assert get(url, host=f"evil.example:{port}")[0] == 421  # a DNS-rebinding page
    assert get(url + "../../etc/passwd")[0] == 404
    assert get(url + "runs/ledger.sqlite")[0] == 404
    assert get(url + "search-ffffffff/report.html")[0] == 404
    post = urllib.request.Request(url, data=b"x", method="POST")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(post, timeout=60)  # noqa: S310 (localhost)
    assert refused.value.code == 501


def test_a_port_in_use_is_one_line(tmp_path):
    loop, _store, location = scripted_loop(tmp_path, trials=1)
    loop.run()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = cli("report", "--watch", "--port", port, "--ledger", location)
    assert_one_line_error(done, f"cannot serve on 127.0.0.1:{port}")


def test_options_that_would_be_ignored_are_refused(tmp_path):
    loop, _store, location = scripted_loop(tmp_path, trials=1)
    loop.run()
    watching = cli("report", "--watch", "--out", str(tmp_path / "x"), "--ledger", location)
    assert_one_line_error(watching, "--watch serves the report and writes no files")
    assert_one_line_error(
        cli("report", "--port", "9", "--ledger", location), "--port is for --watch"
    )
    assert not (tmp_path / "x").exists()
