"""A tiny golf-cpu (30 steps) and one-call trial runs through the real pipeline.

Each trial runs as it does in a search: the trusted pipeline in its own process, the
recipe in the bubblewrap sandbox, the evaluator scoring through a pipe.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from uuid import UUID, uuid4

from domain.ports import JobPlan, Outcome, TrialJob
from domain.reports import RunReport
from evaluators.evaluator import TaskEvaluator
from evaluators.tasks import BUILTIN_ROOT
from runners.local import LocalRunner

Edit = Callable[[str], str]


def tiny_golf(
    root: Path, steps: int = 30, train_seconds: int = 12, split_bytes: int | None = None
) -> Path:
    """A copy of golf-cpu that trains for `steps` steps under a short clock, its noise
    model from 3 seed-recipe runs (the racing cap) rather than 8, to keep tests quick.
    `split_bytes`: validation and test splits of that many bytes (golf-cpu's own split
    rule, through PREPARE_SMALL) instead of 64 KiB each: scoring them is most of a tiny
    trial's cost, and a test of a whole search needs no particular split."""
    knobs, rules = {"STEPS": steps}, {"train_seconds": train_seconds, "noise": 3}
    folder = tiny_task(root, "golf-cpu", knobs, rules, name="tiny-golf")
    if split_bytes is not None:
        (folder / "prepare_small.py").write_text(PREPARE_SMALL)
        toml = folder / "task.toml"
        module = '"-m", "evaluators.golf_cpu.prepare",'
        script = f'"{{task}}/prepare_small.py", "{split_bytes}",'
        assert module in toml.read_text()
        toml.write_text(toml.read_text().replace(module, script))
    return folder


# golf-cpu's prepare reads its split sizes from module constants when it runs.
PREPARE_SMALL = """import sys

from evaluators.golf_cpu import prepare

prepare.VAL_BYTES = prepare.TEST_BYTES = int(sys.argv.pop(1))
prepare.main()
"""


def tiny_task(
    root: Path, task: str, knobs: dict[str, object], rules: dict[str, object], name: str = ""
) -> Path:
    """A copy of a built-in task, named `name` (tiny-<task>): recipe knobs and task.toml
    lines (the first `key = value` at the start of a line) set to the given values."""
    name = name or f"tiny-{task}"
    folder = root / name
    source = BUILTIN_ROOT / task.replace("-", "_")
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
    recipe = folder / "recipe" / "train.py"
    recipe.write_text(_set_lines(recipe.read_text(), knobs))
    toml = folder / "task.toml"
    text = toml.read_text().replace(f'name = "{task}"', f'name = "{name}"')
    toml.write_text(_set_lines(text, rules))
    return folder


def _set_lines(text: str, values: dict[str, object]) -> str:
    for key, value in values.items():
        line = rf"^{key} = [^#\n]*"
        text, found = re.subn(line, f"{key} = {value!r} ", text, count=1, flags=re.M)
        assert found, f"{key} not found"
    return text


def insert_after(anchor: str, code: str) -> Edit:
    """An edit that adds `code` (indented like the anchor line) right after `anchor`."""

    def edit(text: str) -> str:
        line = next(x for x in text.splitlines() if anchor in x)
        indent = line[: len(line) - len(line.lstrip())]
        block = "".join(f"{indent}{row}\n" for row in code.strip("\n").splitlines())
        return text.replace(line + "\n", line + "\n" + block, 1)

    return edit


AT_START = "seed_everything(seed, int(os.environ"  # first line of main()
AFTER_ARTIFACT = '(artifact / "weights.bin").write_bytes(packed)'  # last line of main()


# Every trial a test runs alone is trial 1 of this search, so its run dir is always
# runs/searches/<TEST_SEARCH>/trial-0001 (the adversarial tests fingerprint all but it).
TEST_SEARCH = UUID(int=0)
TRIAL_RUN_DIR = f"searches/{TEST_SEARCH}/trial-0001"


def run_trial(
    task: Path,
    runs: Path,
    edit: Edit,
    sandbox: bool = True,
    seeds: tuple[int, ...] = (0,),
    progress: list[object] | None = None,
) -> tuple[Outcome, RunReport | None]:
    """One trial of `edit(seed recipe)`; its progress samples go to `progress` if given."""
    evaluator = TaskEvaluator.open(str(task), runs, sandbox=sandbox)
    seed_recipe = evaluator.seed_recipe()
    recipe = {"train.py": edit(seed_recipe["train.py"])}
    static = evaluator.check_edit(
        seed_recipe, recipe, evaluator.task.specialist("generalist"), False
    )
    if static is not None:
        return static, None
    job = one_job(evaluator, recipe, seeds)
    samples: list[object] = [] if progress is None else progress
    report = LocalRunner().run(job, lambda seed, batch: samples.extend(batch), threading.Event())
    return evaluator.classify(report, seeds), report


def one_job(
    evaluator: TaskEvaluator, recipe: dict[str, str], seeds: tuple[int, ...], smoke: bool = True
) -> TrialJob:
    """Trial 1 of the tests' search (TEST_SEARCH), on one thread, scored on every seed."""
    plan = JobPlan(
        search_id=TEST_SEARCH,
        trial_id=uuid4(),
        sequence=1,
        recipe=recipe,
        seeds=seeds,
        scoring_seeds=seeds,
        threads=1,
        smoke=smoke,
    )
    return evaluator.job(plan)
