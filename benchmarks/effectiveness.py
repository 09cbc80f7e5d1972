"""Search effectiveness, side by side: specialists with and without lineage, one
generalist, random search and Optuna TPE, each scored by the same evaluator and each
ending with the test-split comparison of its best against the seed recipe.

    python benchmarks/effectiveness.py [--quick] [--trials 24] [--seeds 0 1 2] [--jobs 2]

Every (task, arm, seed) is a real `cli.py search`. A task's searches run one after
another in one ledger (ledgers/<task>/ledger.sqlite under the output folder), so the
trial cache spans its arms and seeds: the seed recipe and early edits that recur are
trained once. `--jobs` tasks run side by side (one core each). A finished search is
skipped and an interrupted one resumed, so the command can be stopped and run again.
A search that ends unfinished on its own (killed, or unable to start) stops the run
with exit 1, so a broken machine does not fail every search after it. Before a machine
goes away, `kill -USR1` the driver: the running searches finish and no new one starts.
On a machine other than the one a stopped search began on, `--abandon-unfinished WHY`
gives such searches up instead (benchmarks/ledger_files.py) and starts them afresh.
When the code an arm's choices depend on changes (the offline policy, say), `--supersede
ID... --why WHY` gives up those finished searches: listed with WHY beside the abandoned
ones, their results moved to `<task>/superseded/`, and their arm and seed run again.

As each search finishes, its result is written to `<task>/<arm>-seed<N>.json` (the raw
record committed under benchmarks/results/effectiveness/), and the tables are
recomputed from those files alone (benchmarks/effect_tables.py). `--quick` runs the
example task with 3 trials per arm (a CI smoke test).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.effect_tables import ARM_ORDER, RESULTS, markdown, summarise  # noqa: E402
from benchmarks.ledger_files import (  # noqa: E402
    abandon,
    abandoned,
    inherit,
    inherited,
    restore,
    snapshot,
)
from benchmarks.outcomes import arm_of, finished, read_searches, search_result  # noqa: E402

ARMS: dict[str, list[str]] = {
    "specialists": [],
    "no-lineage": ["--no-lineage"],
    "generalist": ["--policy", "generalist"],
    "random": ["--policy", "random"],
    "optuna": ["--policy", "optuna"],
}
TASKS = ("golf-cpu", "core-cpu", "airbench-cpu")
QUICK_TASK = str(ROOT / "docs" / "example-task")
TABLES = threading.Lock()  # lanes share summary.json and matplotlib
STOP = threading.Event()  # Ctrl-C or SIGTERM: no new search starts
DRAIN = threading.Event()  # SIGUSR1: the running searches finish, no new one starts
RUNNING: set[subprocess.Popen[bytes]] = set()
# Searches that ended unfinished on their own (killed, could not start, harness_faults):
# the machine is broken, so the run stops rather than fail every search after them.
BROKEN: list[str] = []


def stop(signum: int, frame: object) -> None:
    """Each running search is interrupted as Ctrl-C would (it records the interruption,
    and a later run resumes it), no new one starts, and the lanes snapshot and end."""
    STOP.set()
    for child in list(RUNNING):
        child.send_signal(signal.SIGINT)


def drain(signum: int, frame: object) -> None:
    """Before a machine goes away: let the running searches finish (a search resumed on
    another machine would be judged by caps derived on this one), start no more."""
    DRAIN.set()
    print("draining: the running searches finish, no new one starts", flush=True)


def ledger_of(out: Path, task: str) -> Path:
    return out / "ledgers" / Path(task).name / "ledger.sqlite"


def result_of(out: Path, task: str, arm: str, seed: int) -> Path:
    return out / Path(task).name / f"{arm}-seed{seed}.json"


def find_search(
    ledger: Path, arm: str, seed: int, trials: int
) -> tuple[str, dict[str, Any]] | None:
    """The ledger's search for this arm and seed, if one was started: (id, record)."""
    if not ledger.exists():
        return None
    others = not_ours(ledger)
    for sid, search in read_searches(ledger).items():
        if sid in others:
            continue
        config = search["started"]["config"]
        if arm_of(config) == arm and config["seed"] == seed and config["trials"] == trials:
            return sid, search
    return None


def run_one(task: str, arm: str, seed: int, trials: int, out: Path, extra: list[str]) -> str:
    """One search: started, resumed if a previous run stopped halfway, or skipped if done;
    then its result file is (re)written from the ledger."""
    ledger = ledger_of(out, task)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    name = f"{Path(task).name}/{arm}/seed{seed}"
    found = find_search(ledger, arm, seed, trials)
    if found and finished(found[1]):
        return f"{name}: done already" + _write_result(out, task, found[1])
    base = [sys.executable, str(ROOT / "cli.py"), "search", "--ledger", str(ledger)]
    if found:
        args = ["--resume", "--search", found[0]]
    else:
        args = ["--task", task, "--trials", str(trials), "--seed", str(seed), *ARMS[arm], *extra]
    log = ledger.parent / "searches.log"  # not a pipe: the search outlives a killed driver
    with log.open("a") as sink:
        # Its own session, so a terminal's Ctrl-C reaches it once, through stop().
        child = subprocess.Popen(
            [*base, *args], cwd=ROOT, stdout=sink, stderr=sink, start_new_session=True
        )
        RUNNING.add(child)
        code = child.wait()
        RUNNING.discard(child)
    last = log.read_text().strip().splitlines()[-1:] or ["?"]
    found = find_search(ledger, arm, seed, trials)
    done = found is not None and finished(found[1])
    if not done and not STOP.is_set():
        BROKEN.append(f"{name} (exit {code}: {last[0][:120]})")
        stop(signal.SIGTERM, None)  # the other lanes pause, resumable
    written = _write_result(out, task, found[1]) if found and done else ""
    return f"{name}: exit {code}: {last[0][:120]}{written}"


def _write_result(out: Path, task: str, search: dict[str, Any]) -> str:
    result = search_result(search, Path(task).name)
    path = result_of(out, task, result["arm"], result["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return f" -> {path.relative_to(out)}"


def not_ours(ledger: Path) -> set[str]:
    """Another run's searches, and those given up on: cache sources, not this run's."""
    return inherited(ledger) | set(abandoned(ledger))


def abandon_unfinished(ledger: Path, task: str, reason: str) -> str:
    """Give up this run's unfinished searches (they start afresh); say how many."""
    searches = read_searches(ledger) if ledger.exists() else {}
    others = not_ours(ledger)
    ids = [sid for sid, s in searches.items() if sid not in others and not finished(s)]
    if ids:
        abandon(ledger, ids, reason)
    return f"{Path(task).name}: {len(ids)} unfinished searches abandoned ({reason})"


def supersede(out: Path, task: str, ids: list[str], reason: str) -> str:
    """Give up the searches `ids` this ledger holds as its own, finished or not; say how
    many. Naming the ids (not the arms) keeps a second run from superseding their
    replacements."""
    ledger = ledger_of(out, task)
    searches = read_searches(ledger) if ledger.exists() else {}
    others = not_ours(ledger)
    mine = [sid for sid in ids if sid in searches and sid not in others]
    for sid in mine:
        config = searches[sid]["started"]["config"]
        result = result_of(out, task, arm_of(config), config["seed"])
        if result.exists() and json.loads(result.read_text())["search_id"] == sid:
            aside = result.parent / "superseded" / f"{result.stem}-{sid[:8]}.json"
            aside.parent.mkdir(exist_ok=True)
            result.replace(aside)  # kept for the record, out of the tables
    if mine:
        abandon(ledger, mine, reason)
    return f"{Path(task).name}: {len(mine)} searches superseded ({reason})"


def run_lane(task: str, plan: argparse.Namespace, extra: list[str]) -> None:
    """One task's searches in order, seed by seed (all arms of a seed first, so a stopped
    run leaves whole comparisons); after each, the ledger's snapshot and the tables."""
    ledger = ledger_of(plan.out, task)
    if plan.cache_from:
        count = inherit(ledger, plan.cache_from, Path(task).name)
        print(f"{Path(task).name}: {count} searches inherited as cache sources", flush=True)
    elif restore(ledger):
        print(f"{Path(task).name}: ledger restored from its snapshot", flush=True)
    if plan.abandon_unfinished:
        print(abandon_unfinished(ledger, task, plan.abandon_unfinished), flush=True)
    if plan.supersede:
        print(supersede(plan.out, task, plan.supersede, plan.why), flush=True)
    for seed in plan.seeds:
        for arm in plan.arms:
            if STOP.is_set() or DRAIN.is_set():
                return
            print(run_one(task, arm, seed, plan.trials, plan.out, extra), flush=True)
            snapshot(ledger)
            with TABLES:
                summarise(plan.out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the example task, 3 trials, 1 seed")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--arms", nargs="+", default=list(ARM_ORDER), choices=list(ARMS))
    parser.add_argument("--jobs", type=int, default=2, help="tasks side by side (1 core each)")
    parser.add_argument("--no-cache", action="store_true", help="train every run (cli --no-cache)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--cache-from", type=Path, help="seed each new ledger from this results folder's"
    )
    parser.add_argument(
        "--abandon-unfinished",
        metavar="WHY",
        help="give up every search a previous run left unfinished (another machine), with WHY",
    )
    parser.add_argument(
        "--supersede",
        nargs="+",
        metavar="ID",
        default=[],
        help="give up these searches (the code their arm depends on changed); needs --why",
    )
    parser.add_argument("--why", help="the reason --supersede records")
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="only snapshot the ledgers and write their finished searches' results",
    )
    args = parser.parse_args()
    if args.supersede and not args.why:
        parser.error("--supersede needs --why: the reason is the record")
    if args.quick:
        args.tasks, args.trials, args.seeds = [QUICK_TASK], 3, [0]
        args.out = args.out.with_name(args.out.name + "-quick")
    extra = ["--no-cache"] if args.no_cache else []
    if args.snapshot:  # stopping for the day: keep what the ledgers hold
        for task in args.tasks:
            ledger = ledger_of(args.out, task)
            if ledger.exists():
                others = not_ours(ledger)  # inherited, abandoned or superseded: not tabulated
                for sid, search in read_searches(ledger).items():
                    if finished(search) and sid not in others:
                        print(f"{sid[:8]}" + _write_result(args.out, task, search))
                print(snapshot(ledger))
        return
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, drain)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        lanes = [pool.submit(run_lane, task, args, extra) for task in args.tasks]
        for lane in lanes:
            lane.result()
    summary = summarise(args.out)
    if summary["table"]:
        print(markdown(summary["table"]))
        print("\n".join(f"- {line}" for line in summary["verdicts"]))
    else:
        print("no search has finished yet: nothing to tabulate")
    if BROKEN:
        print(
            f"stopped: {BROKEN[0]} did not finish on its own; fix the cause, then run the"
            " same command again to resume",
            file=sys.stderr,
        )
        sys.exit(1)
    if STOP.is_set():
        print("stopped: run the same command again to resume", file=sys.stderr)
        sys.exit(130)
    if DRAIN.is_set():
        print("drained: run the same command again to go on", file=sys.stderr)


if __name__ == "__main__":
    main()
