"""Million-event scale: projection rebuild, verify, decision replay and the canned audit
queries on one large realistic ledger, side by side with the ceilings of our parts.

    python benchmarks/scale.py [--events 1000000] [--reuse PATH] [--replay 2] [--repeat 20]

The ledger is written by the real search loop through the real Ledger (see
benchmarks/synthetic.py: only the world is scripted), so its hash chain, projections and
replays are the real ones. `--reuse PATH` keeps the ledger at PATH (its projections
beside it) and reuses it next time; a ledger with fewer than --events events is topped up
with further searches. Without it everything lives in a temporary folder.

Measured in order, each on the same ledger file (the first pass warms the page cache, so
every later one reads from memory as well):
- raw read: eventsourcing's `recorder.select_notifications`, pages of 20,000, rows only;
- verify: `ledger.verify.verify` over `Ledger.read_all` (hash chain recomputed);
- rebuild: `projections.db.rebuild` (delete the DuckDB file, project every event);
- canned queries: each of projections/queries/*.sql through `projections.audit.run`
  (a read-only connection per run, as `cli.py audit --query` does), --repeat times;
- replay: `ledger.replay.replay` of the first --replay searches; loading a search's
  events (`search_events`, a scan of the whole ledger, as `cli.py replay` does) is apart;
- DuckDB appender: the rows the projector builds for the first page of the `events`
  table, appended again and again into a fresh file until there are as many rows as
  events, one transaction per 20,000 rows as the projector commits. The appender is the
  fastest pandas- and Arrow-free bulk path in DuckDB 2 (the projector's own); column
  lists through `INSERT ... SELECT unnest($1), ...` and `executemany` are timed on one
  page and 2,000 rows for comparison.

Results go to benchmarks/results/scale-<UTC time>.json (gitignored), and a summary table
is printed.
"""

from __future__ import annotations

import argparse
import json
import os
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

from benchmarks.synthetic import generate
from ledger.replay import replay, search_events
from ledger.store import Ledger, open_ledger
from ledger.verify import verify
from projections import audit, canned, schema
from projections.db import connect, projections_path, rebuild
from projections.projector import Decoded, _event_row

RESULTS = Path(__file__).resolve().parent / "results"
PAGE = 20_000  # the projector's catch-up batch: the raw read and the appender page alike
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
        "duckdb": duckdb.__version__,
        "eventsourcing": version("eventsourcing"),
    }


def make_ledger(path: Path, events: int) -> tuple[Ledger, dict[str, Any]]:
    store = open_ledger(str(path))
    before = store.max_position()
    result, seconds = timed(generate, store, events)
    made = store.max_position() - before
    return store, {
        "reused_events": before,
        "generated_events": made,
        "searches_added": result["searches"],
        "seconds": seconds,
        "events_per_s": made / seconds if made else None,
    }


def raw_read(store: Ledger) -> dict[str, Any]:
    """The store's own read path and nothing else: the ceiling for verify and rebuild."""
    count, after = 0, 0
    started = time.perf_counter()
    while notes := store.recorder.select_notifications(
        start=after, limit=PAGE, inclusive_of_start=False
    ):
        count += len(notes)
        after = notes[-1].id
    seconds = time.perf_counter() - started
    return {"events": count, "page": PAGE, "seconds": seconds, "events_per_s": count / seconds}


def chain(store: Ledger) -> dict[str, Any]:
    verdict, seconds = timed(verify, store.read_all())
    return {
        "events": verdict.events,
        "searches": verdict.streams,
        "ok": verdict.ok,
        "problem": verdict.problem,
        "seconds": seconds,
        "events_per_s": verdict.events / seconds,
    }


def project(store: Ledger, path: Path) -> dict[str, Any]:
    count, seconds = timed(rebuild, store, path)
    return {
        "events": count,
        "seconds": seconds,
        "events_per_s": count / seconds,
        "duckdb_bytes": path.stat().st_size,
    }


def latencies(path: Path, repeat: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for query in canned.available():
        ms: list[float] = []
        rows = 0
        for _ in range(repeat):
            result, seconds = timed(audit.run, path, query.sql)
            ms.append(1000 * seconds)
            rows = len(result.rows)
        cuts = statistics.quantiles(ms, n=100, method="inclusive")
        out[query.name] = {
            "rows": rows,
            "first_ms": ms[0],  # the first run, with nothing of its data cached yet
            "p50_ms": cuts[49],
            "p95_ms": cuts[94],
            "max_ms": max(ms),
        }
    return out


def replays(store: Ledger, path: Path, count: int) -> list[dict[str, Any]]:
    with connect(path, read_only=True) as con:
        ids = [
            row[0]
            for row in con.execute(
                "SELECT search_id FROM searches ORDER BY ordinal LIMIT ?", [count]
            ).fetchall()
        ]
    out = []
    for search_id in ids:
        events, load_s = timed(search_events, store.read_all(), search_id)
        report, seconds = timed(replay, events)
        out.append(
            {
                "search": str(search_id),
                "events": report.events,
                "compared": report.compared,
                "load_s": load_s,
                "seconds": seconds,
                "events_per_s": report.events / seconds,
                "ending": report.ending,
                "diverged": not report.ok,
                "divergence": None if report.ok else str(report.divergence),
            }
        )
    return out


def appender_ceiling(store: Ledger, folder: Path, rows: int) -> dict[str, Any]:
    """DuckDB's bulk insert rate for rows exactly like the projector's `events` rows."""
    page = [_event_row(Decoded(r)) for r in store.read(0, PAGE)]
    ddl = next(s for s in schema.DDL if s.startswith("CREATE TABLE IF NOT EXISTS events "))
    target = folder / "ceiling.duckdb"
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        con.execute(ddl)
        done, append_s, commit_s = 0, 0.0, 0.0
        while done < rows:
            batch = page[: rows - done]
            started = time.perf_counter()
            con.begin()
            with con.appender("events") as appender:
                appender.append_rows(batch)
            flushed = time.perf_counter()
            con.commit()  # where DuckDB checkpoints its WAL into the file, now and then
            append_s += flushed - started
            commit_s += time.perf_counter() - flushed
            done += len(batch)
        seconds = append_s + commit_s
        # The other pandas-free paths, once, to show why the appender is the ceiling.
        columns = [list(c) for c in zip(*page, strict=True)]
        unnest = "INSERT INTO events SELECT " + ", ".join(f"unnest(${i + 1})" for i in range(11))
        _, unnest_s = timed(con.execute, unnest, columns)
        few = page[:2000]
        _, many_s = timed(con.executemany, "INSERT INTO events VALUES (" + "?, " * 10 + "?)", few)
    finally:
        con.close()
        target.unlink(missing_ok=True)
    return {
        "method": f"Connection.appender('events').append_rows, {PAGE} rows per transaction",
        "rows": done,
        "seconds": seconds,
        "rows_per_s": done / seconds,
        "append_s": append_s,
        "commit_s": commit_s,
        "unnest_lists_rows_per_s": len(page) / unnest_s,
        "executemany_rows_per_s": len(few) / many_s,
    }


def table(report: dict[str, Any]) -> str:
    m, g, r = report["machine"], report["generation"], report
    lines = [
        f"machine: {m['cpus']} cpus, load {m['loadavg_at_start']} -> {r['loadavg_at_end']}",
        f"ledger: {r['events']} events in {r['verify']['searches']} searches"
        f" ({r['ledger_bytes'] / 1e6:.1f} MB); generated {g['generated_events']} events"
        f" in {g['seconds']:.1f} s, {g['events_per_s'] or 0:.1f} ev/s",
        f"{'measure':<34}{'rate':>16}  {'seconds':>10}",
        f"{'raw read (select_notifications)':<34}{r['raw_read']['events_per_s']:>16.1f}"
        f"  {r['raw_read']['seconds']:>10.3f}",
        f"{'duckdb appender (rows/s)':<34}{r['appender']['rows_per_s']:>16.1f}"
        f"  {r['appender']['seconds']:>10.3f}  of which commit {r['appender']['commit_s']:.3f} s",
        f"{'verify':<34}{r['verify']['events_per_s']:>16.1f}  {r['verify']['seconds']:>10.3f}",
        f"{'rebuild':<34}{r['rebuild']['events_per_s']:>16.1f}  {r['rebuild']['seconds']:>10.3f}",
    ]
    for one in r["replay"]:
        lines.append(
            f"{'replay ' + one['search'][:8] + ' (' + str(one['events']) + ' ev)':<34}"
            f"{one['events_per_s']:>16.1f}  {one['seconds']:>10.3f}  load {one['load_s']:.3f} s,"
            f" {'DIVERGED: ' + one['divergence'] if one['diverged'] else one['ending']}"
        )
    for name, value in r["ratios"].items():
        lines.append(f"{name:<34}{value:>16.4f}")
    lines.append(f"{'canned query':<34}{'p50 ms':>10}{'p95 ms':>10}{'first ms':>10}{'rows':>9}")
    for name, q in r["canned"].items():
        lines.append(
            f"{name:<34}{q['p50_ms']:>10.2f}{q['p95_ms']:>10.2f}{q['first_ms']:>10.2f}{q['rows']:>9}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reuse", type=Path, help="keep the ledger here and reuse it next time")
    parser.add_argument("--replay", type=int, default=2, help="searches to replay")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each canned query")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        location = args.reuse or Path(tmp) / "ledger.sqlite"
        store, report["generation"] = make_ledger(location, args.events)
        print(f"ledger ready: {json.dumps(report['generation'])}", flush=True)
        duck = projections_path(str(location))
        report["ledger"] = str(location)
        report["ledger_bytes"] = location.stat().st_size
        report["raw_read"] = raw_read(store)
        report["events"] = report["raw_read"]["events"]
        report["verify"] = chain(store)
        report["rebuild"] = project(store, duck)
        print(f"rebuilt: {json.dumps(report['rebuild'])}", flush=True)
        report["canned"] = latencies(duck, args.repeat)
        report["replay"] = replays(store, duck, args.replay)
        report["appender"] = appender_ceiling(store, duck.parent, report["events"])
    rate = report["rebuild"]["events_per_s"]
    report["ratios"] = {
        "rebuild / raw read": rate / report["raw_read"]["events_per_s"],
        "rebuild / duckdb appender": rate / report["appender"]["rows_per_s"],
    }
    report["loadavg_at_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"scale-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
