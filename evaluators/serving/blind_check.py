"""The blind check: every scored output is answered again by a server that never saw it.

The rule: a served model's output for a row may depend only on that row's own bytes up
to the position it predicts (and, in golf-cpu, on windows it already adapted on). Not
on later bytes of the row, other rows, the batch, the order, the padding or earlier
requests; and it must be deterministic. It is verified for every scored row, not a
sample:

1. Server A is served exactly as in normal use; only A's outputs make the score, so the
   score is deterministic and reproducible.
2. After A has exited, a fresh server B starts on the same read-only artifact, in its
   own sandbox with its own empty work dir and /tmp: nothing A wrote is visible to it.
3. For each row A answered we draw a secret cut j (`secret_cut`, uniform over the row's
   scored positions, the last one included), and B gets the row with every byte after j
   replaced by secret random bytes (`perturbed`, or the row cut after j and padded with
   random bytes: the same thing). Rows reach B in another secret order and batching;
   golf-cpu keeps the window order and one window per request, as adaptation needs.
4. At every position <= j, B's log-probability of the byte A was scored on must equal
   A's within TOLERANCE (both computed by us in float64). A larger gap breaks the rule.
   We then send B the same request again: if its two answers differ, the model is
   refused as not deterministic (or as changing its state in forward()); otherwise as
   depending on later bytes, other rows or earlier requests.

Why it is sound. j, the replacement bytes and the orders come from `secrets` and
os.urandom, never from anything a recipe can know (not the trial seed). A cannot know
j, so a model that uses byte i+1 (or any later byte) at a scored position i is tested
there whenever j == i, which has probability 1/n in a row of n scored positions. B
cannot reproduce A's output at j: the bytes after j it sees are random and independent
of the true ones (a replacement, not an invertible shift), so B must guess the true
byte from the prefix, which A's honest distribution could have done as well. Formally:
if at a tested position B's answer matches A's for a set S of next bytes (probability
P(S)), A's score there, when it passes, is that of B's causal distribution, which beats
an honest prediction by at most log2(1/P(S)) bits while the cheat is caught with
probability 1 - P(S). Summed over rows, a model that gains G bits in all by looking
ahead (at most a bit per position) passes with probability at most about
exp(-G / 2n). In golf-cpu (n = 64, 65,535 bytes) a gain of 0.01 bpb passes with
probability under 1%, 0.02 bpb under 1e-4: far below the task's noise (sd 0.028). A
blind cheat, all weight on the next byte at a fraction f of the positions, passes W
rows with probability about (1 - f * 255/256)^W: for f = 0.01 and golf-cpu's 1,024
windows, under 4e-5. Knowing it is being checked ("the tail looks random", "an
adapt-only request came") does not help B: it still lacks the bytes A used. A change
smaller than TOLERANCE passes, and gains at most that.

No channel from A to B. Agent code never runs in both at once: B's process may start
early to import torch, but it imports the artifact's model only after A has exited
(the servers' go byte, evaluators.serving.servers.Servers). The sandboxes share no writable
file, process, IPC or network; what A can still influence that B can observe (timing,
the page cache) carries a few bits, while matching A takes the replaced bytes of every
caught row. Outputs that depend on other rows, the batch, the padding or earlier
requests are caught because A and B get each row in independent random company and at
a random point of their history, and every other row B sees is itself cut at its own
secret j. The guarantee needs the sandbox: `--unsafe-no-sandbox` drops it, as it drops
every other.

The classifier version (evaluators.serving.clf_scoring) has no later bytes to replace: B gets
the same rows in another random order and batching, and every row's logits must match.
The cost: about twice the forward passes of scoring alone, and a second server.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

TOLERANCE = 1e-4  # nats: how far B's log-probabilities may be from A's
Bytes = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.floating]


class IllegalModel(Exception):
    """The model broke a rule: it looks ahead, depends on other rows or on its history,
    is not deterministic, or returns outputs of the wrong shape."""


def secret_cut(first: int, last: int) -> int:
    """A uniform position in [first, last], drawn from the OS's secret randomness."""
    if last < first:
        raise ValueError(f"empty range {first}..{last}")
    return first + secrets.randbelow(last - first + 1)


def secret_bytes(count: int) -> Bytes:
    """`count` uniform random bytes, independent of everything the model saw."""
    return np.frombuffer(os.urandom(count), dtype=np.uint8)


def secret_order(count: int) -> list[int]:
    """A uniformly random permutation of range(count), drawn from secret randomness."""
    order = list(range(count))
    for i in range(count - 1, 0, -1):  # Fisher-Yates with secret draws
        k = secrets.randbelow(i + 1)
        order[i], order[k] = order[k], order[i]
    return order


def perturbed(inputs: Bytes, j: int) -> Bytes:
    """A copy of the row: bytes 0..j kept, every byte after j secret random."""
    changed = inputs.copy()
    changed[j + 1 :] = secret_bytes(len(changed) - j - 1)
    return changed


def gap(first: Floats, again: Floats) -> float:
    """The largest absolute difference between two answers (0 for empty ones)."""
    if first.size == 0:
        return 0.0
    return float(np.abs(first.astype(np.float64) - again.astype(np.float64)).max())


def refusal(where: str, moved: float, repeated: float, cause: str) -> IllegalModel:
    """The error for a gap: `repeated` is how far B's answer moved when asked again."""
    if repeated > 0:
        return IllegalModel(
            f"{where}: the same request answered twice differed by {repeated:.3g}: "
            "the model is not deterministic (or its forward() changes its state)"
        )
    return IllegalModel(f"{where}: {cause} (moved by {moved:.3g})")


def batches(order: Sequence[int], size: int) -> list[Sequence[int]]:
    """Consecutive chunks of `order`, `size` rows each (the last may be shorter)."""
    return [order[i : i + size] for i in range(0, len(order), size)]
