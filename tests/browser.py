"""A real headless Chromium for report tests: the DOM after the page's scripts ran, and
screenshots. Without chromium the tests skip, unless CI requires it."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "source", "col", "area", "base"}
# No sandbox (CI containers run as root), no GPU; no scrollbars, so screenshots keep size.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")
# Wide enough for the report's 1040 px column, so charts are measured in their full box.
WINDOW = "1100,900"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("AUTORECIPE_REQUIRE_CHROMIUM"):
        pytest.fail("AUTORECIPE_REQUIRE_CHROMIUM is set but chromium is not on PATH")
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI requires it")


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.text = ""

    def within(self, tag: str, **attrs: str) -> bool:
        node = self.parent
        while node is not None:
            if node.tag == tag and all(node.attrs.get(k) == v for k, v in attrs.items()):
                return True
            node = node.parent
        return False


class Dom(HTMLParser):
    """Every element of a serialized DOM, with its attributes, ancestors and own text."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self.stack: list[Element] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(
            tag, {k: v or "" for k, v in attrs}, self.stack[-1] if self.stack else None
        )
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.stack[-1].text += data

    def find(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if (tag is None or e.tag == tag) and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]


def dump_dom(url: str, budget_ms: int | None = None) -> Dom:
    """The page after its scripts ran, as Chromium serializes it; `budget_ms` lets a live
    page run its timers that long first (virtual time: no wall-clock wait in the test)."""
    extra = [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
    done = subprocess.run(
        [chromium(), *FLAGS, f"--window-size={WINDOW}", *extra, "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Dom(done.stdout)


def screenshot(url: str, path: Path, size: str = "1100,2400") -> Path:
    """A PNG of the page as Chromium draws it; asserts it is a real, non-empty image."""
    done = subprocess.run(
        [chromium(), *FLAGS, f"--window-size={size}", f"--screenshot={path}", url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return path
