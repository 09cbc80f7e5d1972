"""Finding and loading tasks: built-in folders under evaluators/, or a user's own folder."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from domain.task import TaskSpec

BUILTIN_ROOT = Path(__file__).resolve().parent
_SKIP = {"__pycache__", ".pytest_cache"}


class TaskError(ValueError):
    """A task that cannot be found or read; the message is one line for the user."""


@dataclass(frozen=True)
class Task:
    spec: TaskSpec
    folder: Path
    sha256: str

    @property
    def recipe_dir(self) -> Path:
        return self.folder / "recipe"

    def seed_recipe(self) -> dict[str, str]:
        return {name: (self.recipe_dir / name).read_text() for name in self.spec.recipe}


def builtin_names() -> list[str]:
    return sorted(p.parent.name.replace("_", "-") for p in BUILTIN_ROOT.glob("*/task.toml"))


def resolve(name_or_path: str) -> Path:
    """A built-in task name (golf-cpu) or a path to a folder holding task.toml."""
    builtin = BUILTIN_ROOT / name_or_path.replace("-", "_")
    if (builtin / "task.toml").is_file():
        return builtin
    folder = Path(name_or_path).expanduser()
    if (folder / "task.toml").is_file():
        return folder.resolve()
    if (BUILTIN_ROOT / "upstream" / builtin.name / "upstream.toml").is_file():
        raise TaskError(
            f"{name_or_path} is an upstream adapter: make a task folder from your checkout"
            f" (python -m evaluators.upstream.init {name_or_path} --checkout DIR --data DIR"
            " --out FOLDER), then pass --task FOLDER"
        )
    known = ", ".join(builtin_names())
    raise TaskError(
        f"unknown task {name_or_path!r}: not a built-in ({known}) nor a folder with task.toml"
    )


def recipe_folder(name_or_path: str | None) -> Path | None:
    """The recipe/ folder of a task as a search recorded it, if it is on disk here."""
    try:
        return resolve(name_or_path).resolve() / "recipe" if name_or_path else None
    except TaskError:
        return None


def load(name_or_path: str) -> Task:
    folder = resolve(name_or_path)
    try:
        raw = tomllib.loads((folder / "task.toml").read_text())
        spec = TaskSpec.model_validate(raw)
    except tomllib.TOMLDecodeError as error:
        raise TaskError(f"{folder / 'task.toml'}: {error}") from None
    except ValidationError as error:
        # Every problem at once, on one line: a new task should not take a run per key.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise TaskError(f"{folder / 'task.toml'}: {problems} (see docs/TASKS.md)") from None
    missing = [n for n in spec.recipe if not (folder / "recipe" / n).is_file()]
    if missing:
        raise TaskError(f"{folder}: recipe files missing under recipe/: {', '.join(missing)}")
    return Task(spec=spec, folder=folder, sha256=folder_sha256(folder))


def folder_sha256(folder: Path) -> str:
    """Content hash of every file in the task folder (paths and bytes, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not _SKIP & set(p.parts)):
        rel = path.relative_to(folder).as_posix()
        data = path.read_bytes()
        digest.update(f"{len(rel)}:{rel}:{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()
