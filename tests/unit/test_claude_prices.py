"""The dated price table: what a model call costs, and the default model it must price."""

from __future__ import annotations

from typing import get_args

import pytest
from anthropic.types import Model

from agents.claude import prices
from agents.claude.api import DEFAULT_MODEL

USAGE = {"input": 10_000, "output": 2_000, "cache_read": 50_000, "cache_write": 4_000}


def test_the_default_model_is_the_newest_the_sdk_knows_and_it_has_a_price():
    assert get_args(get_args(Model)[0])[0] == DEFAULT_MODEL
    assert DEFAULT_MODEL in prices.PRICES


def test_a_call_costs_its_tokens_at_the_models_rates():
    # Sonnet 5.5: $2 input, $10 output, $0.10 cache read, $2.50 cache write per MTok.
    assert prices.usd("claude-sonnet-5-5", USAGE) == pytest.approx(0.02 + 0.02 + 0.005 + 0.01)


def test_a_long_prompt_on_haiku_5_5_is_priced_at_the_upper_band():
    short = prices.usd("claude-haiku-5-5", USAGE)  # a 64,000-token prompt
    long = prices.usd("claude-haiku-5-5", {**USAGE, "cache_read": 100_000})
    assert short == pytest.approx(
        (10_000 * 0.10 + 2_000 * 0.50 + 50_000 * 0.01 + 4_000 * 0.125) / 1e6
    )
    assert long == pytest.approx(
        (10_000 * 0.5 + 2_000 * 2.5 + 100_000 * 0.05 + 4_000 * 0.625) / 1e6
    )


def test_a_model_without_a_price_is_refused_by_name():
    with pytest.raises(prices.UnknownPriceError, match=r"no price for claude-nope .* add it there"):
        prices.price_of("claude-nope")


def test_usage_reads_a_response_body_and_treats_missing_counts_as_zero():
    body = {"usage": {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": None}}
    assert prices.usage_of(body) == {"input": 7, "output": 3, "cache_read": 0, "cache_write": 0}
