"""Trusted data preparation for golf-cpu: split the Shakespeare corpus, train, val and test.

Split rule (deterministic, documented here because the held-out guarantee rests on it):

* The corpus is the `*_gut.txt` files of the `shksprdata` package, read in sorted
  file name order. The `*_gut_f.txt` files are First Folio editions of the same plays
  and `metadata.txt` is not text, so both are left out entirely: a folio copy of the
  held-out play in train would leak its lines.
* The last work in that order (`winters_tale_gut.txt`, 152,788 bytes) is held out
  whole. The validation split, {heldout}/val.bin, is its first VAL_BYTES bytes, as
  before test splits existed (so earlier scores compare). The test split, {test}/val.bin
  (the same name: the evaluator reads either folder alike), is the next TEST_BYTES
  bytes, 65,536 to 131,071, used nowhere before; the last 21,716 bytes stay unused.
* `train.bin` is every other work, concatenated in order as raw bytes.

So no val or test byte comes from a work that is in train, and val and test do not
overlap. Two runs write identical bytes.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

from evaluators import prepare_cli

CORPUS_PACKAGE = "shksprdata"
CORPUS_GLOB = "*_gut.txt"  # does not match the *_gut_f.txt folio editions
VAL_BYTES = 65536  # 64 KiB keeps evaluation to a few seconds on one thread
TEST_BYTES = 65536  # the same size: the final test's evaluations cost what a trial's do


def corpus_dir() -> Path:
    """The folder of the installed corpus package's plain-text works."""
    return Path(str(importlib.resources.files(CORPUS_PACKAGE) / "texts"))


def corpus_files(source: Path) -> list[Path]:
    """The works of the corpus in the order the split rule uses."""
    files = sorted(source.glob(CORPUS_GLOB), key=lambda path: path.name)
    if len(files) < 2:
        raise FileNotFoundError(f"expected several {CORPUS_GLOB} files in {source}")
    return files


def split(files: list[Path]) -> tuple[bytes, bytes, bytes, str]:
    """Train, val and test bytes, and the held-out work's name."""
    *train_files, held_out = files
    train = b"".join(path.read_bytes() for path in train_files)
    text = held_out.read_bytes()
    val, test = text[:VAL_BYTES], text[VAL_BYTES : VAL_BYTES + TEST_BYTES]
    if len(test) < TEST_BYTES:
        raise ValueError(f"{held_out.name} has {len(text)} bytes: too short for val and test")
    return train, val, test, held_out.name


def _describe(data: bytes) -> dict[str, object]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def prepare(
    train_dir: Path, heldout_dir: Path, test_dir: Path, source: Path | None = None
) -> dict[str, object]:
    """Write train.bin, the val and test splits (each as val.bin) and a manifest.json per
    folder; returns the test folder's manifest, which describes all three."""
    files = corpus_files(source or corpus_dir())
    train, val, test, held_out = split(files)
    train_info = {
        **_describe(train),
        "works": [path.name for path in files[:-1]],
    }
    manifest: dict[str, object] = {
        "rule": "hold out the last work whole: val its first 64 KiB, test the next 64 KiB",
        "train": train_info,
    }
    with_val: dict[str, object] = {
        **manifest,
        "val": {**_describe(val), "work": held_out, "offset": 0},
    }
    full: dict[str, object] = {
        **with_val,
        "test": {**_describe(test), "work": held_out, "offset": VAL_BYTES},
    }
    for folder in (train_dir, heldout_dir, test_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (train_dir / "train.bin").write_bytes(train)
    (heldout_dir / "val.bin").write_bytes(val)
    (test_dir / "val.bin").write_bytes(test)
    prepare_cli.write_json(train_dir / "manifest.json", manifest)
    prepare_cli.write_json(heldout_dir / "manifest.json", with_val)
    prepare_cli.write_json(test_dir / "manifest.json", full)
    return full


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m evaluators.golf_cpu.prepare --train D --heldout H --test T`."""
    prepare_cli.main(prepare, __doc__ or "", argv)


if __name__ == "__main__":
    main()
