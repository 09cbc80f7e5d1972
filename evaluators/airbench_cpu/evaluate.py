"""Trusted airbench-cpu evaluator: serve the artifact's classifier in the sandbox, report accuracy.

`python -m evaluators.airbench_cpu.evaluate --artifact A --heldout H --threads N
--eval-seconds S [--unsafe-no-sandbox]` prints one JSON line last:
{"score": null, "measurements": {"accuracy": ...}, "per_example": [...], "illegal": "",
"error": ""}. The metric is the harness's own training wall time, so the score is left
null; the accuracy is the gate. The agent's model.py runs only inside sandboxed
tensor_server processes and sees test inputs only; the labels stay in this process.
`per_example[i]` is 1.0 if test row i (test_x.npy order) is classified right, else 0.0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluators.serving import servers as serving
from evaluators.serving.clf_scoring import SERVER_PATH, TensorClient, classify, correct

TASK_TOML = Path(__file__).with_name("task.toml")
CLASSES = 10


def score(served: serving.Served) -> serving.Measured:
    """Test accuracy of the served classifier over the held-out split."""
    inputs = np.load(served.run.heldout / "test_x.npy")
    labels = np.load(served.run.heldout / "test_y.npy")
    with served.servers(SERVER_PATH, TensorClient) as serve:
        right = correct(classify(serve, inputs, CLASSES), labels)
    measurements = {"accuracy": float(right.mean()), "test_items": float(len(labels))}
    return serving.Measured(None, measurements, tuple(right.tolist()))


def main(argv: list[str] | None = None) -> None:
    run = serving.parse_run(__doc__.splitlines()[0], argv)
    line = serving.evaluate(run, serving.sandbox_rules(TASK_TOML), score)
    print(line, flush=True)  # noqa: T201  (the verdict line is the interface)


if __name__ == "__main__":
    main()
