"""Trusted CORE scoring: mean log-probability of each choice, accuracy centred on chance.

Every (item, choice) pair becomes one row: the bytes of context + choice except the last,
cut to the model's last block_size bytes; the choice's bytes are the targets at the end
of the row. Rows are sorted by length and sent in batches, right-padded with zeros to the
batch's longest row. Right padding cannot change a causal model's outputs, and that is
checked rather than trusted: each batch carries a look-ahead probe (a copy of its first
row changed after position j must agree up to j), and the first row of the run is scored
a second time alone (its outputs must not depend on the other rows or the padding).
We compute the log-softmax in float64 ourselves, only where a choice byte is predicted.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evaluators.core_cpu.suite import Item
from evaluators.lm_scoring import IllegalModel, LMClient, causal_gap, log_probs, probe_row

ROWS_PER_CALL = 128
TOLERANCE = 1e-4  # max |log p| difference allowed by the probes
Bytes = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Row:
    item: int
    ids: Bytes  # model inputs
    targets: Bytes  # the choice's bytes, predicted by the last len(targets) positions


def make_rows(items: Sequence[Item], block: int) -> list[Row]:
    rows = []
    for n, item in enumerate(items):
        for choice in item.choices:
            text = np.frombuffer((item.context + choice).encode(), dtype=np.uint8)
            count = len(choice.encode())
            inputs = text[:-1][-block:]
            rows.append(Row(n, inputs, text[-min(count, len(inputs)) :]))
    return rows


def _padded(rows: Sequence[Row]) -> Bytes:
    batch = np.zeros((len(rows), max(len(r.ids) for r in rows)), dtype=np.uint8)
    for i, row in enumerate(rows):
        batch[i, : len(row.ids)] = row.ids
    return batch


def _choice_logprob(logits: npt.NDArray[np.float32], row: Row) -> npt.NDArray[np.float64]:
    """Log-probabilities of the choice's bytes (rows of logits are this row's positions)."""
    end = len(row.ids)
    picked = log_probs(logits[end - len(row.targets) : end])
    out: npt.NDArray[np.float64] = picked[np.arange(len(row.targets)), row.targets]
    return out


def _probe(client: LMClient, rows: Sequence[Row], batch: Bytes) -> npt.NDArray[np.float32]:
    """Logits for the batch; raises IllegalModel if its first row's outputs look ahead."""
    j = len(rows[0].ids) // 2
    logits = client.logits(np.concatenate([batch, probe_row(batch[0], j)[None]]))
    pair = log_probs(logits[[0, -1], : j + 1])
    if causal_gap(pair, j) > TOLERANCE:
        raise IllegalModel("outputs depend on later bytes (look-ahead probe)")
    return logits[:-1]


def _check_alone(client: LMClient, row: Row, in_batch: npt.NDArray[np.float64]) -> None:
    alone = _choice_logprob(client.logits(row.ids[None])[0], row)
    if float(np.abs(alone - in_batch).max()) > TOLERANCE:
        raise IllegalModel("a row's outputs depend on the other rows or the padding")


def choice_scores(client: LMClient, rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    """Mean log-probability per choice byte, in the order of `rows`."""
    order = sorted(range(len(rows)), key=lambda i: (-len(rows[i].ids), i))
    scores = np.zeros(len(rows))
    for start in range(0, len(order), ROWS_PER_CALL):
        picked = order[start : start + ROWS_PER_CALL]
        chunk = [rows[i] for i in picked]
        logits = _probe(client, chunk, _padded(chunk))
        for i, row, out in zip(picked, chunk, logits, strict=True):
            per_byte = _choice_logprob(out, row)
            if start == 0 and i == picked[0]:
                _check_alone(client, row, per_byte)
            scores[i] = per_byte.mean()
    return scores


def accuracies(items: Sequence[Item], scores: npt.NDArray[np.float64]) -> dict[str, float]:
    """Per task: the answer's share of credit, ties split evenly (a flat model is at chance)."""
    credit: dict[str, list[float]] = {}
    offset = 0
    for item in items:
        mine = scores[offset : offset + len(item.choices)]
        offset += len(item.choices)
        best = mine == mine.max()
        credit.setdefault(item.task, []).append(float(best[item.answer]) / int(best.sum()))
    return {task: statistics.fmean(values) for task, values in credit.items()}


def core(accuracy: Mapping[str, float], choices: Mapping[str, int]) -> float:
    """DCLM's CORE: each accuracy centred on chance, (acc - 1/n) / (1 - 1/n), averaged."""
    centred = [(acc - 1 / choices[t]) / (1 - 1 / choices[t]) for t, acc in accuracy.items()]
    return statistics.fmean(centred)
