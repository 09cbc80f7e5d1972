"""What model calls cost: a dated price table per model, in USD per million tokens.

The SDK carries no prices, so the project keeps its own. KEEP IT CURRENT: prices change
without an SDK release, and every recorded exchange names the table that priced it
(`TABLE_VERSION`), so a later correction shows up as a new table, never a silent change.
A model missing here is refused before a search starts: a cost cap needs a price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Taken on 2026-11-10 from Anthropic's pricing and model pages (platform.claude.com/docs:
# about-claude/pricing and models/<model>/overview) as stored copies; Fable 5.2, Mythos 5.2
# and Haiku 5.5 from providers quoting Anthropic's list price, Sonnet 5.5's cache-read cut of
# 2026-10-07 likewise. Cache writes are the 5-minute ones (the TTL this project asks for).
# The newest model id in the installed SDK's `anthropic.types.Model` (2.14.0 lists it first).
# Here, not in api.py, so the CLI names its default without importing the SDK.
DEFAULT_MODEL = "claude-fable-5-2"
TABLE_DATE = "2026-11-10"
TABLE_VERSION = f"anthropic-list-{TABLE_DATE}"


class UnknownPriceError(LookupError):
    pass


@dataclass(frozen=True)
class Price:
    """USD per million tokens. `long` applies to every token of a request whose prompt
    (input + cache reads + cache writes) exceeds `long_above` tokens (Haiku 5.5's two bands)."""

    input: float
    output: float
    cache_write: float
    cache_read: float
    long: Price | None = None
    long_above: int = 0


_FABLE_5_2 = Price(input=8.0, output=40.0, cache_write=10.0, cache_read=0.20)
_FABLE_5_1 = Price(input=10.0, output=50.0, cache_write=12.50, cache_read=0.25)
_FABLE_5 = Price(input=10.0, output=50.0, cache_write=12.50, cache_read=1.0)
_OPUS = Price(input=5.0, output=25.0, cache_write=6.25, cache_read=0.50)
_SONNET_4 = Price(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30)
_SONNET_5 = Price(input=2.0, output=10.0, cache_write=2.50, cache_read=0.20)

PRICES: Mapping[str, Price] = {
    "claude-fable-5-2": _FABLE_5_2,
    "claude-mythos-5-2": _FABLE_5_2,  # Mythos shares its Fable's specifications and prices
    "claude-haiku-5-5": Price(
        input=0.10,
        output=0.50,
        cache_write=0.125,
        cache_read=0.01,
        long=Price(input=0.50, output=2.50, cache_write=0.625, cache_read=0.05),
        long_above=100_000,
    ),
    "claude-sonnet-5-5": Price(input=2.0, output=10.0, cache_write=2.50, cache_read=0.10),
    "claude-opus-5-5": Price(input=4.0, output=20.0, cache_write=5.0, cache_read=0.20),
    "claude-fable-5-1": _FABLE_5_1,
    "claude-mythos-5-1": _FABLE_5_1,
    "claude-sonnet-5": _SONNET_5,
    "claude-fable-5": _FABLE_5,
    "claude-mythos-5": _FABLE_5,
    "claude-opus-5": _OPUS,
    "claude-opus-4-8": _OPUS,
    "claude-opus-4-7": _OPUS,
    "claude-opus-4-6": _OPUS,
    "claude-opus-4-5": _OPUS,
    "claude-opus-4-5-20251101": _OPUS,
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-sonnet-4-5-20250929": _SONNET_4,
    "claude-haiku-4-5": Price(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
    "claude-haiku-4-5-20251001": Price(input=1.0, output=5.0, cache_write=1.25, cache_read=0.10),
}


def price_of(model: str) -> Price:
    try:
        return PRICES[model]
    except KeyError:
        raise UnknownPriceError(
            f"no price for {model} in agents/claude/prices.py (table {TABLE_VERSION}): add it there"
        ) from None


def usage_of(body: Mapping[str, object]) -> dict[str, int]:
    """The four token counts of a Messages API response body (missing counts are 0)."""
    usage = body.get("usage")
    raw = usage if isinstance(usage, dict) else {}

    def count(key: str) -> int:
        value = raw.get(key)
        return value if isinstance(value, int) else 0

    return {
        "input": count("input_tokens"),
        "output": count("output_tokens"),
        "cache_read": count("cache_read_input_tokens"),
        "cache_write": count("cache_creation_input_tokens"),
    }


def usd(model: str, usage: Mapping[str, int]) -> float:
    price = price_of(model)
    prompt = usage["input"] + usage["cache_read"] + usage["cache_write"]
    if price.long is not None and prompt > price.long_above:
        price = price.long
    per_million = (
        usage["input"] * price.input
        + usage["output"] * price.output
        + usage["cache_read"] * price.cache_read
        + usage["cache_write"] * price.cache_write
    )
    return per_million / 1_000_000
