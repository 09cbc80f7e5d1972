"""What every built-in task's trusted `prepare` shares: its manifests and its command line.

`python -m evaluators.TASK.prepare --train D --heldout H --test T` writes the train data
the recipe may read to D, the validation split that scores every trial to H, and the
test split that only the final test scores to T, each with a manifest of what was
written. H and T have the same layout (file names and formats), so the evaluate command
scores either one, given as {heldout}.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def write_json(path: Path, data: dict[str, object]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def main(prepare: Callable[[Path, Path, Path], object], doc: str, argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--heldout", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    args = parser.parse_args(argv)
    prepare(args.train, args.heldout, args.test)
