"""CLI start-up, side by side in one run: `cli.py --help` and `cli.py audit` on a small
ledger, against a bare interpreter and an interpreter that imports the Anthropic SDK
(what each command paid before the SDK was imported lazily).

    python benchmarks/startup.py [--repeats 7]

Each command runs `--repeats` times, interleaved so a busy spell hits all of them; the
median wall time of each is reported, with its ratio to the bare interpreter. The audit
must print its row, or the benchmark exits 1 with no figure. Writes
benchmarks/results/startup-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import scripted_loop  # noqa: E402 - a small real ledger


def commands(ledger: str) -> dict[str, list[str]]:
    py, cli = sys.executable, str(ROOT / "cli.py")
    return {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import anthropic'": [py, "-c", "import anthropic"],
        "cli.py --help": [py, cli, "--help"],
        "cli.py audit": [py, cli, "audit", "select count(*) from trials", "--ledger", ledger],
    }


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    spent = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:3])} failed: {done.stderr.strip()[-300:]}")
    if "audit" in argv and "7" not in done.stdout:  # the baseline and 6 trials
        raise SystemExit("the audit printed no count: no figure")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        loop, _store, ledger = scripted_loop(Path(tmp), trials=6)
        loop.run()
        runs = commands(ledger)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, argv in runs.items():
                times[name].append(timed(argv))
    bare = statistics.median(times["python -c pass"])
    rows = {name: statistics.median(t) for name, t in times.items()}
    for name, median in rows.items():
        print(f"{name:34} median {median:6.3f} s  ({median / bare:5.1f}x bare python)")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"medians_s": rows, "runs_s": times, "load": os.getloadavg(), "when": stamp}
    (out / f"startup-{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
