"""The trial's work dir as an upstream checkout: the recipe on top of the user's files.

The harness stages only the recipe files (those agents edit). `prepare` adds the rest of
what the launch needs from the user's checkout: `support` paths where the recipe has
none, `protected` paths (evaluation code) over anything the recipe holds, so an edit can
never change how the metric is computed; then links to the user's data. Each run has a
fresh work dir (evaluators.harness.staging); a model file already in it is removed all the same,
so only the run's own model can be counted.
`assemble` puts the counted files into the artifact dir, where the harness measures the
bytes itself.
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

from evaluators.upstream.config import Config, expand
from evaluators.upstream.pack import packed_code

_SKIP_PARTS = {"__pycache__", ".git"}
_MIRROR_SKIP = ("*_checkpoints",)  # per-trial outputs: each trial writes its own


def prepare(config: Config, work: Path, values: dict[str, str]) -> None:
    checkout = Path(config.checkout)
    for pattern in config.artifact_files:  # a model file the staged recipe brought along
        for stale in work.glob(pattern):
            stale.unlink()
    for rel in config.support:
        _copy(checkout / rel, work / rel, overwrite=False)
    for rel in config.protected:
        _copy(checkout / rel, work / rel, overwrite=True)
    for name, target in config.links.items():
        _link(work / name, Path(expand(target, values)))
    for name, source in config.mirrors.items():
        _mirror(work / name, Path(expand(source, values)))


def assemble(config: Config, work: Path, artifact: Path) -> dict[str, float]:
    """Copy the counted files into the artifact dir; returns their sizes for the record."""
    sizes: dict[str, float] = {}
    for rel in config.artifact_code:
        text = (work / rel).read_text()
        code = packed_code(text)
        (artifact / Path(rel).name).write_bytes(code)
        sizes["code_bytes"] = sizes.get("code_bytes", 0.0) + len(code)
        sizes["code_bytes_raw"] = sizes.get("code_bytes_raw", 0.0) + len(text.encode())
    for pattern in config.artifact_files:
        newest = _newest(work, pattern)
        if newest is not None:
            shutil.copyfile(newest, artifact / newest.name)
            sizes["model_bytes"] = sizes.get("model_bytes", 0.0) + newest.stat().st_size
    return sizes


def clean(config: Config, work: Path) -> None:
    """Remove big leftovers (raw checkpoints) the metric does not need."""
    for rel in config.cleanup:
        path = work / rel
        if not path.resolve().is_relative_to(work.resolve()):
            continue  # never outside the work dir, whatever a link points at
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _copy(source: Path, target: Path, overwrite: bool) -> None:
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if path.is_file() and not _SKIP_PARTS & set(rel.parts) and path.suffix != ".pyc":
                _copy(path, target / rel, overwrite)
    elif source.is_file() and (overwrite or not target.exists()):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # a link the recipe planted is replaced, not followed
        shutil.copyfile(source, target)


def _link(path: Path, target: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.symlink_to(target)


def _mirror(folder: Path, source: Path) -> None:
    """A folder of links to each entry of `source`, so the run writes its own outputs
    here while reading the user's data in place."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir()):
        if not any(fnmatch.fnmatch(entry.name, p) for p in _MIRROR_SKIP):
            _link(folder / entry.name, entry)


def _newest(work: Path, pattern: str) -> Path | None:
    found = [p for p in work.glob(pattern) if p.is_file() and not p.is_symlink()]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None
