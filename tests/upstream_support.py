"""Upstream adapter tests: fixture logs replayed on a synthetic clock, fake checkouts.

Fixtures (tests/fixtures/upstream/*.log) are short synthetic logs written to the
upstream formats, with `#sleep`, `#write`, `#spawn` and `#exit` directives that
fake_upstream.py acts on. `replay` feeds a fixture to a watcher the way the wrapper
does (a stop check after every line and every POLL_S of silence) without waiting;
`fake_task` makes a real task folder with `init` from a fake checkout whose recipe
files are fake_upstream.py, so the wrapper and the pipeline run real processes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from evaluators.upstream.adapters import watch_for
from evaluators.upstream.config import Config, Phases
from evaluators.upstream.init import make_task
from evaluators.upstream.run import POLL_S
from evaluators.upstream.tracebacks import Tracebacks
from evaluators.upstream.watch import Exit, Sample, Watch

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "upstream"
FAKE = FIXTURES / "fake_upstream.py"
WORK = Path("/trial/work")  # what {cwd} stands for in a replay
STOPPED_RC = -15  # a run the wrapper stopped dies of its SIGTERM

RECIPES = {
    "parameter-golf": ["train_gpt.py"],
    "nanochat-d12": [
        "scripts/base_train.py",
        "nanochat/gpt.py",
        "nanochat/optim.py",
        "nanochat/dataloader.py",
        "nanochat/fp8.py",
        "nanochat/flash_attention.py",
    ],
    "airbench96": ["airbench96_faster.py"],
}
LAUNCH = {
    "parameter-golf": ["{python}", "train_gpt.py"],
    "nanochat-d12": ["{python}", "-m", "scripts.base_train", "--", "--depth=12"],
    "airbench96": ["{python}", "airbench96_faster.py"],
}


def watch(adapter: str, phases: Phases | None = None) -> Watch:
    config = Config(adapter=adapter, launch=(), phases=phases or Phases())
    return watch_for(config)


def replay(watcher: Watch, fixture: str, smoke: bool = False) -> tuple[list[Sample], Exit]:
    """Feed a fixture as the wrapper would: the samples and how the run ended."""
    clock, samples, tracebacks = 0.0, [], Tracebacks(WORK)
    for line in (FIXTURES / fixture).read_text().splitlines():
        if line.startswith("##"):
            continue
        if line.startswith("#"):
            word, *args = line[1:].split()
            if word == "exit":
                return samples, Exit(int(args[0]), clock, "", tracebacks.root_cause())
            if word == "sleep":
                until = clock + float(args[0])
                while clock < until:
                    clock = min(until, clock + POLL_S)
                    if reason := watcher.stop_reason(clock, smoke):
                        return samples, Exit(STOPPED_RC, clock, reason, tracebacks.root_cause())
            continue
        text = line.replace("{cwd}", str(WORK))
        tracebacks.feed(text)
        if sample := watcher.feed(text, clock):
            samples.append(sample)
        if reason := watcher.stop_reason(clock, smoke):
            return samples, Exit(STOPPED_RC, clock, reason, tracebacks.root_cause())
    return samples, Exit(0, clock, "", tracebacks.root_cause())


def fake_checkout(root: Path, adapter: str) -> tuple[Path, Path]:
    """A checkout whose recipe files all replay FAKE_LOG, and a data folder."""
    checkout, data = root / "checkout", root / "data"
    for name in RECIPES[adapter]:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(FAKE.read_text())
    if adapter == "nanochat-d12":  # support and protected files, and a base dir
        (checkout / "nanochat" / "common.py").write_text("PRISTINE = True\n")
        (checkout / "nanochat" / "core_eval.py").write_text("PRISTINE = True\n")
        (checkout / "scripts" / "base_eval.py").write_text("PRISTINE = True\n")
        for folder in ("tokenizer", "eval_bundle", "base_checkpoints"):
            (data / folder).mkdir(parents=True)
    data.mkdir(exist_ok=True)
    return checkout, data


def fake_task(root: Path, adapter: str, fixture: str, **changes: Any) -> Path:
    """A task folder made by `init` from a fake checkout that replays `fixture`.

    `changes`: `phases` (dict) and other upstream.json keys; `toml` (a list of
    (old, new) replacements in task.toml).
    """
    checkout, data = fake_checkout(root, adapter)
    out = make_task(
        adapter,
        checkout,
        data,
        Path(sys.executable),
        root / "task",
        env={"FAKE_LOG": str(FIXTURES / fixture)},
        launch=LAUNCH[adapter],
        nproc=1,
    )
    config = json.loads((out / "upstream.json").read_text())
    config["phases"].update(changes.pop("phases", {}))
    for old, new in changes.pop("toml", []):
        toml = out / "task.toml"
        assert old in toml.read_text(), old
        toml.write_text(toml.read_text().replace(old, new))
    config.update(changes)
    (out / "upstream.json").write_text(json.dumps(config))
    return out
