"""Trusted core-cpu evaluator: serve the artifact's model in the sandbox, score the CORE suite.

`python -m evaluators.core_cpu.evaluate --artifact A --heldout H --threads N
--eval-seconds S [--unsafe-no-sandbox]` prints one JSON line last:
{"score": core, "measurements": {"acc_<task>": ...}, "per_example": [...], "illegal": "",
"error": ""}. The agent's model.py runs only inside sandboxed lm_server processes; this
process reads suite.json (answers included) and computes CORE itself (see scoring.py).
`per_example[i]` is item i's credit centred on chance, in suite.json's item order.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from evaluators.core_cpu.scoring import accuracies, choice_scores, core, per_item
from evaluators.core_cpu.suite import Item
from evaluators.serving import servers as serving
from evaluators.serving.lm_scoring import SERVER_PATH, LMClient

TASK_TOML = Path(__file__).with_name("task.toml")


def load_suite(heldout: Path) -> tuple[list[Item], dict[str, int]]:
    data = json.loads((heldout / "suite.json").read_text())
    items = [Item(i["task"], i["context"], tuple(i["choices"]), i["answer"]) for i in data["items"]]
    return items, data["choices"]


def score(served: serving.Served) -> serving.Measured:
    """CORE of the served model over the held-out suite, with per-task accuracies."""
    items, choices = load_suite(served.run.heldout)
    started = time.monotonic()
    with served.servers(SERVER_PATH, LMClient) as serve:
        scores = choice_scores(serve, items)
    accuracy = accuracies(items, scores)
    measurements = {f"acc_{task}": round(acc, 6) for task, acc in accuracy.items()}
    measurements["items"] = float(len(items))
    measurements["score_s"] = round(time.monotonic() - started, 3)
    return serving.Measured(core(accuracy, choices), measurements, per_item(items, scores, choices))


def main(argv: list[str] | None = None) -> None:
    run = serving.parse_run(__doc__.splitlines()[0], argv)
    line = serving.evaluate(run, serving.sandbox_rules(TASK_TOML), score)
    print(line, flush=True)  # noqa: T201  (the verdict line is the interface)


if __name__ == "__main__":
    main()
