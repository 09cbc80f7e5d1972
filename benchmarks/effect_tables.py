"""The effectiveness tables and plots, from the committed per-search JSON alone.

    python benchmarks/effect_tables.py [RESULTS_DIR]

Reads every `<task>/<arm>-seed<N>.json` under the results folder (default
benchmarks/results/effectiveness), writes summary.json and best-so-far plots beside
them, and prints the Markdown tables docs/BENCHMARKS.md quotes. Nothing here trains or
opens a ledger, so anyone can recompute the tables from the committed results.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "effectiveness"
ARM_ORDER = ("specialists", "no-lineage", "generalist", "random", "optuna")


def load_results(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/*-seed*.json"))]


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values) if values else None,
        "sd": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values, default=None),
        "max": max(values, default=None),
        "values": values,
    }


def table(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task and arm: test- and validation-split improvement over the seeds, keeps,
    outcome labels, CPU-hours and the trial cache's share of runs."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result["task"], result["arm"]), []).append(result)
    rows: dict[str, dict[str, Any]] = {}
    for (task, arm), runs in sorted(groups.items()):
        runs.sort(key=lambda r: r["seed"])
        tests = [
            r["test"]["improvement_pct"]
            for r in runs
            if (r["test"] or {}).get("improvement_pct") is not None
        ]
        vals = [r["val_improvement_pct"] for r in runs if r["val_improvement_pct"] is not None]
        labels: Counter[str] = Counter()
        for r in runs:
            labels.update(r["labels"])
        trained = sum(r["runs"]["trained"] for r in runs)
        reused = sum(r["runs"]["reused"] for r in runs)
        cpu = sum(r["cpu_s"]["trials"] + r["cpu_s"]["final_test"] for r in runs)
        rows.setdefault(task, {})[arm] = {
            "seeds": [r["seed"] for r in runs],
            "test_improvement_pct": _spread(tests),
            "val_improvement_pct": _spread(vals),
            "test_held": sum(bool((r["test"] or {}).get("held")) for r in runs),
            "test_best_failed": sum(bool((r["test"] or {}).get("best_failed")) for r in runs),
            "keeps_per_search": statistics.fmean(r["keeps"] for r in runs),
            "trials_asked": runs[0]["trials_asked"],
            "labels": dict(labels),
            "exhausted": sum(r["exhausted"] for r in runs),
            "failed_repeats": sum(r["failed_repeats"] for r in runs),
            "cpu_hours": cpu / 3600.0,
            "runs_trained": trained,
            "runs_reused": reused,
        }
    return rows


def _cell(spread: dict[str, Any]) -> str:
    if spread["mean"] is None:
        return "–"
    sd = f" ± {spread['sd']:.2f}" if spread["sd"] is not None else ""
    return f"{spread['mean']:+.2f}{sd} (n={len(spread['values'])})"


SECTIONS = (
    ("Test-split improvement of the final best over the seed recipe, %", "test"),
    ("Validation-split improvement of the best kept trial, %", "val"),
    (
        "Keeps per search, final tests held (and bests that failed there), CPU-hours, cache share",
        "costs",
    ),
)


def markdown(rows: dict[str, dict[str, Any]]) -> str:
    """One table per section: a row per task, a column per arm (mean ± sd over seeds)."""
    arms = [a for a in ARM_ORDER if any(a in by_arm for by_arm in rows.values())]
    head = "| task | " + " | ".join(arms) + " |\n|---|" + "---|" * len(arms) + "\n"
    parts = []
    for title, kind in SECTIONS:
        parts += [f"\n{title}:\n\n", head]
        for task, by_arm in rows.items():
            cells = [_section_cell(by_arm[a], kind) if a in by_arm else "–" for a in arms]
            parts.append(f"| {task} | " + " | ".join(cells) + " |\n")
    return "".join(parts)


def per_search(results: list[dict[str, Any]]) -> str:
    """A row per search: what its final test said, and why when the best failed there."""
    lines = [
        "| task | arm | seed | rules | val % | test | test % | keeps | outcomes | CPU-h"
        " | reused runs | re-measured seeds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r["task"], r["seed"], ARM_ORDER.index(r["arm"]))):
        test = r["test"] or {}
        status = test.get("status", "–") + (
            f" ({test['best_failed']})" if test.get("best_failed") else ""
        )
        gain = test.get("improvement_pct")
        outcomes = ", ".join(f"{n} {label}" for label, n in sorted(r["labels"].items()))
        cpu = (r["cpu_s"]["trials"] + r["cpu_s"]["final_test"]) / 3600.0
        runs = r["runs"]["reused"] + r["runs"]["trained"]
        lines.append(
            f"| {r['task']} | {r['arm']} | {r['seed']} | {r.get('rules_version') or '–'} "
            f"| {_num(r['val_improvement_pct'])} "
            f"| {status} | {_num(gain)} | {r['keeps']}/{r['trials_asked']} | {outcomes} "
            f"| {cpu:.2f} | {r['runs']['reused']}/{runs} "
            f"| {r['runs'].get('remeasured_seeds', '–')} |"
        )
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _section_cell(row: dict[str, Any], kind: str) -> str:
    if kind == "costs":
        return _costs(row)
    return _cell(row[f"{kind}_improvement_pct"])


def _costs(row: dict[str, Any]) -> str:
    runs = row["runs_trained"] + row["runs_reused"]
    share = row["runs_reused"] / runs if runs else 0.0
    return (
        f"{row['keeps_per_search']:.1f}/{row['trials_asked']} keeps, "
        f"{row['test_held']}/{len(row['seeds'])} held "
        f"({row['test_best_failed']} best failed on test), {row['cpu_hours']:.2f} CPU-h, "
        f"cache {share:.0%}"
    )


def verdicts(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The issue's targets, task by task: lineage specialists against each other arm on the
    mean test improvement, and whether the gap exceeds the larger of the two sds."""
    lines = []
    for task, by_arm in rows.items():
        mine = by_arm.get("specialists", {}).get("test_improvement_pct")
        for other in ("random", "optuna", "no-lineage", "generalist"):
            theirs = by_arm.get(other, {}).get("test_improvement_pct")
            if not mine or not theirs or mine["mean"] is None or theirs["mean"] is None:
                continue
            gap = mine["mean"] - theirs["mean"]
            sd = max(mine["sd"] or 0.0, theirs["sd"] or 0.0)
            word = "beat" if gap > 0 else "lost to" if gap < 0 else "tied"
            clear = "beyond" if abs(gap) > sd and sd > 0 else "within"
            sizes = f"n={len(mine['values'])}, {len(theirs['values'])}"
            lines.append(
                f"{task}: specialists {word} {other} by {gap:+.2f} points "
                f"({clear} the larger sd {sd:.2f}; {sizes})"
            )
    return lines


def plots(results: list[dict[str, Any]], folder: Path) -> None:
    """Best-so-far validation improvement per trial: the mean over seeds and its range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for task in sorted({r["task"] for r in results}):
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for arm in ARM_ORDER:
            curves = [_gains(r) for r in results if r["task"] == task and r["arm"] == arm]
            curves = [c for c in curves if c]
            if not curves:
                continue
            width = max(len(c) for c in curves)
            padded = [c + [c[-1]] * (width - len(c)) for c in curves]  # an early end keeps its best
            columns = list(zip(*padded, strict=True))
            steps = range(1, width + 1)
            ax.plot(steps, [statistics.fmean(c) for c in columns], label=f"{arm} (n={len(curves)})")
            ax.fill_between(steps, [min(c) for c in columns], [max(c) for c in columns], alpha=0.15)
        ax.set_xlabel("trial")
        ax.set_ylabel("best-so-far val improvement, % (mean; band: range)")
        ax.set_title(task)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / f"best-so-far-{task}.png", dpi=110)
        plt.close(fig)


def _gains(result: dict[str, Any]) -> list[float]:
    base, lower = result["baseline_score"], result["lower_is_better"]
    if not base:
        return []
    return [100.0 * ((base - b) if lower else (b - base)) / abs(base) for b in result["curve"]]


def summarise(folder: Path) -> dict[str, Any]:
    results = load_results(folder)
    rows = table(results)
    summary = {"table": rows, "verdicts": verdicts(rows), "searches": len(results)}
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    plots(results, folder)
    return summary


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    if not any(folder.glob("*/*-seed*.json")):
        sys.exit(f"no search results under {folder}: nothing to tabulate")
    summary = summarise(folder)
    print(markdown(summary["table"]))
    print("\nEach search:\n\n" + per_search(load_results(folder)))
    print("\n".join(f"- {line}" for line in summary["verdicts"]))


if __name__ == "__main__":
    main()
