"""Calling the Messages API: our own retries (each attempt counted), errors as one line.

The SDK's retries are switched off (`max_retries=0`) so every attempt is visible: an
exchange records how many it took, and a call whose retries run out ends the session as
`error` with the last attempt's reason. The error text round-trips through the recorded
backend (`recorded.py` parses it back into the same failure).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic

from agents.claude.prices import DEFAULT_MODEL

__all__ = ["DEFAULT_MODEL"]  # re-exported: it lives beside the prices, which need no SDK
RETRIED_STATUSES = frozenset({408, 409, 429})  # and every 5xx, 529 overloaded included


class ModelCheckError(ValueError):
    """The API cannot serve this model: unknown, unreachable, or the key was refused."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff between attempts; `retry-after` wins when the API sends it."""

    attempts: int = 6  # the first call and five retries
    first_delay_s: float = 2.0
    max_delay_s: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        wanted = self.first_delay_s * 2 ** (attempt - 1) if retry_after is None else retry_after
        return min(max(wanted, 0.0), self.max_delay_s)


@dataclass(frozen=True)
class CallResult:
    body: dict[str, Any] | None  # the response as the API sent it; None when it failed
    error: str
    attempts: int


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_json(value: object) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def describe(error: anthropic.APIError) -> str:
    """One line: `HTTP 529 overloaded_error: Overloaded` or `connection error: ...`."""
    if isinstance(error, anthropic.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        inner = body.get("error")
        detail = inner if isinstance(inner, dict) else {}
        kind = str(detail.get("type") or "api_error")
        message = str(detail.get("message") or error.message)
        return f"HTTP {error.status_code} {kind}: {' '.join(message.split())}"
    cause = error.__cause__
    return f"connection error: {' '.join(str(cause or error.message).split())}"


def _retried(error: anthropic.APIError) -> bool:
    if isinstance(error, anthropic.APIStatusError):
        return error.status_code in RETRIED_STATUSES or error.status_code >= 500
    return isinstance(error, anthropic.APIConnectionError)


def _retry_after(error: anthropic.APIError) -> float | None:
    if not isinstance(error, anthropic.APIStatusError):
        return None
    try:
        return float(error.response.headers.get("retry-after", ""))
    except ValueError:
        return None


def call(
    client: anthropic.Anthropic, request: Mapping[str, Any], policy: RetryPolicy
) -> CallResult:
    """One exchange: attempts until a response, a non-retried error, or the last attempt."""
    attempt = 0
    while True:
        attempt += 1
        try:
            raw = client.messages.with_raw_response.create(**request)
            return CallResult(raw.http_response.json(), "", attempt)
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as error:
            if not _retried(error) or attempt >= policy.attempts:
                return CallResult(None, describe(error), attempt)
            policy.sleep(policy.delay(attempt, _retry_after(error)))


def claude_client(api_key: str, timeout_s: float = 600.0) -> anthropic.Anthropic:
    """The live client; ANTHROPIC_BASE_URL, if set, still applies."""
    return anthropic.Anthropic(api_key=api_key, max_retries=0, timeout=timeout_s)


def check_model(client: anthropic.Anthropic, model: str) -> None:
    """Ask the API whether it serves `model`; ModelCheckError with one line if not."""
    try:
        client.with_options(max_retries=0).models.retrieve(model)
    except anthropic.NotFoundError:
        raise ModelCheckError(
            f"unknown model {model!r}: the Anthropic API does not serve it"
        ) from None
    except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as error:
        raise ModelCheckError(f"the Anthropic API refused the key: {describe(error)}") from None
    except anthropic.APIConnectionError as error:
        raise ModelCheckError(f"cannot reach the Anthropic API: {describe(error)}") from None
    except anthropic.APIStatusError as error:
        raise ModelCheckError(f"the Anthropic API failed: {describe(error)}") from None
