"""What people see in the terminal: leaderboard, lineage tree, one trial, live progress."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import duckdb
from rich import box
from rich.console import Console, Group
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from domain import search as s
from domain import trial as t
from domain.base import DomainEvent
from domain.labels import TERMINAL_STATUSES
from domain.progress import BASELINE, SearchState
from projections import final_test
from projections.verdicts import final_test_detail, paired_test

STATUS_STYLE = {
    "keep": "bold green",
    "discard": "white",
    "crash": "red",
    "preflight_crash": "red",
    "size_blocked": "magenta",
    "train_budget_overrun": "yellow",
    "eval_budget_overrun": "yellow",
    "disqualified": "cyan",
    "harness_abort": "dim",
}


class UnknownSearchError(LookupError):
    pass


def resolve_search(con: duckdb.DuckDBPyConnection, prefix: str | None) -> UUID:
    if prefix:
        rows = con.execute(
            "SELECT search_id FROM searches WHERE CAST(search_id AS VARCHAR)"
            " LIKE ? ORDER BY ordinal",
            [prefix.lower() + "%"],
        ).fetchall()
    else:
        rows = con.execute(
            "SELECT search_id FROM searches ORDER BY ordinal DESC LIMIT 1"
        ).fetchall()
    if len(rows) != 1:
        raise UnknownSearchError(
            f"no single search matches {prefix!r}" if prefix else "the ledger holds no search yet"
        )
    return UUID(str(rows[0][0]))


def leaderboard(
    con: duckdb.DuckDBPyConnection, search_id: UUID, width: int = 120, limit: int = 10
) -> Group:
    """The final test's line first, then the trials ranked on the validation split."""
    test = Text(final_test.line(final_test.read(con, search_id)), style="bold")
    return Group(test, _ranking(con, search_id, width, limit))


def _ranking(con: duckdb.DuckDBPyConnection, search_id: UUID, width: int, limit: int) -> Table:
    metric = con.execute("SELECT metric FROM searches WHERE search_id = ?", [search_id]).fetchone()
    # No vertical rules: in 80 columns every character goes to the numbers first.
    table = Table(
        title=f"Leaderboard ({metric[0] if metric else 'score'})",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    rows = con.execute(
        "SELECT rank, seq, specialist, status, score, delta, artifact_bytes, train_s, hypothesis"
        " FROM leaderboard WHERE search_id = ? ORDER BY rank LIMIT ?",
        [search_id, limit],
    ).fetchall()
    cells = [
        (
            f"#{seq}",
            who,
            status,
            f"{score:.5f}",
            "" if delta is None else f"{delta:+.5f}",
            "" if size is None else f"{int(size):,}",
            "" if train_s is None else f"{train_s:.1f}",
        )
        for _, seq, who, status, score, delta, size, train_s, _ in rows
    ]
    names = ("trial", "who", "status", "score", "Δ best", "bytes", "train s")  # rows: by rank
    used = 0
    for i, name in enumerate(names):
        column_width = max([len(name), *(len(row[i]) for row in cells)])
        table.add_column(name, no_wrap=True)
        used += column_width + 3  # padding and the rule between columns
    # Rich squeezes every column of a table too wide for the console, numbers included;
    # sized to what is left, only the hypothesis is cut.
    left = width - used - 2
    with_hypothesis = left >= 10  # else too narrow for any of it: `cli.py show N` has it
    if with_hypothesis:
        table.add_column("hypothesis", overflow="ellipsis", no_wrap=True, max_width=min(left, 60))
    for row, (*_, hyp) in zip(cells, rows, strict=True):
        status = f"[{STATUS_STYLE.get(row[2], '')}]{row[2]}"
        hypothesis = ((hyp or "")[:70],) if with_hypothesis else ()
        table.add_row(*row[:2], status, *row[3:], *hypothesis)
    return table


def status_counts(con: duckdb.DuckDBPyConnection, search_id: UUID) -> str:
    rows = con.execute(
        "SELECT status, count(*) FROM trials WHERE search_id = ? AND specialist <> 'baseline'"
        " GROUP BY 1 ORDER BY 2 DESC, 1",
        [search_id],
    ).fetchall()
    counts = ", ".join(f"{status} {count}" for status, count in rows)
    yields = con.execute("SELECT yields FROM searches WHERE search_id = ?", [search_id]).fetchone()
    if yields and yields[0]:  # no trial: a specialist had no untried edit left
        counts += f"; turns yielded, out of ideas: {yields[0]}"
    return counts


def lineage_tree(con: duckdb.DuckDBPyConnection, search_id: UUID) -> Tree:
    rows = con.execute(
        "SELECT trial_id, parent_id, seq, specialist, status, score, delta, hypothesis"
        " FROM trials WHERE search_id = ? ORDER BY seq",
        [search_id],
    ).fetchall()
    nodes: dict[Any, Tree] = {}
    root = Tree(f"search {str(search_id)[:8]}")
    for tid, parent, seq, who, status, score, delta, hyp in rows:
        label = _node_label(seq, who, status, score, delta, hyp)
        holder = nodes.get(parent, root)
        nodes[tid] = holder.add(label)
    return root


def _node_label(
    seq: int,
    who: str,
    status: str,
    score: float | None,
    delta: float | None,
    hyp: str | None,
) -> str:
    style = STATUS_STYLE.get(status, "")
    value = "" if score is None else f" {score:.5f}"
    change = "" if delta is None else f" ({delta:+.5f})"
    return f"#{seq} [{style}]{status}[/]{value}{change} {who}: {(hyp or '')[:70]}"


def trial_detail(con: duckdb.DuckDBPyConnection, search_id: UUID, which: str) -> Group:
    column = "seq = ?" if which.isdigit() else "CAST(trial_id AS VARCHAR) LIKE ?"
    arg: Any = int(which) if which.isdigit() else which.lower() + "%"
    sql = f"SELECT * FROM trials WHERE search_id = ? AND {column}"  # noqa: S608 - a literal
    row = con.execute(sql, [search_id, arg])
    names = [d[0] for d in row.description or []]
    found = row.fetchall()
    if len(found) != 1:
        raise UnknownSearchError(
            f"no single trial matches {which!r} in search {str(search_id)[:8]}"
        )
    r = dict(zip(names, found[0], strict=True))
    test = final_test.read(con, search_id)
    facts = Table.grid(padding=(0, 2))
    for key in (
        "seq",
        "trial_id",
        "specialist",
        "agent",
        "parent_seq",
        "idea",
        "status",
        "score",
        "delta",
        "reason",
        "surfaces_touched",
        "artifact_bytes",
        "train_s",
        "eval_s",
        "cpu_s",
        "peak_rss_mb",
        "sandbox",
        "rules_version",
        "seeds",
    ):
        if r.get(key) is not None:
            facts.add_row(key, str(r[key]))
    parts: list[Any] = [
        Text(final_test.line(test), style="bold"),
        f"[bold]#{r['seq']} {r['hypothesis']}[/]",
        facts,
    ]
    if test.event is not None and r["seq"] in test.sides:
        parts.extend(final_test_detail(test.event))
    if r.get("judge_test"):
        parts.extend(paired_test(r["judge_rule"], json.loads(r["judge_test"])))
    elif r.get("judge_numbers") and r["judge_numbers"] != "{}":
        parts.append(f"judged by {r['judge_rule']}: {json.dumps(json.loads(r['judge_numbers']))}")
    if r.get("evidence") and r["evidence"] != "{}":
        parts.append(f"evidence: {r['evidence']}")
    if r.get("diff"):
        parts.append(Syntax(r["diff"], "diff", word_wrap=True))
    if r.get("log_excerpt"):
        parts.append("[bold]log excerpt[/]\n" + r["log_excerpt"])
    return Group(*parts)


class LiveProgress:
    """A progress bar fed by loop events: trials done, current best, last label."""

    def __init__(self, console: Console, trials: int, metric: str, state: SearchState) -> None:
        self.metric = metric
        done = sum(
            1
            for tr in state.trials.values()
            if tr.specialist != BASELINE and tr.status in TERMINAL_STATUSES
        )
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.progress.add_task(
            "trials",
            total=trials,
            completed=done,
            status="running the seed recipe" if not done else f"resumed after {done} trials",
        )

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: DomainEvent, state: SearchState) -> None:
        trial = state.trials.get(event.originator_id)
        if isinstance(event, t.TrialJudged | t.TrialFailed) and trial is not None:
            label = getattr(event, "label", None) or getattr(event, "verdict", "")
            best = state.best
            best_text = (
                f"best #{best.sequence} {self.metric}={best.score:.5f}"
                if best and best.score is not None
                else ""
            )
            line = f"last #{trial.sequence} {trial.specialist}: {label}; {best_text}"
            if trial.specialist != BASELINE:
                self.progress.advance(self.task)
            self.progress.update(self.task, status=line)
            self.progress.console.print(
                f"  #{trial.sequence:<3} {trial.specialist:<10} {label}"
                + (f"  {trial.score:.5f}" if trial.score is not None else "")
                + _reason(event)
            )
        elif isinstance(event, t.TrialExtended) and trial is not None:
            self.progress.console.print(
                f"  #{trial.sequence:<3} {trial.specialist:<10} races on: seed"
                f" {', '.join(map(str, event.seeds))} ({event.test.reason})"
            )
        elif isinstance(event, s.FinalTestLaunched):
            self.progress.update(self.task, status="final test on the test split")
            self.progress.console.print(
                f"  final test: the best and the seed recipe on fresh seeds"
                f" {', '.join(map(str, event.seeds))}, scored on the test split"
            )
        elif isinstance(event, s.FinalTested):
            shown = final_test.FinalTest(event.status, event.model_dump(mode="json"), None)
            self.progress.console.print(Text("  " + final_test.line(shown)))
        elif isinstance(event, s.SearchFinished):
            self.progress.update(self.task, status=f"finished: {event.reason}")


def _reason(event: DomainEvent) -> str:
    if isinstance(event, t.TrialFailed):
        return f"  ({event.reason[:100]})"
    if isinstance(event, t.TrialJudged) and event.test is not None:
        test = event.test
        p = "" if test.p is None else f"p {test.p:.3g}, "
        return f"  Δ {event.delta or 0.0:+.5f} ({p}{len(test.differences)} paired seeds)"
    if isinstance(event, t.TrialJudged) and event.delta is not None:
        return f"  Δ {event.delta:+.5f} (floor {event.numbers.get('floor', 0):.5f})"
    return ""


def result_table(result: Any) -> Table:
    """An audit result as a table; values shown as their JSON-friendly text."""
    from projections.audit import plain

    table = Table(show_lines=False)
    for column in result.columns:
        table.add_column(column, overflow="fold")
    for row in result.rows:
        table.add_row(*("" if v is None else str(plain(v)) for v in row))
    return table


def task_table(tasks: list[Any]) -> Table:
    table = Table(title="Built-in tasks")
    for column in (
        "task",
        "metric",
        "baseline",
        "train cap",
        "size cap",
        "gate",
        "roster",
        "rules",
    ):
        table.add_column(column, overflow="fold")
    for task in tasks:
        spec = task.spec
        base = spec.baseline
        baseline = (
            "not measured"
            if base.score is None
            else f"{base.score:g} ({base.train_seconds or 0:g} s train)"
        )
        gate = (
            f"{spec.gate.metric} {spec.gate.direction.replace('_', ' ')} {spec.gate.threshold:g}"
            if spec.gate
            else ""
        )
        table.add_row(
            spec.name,
            f"{spec.metric.name} ({spec.metric.direction})",
            baseline,
            f"{spec.budgets.train_seconds:g} {'CPU-s' if spec.budgets.clock == 'cpu' else 's'}",
            f"{spec.size_cap_bytes:,} B" if spec.size_cap_bytes else "",
            gate,
            ", ".join(e.key for e in spec.roster),
            spec.rules_version,
        )
    return table
