"""Trusted golf-cpu evaluator: serve the artifact's model in the sandbox, score val bpb.

`python -m evaluators.golf_cpu.evaluate --artifact A --heldout H --threads N
--eval-seconds S [--unsafe-no-sandbox]` prints one JSON line last:
{"score": bpb, "measurements": {...}, "per_example": [...], "illegal": "", "error": ""}.
The agent's model.py runs only inside sandboxed lm_server processes; this process
reads val.bin and computes the metric (evaluators.serving.lm_scoring documents the scheme).
`per_example[i]` is the bits per byte of predicted val bytes 512*i+1 .. 512*i+512 (the
last segment is shorter), whatever the model's window: two trials pair segment by segment.
"""

from __future__ import annotations

import time
from pathlib import Path

from evaluators.serving import servers as serving
from evaluators.serving.lm_scoring import SERVER_PATH, LMClient, score_bytes

TASK_TOML = Path(__file__).with_name("task.toml")


def score(served: serving.Served) -> serving.Measured:
    """Val bits per byte of the served model, every window checked for causality."""
    val = (served.run.heldout / "val.bin").read_bytes()
    started = time.monotonic()
    with served.servers(SERVER_PATH, LMClient) as serve:
        result = score_bytes(serve, val)
    measurements = {
        "val_bytes": float(result.predicted),
        "val_loss_nats": result.loss_nats,
        "score_s": round(time.monotonic() - started, 3),
    }
    return serving.Measured(result.bpb, measurements, result.segments)


def main(argv: list[str] | None = None) -> None:
    run = serving.parse_run(__doc__.splitlines()[0], argv)
    line = serving.evaluate(run, serving.sandbox_rules(TASK_TOML), score)
    print(line, flush=True)  # noqa: T201  (the verdict line is the interface)


if __name__ == "__main__":
    main()
