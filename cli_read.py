"""The command line's read commands: listings, audit SQL, verify, report, export and
bundles. Each opens the projections read-only (cli_wiring.reading), calls one function
of projections/ (or ledger/verify.py), and prints its result; cli.py imports this
module so the commands join its app.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli_wiring import (
    DEFAULT_LEDGER,
    LedgerOpt,
    SearchOpt,
    app,
    console,
    errors,
    fail,
    open_store,
    reading,
    runs_root,
)
from evaluators.tasks import builtin_names, load, recipe_folder
from ledger.verify import verify as check_chain
from projections import audit as audit_queries
from projections import canned, diff_paths, display, listing
from projections.output import emit, out
from projections.report.bundle import BundleError, build_bundle, resolve_trial
from projections.report.bundle_verify import verify_bundle
from projections.report.export import ExportError, export

FormatOpt = Annotated[str, typer.Option("--format", help="table, csv, json or jsonl.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output folder; default: under runs.")]
TrialArg = Annotated[str, typer.Argument(help="Trial number or id prefix.")]


def _check_format(fmt: str) -> None:
    if fmt not in listing.FORMATS:
        fail(f"unknown format {fmt!r}: use {', '.join(listing.FORMATS)}")


@app.command("audit")
def audit_command(
    sql: Annotated[
        str | None, typer.Argument(help="One read-only SQL statement over the projections.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="Run a canned query by name (see --list).")
    ] = None,
    list_queries: Annotated[bool, typer.Option("--list", help="List the canned queries.")] = False,
    fmt: FormatOpt = "table",
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Rows to show; default: a screenful on a terminal, else all."),
    ] = None,
    search_id: Annotated[
        str | None,
        typer.Option(
            "--search", help="Only this search's rows (id prefix), in every table that has them."
        ),
    ] = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Read-only SQL over the projections (tables: events, searches, trials, lineage, ...)."""
    _check_format(fmt)
    if limit is None and fmt == "table" and out(console).is_terminal:
        limit = max(shutil.get_terminal_size().lines - 8, 10)
    if list_queries:
        result = canned.listing()
    else:
        with reading(ledger) as con:
            try:
                if search_id is not None:
                    listing.scope(con, display.resolve_search(con, search_id))
                result = audit_queries.run(con, _audit_sql(sql, query), limit)
            except (audit_queries.AuditQueryError, canned.UnknownQueryError) as error:
                fail(f"bad query: {error}")
    emit(console, result, fmt)
    if result.truncated:
        Console(stderr=True).print(
            f"(the first {limit} rows; --limit N for more, --format csv for all)"
        )


def _audit_sql(sql: str | None, query: str | None) -> str:
    if query is not None and sql is None:
        return canned.load(query).sql
    if sql is not None and query is None:
        return sql
    fail("give one SQL statement or --query NAME (see `cli.py audit --list`)")


@app.command()
def searches(fmt: FormatOpt = "table", ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Every search in the ledger: id, task, policy, started, status, trials, best."""
    _check_format(fmt)
    with reading(ledger) as con:
        emit(console, listing.searches(con), fmt)


@app.command()
def lineage(
    search_id: SearchOpt = None, fmt: FormatOpt = "table", ledger: LedgerOpt = DEFAULT_LEDGER
) -> None:
    """The tree of trials with their labels and scores (--format: one row per trial)."""
    _check_format(fmt)
    with reading(ledger) as con:
        sid = display.resolve_search(con, search_id)
        emit(console, listing.lineage(con, sid), fmt, display.lineage_tree(con, sid))


@app.command()
def show(
    trial: TrialArg,
    search_id: SearchOpt = None,
    diff: Annotated[
        bool, typer.Option("--diff", help="Only the unified diff, paths for git apply here.")
    ] = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="With --diff: the stored diff, paths as recorded.")
    ] = False,
    from_seed: Annotated[
        bool,
        typer.Option("--from-seed", help="With --diff: from the seed recipe, not the parent."),
    ] = False,
    fmt: FormatOpt = "table",
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """One trial: hypothesis, diff, outcome, evidence and log excerpt."""
    _check_format(fmt)
    with reading(ledger) as con:
        sid = display.resolve_search(con, search_id)
        row = display.trial_row(con, sid, trial)
        if diff:  # paths for git apply in this folder, unless --raw
            folder = recipe_folder(diff_paths.recorded_task(con, sid))
            where = None if raw else (folder, Path.cwd())
            shown = diff_paths.for_git_apply(con, sid, row, from_seed, where)
            if shown.note:
                typer.echo(shown.note, err=True)
            typer.echo(shown.text, nl=False)
            return
        piped = not out(console).is_terminal
        emit(console, listing.one_row(row), fmt, display.trial_detail(con, sid, trial, piped))


@app.command()
def verify(
    ledger: LedgerOpt = DEFAULT_LEDGER,
    bundle_dir: Annotated[
        Path | None, typer.Option("--bundle", help="Check a provenance bundle folder instead.")
    ] = None,
) -> None:
    """Recompute the hash chain; name the first position where it breaks."""
    if bundle_dir is not None:
        _verify_bundle(bundle_dir)
        return
    verdict = check_chain(open_store(ledger, must_exist=True).read_all())
    if not verdict.ok:
        fail(f"position {verdict.bad_position}: {verdict.problem}")
    console.print(f"ok: {verdict.events} events in {verdict.streams} searches; chain heads:")
    for stream, head in sorted(verdict.heads.items()):
        console.print(f"  search {stream}  {head}")


@app.command()
def tasks(fmt: FormatOpt = "table") -> None:
    """The built-in tasks, with their metric and the seed recipe's measured baseline."""
    _check_format(fmt)
    specs = [load(name).spec for name in builtin_names()]
    emit(console, display.task_rows(specs), fmt, display.task_table(specs))


@app.command()
def report(
    search_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--search", help="Search id (prefix); repeat to compare searches; default: latest."
        ),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Compare every search.")] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Serve a live view on localhost; write no files.")
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="--watch: the port (default 8765; 0: any free one)."),
    ] = None,
    out: OutOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """An HTML report of one search (report.html, progress.png); of several, a comparison
    with each one's report beside it; with --watch, a live view that follows the ledger."""
    if watch:
        if out is not None:
            fail("--watch serves the report and writes no files: drop --out")
        _watch(search_ids or [], every, 8765 if port is None else port, ledger)
        return
    if port is not None:
        fail("--port is for --watch: add --watch to serve the report")
    from projections.report.data import select as select_searches
    from projections.report.page import default_folder, write  # matplotlib loads only here

    with reading(ledger) as con:
        ids = select_searches(con, search_ids or [], every)
        if not ids:
            fail("the ledger holds no search yet")
        files = write(con, ids, every, out or default_folder(runs_root(ledger), ids, every))
    if files.png is None:
        console.print(f"comparison of {files.searches} searches: {files.html}")
    else:
        console.print(f"report of {files.trials} trials: {files.html}\nprogress plot: {files.png}")


def _watch(search_ids: list[str], every: bool, port: int, ledger: str) -> None:
    from projections.report.data import select as select_searches
    from projections.report.serve import LiveReport, serve

    if search_ids:  # a prefix that names no search fails now, not on every page load
        with reading(ledger) as con:
            select_searches(con, search_ids, every)
    store = open_store(ledger, must_exist=True)
    live = LiveReport(store, store.location.projections, search_ids, every)
    try:
        serve(live, port, lambda url: typer.echo(f"live report at {url} (Ctrl-C stops)"))
    except OSError as error:
        fail(f"cannot serve on 127.0.0.1:{port}: {error.strerror or error}")


@app.command("export")
def export_command(
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    out: OutOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Every projection table as one file, plus manifest.json (row counts and checksums)."""
    folder = out or runs_root(ledger) / f"export-{fmt}"
    with reading(ledger, files=True) as con, errors(ExportError):  # COPY writes the files
        manifest = export(con, folder, fmt)
    console.print(f"exported to {folder}; manifest: {manifest}")


@app.command()
def bundle(
    trial: TrialArg,
    search_id: SearchOpt = None,
    out: OutOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """A provenance bundle of one trial: recipe, diff chain, logs, versions, events, manifest."""
    runs = runs_root(ledger)
    with reading(ledger) as con, errors(BundleError):
        sid = display.resolve_search(con, search_id)
        tid, seq = resolve_trial(con, sid, trial)
        folder = out or runs / "bundles" / f"search-{str(sid)[:8]}-trial-{seq:04d}"
        build_bundle(con, tid, folder, runs)
    _verify_bundle(folder)


def _verify_bundle(folder: Path) -> None:
    if not (folder / "manifest.json").is_file():
        fail(f"{folder} is not a bundle: it has no manifest.json")
    ok, message = verify_bundle(folder)
    if not ok:
        fail(f"bundle {folder}: {message}")
    console.print(f"bundle {folder}: {message}")
