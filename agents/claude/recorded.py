"""The recorded backend: the real SDK over an httpx2 MockTransport that answers each request
with the next recorded response, so a Claude search re-runs with no network and no key.

Failed attempts replay as the errors they were: an exchange that needed k attempts gets
k - 1 retryable failures first, a call that failed for good gets its recorded error each
time. Each request is also hashed and compared with the recorded one; `differed` lists the
calls whose request was not byte for byte the one the recording answered.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2

from agents.claude.api import RetryPolicy, sha256_json
from domain.agent import AgentCallFailed, AgentExchanged
from domain.base import DomainEvent

_HTTP_ERROR = re.compile(r"HTTP (\d{3}) (\S+): (.*)", re.DOTALL)
_CONNECTION = "connection error: "
# Only the number of attempts before a success is recorded, not their errors.
_RETRIED = "HTTP 529 overloaded_error: Overloaded (a recorded retry)"
_EXHAUSTED = "HTTP 400 invalid_request_error: the recording has no more responses"


@dataclass(frozen=True)
class RecordedCall:
    """One recorded exchange: its response, or the error its last attempt ended with."""

    request_sha256: str
    body: dict[str, Any] | None
    error: str = ""
    attempts: int = 1


def _answers(calls: Sequence[RecordedCall]) -> deque[tuple[int, str, dict[str, Any] | str]]:
    out: deque[tuple[int, str, dict[str, Any] | str]] = deque()
    for index, recorded in enumerate(calls):
        failures = recorded.attempts - 1 if recorded.body is not None else recorded.attempts
        out.extend(
            (index, recorded.request_sha256, recorded.error or _RETRIED) for _ in range(failures)
        )
        if recorded.body is not None:
            out.append((index, recorded.request_sha256, recorded.body))
    return out


def _failure(error: str, request: httpx2.Request) -> httpx2.Response:
    if error.startswith(_CONNECTION):
        raise httpx2.ConnectError(error.removeprefix(_CONNECTION), request=request)
    match = _HTTP_ERROR.fullmatch(error)
    status, kind, message = match.groups() if match else ("500", "api_error", error)
    return httpx2.Response(
        int(status), json={"type": "error", "error": {"type": kind, "message": message}}
    )


class RecordedTransport:
    """The handler of an httpx2.MockTransport: recorded answers, in order."""

    def __init__(self, calls: Sequence[RecordedCall]) -> None:
        self.answers = _answers(calls)
        self.differed: list[int] = []  # indexes of calls whose request differed

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if not self.answers:
            return _failure(_EXHAUSTED, request)
        index, sha, answer = self.answers.popleft()
        if sha256_json(json.loads(request.content)) != sha and index not in self.differed:
            self.differed.append(index)
        if isinstance(answer, dict):
            return httpx2.Response(200, json=answer)
        return _failure(answer, request)


def replay_policy(calls: Sequence[RecordedCall]) -> RetryPolicy:
    """No waiting, and as many attempts as the recording's longest call: a call that failed
    for good took the live policy's every attempt, so replay gives up at the same one."""
    return RetryPolicy(attempts=max((c.attempts for c in calls), default=1), first_delay_s=0.0)


def recorded_client(calls: Sequence[RecordedCall]) -> tuple[anthropic.Anthropic, RecordedTransport]:
    transport = RecordedTransport(calls)
    client = anthropic.Anthropic(
        api_key="recorded",  # sent nowhere: the transport answers every request itself
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(transport)),
    )
    return client, transport


def recorded_calls(events: Iterable[DomainEvent]) -> list[RecordedCall]:
    """A search's model calls in ledger order, from its AgentExchanged / AgentCallFailed."""
    out: list[RecordedCall] = []
    for event in events:
        if isinstance(event, AgentExchanged):
            out.append(RecordedCall(event.request_sha256, dict(event.response), "", event.attempts))
        elif isinstance(event, AgentCallFailed):
            out.append(RecordedCall(event.request_sha256, None, event.error, event.attempts))
    return out
