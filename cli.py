"""autorecipe's command line: wires ledger, projections, runners, evaluators and agents.

It holds no logic of its own: each command parses its options, wires the outer parts
into the use cases (ledger/workspace.py and its neighbours), prints what they return,
and turns their errors into one line on stderr with a non-zero exit. The read commands
live in cli_read.py, the shared wiring in cli_wiring.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from agents.claude.prices import DEFAULT_MODEL
from cli_wiring import (
    AGENTS,
    DEFAULT_LEDGER,
    POLICIES,
    SEARCH_ERRORS,
    AgentsOpt,
    LedgerOpt,
    SearchOpt,
    app,
    console,
    errors,
    fail,
    open_evaluator,
    open_store,
    read_model,
    recording,
    summary,
    task_evaluator,
    tools,
)
from domain.config import SearchConfig
from domain.rejudge import RuleChange
from domain.reproduction import failure_lines
from domain.task import TaskSpec
from evaluators import requirements
from evaluators.tasks import TaskError, load
from ledger import rederive, workspace
from ledger.counterfactual import counterfactual
from ledger.rejudge import DerivationError, rejudge_search
from ledger.rerun import Rerun

KEEP_RULES = ("paired", "noise_floor", "welch")
# Search options whose SearchConfig key is another name; the rest share theirs.
RENAMED = {"no_lineage": "lineage", "unsafe_no_sandbox": "sandbox", "agents": "agent"}
EXPLICIT = {"COMMANDLINE", "ENVIRONMENT"}  # the parameter sources of a given option
Opt = typer.Option


# Long only by its options (typer declares each as a parameter); the body is short.
@app.command()
def search(
    ctx: typer.Context,
    task: Annotated[str, Opt(help="A built-in task name or a task folder.")] = "golf-cpu",
    trials: Annotated[
        int, Opt(min=0, help="Trials after the seed-recipe baseline; 0: the baseline alone.")
    ] = 8,
    seed: int = 0,
    specialists: Annotated[str, Opt(help="Comma-separated roster; default: the task's.")] = "",
    no_lineage: Annotated[
        bool, Opt("--no-lineage", help="Blank the lineage view (ablation).")
    ] = False,
    workers: Annotated[int, Opt(min=1, help="Trials in flight at once.")] = 1,
    threads: Annotated[int, Opt(min=1, help="Torch threads per trial.")] = 1,
    strict_surfaces: Annotated[
        bool, Opt(help="Reject edits outside the specialist's surfaces.")
    ] = False,
    deadline_minutes: Annotated[float | None, Opt(help="Stop after this much time.")] = None,
    patience: Annotated[int | None, Opt(help="Stop after this many trials without a keep.")] = None,
    unsafe_no_sandbox: Annotated[
        bool, Opt("--unsafe-no-sandbox", help="Run agent code without bubblewrap.")
    ] = False,
    runner: Annotated[str, Opt(help="Where trials run: local or ray.")] = "local",
    ray_address: Annotated[str | None, Opt(help="Ray cluster; default: new.")] = None,
    gpus_per_trial: Annotated[float, Opt(min=0, help="GPUs per trial (Ray).")] = 0.0,
    resume: Annotated[
        bool,
        Opt(
            "--resume",
            help="Continue the latest unfinished or interrupted search on its recorded"
            " options; --trials, --deadline-minutes, --patience, --cost-cap-usd and --runner"
            " may change; any other option must match the ledger.",
        ),
    ] = False,
    agents: AgentsOpt = "offline",
    policy: Annotated[
        str,
        Opt(
            help="specialists, generalist (one agent, every surface), random or optuna"
            " (HPO baselines over the catalogue)."
        ),
    ] = "specialists",
    model: Annotated[str, Opt(help="The Claude model (--agents claude).")] = DEFAULT_MODEL,
    max_turns: Annotated[int, Opt(min=1, help="Model calls per Claude session.")] = 40,
    cost_cap_usd: Annotated[
        float | None, Opt(min=0, help="Stop the search once model calls cost this much.")
    ] = None,
    no_cache: Annotated[
        bool, Opt("--no-cache", help="Train every trial, even where the ledger holds its result.")
    ] = False,
    from_ledger: Annotated[
        str | None, Opt(help="--agents recorded: the ledger holding the Claude search.")
    ] = None,
    from_search: Annotated[
        str | None, Opt(help="--agents recorded: that search's id (prefix); default: latest.")
    ] = None,
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
    ray = (ray_address, gpus_per_trial)
    if resume:
        given = {key: getattr(config, key) for key in _given(ctx)}
        store = open_store(ledger, must_exist=True)
        with errors(*SEARCH_ERRORS):
            ran = workspace.resume(store, search_id, given, tools(ledger, None, *ray)[0])
        summary(store, ran)
        return
    _start(ledger, config, ray, from_ledger, from_search)


def _start(
    ledger: str,
    config: SearchConfig,
    ray: tuple[str | None, float],
    from_ledger: str | None,
    from_search: str | None,
) -> None:
    if config.policy not in POLICIES:
        fail(f"unknown --policy {config.policy!r}: use {', '.join(POLICIES)}")
    if config.agent not in AGENTS:
        fail(f"unknown --agents {config.agent!r}: use {', '.join(AGENTS)}")
    calls, runner = None, config.runner  # the runner named here, even for a recorded re-run
    if config.agent == "recorded":  # the recorded search's options, so its requests come again
        config, calls = recording(from_ledger, from_search, config)
    with errors(TaskError):  # an unknown or malformed task, or one whose packages are
        spec = load(config.task).spec  # missing, is refused before the ledger is touched
        requirements.check(spec.name, spec.requirements)
    wired, transports = tools(ledger, config, *ray, calls=calls, runner=runner)
    store = open_store(ledger)
    with errors(*SEARCH_ERRORS):
        ran = workspace.start(store, config, wired)
    summary(store, ran)
    if transports and transports[0].differed:
        differed = len(transports[0].differed)
        fail(f"{differed} requests differ from the recorded ones: the re-run diverged")


def _given(ctx: typer.Context) -> list[str]:
    """The config keys of the options this command line gave (not left at defaults)."""
    # By name: typer 0.29 vendors its own click, whose enum is not click's.
    given = [n for n in ctx.params if getattr(ctx.get_parameter_source(n), "name", "") in EXPLICIT]
    keys = [RENAMED.get(name, name) for name in given]
    return [key for key in keys if key in SearchConfig.model_fields]


@app.command("rejudge")
def rejudge_command(
    search_id: SearchOpt = None,
    rules_version: Annotated[
        str | None, Opt(help="The task's rules of this version; default: as run.")
    ] = None,
    size_cap: Annotated[int | None, Opt(min=1, help="Another size cap, bytes.")] = None,
    size_cap_scale: Annotated[float | None, Opt(help="The size cap times this, e.g. 0.98.")] = None,
    keep_rule: Annotated[
        str | None, Opt(help="Another keep rule: paired, noise_floor or welch.")
    ] = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Re-judge a recorded search under other rules from its recorded measurements, as a
    derived search; runs they cannot decide are re-run (trial cache first). The source is
    never touched."""
    if keep_rule not in (None, *KEEP_RULES):
        fail(f"unknown --keep-rule {keep_rule!r}: use {', '.join(KEEP_RULES)}")
    store = open_store(ledger, must_exist=True)
    change = RuleChange(
        rules_version=rules_version,
        size_cap_bytes=size_cap,
        size_cap_scale=size_cap_scale,
        keep_rule=keep_rule,
    )
    with errors(DerivationError, *SEARCH_ERRORS, first_line=True):
        sid, derived = rejudge_search(store, search_id, change, _current_rules, _rerun(ledger))
    console.print(
        f"search {derived.search_id}: search {sid} re-judged under {derived.rules_version},"
        f" {derived.events} events; {derived.runs.line()}"
    )
    for seq, was, now in derived.changed:
        console.print(f"  #{seq}: {was} -> {now}")
    if not derived.changed:
        console.print("  every trial ends as it did")


def _rerun(ledger: str) -> Callable[[str, bool], Rerun]:
    """The live side a re-judgement re-runs on: the task folder, on this machine."""
    from runners.local import LocalRunner

    return lambda task, sandbox: Rerun(task_evaluator(task, ledger, sandbox), LocalRunner())


def _current_rules(task: str) -> TaskSpec | None:
    """The task folder's rules as they are now, if the task still loads here."""
    try:
        return load(task).spec
    except TaskError:
        return None


@app.command("counterfactual")
def counterfactual_command(
    policy: Annotated[str, Opt(help="specialists, generalist, random or optuna.")],
    search_id: SearchOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Run another policy on a recorded search's task, seed recipe, seed and budget, as a
    search linked to it; runs any search in the ledger measured come from the cache."""
    store = open_store(ledger, must_exist=True)
    with errors(DerivationError, *SEARCH_ERRORS):
        source, ran = counterfactual(store, search_id, policy, tools(ledger)[0])
    summary(store, ran)
    console.print(f"counterfactual of search {source} under --policy {policy}")


@app.command("replay")
def replay_command(search_id: SearchOpt = None, ledger: LedgerOpt = DEFAULT_LEDGER) -> None:
    """Re-derive a search from its log: projections, every loop decision, and the offline
    specialists' proposals; report the first divergence."""
    store = open_store(ledger, must_exist=True)
    for line in rederive.checks(store, search_id, read_model(ledger, store)):
        if line.failed:
            fail(line.text)
        console.print(line.text)


@app.command("reproduce")
def reproduce_command(
    trial: Annotated[int, typer.Argument(help="Trial number to run again.")],
    search_id: SearchOpt = None,
    ledger: LedgerOpt = DEFAULT_LEDGER,
) -> None:
    """Re-execute a trial with its recorded seed, threads and budgets; record the comparison."""
    from runners.local import LocalRunner

    store = open_store(ledger, must_exist=True)
    with errors(*SEARCH_ERRORS):
        done = workspace.reproduce_trial(
            store, search_id, trial, open_evaluator(ledger), LocalRunner()
        )
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


import cli_read  # noqa: E402, F401  (its commands join the app after these, in --help)

if __name__ == "__main__":
    app()
