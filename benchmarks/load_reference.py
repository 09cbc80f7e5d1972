"""CPU-seconds under load: how much other work on the machine inflates a training run's
measured CPU time, and how much a reference measured beside it would take back.

    python benchmarks/load_reference.py --task core-cpu [--rounds 3] [--hogs 2]

The question behind it: a search judges a run against a CPU-second cap, and sustained
load beside it (a test suite, another search) made the same work read dearer, enough to
flip verdicts at the cap (docs/BENCHMARKS.md). A candidate rule would divide a run's
CPU-s by a fixed reference workload's, timed just before and after it. This measures
whether that helps, before any rule is built on it.

Each round trains the task's seed recipe (training seed 0) through the real pipeline and
sandbox under three conditions, in turn so that slow drift hits all alike: the machine
as it is, beside `--hogs` pure-Python busy loops, and beside `--hogs` torch matmul loops.
Around each run a fixed torch probe (this script's code, not the recipe's; one thread,
the least of 5 timings) is timed in a process of its own. It prints each run, then per
condition the mean training CPU-s and training/probe, each as a ratio to the unloaded
condition's. A run that fails is fatal: no figure for work that did not run. Writes the
raw runs as JSON under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.noise_spread import run_seed_recipe  # noqa: E402

PROBE = """
import sys, time, torch
torch.set_num_threads(1)
torch.manual_seed(0)
emb, head = torch.nn.Embedding(256, 128), torch.nn.Linear(128, 256)
layer = torch.nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)
params = [*emb.parameters(), *layer.parameters(), *head.parameters()]
opt = torch.optim.AdamW(params, lr=1e-3)
x = torch.randint(0, 256, (16, 64))
def timed(steps):
    start = time.process_time()
    for _ in range(steps):
        logits = head(layer(emb(x))).reshape(-1, 256)
        loss = torch.nn.functional.cross_entropy(logits, x.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.process_time() - start
timed(3)
print(min(timed(20) for _ in range(5)))
"""
HOGS = {
    "spin": "while True: pass",
    "torch": "import torch\ntorch.set_num_threads(1)\na = torch.randn(1024, 1024)\n"
    "while True: a @ a",
}
CONDITIONS = ("alone", "spin", "torch")


def probe() -> float:
    """The probe's CPU-s for its fixed work (the least of 5 timings)."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", PROBE], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the probe failed: {done.stderr.strip()[-500:]}")
    return float(done.stdout.strip())


@contextmanager
def beside(condition: str, count: int) -> Iterator[None]:
    """`count` busy processes of `condition`'s kind for the block (none when alone)."""
    code = HOGS.get(condition)
    hogs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)] if code else []
    try:
        time.sleep(1.0 if hogs else 0.0)  # let them start before the probe
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def one_run(task: str, condition: str, hogs: int) -> dict[str, Any]:
    with beside(condition, hogs), tempfile.TemporaryDirectory() as tmp:
        before = probe()
        _evaluator, report, _outcome = run_seed_recipe(task, (0,), Path(tmp), smoke=False)
        after = probe()
    train = report.seeds[0].train
    reference = (before + after) / 2
    return {
        "condition": condition,
        "train_cpu_s": train.cpu_s,
        "probe_before_s": before,
        "probe_after_s": after,
        "per_probe": train.cpu_s / reference,
        "load_start": train.load_start,
        "load_end": train.load_end,
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per condition: mean training CPU-s and training/probe, and each over `alone`'s."""
    means = {
        c: {key: statistics.fmean(r[key] for r in runs if r["condition"] == c)
            for key in ("train_cpu_s", "per_probe")}
        for c in CONDITIONS
    }  # fmt: skip
    alone = means["alone"]
    for c in CONDITIONS:
        means[c]["raw_ratio"] = means[c]["train_cpu_s"] / alone["train_cpu_s"]
        means[c]["normalised_ratio"] = means[c]["per_probe"] / alone["per_probe"]
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="core-cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    runs = []
    for _round in range(args.rounds):
        for condition in CONDITIONS:
            run = one_run(args.task, condition, args.hogs)
            runs.append(run)
            print(
                f"{condition:6s} train {run['train_cpu_s']:6.2f} CPU-s, probe"
                f" {run['probe_before_s']:.3f}/{run['probe_after_s']:.3f}, train/probe"
                f" {run['per_probe']:.2f}",
                flush=True,
            )
    means = summary(runs)
    for condition, row in means.items():
        print(
            f"{condition:6s} mean train {row['train_cpu_s']:.2f} CPU-s (x{row['raw_ratio']:.3f}"
            f" of alone); train/probe {row['per_probe']:.2f} (x{row['normalised_ratio']:.3f})"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%MZ")
    out = args.out / f"load-reference-{stamp}.json"
    record = {"task": args.task, "hogs": args.hogs, "runs": runs, "summary": means}
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"raw results: {out}")


if __name__ == "__main__":
    main()
