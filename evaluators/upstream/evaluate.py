"""The evaluate command of an upstream task: the wrapper's verdict as our one JSON line.

`python -m evaluators.upstream.evaluate --artifact A [--unsafe-no-sandbox]` reads the
verdict the wrapper wrote beside the artifact dir A and prints, last on stdout,
{"score", "measurements", "illegal", "error", "label", "evidence"}.

The metric was computed inside the upstream run (its final eval line) and parsed by the
wrapper, which is harness code; nothing here runs agent-written code, so the sandbox
flag is accepted and has nothing to act on. A budget overrun that the wrapper timed
(parameter-golf's 600 s phases inside one process) is named in `label`; `error` names
it as well, so that until the harness reads `label` the trial still fails (as a crash)
instead of scoring.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from domain.labels import FailureLabel
from evaluators.upstream.run import result_path

_LABELS = {label.value for label in FailureLabel}


def line_for(result: dict[str, Any] | None) -> dict[str, Any]:
    if result is None:
        return _line(error="the upstream wrapper wrote no result for this artifact")
    label = str(result.get("label") or "")
    if label not in _LABELS | {""}:
        return _line(error=f"the wrapper's result has an unknown label {label!r}")
    measurements = {k: float(v) for k, v in (result.get("measurements") or {}).items()}
    evidence = result.get("evidence") or {}
    if not label:
        return _line(score=result.get("score"), measurements=measurements, evidence=evidence)
    reason = str(result.get("reason") or label)
    error = reason if label == FailureLabel.CRASH else f"{label}: {reason}"
    return _line(measurements=measurements, error=error, label=label, evidence=evidence)


def _line(
    score: float | None = None,
    measurements: dict[str, float] | None = None,
    error: str = "",
    label: str = "",
    evidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "score": score,
        "measurements": measurements or {},
        "illegal": "",
        "error": error,
        "label": label,
        "evidence": evidence or {},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="evaluators.upstream.evaluate")
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--unsafe-no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    path = result_path(args.artifact)
    try:
        result = json.loads(path.read_text()) if path.is_file() else None
    except ValueError as error:
        line = _line(error=f"unreadable wrapper result {path.name}: {error}")
    else:
        line = line_for(result)
    sys.stdout.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
