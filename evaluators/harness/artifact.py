"""The artifact the evaluator reads: a copy the harness makes, measures and owns.

After a run, the harness opens the recipe's artifact folder without following links and
copies the CONTENTS of its files (no modes, owners, xattrs or link targets) into a
folder of its own, outside every work dir; the evaluator and every measurement see only
that copy. The recipe's folder must be a flat list of plain files. The rules, checked
over all entries (the first rule in this order that an entry breaks is the verdict):

  rule          what                                                 label
  not_a_folder  the artifact path is a link, or not a folder         disqualified
  files         more than MAX_FILES entries                          size_blocked
  link          an entry is a symbolic link                          disqualified
  folder        an entry is a folder (the artifact is flat)          disqualified
  special       an entry is a FIFO, socket or device, or unreadable  disqualified
  name          a name that NAME does not match                      disqualified

Artifact bytes = content bytes + name bytes (UTF-8), so names cannot carry weights. A
hard link is copied like any file, its content counted. A missing folder is an empty
artifact (the evaluator then says what is missing).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from domain.reports import ArtifactRefusal

MAX_FILES = 64
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")
SHOWN = 5  # offending names quoted in a refusal
CHUNK = 1 << 20
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Taken:
    """What the harness measured (and, for a seed, copied) of one artifact."""

    bytes: int = 0  # content + name bytes
    files: dict[str, int] = field(default_factory=dict)  # name -> content bytes
    refused: ArtifactRefusal | None = None


SIDECAR_BYTES = 1 << 20  # an upstream wrapper's verdict file, carried beside the copy


def content_sha256(copy: Path) -> str:
    """The content of a harness copy (a flat folder of plain files the harness wrote):
    each name and its bytes, in name order. Equal digests: the same bytes came out."""
    digest = hashlib.sha256()
    for path in sorted(copy.iterdir()):
        digest.update(path.name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def take(work: Path, name: str, dest: Path | None, cap_bytes: int | None = None) -> Taken:
    """Check and measure `work/name`; copy it to `dest` (a fresh folder) if given and
    within `cap_bytes`. Only `work` itself is trusted to be a real folder."""
    base = os.open(work, _FLAGS | os.O_DIRECTORY)
    try:
        folder = os.open(name, _FLAGS | os.O_DIRECTORY, dir_fd=base)
    except FileNotFoundError:
        return _copied({}, dest)
    except OSError:  # ELOOP: a link; ENOTDIR: a file
        return _refused("not_a_folder", f"the artifact path {name!r} is not a plain folder")
    finally:
        os.close(base)
    try:
        return _take(folder, dest, cap_bytes)
    finally:
        os.close(folder)


def _take(folder: int, dest: Path | None, cap_bytes: int | None) -> Taken:
    names = sorted(os.listdir(folder))
    if len(names) > MAX_FILES:
        return _refused(
            "files", f"the artifact holds {len(names):,} entries, over the {MAX_FILES}-file cap",
            names,
        )  # fmt: skip
    with _files(folder, names) as files:
        if isinstance(files, ArtifactRefusal):
            return Taken(refused=files)
        sizes = {n: os.fstat(fd).st_size for n, fd in files.items()}
        total = sum(sizes.values()) + sum(len(n.encode()) for n in sizes)
        if dest is None or (cap_bytes is not None and total > cap_bytes):
            return Taken(total, sizes)  # measured only: the smoke run, or over the cap
        return _copied(files, dest)


@contextlib.contextmanager
def _files(folder: int, names: list[str]) -> Iterator[dict[str, int] | ArtifactRefusal]:
    """Each entry opened without following links, checked on the open file itself."""
    opened: dict[str, int] = {}
    try:
        yield _open_all(folder, names, opened)
    finally:
        for fd in opened.values():
            os.close(fd)


def _open_all(
    folder: int, names: list[str], opened: dict[str, int]
) -> dict[str, int] | ArtifactRefusal:
    kinds: dict[str, list[str]] = {}
    for name in names:
        kind = _kind(folder, name, opened)
        if kind:
            kinds.setdefault(kind, []).append(name)
    for rule in ("link", "folder", "special"):
        if rule in kinds:
            return _refusal(rule, kinds[rule])
    bad = [n for n in names if not NAME.fullmatch(n)]
    if bad:
        return _refusal("name", bad)
    return opened


def _kind(folder: int, name: str, opened: dict[str, int]) -> str:
    """The rule the entry breaks; "" for a regular file, which is then opened."""
    info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        return "link"
    if stat.S_ISDIR(info.st_mode):
        return "folder"
    if not stat.S_ISREG(info.st_mode):
        return "special"
    try:  # O_NONBLOCK: a FIFO swapped in after the stat must not hang the harness
        fd = os.open(name, _FLAGS | os.O_NONBLOCK, dir_fd=folder)
    except OSError:
        return "special"
    opened[name] = fd
    return "" if stat.S_ISREG(os.fstat(fd).st_mode) else "special"


_REASONS = {
    "link": "symbolic links",
    "folder": "folders (it must be a flat list of files)",
    "special": "FIFOs, sockets, devices or unreadable entries",
    "name": f"names outside {NAME.pattern}",
}


def _refusal(rule: str, names: list[str]) -> ArtifactRefusal:
    more = f" and {len(names) - SHOWN:,} more" if len(names) > SHOWN else ""
    reason = f"the artifact holds {_REASONS[rule]}: {', '.join(_shown(names))}{more}"
    return ArtifactRefusal(rule=rule, reason=reason, names=_shown(names))


def _refused(rule: str, reason: str, names: list[str] | None = None) -> Taken:
    return Taken(refused=ArtifactRefusal(rule=rule, reason=reason, names=_shown(names or [])))


def _shown(names: list[str]) -> tuple[str, ...]:
    """The first few names, cut short and made valid text (a name may hold any byte)."""
    return tuple(
        n.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:100] for n in names[:SHOWN]
    )


def _copied(files: dict[str, int], dest: Path | None) -> Taken:
    """Contents only, into a fresh folder of the harness's, readable by the sandbox."""
    sizes: dict[str, int] = {}
    if dest is not None:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        dest.chmod(0o755)
        for name, fd in files.items():
            sizes[name] = _copy(fd, dest / name)
    return Taken(sum(sizes.values()) + sum(len(n.encode()) for n in sizes), sizes)


def _copy(fd: int, target: Path) -> int:
    written = 0
    with target.open("xb") as out:
        while chunk := os.read(fd, CHUNK):
            out.write(chunk)
            written += len(chunk)
    target.chmod(0o444)
    return written


def carry_sidecar(source: Path, target: Path) -> None:
    """The verdict an upstream wrapper (harness code in the train command) leaves beside
    the artifact, carried beside the copy where the upstream evaluate command looks."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return  # absent, or a link: the evaluator says the verdict is missing
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_size <= SIDECAR_BYTES:
            target.write_bytes(file.read(SIDECAR_BYTES))
