"""Million-event scale: the read side on one large realistic ledger, side by side with
the raw read of the same rows and with the previous implementation, in one run.

    python benchmarks/scale.py [--events 1000000] [--reuse PATH] [--previous f4f17c0]
                               [--replay 2] [--repeat 20] [--queries-only]

The ledger is written by the real search loop through the real Ledger (see
benchmarks/synthetic.py: only the world is scripted), so its hash chain, stream index,
projections and replays are the real ones. `--reuse PATH` keeps the ledger at PATH (its
projections beside it) and reuses it; a shorter one is topped up. Measured, in order:
- ledger open: the first open of a ledger written before the stream index backfills it;
- raw read: plain `sqlite3`, every row (rowid, id, version, topic, state) in pages of
  122,880, rows only: the ceiling of any rebuild that goes through Python;
- rebuild: `projections.db.rebuild` (the SQL fold), then the previous per-event fold
  (`--previous`, a git ref: its projections/ modules are loaded from git), each right
  after its own raw read; `--previous ''` skips it;
- storage: the `events` table copied with DuckDB's default compression and with none,
  against the zstd the schema uses;
- replay lookup: one search's events through the stream index (`search_events`) in this
  ledger and in a 100k-event ledger holding the same first search (made here);
- canned queries: each of projections/queries/*.sql, --repeat times, its first page (50
  rows: `projections.audit.run` with a row limit) on one read-only connection, as
  `cli.py audit` runs them; and the time to open that connection;
- verify and decision replay of the first --replay searches.
`--queries-only` measures the storage and the canned queries again on the projections
a previous run rebuilt beside `--reuse PATH`.

Raw results go to benchmarks/results/scale-<UTC time>.json; a summary table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

import duckdb

from benchmarks.previous import previous_rebuild
from benchmarks.synthetic import generate
from ledger.replay import replay, search_events
from ledger.store import Ledger, open_ledger
from ledger.verify import verify
from projections import audit, canned
from projections.db import _connect, projections_path, rebuild
from projections.projector import CHUNK

RESULTS = Path(__file__).resolve().parent / "results"
PAGE = 50  # a screenful: what `audit` shows in a table by default
T = TypeVar("T")


def timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "loadavg_at_start": os.getloadavg(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "duckdb": duckdb.__version__,
        "eventsourcing": version("eventsourcing"),
    }


def make_ledger(path: Path, events: int) -> tuple[Ledger, dict[str, Any]]:
    store, open_s = timed(open_ledger, str(path))  # backfills an old ledger's index
    before = store.max_position()
    result, seconds = timed(generate, store, events)
    made = store.max_position() - before
    return store, {
        "open_s (with any backfill)": open_s,
        "reused_events": before,
        "generated_events": made,
        "searches_added": result["searches"],
        "seconds": seconds,
    }


def raw_read(path: Path) -> dict[str, Any]:
    """Every stored row through plain sqlite3, in pages, rows only."""
    con = sqlite3.connect(path)
    count, after = 0, 0
    started = time.perf_counter()
    while rows := con.execute(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
        " WHERE rowid > ? ORDER BY rowid LIMIT ?",
        [after, CHUNK],
    ).fetchall():
        count += len(rows)
        after = rows[-1][0]
    seconds = time.perf_counter() - started
    con.close()
    return {"events": count, "seconds": seconds, "events_per_s": count / seconds}


def project(build: Callable[[Ledger, Path], int], store: Ledger, path: Path) -> dict[str, Any]:
    load = os.getloadavg()[0]
    count, seconds = timed(build, store, path)
    rate, size = count / seconds, path.stat().st_size
    return {"events": count, "seconds": seconds, "events_per_s": rate, "duckdb_bytes": size,
            "load_1min_before": load}  # fmt: skip


def storage(path: Path, scratch: Path) -> dict[str, Any]:
    """The events table alone under three compressions: bytes and seconds to write."""
    out: dict[str, Any] = {"projections_file_bytes": path.stat().st_size}
    for name, clause in (
        ("zstd (the schema's)", "USING COMPRESSION zstd"),
        ("default (dictionary, FSST)", ""),
        ("uncompressed", "USING COMPRESSION uncompressed"),
    ):
        copy = scratch / f"events-{name.split()[0]}.duckdb"
        copy.unlink(missing_ok=True)
        con = duckdb.connect(str(copy))
        try:
            con.execute(f"ATTACH '{path}' AS src (READ_ONLY)")
            columns = con.execute("SELECT * FROM src.events LIMIT 0").description or []
            kinds = ", ".join(
                f"{c[0]} {c[1]} {clause if c[0] == 'payload' else ''}" for c in columns
            )
            con.execute(f"CREATE TABLE events ({kinds})")
            _, seconds = timed(con.execute, "INSERT INTO events SELECT * FROM src.events")
            con.execute("DETACH src")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        out[name] = {"events_table_bytes": copy.stat().st_size, "insert_s": seconds}
        copy.unlink()
    return out


def lookups(big: Ledger, small: Ledger) -> dict[str, Any]:
    """The same search's events through the index, in both ledgers."""
    search = small.searches()[0][0]
    out: dict[str, Any] = {"search": str(search)}
    for name, store in (("100k", small), ("large", big)):
        events, seconds = timed(search_events, store, search)
        _, index_s = timed(store.stream_records, search)
        out[name] = {
            "ledger_events": store.max_position(),
            "search_events": len(events),
            "seconds": seconds,
            "index_and_rows_s": index_s,
        }
    out["ratio_large_to_100k"] = out["large"]["seconds"] / out["100k"]["seconds"]
    return out


def latencies(path: Path, repeat: int) -> dict[str, Any]:
    opens = []
    for _ in range(repeat):
        con, seconds = timed(_connect, path, True)
        opens.append(1000 * seconds)
        con.close()
    out: dict[str, Any] = {"open_ms": _quantiles(opens)}
    con = _connect(path, True)
    try:
        for query in canned.available():
            ms: list[float] = []
            rows = 0
            for _ in range(repeat):
                result, seconds = timed(audit.run, con, query.sql, PAGE)
                rows = len(result.rows)
                ms.append(1000 * seconds)
            out[query.name] = {"rows": rows, "first_ms": ms[0], **_quantiles(ms)}
    finally:
        con.close()
    return out


def _quantiles(ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p95_ms": cuts[94], "max_ms": max(ms)}


def replays(store: Ledger, count: int) -> list[dict[str, Any]]:
    out = []
    for search, _ in store.searches()[:count]:
        events, load_s = timed(search_events, store, search)
        report, seconds = timed(replay, events)
        out.append(
            {"search": str(search), "events": report.events, "load_s": load_s,
             "seconds": seconds, "events_per_s": report.events / seconds,
             "ending": report.ending, "divergence": None if report.ok else str(report.divergence)}
        )  # fmt: skip
    return out


def measure(args: argparse.Namespace, location: Path, scratch: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"machine": machine(), "command": sys.argv}
    store, report["generation"] = make_ledger(location, args.events)
    print(f"ledger ready: {json.dumps(report['generation'])}", flush=True)
    duck = projections_path(str(location))
    report["ledger_bytes"] = location.stat().st_size
    report["raw_read"] = raw_read(location)
    report["rebuild"] = project(rebuild, store, duck)
    print(f"rebuilt: {json.dumps(report['rebuild'])}", flush=True)
    if args.previous:
        report["raw_read_again"] = raw_read(location)
        build = previous_rebuild(args.previous, scratch)
        report["previous_rebuild"] = project(build, store, scratch / "previous.duckdb")
        print(f"previous: {json.dumps(report['previous_rebuild'])}", flush=True)
    report["storage"] = storage(duck, scratch)
    small, _ = make_ledger(scratch / "small.sqlite", 100_000)
    report["lookup"] = lookups(store, small)
    report["canned"] = latencies(duck, args.repeat)
    verdict, seconds = timed(verify, store.read_all())
    report["verify"] = {"events": verdict.events, "ok": verdict.ok, "seconds": seconds}
    report["replay"] = replays(store, args.replay)
    report["loadavg_at_end"] = os.getloadavg()
    return report


def queries_only(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    duck = projections_path(str(args.reuse))
    report: dict[str, Any] = {"machine": machine(), "command": sys.argv}
    report["storage"] = storage(duck, scratch)
    report["canned"] = latencies(duck, args.repeat)
    report["loadavg_at_end"] = os.getloadavg()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reuse", type=Path, help="keep the ledger here and reuse it next time")
    parser.add_argument("--previous", default="f4f17c0", help="git ref of the previous fold")
    parser.add_argument("--replay", type=int, default=2, help="searches to replay")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each canned query")
    parser.add_argument("--queries-only", action="store_true", help="storage and queries")
    args = parser.parse_args()
    if args.queries_only and not args.reuse:
        parser.error("--queries-only needs --reuse PATH (a ledger rebuilt by a previous run)")
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        location = args.reuse or Path(tmp) / "ledger.sqlite"
        if args.queries_only:
            report = queries_only(args, Path(tmp))
        else:
            report = measure(args, location, Path(tmp))
    RESULTS.mkdir(exist_ok=True)
    kind = "queries" if args.queries_only else "scale"
    out = RESULTS / f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["storage"], indent=1) if args.queries_only else summary(report))
    print(f"written to {out}")


def summary(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"machine: {m['cpus']} cpus, load {m['loadavg_at_start']} -> {r['loadavg_at_end']}",
        f"ledger: {r['raw_read']['events']} events ({r['ledger_bytes'] / 1e6:.0f} MB)",
        f"raw sqlite3 read        {r['raw_read']['events_per_s']:>12,.0f} ev/s",
        f"rebuild (SQL fold)      {r['rebuild']['events_per_s']:>12,.0f} ev/s"
        f"  {r['rebuild']['events_per_s'] / r['raw_read']['events_per_s']:.3f} of the raw read",
    ]
    if "previous_rebuild" in r:
        previous = r["previous_rebuild"]["events_per_s"]
        lines.append(
            f"previous rebuild        {previous:>12,.0f} ev/s"
            f"  {previous / r['raw_read_again']['events_per_s']:.3f} of the raw read;"
            f" SQL fold {r['rebuild']['events_per_s'] / previous:.1f}x"
        )
    lookup = r["lookup"]
    lines.append(
        f"lookup of one search: {lookup['100k']['seconds']:.2f} s at 100k events,"
        f" {lookup['large']['seconds']:.2f} s at {lookup['large']['ledger_events']:,}"
        f" ({lookup['ratio_large_to_100k']:.2f}x)"
    )
    lines.append(f"{'canned query (first page)':<34}{'p50 ms':>9}{'p95 ms':>9}{'rows':>6}")
    for name, q in r["canned"].items():
        rows = q.get("rows", "")
        lines.append(f"{name:<34}{q['p50_ms']:>9.1f}{q['p95_ms']:>9.1f}{rows:>6}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
