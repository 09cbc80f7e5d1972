"""The previous projection rebuild, loaded from git, to run side by side with today's.

`previous_rebuild(ref, scratch)` copies projections/{fold,projector,costs,schema}.py as
they were at `ref` (the per-event Python fold, before the SQL fold) into a package of
their own under `scratch`, and returns a rebuild function with today's signature. The
ledger's `read` still serves what that fold reads.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("fold", "projector", "costs", "schema")


def previous_rebuild(ref: str, scratch: Path) -> Callable[[Any, Path], int]:
    package = scratch / "previous_projections"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""projections/ as it was at a git ref."""\n')
    for name in MODULES:
        text = subprocess.run(
            ["git", "show", f"{ref}:projections/{name}.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        text = text.replace("from projections import", "from previous_projections import")
        text = text.replace("from projections.", "from previous_projections.")
        (package / f"{name}.py").write_text(text)
    sys.path.insert(0, str(scratch))
    projector = importlib.import_module("previous_projections.projector")
    schema = importlib.import_module("previous_projections.schema")

    def rebuild(reader: Any, path: Path) -> int:
        """As projections.db.rebuild was: one checkpoint at the end."""
        for stale in (path, path.with_name(path.name + ".wal")):
            stale.unlink(missing_ok=True)
        con = duckdb.connect(str(path))
        try:
            con.execute("SET checkpoint_threshold = '1TB'")
            schema.create(con)
            count = int(projector.catch_up(reader, con))
            con.execute("CHECKPOINT")
        finally:
            con.close()
        return count

    return rebuild
