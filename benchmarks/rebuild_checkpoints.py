"""A/B, side by side in one run: a full projection rebuild with DuckDB's default
checkpoints against `projections.db.rebuild`, which checkpoints once at the end.

    python benchmarks/scale.py --events 1000000 --reuse /tmp/scale-1m/ledger.sqlite
    python benchmarks/rebuild_checkpoints.py /tmp/scale-1m/ledger.sqlite
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from ledger.store import open_ledger
from projections import db, schema
from projections.projector import catch_up

store = open_ledger(sys.argv[1])
out = {}
scratch = Path(tempfile.mkdtemp(prefix="rebuild-"))
for name in ("default_checkpoints", "one_checkpoint"):
    path = scratch / f"{name}.duckdb"
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    if name == "one_checkpoint":
        n = db.rebuild(store, path)
    else:
        with db.connect(path) as con:
            schema.create(con, tuple(db.EXTRA_DDL))
            n = catch_up(store, con)
    seconds = time.perf_counter() - started
    out[name] = {
        "events": n,
        "seconds": seconds,
        "events_per_s": n / seconds,
        "load": os.getloadavg(),
    }
    print(name, json.dumps(out[name]), flush=True)
