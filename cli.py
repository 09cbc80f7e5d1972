"""autorecipe's command line: wires ledger, projections, runners, evaluators and agents.

It holds no logic of its own: each command opens the parts it needs, calls them, and
turns their errors into one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from agents.catalogues import catalogue_for
from agents.claude.prices import DEFAULT_MODEL, UnknownPriceError, price_of
from agents.offline import OfflineProposer
from domain import resume as resume_options
from domain.config import SearchConfig
from domain.labels import FinishReason
from domain.ports import Proposer, Runner
from domain.progress import SearchState, fold
from domain.rejudge import RuleChange
from domain.reproduction import failure_lines
from domain.search import SearchResumed, SearchStarted
from evaluators import requirements
from evaluators.evaluator import SandboxUnavailableError, TaskEvaluator
from evaluators.staging import DataPreparationError
from evaluators.tasks import TaskError, builtin_names, load
from ledger import session
from ledger.cache import TrialCache, check_reuses
from ledger.claim import new_search
from ledger.counterfactual import counterfactual_config, same_task
from ledger.lease import lease
from ledger.loop import LiveExecutor
from ledger.recorded import Divergence, Recording
from ledger.recovery import recovery_events
from ledger.rejudge import DerivationError, rejudge, rules_for
from ledger.replay import regenerate, replay, search_events
from ledger.reproduce import reproduce
from ledger.store import Ledger, LedgerError, locate, open_ledger
from ledger.verify import verify as check_chain
from projections import audit as audit_queries
from projections import canned, display, listing, live
from projections.bundle import BundleError, build_bundle, resolve_trial
from projections.bundle_verify import verify_bundle
from projections.db import ProjectionsBusyError, connect, projections_path, reading, rebuild
from projections.export import ExportError, export
from projections.lineage import DuckLineage, DuckReadModel
from projections.schema import content_hash
from runners.local import LocalRunner
from runners.registry import open_runner

if TYPE_CHECKING:  # the Anthropic SDK loads only in the commands that call a model
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
FormatOpt = Annotated[str, typer.Option("--format", help="table, csv, json or jsonl.")]
PIPED_WIDTH = 100_000  # piped output is never wrapped: lines are as long as their content
LedgerOpt = Annotated[str, typer.Option("--ledger", help="SQLite path or postgresql:// URL.")]
SearchOpt = Annotated[
    str | None,
    typer.Option("--search", help="Search id (prefix); default: the latest."),
]


def fail(message: str, code: int = 1) -> NoReturn:
    text = escape(message)  # messages quote paths and commands: `.[ray]` is not markup
    Console(stderr=True).print(f"[red]Error:[/] {text}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


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
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """autorecipe: specialists propose recipe edits, a sandboxed evaluator judges them, and
    every proposal, diff, launch, score and failure is an immutable, hash-chained event."""


def _ledger(location: str, must_exist: bool = False) -> Ledger:
    try:
        where = locate(location)
        if must_exist and where.file is not None and not where.file.exists():
            fail(f"no ledger at {location}: run `python cli.py search` first, or pass --ledger")
        return open_ledger(where)
    except LedgerError as error:
        fail(str(error))


@contextlib.contextmanager
def _reading(location: str, files: bool = False) -> Iterator[Any]:
    """One read-only connection to current projections for the whole command."""
    store = _ledger(location, must_exist=True)
    try:
        with reading(store, store.location.projections, files) as con:
            yield con
    except ProjectionsBusyError as error:
        fail(str(error))


def _runs_root(location: str) -> Path:
    # Absolute: trial pipelines run in the project folder, not in the caller's.
    try:
        return locate(location).runs.resolve()
    except LedgerError as error:
        fail(str(error))


@app.command()
def search(
    ctx: typer.Context,
    task: Annotated[str, typer.Option(help="A built-in task name or a task folder.")] = "golf-cpu",
    trials: Annotated[
        int,
        typer.Option(min=0, help="Trials after the seed-recipe baseline; 0: the baseline alone."),
    ] = 8,
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
            "--resume",
            help="Continue the latest unfinished or interrupted search on its recorded"
            " options; --trials, --deadline-minutes, --patience, --cost-cap-usd and --runner"
            " may change; any other option must match the ledger.",
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
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache", help="Train every trial, even where the ledger holds its result."
        ),
    ] = False,
    from_ledger: FromLedgerOpt = None,
    from_search: FromSearchOpt = None,
    search_id: SearchOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Run a search: baseline, then specialists' trials, ending with a leaderboard."""
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
        cache=not no_cache,
    )
    if resume:
        given = {key: getattr(config, key) for key in _given(ctx)}
        _resume(ledger, search_id, given, ray_address, gpus_per_trial)
        return
    if policy not in POLICIES:
        fail(f"unknown --policy {policy!r}: use {', '.join(POLICIES)}")
    if agents not in AGENTS:
        fail(f"unknown --agents {agents!r}: use {', '.join(AGENTS)}")
    recording = _recording(from_ledger, from_search, config) if agents == "recorded" else None
    if recording is not None:  # the recorded search's options, so its requests come again
        config = recording[0]
    try:  # an unknown or malformed task, or one whose packages are missing, is refused
        spec = load(config.task).spec  # before the ledger is touched
        requirements.check(spec.name, spec.requirements)
    except TaskError as error:
        fail(str(error))
    client = _claude_client(config) if config.agent == "claude" else None
    store = _ledger(ledger)
    evaluator = _evaluator(config.task, ledger, config.sandbox)
    proposer, replayed = _proposer(evaluator, config, client, recording[1] if recording else None)
    try:
        with (
            open_runner(runner, ray_address, gpus_per_trial) as trial_runner,
            new_search(store, config, evaluator, proposer) as state,
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
        evaluator = TaskEvaluator.open(task, _runs_root(ledger), sandbox=sandbox)
        requirements.check(evaluator.task.name, evaluator.task.requirements)
    except (TaskError, SandboxUnavailableError, DataPreparationError) as error:
        fail(str(error))
    return evaluator


def _proposer(
    evaluator: TaskEvaluator,
    config: SearchConfig,
    client: Any = None,
    calls: list[RecordedCall] | None = None,
) -> tuple[Proposer, RecordedTransport | None]:
    catalogue = catalogue_for(evaluator.task.name, evaluator.seed_recipe())
    if config.policy in ("random", "optuna"):
        from agents.baselines import OptunaProposer, RandomProposer  # numpy: only here

        baseline = RandomProposer if config.policy == "random" else OptunaProposer
        try:
            return baseline(catalogue, evaluator.seed_recipe()), None
        except ValueError as error:
            fail(str(error))
    if config.agent == "offline":
        return OfflineProposer(catalogue), None
    from agents.claude.proposer import ClaudeProposer  # the SDK: only for model agents
    from agents.claude.recorded import recorded_client, replay_policy
    from agents.claude.session import Settings

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
    from agents.claude.api import ModelCheckError, check_model, claude_client

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
    from agents.claude.recorded import recorded_calls

    events = [event for _, event in search_events(source, sid)]
    calls = recorded_calls(events)
    if not calls:
        fail(f"search {sid} in {location} has no recorded model exchanges: nothing to replay")
    recorded = session.config_of(fold(events))
    return recorded.model_copy(update={"agent": "recorded", "sandbox": config.sandbox}), calls


# The search options a command line may give, by their SearchConfig key.
SEARCH_OPTIONS = {
    "task": "task",
    "trials": "trials",
    "seed": "seed",
    "specialists": "specialists",
    "no_lineage": "lineage",
    "workers": "workers",
    "threads": "threads",
    "strict_surfaces": "strict_surfaces",
    "deadline_minutes": "deadline_minutes",
    "patience": "patience",
    "unsafe_no_sandbox": "sandbox",
    "runner": "runner",
    "agents": "agent",
    "policy": "policy",
    "model": "model",
    "max_turns": "max_turns",
    "cost_cap_usd": "cost_cap_usd",
}


def _given(ctx: typer.Context) -> list[str]:
    """The config keys of the options this command line gave (not left at defaults)."""
    # By name: typer 0.29 vendors its own click, whose enum is not click's.
    explicit = {"COMMANDLINE", "ENVIRONMENT"}
    return [
        key
        for name, key in SEARCH_OPTIONS.items()
        if getattr(ctx.get_parameter_source(name), "name", "") in explicit
    ]


def _resume(
    ledger: str,
    search_id: str | None,
    given: dict[str, Any],
    ray_address: str | None,
    gpus_per_trial: float,
) -> None:
    store = _ledger(ledger, must_exist=True)
    try:
        sid = session.pick_search(store, search_id, unfinished=True)
        recorded = session.config_of(fold(store.stream(sid)))
        changed = resume_options.changes(recorded, given)
        runner = str(changed.get("runner", recorded.runner))
        with (
            lease(store.location, sid),
            open_runner(runner, ray_address, gpus_per_trial) as trial_runner,
        ):
            events = store.stream(sid)  # again, under the lease
            state = fold(events)
            evaluator = _evaluator(recorded.task, ledger, recorded.sandbox)
            started = events[0]
            if isinstance(started, SearchStarted) and evaluator.task_sha256 != started.task_sha256:
                fail(
                    f"the task {recorded.task} changed since search {sid} started;"
                    " resuming would mix rules"
                )
            recovery = recovery_events(state, trial_runner.host, changed)
            store.append(sid, recovery)
            config = session.config_of(state)  # with the options this resume changed
            console.print(
                f"resumed search {sid}: {len(recovery) - 1} trials in flight ended harness_abort"
                + _reopened(recovery[0])
            )
            console.print(resume_options.describe(config, changed), highlight=False, soft_wrap=True)
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
    lineage = DuckLineage(store, store.location.projections)
    executor = LiveExecutor(runner, evaluator, config.workers)
    trials = f"{config.trials} trials" if config.trials else "the seed recipe alone (its noise)"
    cache = (
        TrialCache.from_ledger(store, state.started.id, evaluator.task) if config.cache else None
    )
    console.print(
        f"search {state.started.id} on {evaluator.task.name}: {trials},"
        f" seed {config.seed}, ledger {location}"
    )
    with live.LiveProgress(console, config.trials, evaluator.task.metric.name, state) as progress:
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
            cache=cache,
        )
        previous = signal.signal(signal.SIGINT, lambda *_: loop.stop_requested.set())
        try:
            return loop.run()
        finally:
            signal.signal(signal.SIGINT, previous)
            if cache is not None and cache.hits:
                runs = f"{cache.hits} run{'s' if cache.hits != 1 else ''}"
                console.print(f"trial cache: {runs} reused from the ledger, not trained")


def _summary(location: str, search_id: object, reason: FinishReason) -> None:
    path = projections_path(location)
    with _reading(location) as con:
        sid = display.resolve_search(con, str(search_id))
        console.print(display.leaderboard(con, sid, console.width))
        console.print(f"outcomes: {display.status_counts(con, sid) or 'none (baseline only)'}")
        console.print(display.noise_line(con, sid))
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
    if limit is None and fmt == "table" and _out().is_terminal:
        limit = max(shutil.get_terminal_size().lines - 8, 10)
    if list_queries:
        result = canned.listing()
    else:
        with _reading(ledger) as con:
            try:
                if search_id is not None:
                    listing.scope(con, display.resolve_search(con, search_id))
                result = audit_queries.run(con, _audit_sql(sql, query), limit)
            except (audit_queries.AuditQueryError, canned.UnknownQueryError) as error:
                fail(f"bad query: {error}")
            except display.UnknownSearchError as error:
                fail(str(error))
    _emit(result, fmt)
    if result.truncated:
        Console(stderr=True).print(
            f"(the first {limit} rows; --limit N for more, --format csv for all)"
        )


def _check_format(fmt: str) -> None:
    if fmt not in listing.FORMATS:
        fail(f"unknown format {fmt!r}: use {', '.join(listing.FORMATS)}")


def _emit(result: audit_queries.Result, fmt: str, table: Any = None) -> None:
    """Rows as a table (`table`, or one made from the rows), or as csv, json or jsonl."""
    writers = {
        "csv": audit_queries.to_csv,
        "json": audit_queries.to_json,
        "jsonl": audit_queries.to_jsonl,
    }
    if fmt in writers:
        typer.echo(writers[fmt](result), nl=False)
    else:
        _out().print(display.result_table(result) if table is None else table)


def _out() -> Console:
    """The terminal's console; piped, one that never wraps or pads a line (for patch,
    grep, diff and `less -S`)."""
    if console.is_terminal:
        return console
    return Console(width=PIPED_WIDTH, soft_wrap=True, highlight=False)


@app.command()
def searches(fmt: FormatOpt = "table", ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Every search in the ledger: id, task, policy, started, status, trials, best."""
    _check_format(fmt)
    with _reading(ledger) as con:
        _emit(listing.searches(con), fmt)


@app.command()
def lineage(
    search_id: SearchOpt = None, fmt: FormatOpt = "table", ledger: LedgerOpt = DEFAULT_LEDGER
) -> None:
    """The tree of trials with their labels and scores (--format: one row per trial)."""
    _check_format(fmt)
    with _reading(ledger) as con:
        try:
            sid = display.resolve_search(con, search_id)
        except display.UnknownSearchError as error:
            fail(str(error))
        _emit(listing.lineage(con, sid), fmt, display.lineage_tree(con, sid))


@app.command()
def show(
    trial: Annotated[str, typer.Argument(help="Trial number or id prefix.")],
    search_id: SearchOpt = None,
    diff: Annotated[
        bool, typer.Option("--diff", help="Only the raw unified diff (for patch, git apply).")
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
    with _reading(ledger) as con:
        try:
            sid = display.resolve_search(con, search_id)
            row = display.trial_row(con, sid, trial)
            if diff:  # the stored bytes, untouched, or the whole change from the seed
                text = listing.diff_from_seed(con, sid, row) if from_seed else row.get("diff")
                typer.echo(text or "", nl=False)
                return
            piped = not _out().is_terminal
            _emit(listing.one_row(row), fmt, display.trial_detail(con, sid, trial, piped))
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


@app.command("rejudge")
def rejudge_command(
    search_id: SearchOpt = None,
    rules_version: Annotated[
        str | None, typer.Option(help="The task's rules of this version; default: as run.")
    ] = None,
    size_cap: Annotated[int | None, typer.Option(min=1, help="Another size cap, bytes.")] = None,
    size_cap_scale: Annotated[
        float | None, typer.Option(help="The size cap times this, e.g. 0.98.")
    ] = None,
    keep_rule: Annotated[
        str | None, typer.Option(help="Another keep rule: paired, noise_floor or welch.")
    ] = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Re-judge a recorded search under other rules from its recorded measurements, as a
    derived search (nothing is trained; the source is never touched)."""
    if keep_rule not in (None, *KEEP_RULES):
        fail(f"unknown --keep-rule {keep_rule!r}: use {', '.join(KEEP_RULES)}")
    store = _ledger(ledger, must_exist=True)
    try:
        sid = session.pick_search(store, search_id, unfinished=False)
        recording = Recording.of(search_events(store, sid))
        recorded = recording.task()
        change = RuleChange(
            rules_version=rules_version,
            size_cap_bytes=size_cap,
            size_cap_scale=size_cap_scale,
            keep_rule=keep_rule,
        )
        current = _current_rules(str(recording.started.config.get("task", recorded.name)))
        rules = rules_for(recorded, current, rules_version)
        with lease(store.location, sid):
            derived = rejudge(store, sid, rules, change)
    except (DerivationError, LedgerError, ValueError) as error:
        fail(str(error).splitlines()[0])
    console.print(
        f"search {derived.search_id}: search {sid} re-judged under {derived.rules_version},"
        f" {derived.events} events, nothing trained"
    )
    for seq, was, now in derived.changed:
        console.print(f"  #{seq}: {was} -> {now}")
    if not derived.changed:
        console.print("  every trial ends as it did")


def _current_rules(task: str) -> Any:
    """The task folder's rules as they are now, if the task still loads here."""
    try:
        return load(task).spec
    except TaskError:
        return None


KEEP_RULES = ("paired", "noise_floor", "welch")


@app.command("counterfactual")
def counterfactual_command(
    policy: Annotated[str, typer.Option(help="specialists, generalist, random or optuna.")],
    search_id: SearchOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Run another policy on a recorded search's task, seed recipe, seed and budget, as a
    search linked to it; runs any search in the ledger measured come from the cache."""
    store = _ledger(ledger, must_exist=True)
    try:
        source = session.pick_search(store, search_id, unfinished=False)
        config = counterfactual_config(store, source, policy)
    except (DerivationError, ValueError) as error:
        fail(str(error))
    evaluator = _evaluator(config.task, ledger, config.sandbox)
    try:
        same_task(store, source, evaluator.task_sha256)
    except DerivationError as error:
        fail(str(error))
    proposer, _ = _proposer(evaluator, config)
    try:
        with (
            open_runner(config.runner, None, 0.0) as trial_runner,
            new_search(store, config, evaluator, proposer) as state,
        ):
            reason = _run(store, ledger, state, config, evaluator, proposer, trial_runner)
    except (LedgerError, ValueError, ProjectionsBusyError) as error:
        fail(str(error))
    _summary(ledger, state.started.id, reason)
    console.print(f"counterfactual of search {source} under --policy {policy}")


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
        reused, problem = check_reuses(store, [event for _, event in events])
        if problem:
            fail(f"trial cache: {problem}")
        if reused:
            console.print(f"trial cache: {reused} reused runs match their sources' records")
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
    if (recording.started.config.get("derived_from") or {}).get("kind") == "rejudge":
        console.print("proposals: the source search's, re-judged; replay the source for them")
        return None
    seed_recipe = recording.recipes[recording.proposals[0].originator_id]
    proposer = OfflineProposer(catalogue_for(recording.task().name, seed_recipe))
    with contextlib.closing(DuckReadModel(store, path)) as read_model:
        divergence = regenerate(events, read_model, proposer)
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
        with lease(store.location):
            sid = session.pick_search(store, search_id, unfinished=False)
            config = session.config_of(fold(store.stream(sid)))
            evaluator = _evaluator(config.task, ledger, config.sandbox)
            done = reproduce(store, sid, trial, evaluator, LocalRunner())
    except (LedgerError, ValueError) as error:
        fail(str(error))
    event = done.event
    if done.recorded_label is not None:  # a failed trial: its label and deciding numbers
        label = None if done.outcome.label is None else str(done.outcome.label)
        head, verdict, ok = failure_lines(done.match, done.recorded_label, label)
        console.print(f"trial {trial}: {head}", highlight=False)
        if not ok:
            fail(verdict)
        console.print(verdict)
        return
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
def tasks(fmt: FormatOpt = "table") -> None:
    """The built-in tasks, with their metric and the seed recipe's measured baseline."""
    _check_format(fmt)
    specs = [load(name).spec for name in builtin_names()]
    _emit(display.task_rows(specs), fmt, display.task_table(specs))


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
    store = _ledger(ledger, must_exist=True)
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
