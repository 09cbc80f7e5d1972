"""The pipeline's protocol lines, and training progress thinned to a fixed number.

A trial records at most PROGRESS_PER_TRIAL progress samples over all its seeds, however
many progress lines the recipe prints. Each seed's share is metered on the harness's
clock like a token bucket: up to BURST lines pass at once, then lines pass at the steady
rate that spends the rest of the share over the seed's whole time budget, so a flood is
cut to evenly spaced samples and a recipe that prints a few lines keeps them all. The
seed's last line is always kept as well (the final loss). Kept samples go out in batches.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from domain.trial import ProgressSample

PROGRESS_PER_TRIAL = 240
BURST = 16
FLUSH_EVERY_S = 2.0
FLUSH_SAMPLES = 50


class Emitter:
    """Writes protocol lines; progress samples are thinned, then batched."""

    def __init__(self, seeds: int = 1) -> None:
        self.per_seed = max(PROGRESS_PER_TRIAL // seeds - 1, 1)  # + the last line each
        self.burst = min(BURST, self.per_seed)
        self.pending: list[ProgressSample] = []
        self.held: ProgressSample | None = None  # the newest line not kept (yet)
        self.flushed_at = time.monotonic()
        self.start_seed(0, 1.0)

    def line(self, obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def start_seed(self, seed: int, budget_s: float) -> None:
        self.end_seed()
        self.seed, self.kept, self.tokens, self.clock = seed, 0, float(self.burst), 0.0
        self.rate = (self.per_seed - self.burst) / budget_s  # lines per second after a burst

    def sample(self, sample: ProgressSample) -> None:
        passed = max(sample.elapsed_s - self.clock, 0.0)
        self.tokens = min(self.burst, self.tokens + passed * self.rate)
        self.clock = sample.elapsed_s
        if self.tokens < 1 or self.kept >= self.per_seed:
            self.held = sample
            return
        self.tokens -= 1
        self.kept += 1
        self.held = None
        self._keep(sample)

    def end_seed(self) -> None:
        """Keep the seed's last line, then send what is pending."""
        if self.held is not None:
            self._keep(self.held)
            self.held = None
        self.flush()

    def flush(self) -> None:
        if self.pending:
            samples = [s.model_dump() for s in self.pending]
            self.line({"kind": "progress", "seed": self.seed, "samples": samples})
        self.pending = []
        self.flushed_at = time.monotonic()

    def _keep(self, sample: ProgressSample) -> None:
        self.pending.append(sample)
        if len(self.pending) >= FLUSH_SAMPLES or time.monotonic() - self.flushed_at > FLUSH_EVERY_S:
            self.flush()


def progress_parser(emitter: Emitter, started: float) -> Any:
    """A stdout-line callback: `{"step": n, "loss": x}` lines become samples."""

    def on_line(line: str) -> None:
        text = line.strip()
        if not text.startswith("{"):
            return
        try:
            obj = json.loads(text)
            sample = ProgressSample(
                step=int(obj["step"]),
                loss=obj["loss"],
                elapsed_s=round(time.monotonic() - started, 3),
            )
        except (ValueError, KeyError, TypeError):
            return  # not a progress line: it stays in the log only
        emitter.sample(sample)

    return on_line
