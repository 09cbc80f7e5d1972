"""autorecipe's command line: wires ledger, projections, runners, evaluators and agents.

It holds no logic of its own: each command opens the parts it needs, calls them, and
turns their errors into one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from agents.baselines import OptunaProposer, RandomProposer
from agents.catalogues import catalogue_for
from agents.claude.api import DEFAULT_MODEL, ModelCheckError, check_model, claude_client
from agents.claude.prices import UnknownPriceError, price_of
from agents.claude.proposer import ClaudeProposer
from agents.claude.recorded import (
    RecordedCall,
    RecordedTransport,
    recorded_calls,
    recorded_client,
    replay_policy,
)
from agents.claude.session import Settings
from agents.offline import OfflineProposer
from domain.config import SearchConfig
from domain.labels import FinishReason
from domain.ports import Proposer, Runner
from domain.progress import SearchState, fold
from domain.search import SearchResumed, SearchStarted
from evaluators.evaluator import SandboxUnavailableError, TaskEvaluator
from evaluators.staging import DataPreparationError
from evaluators.tasks import TaskError, builtin_names, load
from ledger import session
from ledger.claim import new_search
from ledger.lease import lease
from ledger.loop import LiveExecutor
from ledger.recorded import Divergence, Recording
from ledger.recovery import recovery_events
from ledger.replay import regenerate, replay, search_events
from ledger.reproduce import reproduce
from ledger.store import Ledger, LedgerError, open_ledger
from ledger.verify import verify as check_chain
from projections import audit as audit_queries
from projections import canned, display
from projections.bundle import BundleError, build_bundle, resolve_trial
from projections.bundle_verify import verify_bundle
from projections.db import ProjectionsBusyError, connect, projections_path, reading, rebuild
from projections.export import ExportError, export
from projections.lineage import DuckLineage, LineageAt
from projections.schema import content_hash
from runners.local import LocalRunner
from runners.registry import open_runner

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="autorecipe: an auditable, event-sourced auto-research loop.",
)
console = Console()
DEFAULT_LEDGER = "runs/ledger.sqlite"
AGENTS = ("offline", "claude", "recorded")
POLICIES = ("specialists", "generalist", "random", "optuna")
LIVE_SAME = "identical to the live ones"
LIVE_DIFFERENT = "[red]DIFFERENT from the live ones[/]"
AgentsOpt = Annotated[
    str, typer.Option("--agents", help="offline, claude (needs ANTHROPIC_API_KEY) or recorded.")
]
CostCapOpt = Annotated[
    float | None, typer.Option(min=0, help="Stop the search once model calls cost this much.")
]
FromLedgerOpt = Annotated[
    str | None, typer.Option(help="--agents recorded: the ledger holding the Claude search.")
]
FromSearchOpt = Annotated[
    str | None, typer.Option(help="--agents recorded: that search's id (prefix); default: latest.")
]
LedgerOpt = Annotated[str, typer.Option("--ledger", help="SQLite path or postgresql:// URL.")]
SearchOpt = Annotated[
    str | None,
    typer.Option("--search", help="Search id (prefix); default: the latest."),
]


def fail(message: str, code: int = 1) -> NoReturn:
    text = escape(message)  # messages quote paths and commands: `.[ray]` is not markup
    Console(stderr=True).print(f"[red]Error:[/] {text}", highlight=False, soft_wrap=True)
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


@contextlib.contextmanager
def _reading(location: str, files: bool = False) -> Iterator[Any]:
    """One read-only connection to current projections for the whole command."""
    store = _ledger(location, must_exist=True)
    try:
        with reading(store, projections_path(location), files) as con:
            yield con
    except ProjectionsBusyError as error:
        fail(str(error))


def _runs_root(location: str) -> Path:
    # Absolute: trial pipelines run in the project folder, not in the caller's.
    return (Path("runs") if "://" in location else Path(location).parent).resolve()


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
        bool, typer.Option("--unsafe-no-sandbox", help="Run agent code without bubblewrap.")
    ] = False,
    runner: Annotated[str, typer.Option(help="Where trials run: local or ray.")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster; default: new.")] = None,
    gpus_per_trial: Annotated[float, typer.Option(min=0, help="GPUs per trial (Ray).")] = 0.0,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the latest unfinished search (its recorded options)."
        ),
    ] = False,
    agents: AgentsOpt = "offline",
    policy: Annotated[
        str,
        typer.Option(
            help="specialists, generalist (one agent, every surface), random or optuna"
            " (HPO baselines over the catalogue)."
        ),
    ] = "specialists",
    model: Annotated[str, typer.Option(help="The Claude model (--agents claude).")] = DEFAULT_MODEL,
    max_turns: Annotated[int, typer.Option(min=1, help="Model calls per Claude session.")] = 40,
    cost_cap_usd: CostCapOpt = None,
    from_ledger: FromLedgerOpt = None,
    from_search: FromSearchOpt = None,
    search_id: SearchOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Run a search: baseline, then specialists' trials, ending with a leaderboard."""
    if resume:
        _resume(ledger, search_id, runner, ray_address, gpus_per_trial)
        return
    if policy not in POLICIES:
        fail(f"unknown --policy {policy!r}: use {', '.join(POLICIES)}")
    roster = tuple(s.strip() for s in specialists.split(",") if s.strip())
    config = SearchConfig(
        task=task,
        trials=trials,
        seed=seed,
        workers=workers,
        threads=threads,
        policy=policy,
        specialists=roster if policy == "specialists" else ("generalist",),
        lineage=not no_lineage,
        strict_surfaces=strict_surfaces,
        sandbox=not unsafe_no_sandbox,
        deadline_minutes=deadline_minutes,
        patience=patience,
        runner=runner,
        agent=agents,
        model=None if agents == "offline" else model,
        max_turns=max_turns,
        cost_cap_usd=cost_cap_usd,
    )
    if agents not in AGENTS:
        fail(f"unknown --agents {agents!r}: use {', '.join(AGENTS)}")
    recording = _recording(from_ledger, from_search, config) if agents == "recorded" else None
    if recording is not None:  # the recorded search's options, so its requests come again
        config = recording[0]
    try:
        load(config.task)  # an unknown or malformed task is refused before the ledger is touched
    except TaskError as error:
        fail(str(error))
    client = _claude_client(config) if config.agent == "claude" else None
    store = _ledger(ledger)
    evaluator = _evaluator(config.task, ledger, config.sandbox)
    proposer, replayed = _proposer(evaluator, config, client, recording[1] if recording else None)
    try:
        with (
            open_runner(runner, ray_address, gpus_per_trial) as trial_runner,
            new_search(ledger, store, config, evaluator, proposer) as state,
        ):
            reason = _run(store, ledger, state, config, evaluator, proposer, trial_runner)
    except (LedgerError, ValueError, ProjectionsBusyError) as error:
        fail(str(error))
    _summary(ledger, state.started.id, reason)
    if replayed is not None and replayed.differed:
        fail(
            f"{len(replayed.differed)} requests differ from the recorded ones: the re-run diverged"
        )


def _evaluator(task: str, ledger: str, sandbox: bool) -> TaskEvaluator:
    try:
        return TaskEvaluator.open(task, _runs_root(ledger), sandbox=sandbox)
    except (TaskError, SandboxUnavailableError, DataPreparationError) as error:
        fail(str(error))


def _proposer(
    evaluator: TaskEvaluator,
    config: SearchConfig,
    client: Any = None,
    calls: list[RecordedCall] | None = None,
) -> tuple[Proposer, RecordedTransport | None]:
    catalogue = catalogue_for(evaluator.task.name, evaluator.seed_recipe())
    if config.policy in ("random", "optuna"):
        baseline = RandomProposer if config.policy == "random" else OptunaProposer
        try:
            return baseline(catalogue, evaluator.seed_recipe()), None
        except ValueError as error:
            fail(str(error))
    if config.agent == "offline":
        return OfflineProposer(catalogue), None
    strict = config.strict_surfaces
    check = lambda p, c, s: evaluator.check_edit(p, c, s, strict)  # noqa: E731
    settings = Settings(model=config.model or DEFAULT_MODEL, max_turns=config.max_turns)
    if config.agent == "claude":
        return ClaudeProposer(client, evaluator.task, check, settings), None
    if calls is None:
        fail("a recorded re-run cannot be resumed: start it again with --agents recorded")
    replay_client, transport = recorded_client(calls)
    settings = Settings(settings.model, settings.max_turns, retry=replay_policy(calls))
    return ClaudeProposer(replay_client, evaluator.task, check, settings, "recorded"), transport


def _claude_client(config: SearchConfig) -> Any:
    """A live client, checked before any trial: key, price, model and reachability."""
    key = os.environ.get("ANTHROPIC_API_KEY", "")
    if not key:
        fail("--agents claude needs an API key: set ANTHROPIC_API_KEY")
    model = config.model or DEFAULT_MODEL
    try:
        price_of(model)
        client = claude_client(key)
        check_model(client, model)
    except (UnknownPriceError, ModelCheckError) as error:
        fail(str(error))
    return client


def _recording(
    location: str | None, prefix: str | None, config: SearchConfig
) -> tuple[SearchConfig, list[RecordedCall]]:
    """The recorded search's options and its model calls, from the source ledger."""
    if location is None:
        fail("--agents recorded needs --from-ledger PATH (a ledger with a Claude search)")
    source = _ledger(location, must_exist=True)
    try:
        sid = session.pick_search(source, prefix, unfinished=False)
    except ValueError as error:
        fail(str(error))
    events = [event for _, event in search_events(source, sid)]
    calls = recorded_calls(events)
    if not calls:
        fail(f"search {sid} in {location} has no recorded model exchanges: nothing to replay")
    recorded = session.config_of(fold(events))
    return recorded.model_copy(update={"agent": "recorded", "sandbox": config.sandbox}), calls


def _resume(
    ledger: str, search_id: str | None, runner: str, ray_address: str | None, gpus_per_trial: float
) -> None:
    store = _ledger(ledger, must_exist=True)
    try:
        sid = session.pick_search(store, search_id, unfinished=True)
        with lease(ledger, sid), open_runner(runner, ray_address, gpus_per_trial) as trial_runner:
            events = store.stream(sid)
            state = fold(events)
            config = session.config_of(state)
            evaluator = _evaluator(config.task, ledger, config.sandbox)
            started = events[0]
            if isinstance(started, SearchStarted) and evaluator.task_sha256 != started.task_sha256:
                fail(
                    f"the task {config.task} changed since search {sid} started;"
                    " resuming would mix rules"
                )
            recovery = recovery_events(state, trial_runner.host)
            store.append(sid, recovery)
            console.print(
                f"resumed search {sid}: {len(recovery) - 1} trials in flight ended harness_abort"
                + _reopened(recovery[0])
            )
            client = _claude_client(config) if config.agent == "claude" else None
            proposer, _ = _proposer(evaluator, config, client)
            reason = _run(store, ledger, state, config, evaluator, proposer, trial_runner)
    except (LedgerError, ValueError, ProjectionsBusyError) as error:
        fail(str(error))
    _summary(ledger, sid, reason)


def _reopened(resumed: Any) -> str:
    if not isinstance(resumed, SearchResumed) or resumed.reopened is None:
        return ""
    return f"; it had ended {resumed.reopened}, and the count of aborts starts again"


def _run(
    store: Ledger,
    location: str,
    state: SearchState,
    config: SearchConfig,
    evaluator: TaskEvaluator,
    proposer: Proposer,
    runner: Runner,
) -> FinishReason:
    lineage = DuckLineage(store, projections_path(location))
    executor = LiveExecutor(runner, evaluator, config.workers)
    console.print(
        f"search {state.started.id} on {evaluator.task.name}: {config.trials} trials,"
        f" seed {config.seed}, ledger {location}"
    )
    with display.LiveProgress(
        console, config.trials, evaluator.task.metric.name, state
    ) as progress:
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
            return loop.run()
        finally:
            signal.signal(signal.SIGINT, previous)


def _summary(location: str, search_id: object, reason: FinishReason) -> None:
    path = projections_path(location)
    with _reading(location) as con:
        sid = display.resolve_search(con, str(search_id))
        console.print(display.leaderboard(con, sid, console.width))
        console.print(f"outcomes: {display.status_counts(con, sid)}")
        detail = con.execute(
            "SELECT finish_reason, best_score FROM searches WHERE search_id = ?", [sid]
        ).fetchone()
    console.print(f"finished ({reason}); ledger: {location}; projections: {path}")
    if reason is FinishReason.INTERRUPTED:
        fail(
            "the search was interrupted; trials in flight ended harness_abort;"
            " `cli.py search --resume` continues it",
            code=130,
        )
    if reason is FinishReason.BASELINE_FAILED:
        fail(
            f"the seed recipe failed, so nothing could be compared ({detail}); see `cli.py show 0`"
        )


@app.command("audit")
def audit_command(
    sql: Annotated[
        str | None, typer.Argument(help="One read-only SQL statement over the projections.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="Run a canned query by name (see --list).")
    ] = None,
    list_queries: Annotated[bool, typer.Option("--list", help="List the canned queries.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or jsonl.")] = "table",
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Rows to show; default: a screenful in a table, all in csv/json."),
    ] = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Read-only SQL over the projections (tables: events, searches, trials, lineage, ...)."""
    if fmt not in ("table", "csv", "json", "jsonl"):
        fail(f"unknown format {fmt!r}: use table, csv, json or jsonl")
    if limit is None and fmt == "table":
        limit = max(shutil.get_terminal_size().lines - 8, 10)
    if list_queries:
        result = canned.listing()
    else:
        with _reading(ledger) as con:
            try:
                result = audit_queries.run(con, _audit_sql(sql, query), limit)
            except (audit_queries.AuditQueryError, canned.UnknownQueryError) as error:
                fail(f"bad query: {error}")
    if fmt == "csv":
        typer.echo(audit_queries.to_csv(result), nl=False)
    elif fmt == "json":
        typer.echo(audit_queries.to_json(result), nl=False)
    elif fmt == "jsonl":
        typer.echo(audit_queries.to_jsonl(result), nl=False)
    else:
        console.print(display.result_table(result))
    if result.truncated:
        Console(stderr=True).print(
            f"(the first {limit} rows; --limit N for more, --format csv for all)"
        )


@app.command()
def lineage(search_id: SearchOpt = None, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """The tree of trials with their labels and scores."""
    with _reading(ledger) as con:
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
    with _reading(ledger) as con:
        try:
            console.print(display.trial_detail(con, display.resolve_search(con, search_id), trial))
        except display.UnknownSearchError as error:
            fail(str(error))


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
    store = _ledger(ledger, must_exist=True)
    verdict = check_chain(store.read_all())
    if not verdict.ok:
        fail(f"position {verdict.bad_position}: {verdict.problem}")
    console.print(f"ok: {verdict.events} events in {verdict.streams} searches; chain heads:")
    for stream, head in sorted(verdict.heads.items()):
        console.print(f"  search {stream}  {head}")


@app.command("replay")
def replay_command(search_id: SearchOpt = None, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Re-derive a search from its log: projections, every loop decision, and the offline
    specialists' proposals; report the first divergence."""
    store = _ledger(ledger, must_exist=True)
    try:
        sid = session.pick_search(store, search_id, unfinished=False)
    except ValueError as error:
        fail(str(error))
    events = search_events(store, sid)
    try:
        Recording.of(events).task()
    except Divergence as divergence:  # a log no search wrote, its chain made to match
        fail(_diverged(divergence))
    except ValueError as error:
        fail(str(error))
    with _reading(ledger) as con:
        live = content_hash(con)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "rebuild.duckdb"
        rebuild(store, fresh)
        same = live == _content_hash(fresh)
        console.print(
            f"projections rebuilt from {store.max_position()} events: "
            + (LIVE_SAME if same else LIVE_DIFFERENT)
        )
        report = replay(events)
        compared = f"{report.compared} of {report.events - 1}"
        console.print(f"decisions: {compared} events re-derived; {report.ending}")
        if report.divergence is not None:  # the proposals of a diverged log mean nothing
            fail(_diverged(report.divergence))
        regenerated = _regenerate(store, events, Path(tmp) / "regen.duckdb")
    if regenerated is not None:
        fail(_diverged(regenerated))
    if not same:
        fail("the live projections differ from a rebuild: delete the .duckdb file to rebuild it")
    console.print(f"search {sid}: no divergence")


def _diverged(divergence: Divergence) -> str:
    if divergence.recorded is None and divergence.produced is None:
        return f"divergence at {divergence}"
    return (
        f"divergence at {divergence}: recorded {divergence.recorded!r},"
        f" replay produced {divergence.produced!r}"
    )


def _regenerate(store: Ledger, events: list[Any], path: Path) -> Any:
    recording = Recording.of(events)
    seed_recipe = recording.recipes[recording.proposals[0].originator_id]
    proposer = OfflineProposer(catalogue_for(recording.task().name, seed_recipe))
    with contextlib.closing(LineageAt(store, path)) as lineage_at:
        divergence = regenerate(events, lineage_at, proposer)
    offline = sum(1 for p in recording.proposals.values() if p.agent == proposer.name)
    console.print(
        f"offline proposals regenerated from seed and lineage: {offline}"
        + ("" if divergence else ", all identical")
    )
    return divergence


def _content_hash(path: Path) -> str:
    with connect(path, read_only=True) as con:
        return content_hash(con)


@app.command("reproduce")
def reproduce_command(
    trial: Annotated[int, typer.Argument(help="Trial number to run again.")],
    search_id: SearchOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Re-execute a trial with its recorded seed, threads and budgets; record the comparison."""
    store = _ledger(ledger, must_exist=True)
    try:
        with lease(ledger):
            sid = session.pick_search(store, search_id, unfinished=False)
            config = session.config_of(fold(store.stream(sid)))
            evaluator = _evaluator(config.task, ledger, config.sandbox)
            out = _runs_root(ledger) / "searches" / str(sid) / f"reproduce-{trial:04d}"
            done = reproduce(store, sid, trial, evaluator, LocalRunner(), out)
    except (LedgerError, ValueError) as error:
        fail(str(error))
    event = done.event
    console.print(
        f"trial {trial}: recorded {event.recorded_score}, reproduced {event.score}"
        f" ({done.outcome.label or 'valid'})"
    )
    if event.identical:
        console.print("identical, bit for bit")
    elif event.within_noise:
        console.print(f"not identical, but within the noise floor ({event.tolerance:.5f})")
    else:
        fail(f"the reproduction differs beyond the noise floor {event.tolerance:.5f}")


@app.command()
def tasks() -> None:
    """The built-in tasks, with their metric and the seed recipe's measured baseline."""
    console.print(display.task_table([load(name) for name in builtin_names()]))


def _audit_sql(sql: str | None, query: str | None) -> str:
    if query is not None and sql is None:
        return canned.load(query).sql
    if sql is not None and query is None:
        return sql
    fail("give one SQL statement or --query NAME (see `cli.py audit --list`)")


OutOpt = Annotated[Path | None, typer.Option("--out", help="Output folder; default: under runs.")]


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
    from projections.report import default_folder, write  # matplotlib loads only here
    from projections.report_data import select as select_searches

    with _reading(ledger) as con:
        try:
            ids = select_searches(con, search_ids or [], every)
        except display.UnknownSearchError as error:
            fail(str(error))
        if not ids:
            fail("the ledger holds no search yet")
        files = write(con, ids, every, out or default_folder(_runs_root(ledger), ids, every))
    if files.png is None:
        console.print(f"comparison of {files.searches} searches: {files.html}")
    else:
        console.print(f"report of {files.trials} trials: {files.html}\nprogress plot: {files.png}")


def _watch(search_ids: list[str], every: bool, port: int, ledger: str) -> None:
    from projections.report_data import select as select_searches
    from projections.report_serve import LiveReport, serve

    if search_ids:  # a prefix that names no search fails now, not on every page load
        with _reading(ledger) as con:
            try:
                select_searches(con, search_ids, every)
            except display.UnknownSearchError as error:
                fail(str(error))
    live = LiveReport(_ledger(ledger, must_exist=True), projections_path(ledger), search_ids, every)
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
    folder = out or _runs_root(ledger) / f"export-{fmt}"
    with _reading(ledger, files=True) as con:  # COPY writes the files
        try:
            manifest = export(con, folder, fmt)
        except ExportError as error:
            fail(str(error))
    console.print(f"exported to {folder}; manifest: {manifest}")


@app.command()
def bundle(
    trial: Annotated[str, typer.Argument(help="Trial number or id prefix.")],
    search_id: SearchOpt = None,
    out: OutOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """A provenance bundle of one trial: recipe, diff chain, logs, versions, events, manifest."""
    runs = _runs_root(ledger)
    with _reading(ledger) as con:
        try:
            sid = display.resolve_search(con, search_id)
            tid, seq = resolve_trial(con, sid, trial)
            folder = out or runs / "bundles" / f"search-{str(sid)[:8]}-trial-{seq:04d}"
            build_bundle(con, tid, folder, runs)
        except (display.UnknownSearchError, BundleError) as error:
            fail(str(error))
    _verify_bundle(folder)


def _verify_bundle(folder: Path) -> None:
    if not (folder / "manifest.json").is_file():
        fail(f"{folder} is not a bundle: it has no manifest.json")
    ok, message = verify_bundle(folder)
    if not ok:
        fail(f"bundle {folder}: {message}")
    console.print(f"bundle {folder}: {message}")


if __name__ == "__main__":
    app()
