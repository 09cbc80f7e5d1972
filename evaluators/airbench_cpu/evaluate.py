"""Trusted airbench-cpu evaluator: serve the artifact's classifier in the sandbox, report accuracy.

`python -m evaluators.airbench_cpu.evaluate --artifact A --heldout H --threads N
--eval-seconds S [--unsafe-no-sandbox]` prints one JSON line last:
{"score": null, "measurements": {"accuracy": ...}, "illegal": "", "error": ""}.
The metric is the harness's own training wall time, so the score is left null; the
accuracy is the gate. The agent's model.py runs only inside the sandboxed
tensor_server process and sees test inputs only; the labels stay in this process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluators import serving
from evaluators.clf_scoring import (
    SERVER_PATH,
    TensorClient,
    accuracy,
    classify,
)
from evaluators.lm_scoring import open_server, server_argv

TASK_TOML = Path(__file__).with_name("task.toml")
CLASSES = 10


def score(served: serving.Served) -> serving.Measured:
    """Test accuracy of the served classifier over the held-out split."""
    inputs = np.load(served.run.heldout / "test_x.npy")
    labels = np.load(served.run.heldout / "test_y.npy")
    server = serving.stage_script(SERVER_PATH, served.private / "server")
    argv = server_argv(server, served.run.artifact, served.run.threads)
    with open_server(argv, served.spawn, served.deadline, TensorClient) as client:
        logits = classify(client, inputs, CLASSES)
    return None, {"accuracy": accuracy(logits, labels), "test_items": float(len(labels))}


def main(argv: list[str] | None = None) -> None:
    run = serving.parse_run(__doc__.splitlines()[0], argv)
    line = serving.evaluate(run, serving.sandbox_rules(TASK_TOML), score)
    print(line, flush=True)  # noqa: T201  (the verdict line is the interface)


if __name__ == "__main__":
    main()
