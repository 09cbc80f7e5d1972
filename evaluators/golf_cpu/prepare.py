"""Trusted data preparation for golf-cpu: split the Shakespeare corpus, train vs val.

Split rule (deterministic, documented here because the held-out guarantee rests on it):

* The corpus is the `*_gut.txt` files of the `shksprdata` package, read in sorted
  file name order. The `*_gut_f.txt` files are First Folio editions of the same plays
  and `metadata.txt` is not text, so both are left out entirely: a folio copy of the
  held-out play in train would leak its lines.
* The last work in that order (`winters_tale_gut.txt`) is held out whole. `val.bin` is
  its first `VAL_BYTES` bytes; the rest of it is used nowhere.
* `train.bin` is every other work, concatenated in order as raw bytes.

So no val byte comes from a work that is in train. Two runs write identical bytes.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

from evaluators import prepare_cli

CORPUS_PACKAGE = "shksprdata"
CORPUS_GLOB = "*_gut.txt"  # does not match the *_gut_f.txt folio editions
VAL_BYTES = 65536  # 64 KiB keeps evaluation to a few seconds on one thread


def corpus_dir() -> Path:
    """The folder of the installed corpus package's plain-text works."""
    return Path(str(importlib.resources.files(CORPUS_PACKAGE) / "texts"))


def corpus_files(source: Path) -> list[Path]:
    """The works of the corpus in the order the split rule uses."""
    files = sorted(source.glob(CORPUS_GLOB), key=lambda path: path.name)
    if len(files) < 2:
        raise FileNotFoundError(f"expected several {CORPUS_GLOB} files in {source}")
    return files


def split(files: list[Path]) -> tuple[bytes, bytes, str]:
    """Train bytes, val bytes and the held-out work's name."""
    *train_files, held_out = files
    train = b"".join(path.read_bytes() for path in train_files)
    val = held_out.read_bytes()[:VAL_BYTES]
    return train, val, held_out.name


def _describe(data: bytes) -> dict[str, object]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def prepare(train_dir: Path, heldout_dir: Path, source: Path | None = None) -> dict[str, object]:
    """Write train.bin, val.bin and a manifest.json per folder; returns the manifest."""
    files = corpus_files(source or corpus_dir())
    train, val, held_out = split(files)
    train_info = {
        **_describe(train),
        "works": [path.name for path in files[:-1]],
    }
    val_info = {**_describe(val), "work": held_out, "offset": 0}
    manifest: dict[str, object] = {
        "rule": "hold out the last work whole",
        "train": train_info,
    }
    train_dir.mkdir(parents=True, exist_ok=True)
    heldout_dir.mkdir(parents=True, exist_ok=True)
    (train_dir / "train.bin").write_bytes(train)
    (heldout_dir / "val.bin").write_bytes(val)
    prepare_cli.write_json(train_dir / "manifest.json", manifest)
    full: dict[str, object] = {**manifest, "val": val_info}
    prepare_cli.write_json(heldout_dir / "manifest.json", full)
    return full


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m evaluators.golf_cpu.prepare --train D --heldout H`."""
    prepare_cli.main(prepare, __doc__ or "", argv)


if __name__ == "__main__":
    main()
