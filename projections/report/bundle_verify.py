"""Re-check a provenance bundle from its own files: hashes, events, and what they claim.

Three layers, each naming the first thing that fails:
1. every event in events.jsonl still hashes to its stored hash (the ledger's rule);
2. every file matches manifest.json's sha256, and no file is missing or unlisted;
3. the files agree with the events: the diffs are the RecipeEdited diffs along the
   trial's parent links, applying them to an empty recipe rebuilds recipe/ with the
   recorded child_sha256, view.txt hashes to the proposal's view hash, and trial.json
   and versions.json repeat what the events say. Logs are outside the ledger, so only
   the manifest vouches for them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any

from domain.envelope import chain_hash
from domain.recipe import PatchError, apply_diff, recipe_sha256, text_sha256

MANIFEST, EVENTS, TRIAL, VERSIONS, VIEW = (
    "manifest.json",
    "events.jsonl",
    "trial.json",
    "versions.json",
    "view.txt",
)
RECIPE_DIR, DIFF_DIR, LOG_DIR = "recipe", "diffs", "logs"
Event = dict[str, Any]


class BundleProblem(Exception):
    """The first check that failed, in one line that names the file or event."""


def safe_relative(name: str) -> PurePosixPath:
    """A path that stays inside the bundle: recipe and log names are not trusted."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise BundleProblem(f"{name!r}: not a plain relative path inside the bundle")
    return path


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_bundle(directory: Path) -> tuple[bool, str]:
    """(True, summary) for an intact bundle, else (False, the first problem found)."""
    try:
        events = _check_events(directory)
        manifest = _check_files(directory)
        _check_claims(directory, manifest, events)
    except BundleProblem as problem:
        return False, str(problem)
    except (OSError, ValueError, KeyError, TypeError) as error:
        return False, f"the bundle is unreadable: {type(error).__name__}: {error}"
    return True, f"ok: {len(manifest['files'])} files and {len(events)} events check out"


def event_name(event: Event) -> str:
    seq = event.get("seq")
    whose = f" of trial #{seq}" if seq is not None else " of the search"
    return f"event at position {event.get('position')} ({event.get('type')}{whose})"


def _check_events(directory: Path) -> list[Event]:
    events = []
    lines = (directory / EVENTS).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            event = json.loads(line)
            envelope = {
                "event": event["event"],
                "v": event["class_version"],
                "stream": event["stream"],
                "prev": event["prev"],
            }
            actual = chain_hash(envelope, event["topic"], event["aggregate_id"], event["version"])
        except (ValueError, KeyError, TypeError) as error:
            raise BundleProblem(f"{EVENTS} line {number}: not a bundled event ({error})") from None
        if actual != event.get("hash"):
            raise BundleProblem(f"{event_name(event)}: its content does not match its hash")
        events.append(event)
    return events


def _check_files(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    listed = manifest["files"]
    for name, entry in sorted(listed.items()):
        path = directory / safe_relative(name)
        if not path.is_file():
            raise BundleProblem(f"{name}: listed in the manifest but missing")
        if file_sha256(path) != entry["sha256"]:
            raise BundleProblem(f"{name}: its sha256 does not match the manifest")
    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
    extra = sorted(present - set(listed) - {MANIFEST})
    if extra:
        raise BundleProblem(f"{extra[0]}: in the bundle but not in the manifest")
    return manifest


def _of(events: list[Event], aggregate_id: str, kind: str) -> Event | None:
    found = [e for e in events if e["aggregate_id"] == aggregate_id and e["type"] == kind]
    return found[-1] if found else None


def _check_claims(directory: Path, manifest: dict[str, Any], events: list[Event]) -> None:
    trial_id = manifest["trial"]["trial_id"]
    chain = _parent_chain(events, trial_id)
    _check_diffs(directory, manifest, events, chain)
    _check_recipe(directory, manifest, events, chain)
    _check_trial(directory, events, trial_id)
    _check_view(directory, events, trial_id)
    _check_versions(directory, events)


def _parent_chain(events: list[Event], trial_id: str) -> list[str]:
    """Trial ids from the seed run to this trial, following each proposal's parent_id."""
    chain: list[str] = []
    current: str | None = trial_id
    while current is not None:
        proposed = _of(events, current, "TrialProposed")
        if proposed is None or current in chain:
            raise BundleProblem(f"{EVENTS}: no TrialProposed event for ancestor {current}")
        chain.append(current)
        current = proposed["event"]["parent_id"]
    return chain[::-1]


def _edited(events: list[Event], chain: list[str]) -> list[Event]:
    return [e for e in (_of(events, tid, "RecipeEdited") for tid in chain) if e is not None]


def _check_diffs(
    directory: Path, manifest: dict[str, Any], events: list[Event], chain: list[str]
) -> None:
    diffs = sorted(n for n in manifest["files"] if n.startswith(DIFF_DIR + "/"))
    edits = _edited(events, chain)
    if len(diffs) != len(edits):
        raise BundleProblem(f"{DIFF_DIR}/: {len(diffs)} diffs for {len(edits)} recorded edits")
    for name, edit in zip(diffs, edits, strict=True):
        if (directory / name).read_text(encoding="utf-8") != edit["event"]["diff"]:
            raise BundleProblem(f"{name}: differs from the diff in {event_name(edit)}")


def _check_recipe(
    directory: Path, manifest: dict[str, Any], events: list[Event], chain: list[str]
) -> None:
    recipe: dict[str, str] = {}
    edits = _edited(events, chain)
    try:
        for edit in edits:
            recipe = apply_diff(recipe, edit["event"]["diff"])
    except PatchError as error:
        raise BundleProblem(f"{DIFF_DIR}/: the recorded diffs do not apply ({error})") from None
    prefix = RECIPE_DIR + "/"
    bundled = {
        n[len(prefix) :]: (directory / n).read_text(encoding="utf-8")
        for n in manifest["files"]
        if n.startswith(prefix)
    }
    for path in sorted(set(recipe) | set(bundled)):
        if recipe.get(path) != bundled.get(path):
            raise BundleProblem(f"{prefix}{path}: not the file the recorded diffs produce")
    if edits and recipe_sha256(recipe) != edits[-1]["event"]["child_sha256"]:
        raise BundleProblem(
            f"{prefix}: does not hash to the child_sha256 in {event_name(edits[-1])}"
        )


def _check_trial(directory: Path, events: list[Event], trial_id: str) -> None:
    claimed = json.loads((directory / TRIAL).read_text(encoding="utf-8"))
    for key, value in _recorded_outcome(events, trial_id).items():
        if claimed.get(key) != value:
            raise BundleProblem(f"{TRIAL}: {key} differs from the trial's events")


def _check_view(directory: Path, events: list[Event], trial_id: str) -> None:
    proposed = _of(events, trial_id, "TrialProposed")
    view = directory / VIEW
    if proposed is None or not view.is_file():
        return
    if text_sha256(view.read_text(encoding="utf-8")) != proposed["event"]["lineage_view_sha256"]:
        raise BundleProblem(f"{VIEW}: does not hash to the view in {event_name(proposed)}")


def _recorded_outcome(events: list[Event], trial_id: str) -> dict[str, Any]:
    """What the trial's own events say: its proposal, scores, labels and measurements."""
    out: dict[str, Any] = {}
    for e in (e for e in events if e["aggregate_id"] == trial_id):
        body = e["event"]
        if e["type"] == "TrialProposed":
            out.update(hypothesis=body["hypothesis"], specialist=body["specialist"])
        elif e["type"] == "TrialScored":
            out["score"] = body["score"]
        elif e["type"] == "TrialFailed":
            out.update(label=body["label"], reason=body["reason"], evidence=body["evidence"])
        elif e["type"] == "TrialJudged":
            out["verdict"] = body["verdict"]
        if e["type"] in ("TrialScored", "TrialFailed"):  # merged in order, as projected
            out["measurements"] = {**out.get("measurements", {}), **body["measurements"]}
    return out


def _check_versions(directory: Path, events: list[Event]) -> None:
    started = [e for e in events if e["type"] == "SearchStarted"]
    if not started:
        raise BundleProblem(f"{EVENTS}: the search's SearchStarted event is missing")
    body = started[0]["event"]
    claimed = json.loads((directory / VERSIONS).read_text(encoding="utf-8"))
    for key, recorded in (
        ("task", body["task_id"]),
        ("task_sha256", body["task_sha256"]),
        ("search_rules_version", body["rules_version"]),
    ):
        if claimed.get(key) != recorded:
            raise BundleProblem(f"{VERSIONS}: {key} differs from {event_name(started[0])}")
