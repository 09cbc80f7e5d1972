"""The effectiveness benchmark's ledgers outlive the machine: each task's SQLite ledger is
snapshotted, xz-compressed, beside the committed results (a 24-trial search adds about
0.2 MB), so a later session restores it and resumes where this one stopped, with the
trial cache intact. A snapshot is a consistent copy (SQLite's online backup) even while
a search is writing; a search caught mid-trial is resumed like one whose process died.

A ledger can also be seeded from another run's ledger (`--cache-from`): its searches are
inherited as cache sources only, listed in inherited.json and never taken for this run's
own, so every search runs again and reuses what the cache holds.

A search stopped halfway is resumed with the caps its baseline derived on the machine it
began on. On another machine (a new session's VM can train the same recipe 35% dearer)
those caps would judge its remaining trials against a different machine, so such a
search is abandoned instead: listed with the reason in <task>.abandoned.json beside the
snapshot, never resumed or tabulated; its trials stay in the ledger as cache sources.
"""

from __future__ import annotations

import json
import lzma
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path


def snapshot_of(ledger: Path) -> Path:
    """<out>/ledgers/<task>/ledger.sqlite -> <out>/ledgers/<task>.sqlite.xz"""
    return ledger.parent.with_name(ledger.parent.name + ".sqlite.xz")


def snapshot(ledger: Path) -> Path:
    """Write the ledger's compressed snapshot (atomically: a reader never sees half)."""
    target = snapshot_of(ledger)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "ledger.sqlite"
        with (
            sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as src,
            sqlite3.connect(copy) as dst,
        ):
            src.backup(dst)
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")  # one per writer
        with copy.open("rb") as raw, lzma.open(partial, "wb", preset=9) as packed:
            shutil.copyfileobj(raw, packed)
        partial.replace(target)
    return target


def restore(ledger: Path, source: Path | None = None) -> bool:
    """Unpack a snapshot into a missing ledger (this run's own, or `source`'s); False
    when there is nothing to restore."""
    packed = source or snapshot_of(ledger)
    if ledger.exists() or not packed.exists():
        return False
    ledger.parent.mkdir(parents=True, exist_ok=True)
    partial = ledger.with_suffix(".partial")
    with lzma.open(packed, "rb") as raw, partial.open("wb") as out:
        shutil.copyfileobj(raw, out)
    partial.replace(ledger)
    return True


def inherit(ledger: Path, other_out: Path, task: str) -> int:
    """Seed a new ledger from another run's ledger of the same task (live or snapshot);
    its searches are recorded as inherited. Returns how many were inherited."""
    if ledger.exists():
        return len(inherited(ledger))
    live = other_out / "ledgers" / task / "ledger.sqlite"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    if live.exists():
        with (
            sqlite3.connect(f"file:{live}?mode=ro", uri=True) as src,
            sqlite3.connect(ledger) as dst,
        ):
            src.backup(dst)
    elif not restore(ledger, snapshot_of(live)):
        return 0
    with sqlite3.connect(ledger) as con:
        ids = [
            json.loads(state)["event"]["originator_id"]
            for (state,) in con.execute(
                "SELECT state FROM stored_events WHERE topic LIKE '%:SearchStarted'"
            )
        ]
    (ledger.parent / "inherited.json").write_text(json.dumps(ids))
    return len(ids)


def inherited(ledger: Path) -> set[str]:
    """The searches a ledger holds only as cache sources (none unless seeded)."""
    listing = ledger.parent / "inherited.json"
    return set(json.loads(listing.read_text())) if listing.exists() else set()


def abandoned_listing(ledger: Path) -> Path:
    """<out>/ledgers/<task>/ledger.sqlite -> <out>/ledgers/<task>.abandoned.json"""
    return ledger.parent.with_name(ledger.parent.name + ".abandoned.json")


def abandoned(ledger: Path) -> dict[str, str]:
    """The searches a run gave up on (id -> why); none unless some were abandoned."""
    listing = abandoned_listing(ledger)
    return dict(json.loads(listing.read_text())) if listing.exists() else {}


def abandon(ledger: Path, ids: list[str], reason: str) -> None:
    """Add `ids` to the ledger's abandoned searches, with the reason (atomically)."""
    listing = abandoned_listing(ledger)
    merged = abandoned(ledger) | dict.fromkeys(ids, reason)
    partial = listing.with_name(f"{listing.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(merged, indent=1) + "\n")
    partial.replace(listing)
