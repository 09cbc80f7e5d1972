"""Build a provenance bundle for one trial from the projections, and its logs from disk.

    manifest.json               every other file with its sha256 and size
    trial.json                  the trial's projected row: hypothesis, outcome, measurements
    versions.json               the search's task, task_sha256, rules and environment
    recipe/<path>               the trial's recipe (the recipes table, by child_sha256)
    diffs/NNNN-trial-SSSS.diff  each diff from the seed recipe to this trial, in order
    view.txt                    the lineage view the proposer was shown
    events.jsonl                the search's start, and every event of the trial and its
                                ancestors, with what is needed to re-check each hash
    logs/*.log                  the trial's logs, when still on disk

`bundle_verify.verify_bundle` re-checks all of it without the ledger.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from projections.report.bundle_verify import (
    DIFF_DIR,
    EVENTS,
    LOG_DIR,
    MANIFEST,
    RECIPE_DIR,
    TRIAL,
    VERSIONS,
    VIEW,
    BundleProblem,
    file_sha256,
    safe_relative,
)

FORMAT = "autorecipe-bundle/1"
_JSON_COLUMNS = ("evidence", "measurements", "judge_numbers")


class BundleError(ValueError):
    pass


def resolve_trial(con: duckdb.DuckDBPyConnection, search_id: UUID, which: str) -> tuple[UUID, int]:
    """A trial's id and sequence number, by sequence number or id prefix, within one search."""
    arg: Any = int(which) if which.isdigit() else which.lower() + "%"
    sql = "seq = ?" if which.isdigit() else "CAST(trial_id AS VARCHAR) LIKE ?"
    rows = con.execute(
        f"SELECT trial_id, seq FROM trials WHERE search_id = ? AND {sql}",  # noqa: S608 - a literal
        [search_id, arg],
    ).fetchall()
    if len(rows) != 1:
        raise BundleError(f"no single trial matches {which!r} in search {str(search_id)[:8]}")
    return UUID(str(rows[0][0])), int(rows[0][1])


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _row(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> dict[str, Any]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or []]
    found = cursor.fetchone()
    if found is None:
        raise BundleError("the projections lack a row the bundle needs; refresh them")
    return {name: _plain(value) for name, value in zip(names, found, strict=True)}


class _Writer:
    """Writes files under the bundle folder and remembers each one for the manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, dict[str, Any]] = {}

    def text(self, name: str, text: str) -> None:
        path = self.root / safe_relative(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        self._add(name, path)

    def json(self, name: str, value: Any) -> None:
        self.text(name, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")

    def copy(self, name: str, source: Path) -> None:
        path = self.root / safe_relative(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        self._add(name, path)

    def _add(self, name: str, path: Path) -> None:
        self.files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}


def build_bundle(
    con: duckdb.DuckDBPyConnection, trial_id: UUID, out_dir: Path, runs_root: Path | None
) -> Path:
    """Write the bundle of one trial into out_dir (new or empty); returns out_dir."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BundleError(f"{out_dir} is not empty: choose another --out or remove it")
    trial = _row(con, "SELECT * FROM trials WHERE trial_id = ?", [trial_id])
    search = _row(con, "SELECT * FROM searches WHERE search_id = ?", [trial["search_id"]])
    ancestors = _row(con, "SELECT ancestors FROM lineage WHERE trial_id = ?", [trial_id])
    chain = [*ancestors["ancestors"], str(trial_id)]
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out_dir)
    try:
        _write_recipe(con, writer, trial)
        _write_diffs(con, writer, chain)
        _write_events(con, writer, chain, search["search_id"])
        writer.json(TRIAL, _trial_json(trial))
        writer.json(VERSIONS, _versions(trial, search))
        view = con.execute(
            "SELECT text FROM views WHERE sha256 = ?", [trial["lineage_view_sha256"]]
        ).fetchone()
        if view is not None:
            writer.text(VIEW, view[0])
        if runs_root is not None:
            _copy_logs(writer, runs_root, search["search_id"], trial["seq"])
    except BundleProblem as problem:  # an unsafe recipe or log name: write nothing half-done
        shutil.rmtree(out_dir)
        raise BundleError(str(problem)) from None
    manifest = {
        "format": FORMAT,
        "trial": {"seq": trial["seq"], "trial_id": str(trial_id), "search_id": search["search_id"]},
        "verify": "python cli.py verify --bundle <this folder>",
        "files": dict(sorted(writer.files.items())),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out_dir


def _write_recipe(con: duckdb.DuckDBPyConnection, writer: _Writer, trial: dict[str, Any]) -> None:
    if trial["child_sha256"] is None:
        return  # the edit never applied (a preflight failure): there is no recipe
    row = con.execute("SELECT files FROM recipes WHERE sha256 = ?", [trial["child_sha256"]])
    found = row.fetchone()
    if found is None:
        raise BundleError(f"recipe {trial['child_sha256'][:12]} is not in the projections")
    for path, text in sorted(json.loads(found[0]).items()):
        writer.text(f"{RECIPE_DIR}/{path}", text)


def _write_diffs(con: duckdb.DuckDBPyConnection, writer: _Writer, chain: list[str]) -> None:
    rows = con.execute(
        "SELECT trial_id, seq, diff FROM trials WHERE trial_id IN (SELECT unnest(?))",
        [[UUID(t) for t in chain]],
    ).fetchall()
    found = {str(tid): (seq, diff) for tid, seq, diff in rows}
    edited = [found[t] for t in chain if t in found and found[t][1] is not None]
    for step, (seq, diff) in enumerate(edited, start=1):
        writer.text(f"{DIFF_DIR}/{step:04d}-trial-{seq:04d}.diff", diff)


def _write_events(
    con: duckdb.DuckDBPyConnection, writer: _Writer, chain: list[str], search_id: str
) -> None:
    rows = con.execute(
        "SELECT e.position, e.type, e.search_id, e.aggregate_id, e.version, e.topic,"
        " e.class_version, e.payload, e.prev_hash, e.hash, t.seq FROM events e"
        " LEFT JOIN trials t ON t.trial_id = e.aggregate_id"
        " WHERE e.aggregate_id IN (SELECT unnest(?))"
        " OR (e.aggregate_id = ? AND e.type = 'SearchStarted') ORDER BY e.position",
        [[UUID(t) for t in chain], UUID(search_id)],
    ).fetchall()
    lines = []
    for pos, kind, stream, aggregate, version, topic, v, payload, prev, digest, seq in rows:
        lines.append(
            json.dumps(
                {
                    "position": pos,
                    "type": kind,
                    "seq": seq,
                    "stream": str(stream),
                    "aggregate_id": str(aggregate),
                    "version": version,
                    "topic": topic,
                    "class_version": v,
                    "event": json.loads(payload),
                    "prev": prev,
                    "hash": digest,
                },
                sort_keys=True,
            )
        )
    writer.text(EVENTS, "".join(line + "\n" for line in lines))


def _trial_json(trial: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k in _JSON_COLUMNS and v else v) for k, v in trial.items()}


def _versions(trial: dict[str, Any], search: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": search["task"],
        "task_sha256": search["task_sha256"],
        "search_rules_version": search["rules_version"],
        "trial_rules_version": trial["rules_version"],
        "environment": json.loads(search["environment"] or "{}"),
    }


def _copy_logs(writer: _Writer, runs_root: Path, search_id: str, seq: int) -> None:
    logs = runs_root / "searches" / search_id / f"trial-{seq:04d}" / "logs"
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        if log.is_file() and not log.is_symlink():  # a recipe could plant a link to anything
            writer.copy(f"{LOG_DIR}/{log.name}", log)
