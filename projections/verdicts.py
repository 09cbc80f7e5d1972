"""A paired verdict as `cli.py show` prints it: the seeds on both sides, the per-seed
improvements, the test and its interval, the held-out example interval, the method; and
the final test's, on the test split."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from projections.final_test import seed_rows


def paired_test(rule: str, test: dict[str, Any]) -> list[Any]:
    """A paired verdict as read from TrialJudged.test: per-seed rows, then the test."""
    final = "final look" if test["final"] else "stopped early"
    head = f"judged by {rule} ({final}, look {test['look']}): {test['decision']}: {test['reason']}"
    seeds = Table(box=None, padding=(0, 1), show_header=False)
    rows = (
        ("seed", test["candidate_seeds"], "{}"),
        ("trial", test["candidate_scores"], "{:.5f}"),
        ("best", test["best_scores"], "{:.5f}"),
        ("improvement", test["differences"], "{:+.5f}"),
    )
    for name, values, pattern in rows:
        seeds.add_row(name, *(pattern.format(v) for v in values))
    return [head, seeds, *_numbers(test)]


def final_test_detail(event: dict[str, Any]) -> list[Any]:
    """The final test's seeds, both sides' scores on the test split, and its test."""
    runs = len(event["seeds"])
    head = f"final test on the test split ({runs} fresh seeds): {event['status']}"
    table = Table(box=None, padding=(0, 1), show_header=False)
    for name, cells in seed_rows(event):
        table.add_row(name, *cells)
    lines: list[Any] = [Text(f"{head}: {event['reason']}"), table]
    if event.get("test"):
        lines.extend(Text(str(line)) for line in _numbers(event["test"]))
    return lines


def _numbers(test: dict[str, Any]) -> list[str]:
    """The seed test, its method, and the held-out example interval if there is one."""
    lines = [_seed_test_line(test), f"method: {test['method']}"]
    examples = test.get("examples")
    if examples:
        lines.append(
            f"held-out examples: mean improvement {examples['mean']:+.5f} over"
            f" {examples['blocks']} blocks, {_level(test)} interval"
            f" [{examples['low']:+.5f}, {examples['high']:+.5f}] ({examples['method']},"
            f" {examples['resamples']} resamples, rng seed {examples['rng_seed']})"
        )
    return lines


def _seed_test_line(test: dict[str, Any]) -> str:
    line = (
        f"mean improvement {test['mean_improvement']:+.5f}, minimum effect"
        f" {test['min_effect']:.5f}, alpha {test['alpha']:g}"
    )
    if test.get("p") is not None:
        statistic = "" if test["statistic"] is None else f"t {test['statistic']:.3f}, "
        low, high = test["interval"]
        line += (
            f"; {statistic}df {test['df']:g}, p {test['p']:.4g}, {_level(test)} interval"
            f" [{low:+.5f}, {high:+.5f}]"
        )
    return line


def _level(test: dict[str, Any]) -> str:
    return f"{100 * (1 - 2 * test['alpha']):g}%"
