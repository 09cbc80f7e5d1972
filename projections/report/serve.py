"""The live view: the report served on localhost, rendered again when the ledger moves on.

It binds 127.0.0.1 only and answers GET on three routes (the report, `/position`, and a
compared search's own page) with pages it renders; it serves no file. A request whose
Host header names another host is refused, so a web page cannot reach it by DNS
rebinding. It reads the projections as every read-only command does
(`projections.db.reading`: the file when it is current and free, else the readers' copy
beside it), one render at a time, so a running search, which holds its projections file
for itself, never waits on the live view.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb

from projections.db import ProjectionsBusyError, reading
from projections.display import UnknownSearchError, resolve_search
from projections.projector import EventReader, position
from projections.report import compare as report_compare
from projections.report import data as report_data
from projections.report import html as report_html

HOST = "127.0.0.1"
_SEARCH_PAGE = re.compile(r"^/search-([0-9a-f]{8})/report\.html$")


class LiveReport:
    """Pages by route, each cached with the projections position it shows."""

    def __init__(
        self, reader: EventReader, path: Path, prefixes: Sequence[str], every: bool
    ) -> None:
        self.reader, self.path = reader, path
        self.prefixes, self.every = list(prefixes), every
        self._lock = threading.Lock()  # one render (and one ledger read) at a time
        self._pages: dict[str, tuple[int, str]] = {}

    def position(self) -> int:
        with self._lock:
            return self.reader.max_position()

    def page(self, route: str) -> str:
        """The page for a route, rendered again only when the ledger has moved on.

        Raises LookupError for a route or search that does not exist."""
        with self._lock:
            at = self.reader.max_position()
            cached = self._pages.get(route)
            if cached is not None and cached[0] >= at:
                return cached[1]
            with reading(self.reader, self.path) as con:
                shown = position(con)
                html = self._render(con, route, shown)
            self._pages[route] = (shown, html)
            return html

    def _render(self, con: duckdb.DuckDBPyConnection, route: str, at: int) -> str:
        match = _SEARCH_PAGE.match(route)
        if match is not None:
            data = report_data.load(con, resolve_search(con, match.group(1)))
            return report_html.page(data, live=at)
        if route not in ("/", "/report.html"):
            raise LookupError(f"no page {route}")
        try:
            ids = report_data.select(con, self.prefixes, self.every)
        except UnknownSearchError as error:
            if self.prefixes:
                raise
            return _waiting(str(error), at)  # reloads when the first search starts
        if len(ids) == 1 and not self.every:
            return report_html.page(report_data.load(con, ids[0]), live=at)
        searches = [report_data.load(con, sid) for sid in ids]
        return report_compare.page(searches, live=at)


def _waiting(message: str, at: int) -> str:
    body = (
        "<header><h1>autorecipe live report</h1>"
        f'<p class="headline">{escape(message)}.</p></header>'
    )
    return report_html.document("autorecipe live report", body, "", live=at)


def _handler(live: LiveReport, hosts: set[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Host", "") not in hosts:
                self._send(HTTPStatus.MISDIRECTED_REQUEST, "text/plain", "not this host\n")
                return
            route = self.path.split("?", 1)[0]
            try:
                if route == "/position":
                    self._send(HTTPStatus.OK, "text/plain", f"{live.position()}\n")
                else:
                    self._send(HTTPStatus.OK, "text/html; charset=utf-8", live.page(route))
            except (LookupError, UnknownSearchError) as error:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", f"{error}\n")
            except ProjectionsBusyError as error:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", f"{error}\n")

        def _send(self, status: HTTPStatus, kind: str, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: a request log would bury the terminal the user watches."""

    return Handler


def serve(live: LiveReport, port: int, ready: Callable[[str], None]) -> None:
    """Serve until interrupted; `ready` gets the URL once the port is bound (port 0: any
    free port, so the URL names the one chosen)."""
    server = ThreadingHTTPServer((HOST, port), _handler(live, set()))
    server.daemon_threads = True  # Ctrl-C does not wait on an open browser connection
    bound = server.server_address[1]
    server.RequestHandlerClass = _handler(live, {f"{HOST}:{bound}", f"localhost:{bound}"})
    ready(f"http://{HOST}:{bound}/")
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
