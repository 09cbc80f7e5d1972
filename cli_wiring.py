"""The command line's shared wiring: the app, its common options, errors as one line,
and the outer parts (task evaluator, proposers, runners, read model, live display)
wired into the use cases' ports (ledger/workspace.py's Tools, ledger/rederive.py's
ReplayReads). cli.py and cli_read.py declare the commands on top of it.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from agents import registry
from agents.catalogues import catalogue_for
from agents.offline import OfflineProposer
from domain.config import SearchConfig
from domain.labels import FinishReason
from domain.location import LedgerLocation
from domain.ports import Evaluator, Proposer
from evaluators import requirements
from evaluators.evaluator import SandboxUnavailableError, TaskEvaluator
from evaluators.harness.staging import DataPreparationError
from evaluators.tasks import TaskError
from ledger import faults, rederive, workspace
from ledger.store import Ledger, LedgerError
from projections import display, live
from projections.db import ProjectionsBusyError, connect, rebuild
from projections.db import reading as projections_reading
from projections.lineage import DuckLineage, DuckReadModel
from projections.schema import content_hash
from projections.summary import search_summary
from runners.registry import open_runner

if TYPE_CHECKING:  # the Anthropic SDK loads only in the commands that call a model
    import duckdb

    from agents.claude.recorded import RecordedCall, RecordedTransport

# Rich help boxes cut long option names ("--deadline-minut…") below 100 columns, and
# piped help is read by tools: there, click's plain help, which keeps every name whole.
WIDE = sys.stdout.isatty() and shutil.get_terminal_size().columns >= 100
app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich" if WIDE else None,
    help="autorecipe: an auditable, event-sourced auto-research loop.",
)
console = Console()
DEFAULT_LEDGER = "runs/ledger.sqlite"
# Registries by name. A policy of None runs the agents named by --agents.
AGENTS = {"offline": registry.offline, "claude": registry.claude, "recorded": registry.recorded}
POLICIES = {
    "specialists": None,
    "generalist": None,
    "random": registry.random_search,
    "optuna": registry.optuna,
}
HARNESS_FAULTS_EXIT = 75  # sysexits' EX_TEMPFAIL: the world failed; a retry may succeed
SEARCH_ERRORS = (LedgerError, ValueError, ProjectionsBusyError)
AgentsOpt = Annotated[
    str, typer.Option("--agents", help="offline, claude (needs ANTHROPIC_API_KEY) or recorded.")
]
LedgerOpt = Annotated[str, typer.Option("--ledger", help="SQLite path or postgresql:// URL.")]
SearchOpt = Annotated[
    str | None, typer.Option("--search", help="Search id (prefix); default: the latest.")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autorecipe {_installed_version()}")
        raise typer.Exit


def _installed_version() -> str:
    """The installed package's version, or pyproject's for a clone run as `python cli.py`."""
    import importlib.metadata
    import tomllib

    try:
        return importlib.metadata.version("autorecipe")
    except importlib.metadata.PackageNotFoundError:
        with (Path(__file__).parent / "pyproject.toml").open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """autorecipe: specialists propose recipe edits, a sandboxed evaluator judges them, and
    every proposal, diff, launch, score and failure is an immutable, hash-chained event."""
    with errors(faults.FaultSpecError):
        faults.arm_from_environment()  # the crash tests' kill points; unset, nothing is armed


def fail(message: str, code: int = 1) -> NoReturn:
    text = escape(message)  # messages quote paths and commands: `.[ray]` is not markup
    Console(stderr=True).print(f"[red]Error:[/] {text}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def errors(*kinds: type[BaseException], first_line: bool = False) -> Iterator[None]:
    """Turn the errors of `kinds` raised in the block into one line and a failed exit."""
    try:
        yield
    except kinds as error:
        text = str(error)
        fail(text.splitlines()[0] if first_line and text else text)


def open_store(location: str | LedgerLocation, must_exist: bool = False) -> Ledger:
    with errors(LedgerError):
        return workspace.open_workspace(location, must_exist)


def runs_root(location: str) -> Path:
    """The runs folder of the ledger at `location` (absolute); a bad location is one line."""
    with errors(LedgerError):
        return workspace.runs_root(location)


@contextlib.contextmanager
def reading(
    location: str | LedgerLocation, files: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One read-only connection to current projections for the whole command; a search
    prefix that names no search, in the block, is one line too."""
    store = open_store(location, must_exist=True)
    with (
        errors(ProjectionsBusyError, display.UnknownSearchError),
        projections_reading(store, store.location.projections, files) as con,
    ):
        yield con


def open_evaluator(ledger: str) -> Callable[[SearchConfig], Evaluator]:
    """The config's task folder opened for trials, its requirements checked."""

    def opened(config: SearchConfig) -> Evaluator:
        return task_evaluator(config.task, ledger, config.sandbox)

    return opened


def task_evaluator(task: str, ledger: str, sandbox: bool) -> TaskEvaluator:
    """A task folder opened for trials, its requirements checked."""
    runs = runs_root(ledger)
    with errors(TaskError, SandboxUnavailableError, DataPreparationError):
        evaluator = TaskEvaluator.open(task, runs, sandbox=sandbox)
        requirements.check(evaluator.task.name, evaluator.task.requirements)
    return evaluator


def tools(
    ledger: str,
    config: SearchConfig | None = None,
    ray_address: str | None = None,
    gpus_per_trial: float = 0.0,
    calls: list[RecordedCall] | None = None,
    runner: str | None = None,
) -> tuple[workspace.Tools, list[RecordedTransport]]:
    """The outer parts a search runs with, and the list that receives a recorded
    re-run's transport once its proposer is built. A live model client is checked now,
    before the ledger is touched; `runner` pins the runner the command line named."""
    client = None
    if config is not None and config.agent == "claude":
        with errors(ValueError):
            client = registry.claude_client(config)
    built: list[RecordedTransport] = []

    def proposer(evaluator: Evaluator, config: SearchConfig) -> Proposer:
        extras = registry.Extras(client, calls)
        if config.agent == "claude" and client is None:  # a resume: the options are known now
            extras = registry.Extras(registry.claude_client(config), calls)
        build = POLICIES[config.policy] or AGENTS[config.agent]
        made, transport = build(evaluator, config, extras)
        if transport is not None:
            built.append(transport)
        return made

    wired = workspace.Tools(
        evaluator=open_evaluator(ledger),
        proposer=proposer,
        runner=lambda name: open_runner(runner or name, ray_address, gpus_per_trial),
        lineage=lambda store: DuckLineage(store, store.location.projections),
        watch=lambda begun: _watch(ledger, begun),
    )
    return wired, built


@contextlib.contextmanager
def _watch(ledger: str, begun: workspace.Begun) -> Iterator[live.LiveProgress]:
    """The lines a search starts with, then its live progress bar."""
    sid, config, resumed = begun.state.started.id, begun.config, begun.resumed
    if resumed is not None:
        reopened = resumed.reopened
        again = f"; it had ended {reopened}, and the count of aborts starts again"
        console.print(
            f"resumed search {sid}: {resumed.aborted} trials in flight ended harness_abort"
            + (again if reopened else "")
            + resumed.reruns
        )
        console.print(resumed.changes, highlight=False, soft_wrap=True)
    trials = f"{config.trials} trials" if config.trials else "the seed recipe alone (its noise)"
    console.print(f"search {sid} on {begun.task}: {trials}, seed {config.seed}, ledger {ledger}")
    with live.LiveProgress(console, config.trials, begun.metric, begun.state) as progress:
        yield progress


def _reuses(ran: workspace.Ran) -> str:
    """What the cache answered: "3 runs", or "3 runs and 2 final-test runs"."""
    counts = ((ran.reused, "run"), (ran.final_reused, "final-test run"))
    parts = [f"{n} {what}{'s' if n != 1 else ''}" for n, what in counts if n]
    return " and ".join(parts)


def summary(store: Ledger, ran: workspace.Ran) -> None:
    """The end of a search: the cache's reuses, the leaderboard, and how it finished."""
    if ran.reused or ran.final_reused:
        console.print(f"trial cache: {_reuses(ran)} reused from the ledger, not trained")
    with reading(store.location) as con:
        shown = search_summary(con, display.resolve_search(con, str(ran.search_id)), console.width)
    for item in shown.shown:
        console.print(item)
    path, reason = store.location.projections, ran.reason
    console.print(f"finished ({reason}); ledger: {store.location.text}; projections: {path}")
    if reason is FinishReason.INTERRUPTED:
        fail(
            "the search was interrupted; trials in flight ended harness_abort;"
            " `cli.py search --resume` continues it",
            code=130,
        )
    if reason is FinishReason.HARNESS_FAULTS:  # 75 = EX_TEMPFAIL: fix the machine, retry
        fail(
            "the search stopped: trial after trial was aborted by the machine or an API, not"
            " by its recipes; once that is fixed, `cli.py search --resume` reopens it",
            code=HARNESS_FAULTS_EXIT,
        )
    if reason is FinishReason.BASELINE_FAILED:
        fail(
            f"the seed recipe failed, so nothing could be compared ({shown.ending});"
            " see `cli.py show 0`"
        )


def recording(
    location: str | None, prefix: str | None, config: SearchConfig
) -> tuple[SearchConfig, list[RecordedCall]]:
    """The recorded search's options and its model calls, from the source ledger."""
    if location is None:
        fail("--agents recorded needs --from-ledger PATH (a ledger with a Claude search)")
    with errors(LedgerError, ValueError):
        sid, events, recorded = workspace.recorded_search(location, prefix)
    from agents.claude.recorded import recorded_calls

    calls = recorded_calls(events)
    if not calls:
        fail(f"search {sid} in {location} has no recorded model exchanges: nothing to replay")
    return recorded.model_copy(update={"agent": "recorded", "sandbox": config.sandbox}), calls


def read_model(ledger: str, store: Ledger) -> rederive.ReplayReads:
    """The projections as replay reads them: live, rebuilt, and as they stood."""

    def live_hash() -> str:
        with reading(ledger) as con:
            return content_hash(con)

    def rebuilt_hash(path: Path) -> str:
        rebuild(store, path)
        with connect(path, read_only=True) as con:
            return content_hash(con)

    return rederive.ReplayReads(
        live_hash=live_hash,
        rebuilt_hash=rebuilt_hash,
        read_model=lambda path: contextlib.closing(DuckReadModel(store, path)),
        offline=lambda task, seed: OfflineProposer(catalogue_for(task, seed)),
    )
