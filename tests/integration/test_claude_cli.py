"""`cli.py search --agents claude|recorded` as a user meets it: bad input is one clear line
and a non-zero exit before any trial starts (the ledger is never created)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.claude_support import MODEL, message, tool_use
from tests.support import scripted_loop
from tests.test_cli import ROOT, assert_one_line_error


def search(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "search",
            "--trials",
            "1",
            "--ledger",
            str(tmp_path / "ledger.sqlite"),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**clean, "COLUMNS": "200", **env},
    )


class _NoSuchModel(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(
            {
                "type": "error",
                "error": {"type": "not_found_error", "message": "model: claude-opus-4-7"},
            }
        )
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api_without_the_model():
    server = HTTPServer(("127.0.0.1", 0), _NoSuchModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_claude_without_a_key_is_refused(tmp_path):
    done = search(tmp_path, "--agents", "claude")
    assert_one_line_error(done, "--agents claude needs an API key: set ANTHROPIC_API_KEY")
    assert not (tmp_path / "ledger.sqlite").exists()


def test_an_unknown_model_is_refused(tmp_path, api_without_the_model):
    done = search(
        tmp_path,
        "--agents",
        "claude",
        "--model",
        "claude-opus-4-7",
        ANTHROPIC_API_KEY="k",
        ANTHROPIC_BASE_URL=api_without_the_model,
    )
    assert_one_line_error(done, "unknown model 'claude-opus-4-7'")
    assert not (tmp_path / "ledger.sqlite").exists()


def test_an_unreachable_api_is_refused(tmp_path):
    done = search(
        tmp_path,
        "--agents",
        "claude",
        ANTHROPIC_API_KEY="k",
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{_closed_port()}",
    )
    assert_one_line_error(done, "cannot reach the Anthropic API: connection error")
    assert not (tmp_path / "ledger.sqlite").exists()


def test_a_model_without_a_price_is_refused(tmp_path):
    done = search(
        tmp_path, "--agents", "claude", "--model", "claude-mythos-preview", ANTHROPIC_API_KEY="k"
    )
    assert_one_line_error(done, "no price for claude-mythos-preview in agents/claude/prices.py")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--agents", "recorded"), "--agents recorded needs --from-ledger PATH"),
        (("--agents", "gpt"), "unknown --agents 'gpt': use offline, claude, recorded"),
        (
            ("--agents", "recorded", "--from-ledger", "nowhere.sqlite"),
            "no ledger at nowhere.sqlite",
        ),
    ],
)
def test_bad_agent_options_are_one_line(tmp_path, args, fragment):
    assert_one_line_error(search(tmp_path, *args), fragment)


def test_a_recording_without_model_exchanges_is_refused(tmp_path):
    loop, _store, location = scripted_loop(tmp_path / "offline", trials=1)
    loop.run()
    done = search(tmp_path, "--agents", "recorded", "--from-ledger", location)
    assert_one_line_error(done, "has no recorded model exchanges: nothing to replay")


EXAMPLE = ROOT / "docs" / "example-task"
EDIT = {"old": "LR = 0.02", "new": "LR = 0.03"}
SESSION = [
    message(tool_use("edit_recipe", EDIT, "x1")),
    message(
        tool_use("submit_trial", {"hypothesis": "a bigger step", "expected_delta": -0.001}, "x2")
    ),
]


class _ScriptedApi(BaseHTTPRequestHandler):
    """A stand-in Anthropic API on localhost: it knows one model and answers from SESSION."""

    answers: ClassVar[list[dict]] = []

    def do_GET(self) -> None:
        self._send(
            200,
            {
                "type": "model",
                "id": MODEL,
                "display_name": "Sonnet",
                "created_at": "2026-09-01T00:00:00Z",
                "lifecycle": "active",
            },
        )

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self._send(200, self.answers.pop(0))

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_a_claude_search_re_runs_from_its_recording(tmp_path):
    _ScriptedApi.answers = list(SESSION)
    server = HTTPServer(("127.0.0.1", 0), _ScriptedApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        live = search(
            tmp_path / "live",
            "--task",
            str(EXAMPLE),
            "--agents",
            "claude",
            "--model",
            MODEL,
            "--cost-cap-usd",
            "5",
            ANTHROPIC_API_KEY="k",
            ANTHROPIC_BASE_URL=f"http://127.0.0.1:{server.server_address[1]}",
        )
    finally:
        server.shutdown()
    assert live.returncode == 0, live.stderr
    source = str(tmp_path / "live" / "ledger.sqlite")
    again = search(tmp_path / "again", "--agents", "recorded", "--from-ledger", source)
    assert again.returncode == 0, again.stderr
    diffs = [
        _audit(ledger, "SELECT agent, diff FROM trials WHERE seq = 1")
        for ledger in (source, str(tmp_path / "again" / "ledger.sqlite"))
    ]
    assert diffs[0][0]["agent"] == "claude"
    assert diffs[1][0]["agent"] == "recorded"
    assert diffs[0][0]["diff"] == diffs[1][0]["diff"]
    assert "+LR = 0.03" in diffs[0][0]["diff"]


def _audit(ledger: str, sql: str) -> list[dict]:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "cli.py"),
            "audit",
            sql,
            "--format",
            "json",
            "--ledger",
            ledger,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
