"""Trusted CORE scoring: mean log-probability of each choice, accuracy centred on chance.

Every (item, choice) pair becomes one row: the bytes of context + choice except the
last, cut to the model's last block_size bytes; each position is scored on the byte
after it, and the choice's bytes are the targets of the row's last positions. Rows go
to the scoring server in a secret random order, ROWS_PER_CALL to a request, each
right-padded with secret random bytes to the suite's longest row, so a request's
shape, order and company say nothing about a row. (Where a row's text gives way to
random bytes still hints at its end: a model that uses it is caught like any
look-ahead, since the checker's random bytes begin right after j.) We compute the
log-softmax in float64 ourselves; a choice's score is its mean log-probability per byte.

The blind check (evaluators.serving.blind_check states the rule and its argument): a second
server gets every row again, cut after a secret j and padded with fresh random bytes
(so every byte after j is random), batched by cut length with ties in secret order:
other company, another point of its history. j is uniform over the row's choice
positions, the last included (then nothing is replaced and the row is checked only
against its company and history). At every position <= j, context included, the
second server's log-probability of the row's true next byte must equal the first's.
So each row's outputs may depend only on its own prefix: not on later bytes, other
rows (another choice of the same item), the batch, the padding or what the server saw
before. Only the first server's outputs make the score.

Per-example values (`per_item`): each item's share of credit, centred on chance like
CORE, in suite order; their mean is CORE when every task has as many items.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evaluators.core_cpu.suite import Item
from evaluators.serving.blind_check import Bytes, batches, secret_bytes, secret_cut, secret_order
from evaluators.serving.lm_scoring import LMClient, Scored, check_batch, picked, require_block

ROWS_PER_CALL = 16  # small batches run faster here (cache), and cost no soundness
Scores = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Row:
    item: int
    inputs: Bytes  # model inputs
    targets: Bytes  # the byte after each input position
    choice: int  # the last `choice` positions predict the choice's bytes

    def name(self, items: Sequence[Item]) -> str:
        return f"row of item {self.item} ({items[self.item].task})"


def make_rows(items: Sequence[Item], block: int) -> list[Row]:
    rows = []
    for n, item in enumerate(items):
        for choice in item.choices:
            text = np.frombuffer((item.context + choice).encode(), dtype=np.uint8)
            inputs, targets = text[:-1][-block:], text[1:][-block:]
            rows.append(Row(n, inputs, targets, min(len(choice.encode()), len(inputs))))
    return rows


def _padded(rows: Sequence[Bytes], width: int) -> Bytes:
    """The rows, right-padded with secret random bytes to `width`."""
    batch = secret_bytes(len(rows) * width).reshape(len(rows), width).copy()
    for i, row in enumerate(rows):
        batch[i, : len(row)] = row
    return batch


def choice_scores(serve: Callable[[], LMClient], items: Sequence[Item]) -> Scores:
    """Mean log-probability per choice byte, one per (item, choice) in suite order."""
    with serve() as scorer:
        block = scorer.block_size
        rows = make_rows(items, block)
        width = max(len(row.inputs) for row in rows)
        scored = _score_rows(scorer, rows, width)
    with serve() as checker:
        require_block(checker, block)
        _check_rows(checker, rows, scored, items)
    return np.array([s.logprobs[-row.choice :].mean() for row, s in zip(rows, scored, strict=True)])


def _score_rows(scorer: LMClient, rows: Sequence[Row], width: int) -> list[Scored]:
    """Every row's log-probabilities from the scoring server, and its secret cut."""
    found: dict[int, Scored] = {}
    for batch in batches(secret_order(len(rows)), ROWS_PER_CALL):
        logits = scorer.logits(_padded([rows[i].inputs for i in batch], width))
        for out, i in zip(logits, batch, strict=True):
            row = rows[i]
            j = secret_cut(len(row.inputs) - row.choice, len(row.inputs) - 1)
            found[i] = Scored(row.targets, j, picked(out, row.targets))
    return [found[i] for i in range(len(rows))]


def _check_rows(
    checker: LMClient, rows: Sequence[Row], scored: Sequence[Scored], items: Sequence[Item]
) -> None:
    """Every row cut after its j, then padded with random bytes: so every byte after j
    is random. Batched by cut length (ties in secret order) to keep padding short."""
    order = sorted(secret_order(len(rows)), key=lambda i: scored[i].cut)
    for batch in batches(order, ROWS_PER_CALL):
        cut = [rows[i].inputs[: scored[i].cut + 1] for i in batch]
        names = [rows[i].name(items) for i in batch]
        width = max(len(row) for row in cut)
        check_batch(checker, _padded(cut, width), [scored[i] for i in batch], names)


def credits(items: Sequence[Item], scores: Scores) -> list[float]:
    """Per item: the answer's share of credit, ties split evenly (a flat model is at chance)."""
    credit, offset = [], 0
    for item in items:
        mine = scores[offset : offset + len(item.choices)]
        offset += len(item.choices)
        best = mine == mine.max()
        credit.append(float(best[item.answer]) / int(best.sum()))
    return credit


def accuracies(items: Sequence[Item], scores: Scores) -> dict[str, float]:
    """Per task: the mean credit of its items."""
    by_task: dict[str, list[float]] = {}
    for item, value in zip(items, credits(items, scores), strict=True):
        by_task.setdefault(item.task, []).append(value)
    return {task: statistics.fmean(values) for task, values in by_task.items()}


def core(accuracy: Mapping[str, float], choices: Mapping[str, int]) -> float:
    """DCLM's CORE: each accuracy centred on chance, (acc - 1/n) / (1 - 1/n), averaged."""
    return statistics.fmean(_centred(acc, choices[task]) for task, acc in accuracy.items())


def per_item(
    items: Sequence[Item], scores: Scores, choices: Mapping[str, int]
) -> tuple[float, ...]:
    """Each item's credit centred on chance, in suite order."""
    pairs = zip(items, credits(items, scores), strict=True)
    return tuple(_centred(value, choices[item.task]) for item, value in pairs)


def _centred(accuracy: float, n: int) -> float:
    return (accuracy - 1 / n) / (1 - 1 / n)
