"""An upstream task's launch rules: the template's `upstream.toml` plus the user's paths.

`init` merges a template (evaluators/upstream/<name>/upstream.toml) with the user's
checkout, data folder and interpreter into `upstream.json` in the task folder, so the
task's content hash covers every path and rule a trial ran under. The wrapper and the
evaluate command read that file; nothing reaches them through the environment, which the
harness rebuilds from scratch for every train command.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent
_TOKEN = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Phases:
    """Caps on phases inside one upstream process, timed by the wrapper's clock.

    parameter-golf trains and evaluates in one process under separate 600 s caps, so
    the harness's outer cap on the whole train command cannot tell them apart.
    None means the phase has no cap of its own.
    """

    train_seconds: float | None = None
    tolerance_seconds: float = 0.0
    eval_seconds: float | None = None
    # After the last training step the script still validates before its first
    # post-training line; the wrapper stops it only once this much more has passed.
    train_grace_seconds: float = 120.0


@dataclass(frozen=True)
class Config:
    adapter: str
    launch: tuple[str, ...]  # argv template: {python} {nproc} {data} {checkout} {work} {seed}
    checkout: str = ""
    data: str = ""
    python: str = ""
    nproc: int = 1
    smoke_args: tuple[str, ...] = ()  # appended to the launch in the preflight smoke run
    env: dict[str, str] = field(default_factory=dict)  # defaults, then the user's
    forced_env: dict[str, str] = field(default_factory=dict)  # harness-owned, applied last
    smoke_env: dict[str, str] = field(default_factory=dict)
    support: tuple[str, ...] = ()  # checkout paths copied in where the recipe has none
    protected: tuple[str, ...] = ()  # checkout paths always copied over the recipe's
    links: dict[str, str] = field(default_factory=dict)  # work-dir name -> target
    mirrors: dict[str, str] = field(default_factory=dict)  # work-dir folder -> source
    cleanup: tuple[str, ...] = ()  # work-dir paths removed after the run (big leftovers)
    artifact_code: tuple[str, ...] = ()  # recipe files packed into the artifact
    artifact_files: tuple[str, ...] = ()  # globs; the newest match is copied in
    stop_grace_seconds: float = 10.0  # SIGTERM to SIGKILL when the wrapper stops a run
    phases: Phases = Phases()

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        fields = dict(raw)
        fields["phases"] = Phases(**fields.get("phases", {}))
        for key in (
            "launch",
            "smoke_args",
            "support",
            "protected",
            "cleanup",
            "artifact_code",
            "artifact_files",
        ):
            fields[key] = tuple(fields.get(key, ()))
        return cls(**fields)

    @classmethod
    def load(cls, path: Path) -> Config:
        return cls.from_dict(json.loads(path.read_text()))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    def values(self, work: Path, seed: int) -> dict[str, str]:
        """What the {placeholders} in launch, env and link values stand for."""
        return {
            "python": self.python,
            "nproc": str(self.nproc),
            "data": self.data,
            "checkout": self.checkout,
            "work": str(work),
            "seed": str(seed),
        }


def expand(text: str, values: dict[str, str]) -> str:
    """Fill known {placeholders} only: a user's value may hold other braces."""
    return _TOKEN.sub(lambda m: values.get(m[1], m[0]), text)


def template_dir(adapter: str) -> Path:
    return TEMPLATES / adapter.replace("-", "_")


def adapter_names() -> list[str]:
    return sorted(p.parent.name.replace("_", "-") for p in TEMPLATES.glob("*/upstream.toml"))
