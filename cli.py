"""autorecipe's command line: wires ledger, projections, runners, evaluators and agents.

It holds no logic of its own: each command opens the parts it needs, calls them, and
turns their errors into one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from agents.catalogues import catalogue_for
from agents.offline import OfflineProposer
from domain.config import SearchConfig
from domain.labels import FinishReason
from evaluators.evaluator import SandboxUnavailableError, TaskEvaluator
from evaluators.staging import DataPreparationError
from evaluators.tasks import TaskError, builtin_names, load
from ledger import session
from ledger.lease import lease
from ledger.loop import LiveExecutor
from ledger.store import Ledger, LedgerError, open_ledger
from projections import audit as audit_queries
from projections import display
from projections.db import ProjectionsBusyError, connect, projections_path, refresh
from projections.lineage import DuckLineage
from runners.local import LocalRunner

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="autorecipe: an auditable, event-sourced auto-research loop.",
)
console = Console()
DEFAULT_LEDGER = "runs/ledger.sqlite"
LedgerOpt = Annotated[str, typer.Option("--ledger", help="SQLite path or postgresql:// URL.")]
SearchOpt = Annotated[
    str | None,
    typer.Option("--search", help="Search id (prefix); default: the latest."),
]


def fail(message: str, code: int = 1) -> NoReturn:
    Console(stderr=True).print(f"[red]Error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.callback()
def main() -> None:
    """autorecipe: specialists propose recipe edits, a sandboxed evaluator judges them, and
    every proposal, diff, launch, score and failure is an immutable, hash-chained event."""


def _ledger(location: str, must_exist: bool = False) -> Ledger:
    if must_exist and "://" not in location and not Path(location).exists():
        fail(f"no ledger at {location}: run `python cli.py search` first, or pass --ledger")
    try:
        return open_ledger(location)
    except LedgerError as error:
        fail(str(error))


def _refreshed(location: str) -> Path:
    store = _ledger(location, must_exist=True)
    path = projections_path(location)
    try:
        refresh(store, path)
    except ProjectionsBusyError as error:
        fail(str(error))
    return path


def _runs_root(location: str) -> Path:
    return Path("runs") if "://" in location else Path(location).parent


@app.command()
def search(
    task: Annotated[str, typer.Option(help="A built-in task name or a task folder.")] = "golf-cpu",
    trials: Annotated[int, typer.Option(min=0, help="Trials after the seed-recipe baseline.")] = 8,
    seed: int = 0,
    specialists: Annotated[
        str, typer.Option(help="Comma-separated roster; default: the task's.")
    ] = "",
    no_lineage: Annotated[
        bool, typer.Option("--no-lineage", help="Blank the lineage view (ablation).")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Trials in flight at once.")] = 1,
    threads: Annotated[int, typer.Option(min=1, help="Torch threads per trial.")] = 1,
    strict_surfaces: Annotated[
        bool, typer.Option(help="Reject edits outside the specialist's surfaces.")
    ] = False,
    deadline_minutes: Annotated[
        float | None, typer.Option(help="Stop after this much time.")
    ] = None,
    patience: Annotated[
        int | None, typer.Option(help="Stop after this many trials without a keep.")
    ] = None,
    unsafe_no_sandbox: Annotated[
        bool,
        typer.Option("--unsafe-no-sandbox", help="Run agent code without bubblewrap."),
    ] = False,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Run a search: baseline, then specialists' trials, ending with a leaderboard."""
    config = SearchConfig(
        task=task,
        trials=trials,
        seed=seed,
        workers=workers,
        threads=threads,
        specialists=tuple(s.strip() for s in specialists.split(",") if s.strip()),
        lineage=not no_lineage,
        strict_surfaces=strict_surfaces,
        sandbox=not unsafe_no_sandbox,
        deadline_minutes=deadline_minutes,
        patience=patience,
    )
    try:
        load(task)  # an unknown or malformed task is refused before the ledger is touched
    except TaskError as error:
        fail(str(error))
    store = _ledger(ledger)
    try:
        evaluator = TaskEvaluator.open(task, _runs_root(ledger), sandbox=config.sandbox)
    except (TaskError, SandboxUnavailableError, DataPreparationError) as error:
        fail(str(error))
    proposer = OfflineProposer(catalogue_for(evaluator.task.name, evaluator.seed_recipe()))
    try:
        with lease(ledger):
            reason, search_id = _run(store, ledger, config, evaluator, proposer)
    except (LedgerError, ValueError, ProjectionsBusyError) as error:
        fail(str(error))
    _summary(ledger, search_id, reason)


def _run(
    store: Ledger,
    location: str,
    config: SearchConfig,
    evaluator: TaskEvaluator,
    proposer: OfflineProposer,
) -> tuple[FinishReason, object]:
    state = session.start(store, config, evaluator, proposer)
    lineage = DuckLineage(store, projections_path(location))
    runner = LocalRunner()
    executor = LiveExecutor(runner, evaluator, config.workers)
    console.print(
        f"search {state.started.id} on {evaluator.task.name}: {config.trials} trials,"
        f" seed {config.seed}, ledger {location}"
    )
    with display.LiveProgress(console, config.trials, evaluator.task.metric.name) as progress:
        loop = session.build_loop(
            state,
            store,
            evaluator,
            executor,
            proposer,
            lineage,
            config,
            runner.name,
            runner.host,
            observers=[progress],
        )
        previous = signal.signal(signal.SIGINT, lambda *_: loop.stop_requested.set())
        try:
            reason = loop.run()
        finally:
            signal.signal(signal.SIGINT, previous)
    return reason, state.started.id


def _summary(location: str, search_id: object, reason: FinishReason) -> None:
    path = _refreshed(location)
    with connect(path, read_only=True) as con:
        sid = display.resolve_search(con, str(search_id))
        console.print(display.leaderboard(con, sid))
        console.print(f"outcomes: {display.status_counts(con, sid)}")
        detail = con.execute(
            "SELECT finish_reason, best_score FROM searches WHERE search_id = ?", [sid]
        ).fetchone()
    console.print(f"finished ({reason}); ledger: {location}; projections: {path}")
    if reason is FinishReason.INTERRUPTED:
        fail("the search was interrupted; trials in flight ended harness_abort", code=130)
    if reason is FinishReason.BASELINE_FAILED:
        fail(
            f"the seed recipe failed, so nothing could be compared ({detail}); see `cli.py show 0`"
        )


@app.command("audit")
def audit_command(
    sql: Annotated[str, typer.Argument(help="One read-only SQL statement over the projections.")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Read-only SQL over the projections (tables: events, searches, trials, lineage, ...)."""
    if fmt not in ("table", "csv", "json"):
        fail(f"unknown format {fmt!r}: use table, csv or json")
    path = _refreshed(ledger)
    try:
        result = audit_queries.run(path, sql)
    except audit_queries.AuditQueryError as error:
        fail(f"bad query: {error}")
    if fmt == "csv":
        typer.echo(audit_queries.to_csv(result), nl=False)
    elif fmt == "json":
        typer.echo(audit_queries.to_json(result), nl=False)
    else:
        console.print(display.result_table(result))


@app.command()
def lineage(search_id: SearchOpt = None, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """The tree of trials with their labels and scores."""
    path = _refreshed(ledger)
    with connect(path, read_only=True) as con:
        try:
            console.print(display.lineage_tree(con, display.resolve_search(con, search_id)))
        except display.UnknownSearchError as error:
            fail(str(error))


@app.command()
def show(
    trial: Annotated[str, typer.Argument(help="Trial number or id prefix.")],
    search_id: SearchOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """One trial: hypothesis, diff, outcome, evidence and log excerpt."""
    path = _refreshed(ledger)
    with connect(path, read_only=True) as con:
        try:
            console.print(display.trial_detail(con, display.resolve_search(con, search_id), trial))
        except display.UnknownSearchError as error:
            fail(str(error))


@app.command()
def tasks() -> None:
    """The built-in tasks, with their metric and the seed recipe's measured baseline."""
    console.print(display.task_table([load(name) for name in builtin_names()]))


if __name__ == "__main__":
    app()
