"""Setting up a trial: prepared data, fresh work dirs, harness scripts, commands, env.

The recipe is staged once per trial into `recipe/`, which no run writes to. Every run
(the import check, the smoke run, each seed) gets a fresh copy of it in a work dir of
its own, the only folder that run's sandbox sees writable, removed once the run's
artifact is taken: nothing one run writes is there for any later run. What provenance
needs stays: recipe/, logs/ and artifacts/ (the harness's copies).

Harness scripts are copied into each trial's own read-only folder on every trial, so a
recipe that ships a file with the same name cannot replace them (the paper re-copies its
support scripts before each run for the same reason).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from domain.ports import TrialJob
from evaluators.tasks import Task

HARNESS_SCRIPTS = Path(__file__).resolve().parent / "scripts"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class DataPreparationError(RuntimeError):
    pass


ARTIFACT = "artifact"  # the folder, in each run's work dir, where the recipe writes


@dataclass(frozen=True)
class TrialPaths:
    run_dir: Path
    recipe: Path  # the staged recipe: every run starts from a copy
    logs: Path
    harness: Path

    def work(self, run: str) -> Path:
        return self.run_dir / "work" / run

    def artifact(self, seed: int) -> Path:
        """The harness's copy of a seed's artifact, the one the evaluator reads."""
        return self.run_dir / "artifacts" / str(seed)

    def scratch(self, seed: int) -> Path:
        """The evaluate command's temp folder (TMPDIR): model servers work in it."""
        return self.run_dir / "scratch" / str(seed)


def data_dirs(task: Task, root: Path) -> tuple[Path, Path]:
    base = root / task.spec.name / task.sha256[:16]
    return base / "train", base / "heldout"


def final_test_dir(task: Task, root: Path) -> Path:
    """The test split's folder, beside the held-out one: no sandbox mounts it, and only
    the final test's evaluate commands are given it (as {heldout})."""
    return data_dirs(task, root)[0].parent / "test"


def ensure_data(task: Task, root: Path) -> tuple[Path, Path]:
    """Run the task's trusted prepare command once per task version (locked, idempotent)."""
    train, heldout = data_dirs(task, root)
    done = train.parent / "done"
    if done.exists():
        return train, heldout
    train.parent.mkdir(parents=True, exist_ok=True)
    with _locked(train.parent / "lock"):
        if not done.exists():
            _prepare(task, train, heldout)
            done.write_text("ok\n")
    return train, heldout


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _prepare(task: Task, train: Path, heldout: Path) -> None:
    test = train.parent / "test"
    for folder in (train, heldout, test):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    command = task.spec.commands.prepare
    if not command:
        return
    folders = {"data": str(train), "heldout": str(heldout), "test": str(test)}
    argv = fill(command, {"task": str(task.folder), **folders})
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=task.folder, env=trusted_env(1)
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DataPreparationError(f"{task.spec.name}: data preparation failed: {tail[0]}")
    if not any(train.iterdir()) and not any(heldout.iterdir()):
        # A prepare that ignores {data} and {heldout} writes elsewhere; caching its empty
        # result would fail every trial later, far from the cause.
        raise DataPreparationError(
            f"{task.spec.name}: the prepare command wrote nothing to {{data}} or {{heldout}}:"
            " pass them in its argv and write there"
        )
    if task.spec.test is not None and not any(test.iterdir()):
        raise DataPreparationError(
            f"{task.spec.name}: the task declares a test split ([test]) but its prepare"
            " command wrote nothing to {test}"
        )


def fill(template: tuple[str, ...] | list[str], values: Mapping[str, str]) -> list[str]:
    """Replace {placeholders}; {python} is always the harness's own interpreter."""
    table = {"python": sys.executable, **values}
    return [part.format_map(table) for part in template]


def stage(job: TrialJob) -> TrialPaths:
    run_dir = Path(job.run_dir)
    paths = TrialPaths(run_dir, run_dir / "recipe", run_dir / "logs", run_dir / "harness")
    for folder in (
        paths.recipe,
        paths.logs,
        paths.harness,
        run_dir / "work",
        run_dir / "artifacts",
    ):
        remove(folder)  # a run dir left by an earlier run of the same trial
    paths.logs.mkdir(parents=True)
    paths.recipe.mkdir(parents=True)
    for name, text in job.recipe.items():
        target = paths.recipe / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    shutil.copytree(HARNESS_SCRIPTS, paths.harness, ignore=shutil.ignore_patterns("__pycache__"))
    return paths


def fresh_work(paths: TrialPaths, run: str) -> Path:
    """A new work dir for one run: the staged recipe and an empty artifact folder."""
    work = paths.work(run)
    remove(work)
    shutil.copytree(paths.recipe, work)
    (work / ARTIFACT).mkdir()
    return work


def remove(folder: Path) -> None:
    """Delete a tree, links unfollowed, even one whose owner (a recipe running as the
    harness's own user, unsafe mode or not root) made folders unreadable to itself."""

    def unlock(_func: object, path: str, _error: object) -> None:
        for target in (os.path.dirname(path), path):
            if not os.path.islink(target):
                with contextlib.suppress(OSError):
                    os.chmod(target, 0o700)
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, onerror=unlock)
            else:
                os.unlink(path)

    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder, onerror=unlock)


def train_env(job: TrialJob, seed: int, work: Path, smoke: bool) -> dict[str, str]:
    threads = str(job.threads)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": threads,
        "MALLOC_ARENA_MAX": "2",  # glibc arenas per thread inflate address space under RLIMIT_AS
        "MKL_NUM_THREADS": threads,
        "AUTORECIPE_SEED": str(seed),
        "AUTORECIPE_THREADS": threads,
        "AUTORECIPE_DATA": job.data_dir,
        "AUTORECIPE_ARTIFACT": str(work / ARTIFACT),
        "AUTORECIPE_SMOKE": "1" if smoke else "0",
    }


def trusted_env(threads: int) -> dict[str, str]:
    """The task's own trusted commands see the project (so `-m evaluators...` works
    without an install) and nothing of a trial's AUTORECIPE_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTORECIPE_")}
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(
        PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(threads), PYTHONHASHSEED="0", PYTHONPATH=path
    )
    return env
