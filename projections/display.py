"""What people see in the terminal: leaderboard, lineage tree, one trial, live progress."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import duckdb
from rich import box
from rich.console import Group
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

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


def noise_line(con: duckdb.DuckDBPyConnection, search_id: UUID) -> str:
    """The seed recipe's noise, as the baseline measured it (all `--trials 0` is for)."""
    row = con.execute(
        "SELECT noise_sigma, noise_floor, len(noise_scores) FROM searches WHERE search_id = ?",
        [search_id],
    ).fetchone()
    if row is None or row[0] is None:
        return "seed recipe's noise: not measured"
    sigma, floor, runs = row
    return f"seed recipe's noise: σ {sigma:.5g} over {runs} seeds (noise floor {floor:.5g})"


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


def trial_row(con: duckdb.DuckDBPyConnection, search_id: UUID, which: str) -> dict[str, Any]:
    """One trial's row of the trials table, by number or id prefix."""
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
    return dict(zip(names, found[0], strict=True))


def trial_detail(
    con: duckdb.DuckDBPyConnection, search_id: UUID, which: str, piped: bool = False
) -> Group:
    """Piped, the diff is plain text: no colours, no padding, no wrapping (for patch)."""
    r = trial_row(con, search_id, which)
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
        parts.append(Text(r["diff"]) if piped else Syntax(r["diff"], "diff", word_wrap=True))
    if r.get("log_excerpt"):
        parts.append("[bold]log excerpt[/]\n" + r["log_excerpt"])
    return Group(*parts)


def result_table(result: Any) -> Table:
    """An audit result as a table; values shown as their JSON-friendly text."""
    from projections.audit import plain

    table = Table(show_lines=False)
    for column in result.columns:
        table.add_column(column, overflow="fold")
    for row in result.rows:
        table.add_row(*("" if v is None else str(plain(v)) for v in row))
    return table


def task_rows(specs: list[Any]) -> Any:
    """One row per task (TaskSpec), every field in its own column."""
    from projections.audit import Result

    columns = ["task", "metric", "direction", "baseline", "baseline_train_s", "train_cap_s"]
    columns += ["size_cap_bytes", "gate", "roster", "rules_version"]
    rows = [
        (
            spec.name,
            spec.metric.name,
            spec.metric.direction,
            spec.baseline.score,
            spec.baseline.train_seconds,
            spec.budgets.train_seconds,
            spec.size_cap_bytes,
            _gate(spec),
            ", ".join(e.key for e in spec.roster),
            spec.rules_version,
        )
        for spec in specs
    ]
    return Result(columns, rows)


def task_table(specs: list[Any]) -> Table:
    """Two columns, so that 80 terminal columns read well: the name, then the facts as
    wrapped words (never a word cut in two)."""
    table = Table(title="Built-in tasks", box=box.SIMPLE_HEAD)
    table.add_column("task", no_wrap=True, style="bold")
    table.add_column("metric, baseline, caps, gate, roster, rules", overflow="fold")
    for spec in specs:
        base = spec.baseline
        facts = [
            f"{spec.metric.name} ({spec.metric.direction})",
            "baseline not measured"
            if base.score is None
            else f"baseline {base.score:g} ({base.train_seconds or 0:g} s train)",
            _train_cap(spec.budgets),
        ]
        if spec.size_cap_bytes:
            facts.append(f"size cap {spec.size_cap_bytes:,} B")
        if spec.gate:
            facts.append(f"gate: {_gate(spec)}")
        facts.append("roster: " + " ".join(e.key for e in spec.roster))
        facts.append(f"rules {spec.rules_version}")
        table.add_row(spec.name, "; ".join(facts))
    return table


def _train_cap(budgets: Any) -> str:
    unit = "CPU-s" if budgets.clock == "cpu" else "s"
    cap = f"train cap {budgets.train_seconds:g} {unit}"
    if budgets.seed_multiple:  # the absolute cap bounds the baseline; trials get m × its cost
        cap += f" (trials: {budgets.seed_multiple:g}× the seed's own cost)"
    return cap


def _gate(spec: Any) -> str:
    gate = spec.gate
    if gate is None:
        return ""
    return f"{gate.metric} {gate.direction.replace('_', ' ')} {gate.threshold:g}"
