"""Provenance bundles: complete, re-checkable without the ledger, and tamper-evident."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from domain.envelope import open_envelope
from ledger.store import open_ledger
from projections.report.bundle_verify import BundleProblem, safe_relative, verify_bundle
from tests.report_support import planned_search
from tests.test_cli import assert_one_line_error, cli


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    location = planned_search(tmp_path_factory.mktemp("bundle"))
    # The scripted executor runs nothing, so plant logs where the local runner writes them.
    logs = Path(location).parent / "searches" / _search_id(location) / "trial-0012" / "logs"
    logs.mkdir(parents=True)
    (logs / "train-0.log").write_text("step 0 loss 2.0\nstep 1 loss 1.5\n")
    (logs / "planted.log").symlink_to("/etc/hostname")  # a link a recipe could leave behind
    return location


def _search_id(location: str) -> str:
    return open_envelope(next(iter(open_ledger(location).read_all())).state).stream


@pytest.fixture(scope="module")
def built(ledger, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "trial-12"
    done = cli("bundle", "12", "--out", str(out), "--ledger", ledger)
    assert done.returncode == 0, done.stderr
    assert "ok:" in done.stdout
    return out


@pytest.fixture
def bundle(built, tmp_path) -> Path:
    """A fresh copy to tamper with."""
    return Path(shutil.copytree(built, tmp_path / "copy"))


def test_the_bundle_holds_the_whole_provenance(built):
    manifest = json.loads((built / "manifest.json").read_text())
    files = set(manifest["files"])
    # #12 repaired #10 (a crash) on the branch 0 -> 1 -> 3 -> 5 -> 7 -> 8 -> 10 -> 12.
    diffs = sorted(f for f in files if f.startswith("diffs/"))
    assert [d.split("trial-")[1] for d in diffs] == [
        f"{n:04d}.diff" for n in (0, 1, 3, 5, 7, 8, 10, 12)
    ]
    assert {"recipe/train.py", "trial.json", "versions.json", "view.txt", "events.jsonl"} <= files
    assert "logs/train-0.log" in files
    assert "logs/planted.log" not in files  # links are not followed out of the run dir
    assert "WIDTH = 16" in (built / "recipe" / "train.py").read_text()
    versions = json.loads((built / "versions.json").read_text())
    assert versions["task_sha256"] == "0" * 64
    assert versions["search_rules_version"] == "tiny/1"
    trial = json.loads((built / "trial.json").read_text())
    assert (trial["seq"], trial["status"], trial["parent_seq"]) == (12, "keep", 10)


def test_bundled_event_hashes_are_the_ledgers_own(built, ledger):
    stored = {r.position: open_envelope(r.state).hash for r in open_ledger(ledger).read_all()}
    events = [json.loads(line) for line in (built / "events.jsonl").read_text().splitlines()]
    assert {e["seq"] for e in events} == {None, 0, 1, 3, 5, 7, 8, 10, 12}
    assert all(stored[e["position"]] == e["hash"] for e in events)


def test_an_intact_bundle_verifies_from_the_cli(built):
    done = cli("verify", "--bundle", str(built))
    assert done.returncode == 0, done.stderr
    assert "ok:" in done.stdout


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    at = next(i for i in range(len(data) // 2, len(data)) if chr(data[i]).isalnum())
    data[at] ^= 0x01  # another letter or digit: the file stays readable text
    path.write_bytes(bytes(data))


def test_a_changed_byte_in_any_file_names_that_file(built, tmp_path):
    names = json.loads((built / "manifest.json").read_text())["files"]
    for name in names:
        copy = Path(shutil.copytree(built, tmp_path / name.replace("/", "_")))
        _flip_a_byte(copy / name)
        ok, problem = verify_bundle(copy)
        assert not ok, name
        # An edited event is named by its position; a broken line by its file and line.
        named = ("event at position", "events.jsonl line") if name == "events.jsonl" else (name,)
        assert any(n in problem for n in named), (name, problem)


def test_a_changed_event_names_that_event(built, tmp_path):
    lines = (built / "events.jsonl").read_text().splitlines()
    for index, line in enumerate(lines):
        copy = Path(shutil.copytree(built, tmp_path / f"event-{index}"))
        event = json.loads(line)
        stamp = event["event"]["timestamp"]
        event["event"]["timestamp"] = stamp[:-2] + ("1" if stamp[-2] != "1" else "2") + stamp[-1]
        edited = [*lines[:index], json.dumps(event, sort_keys=True), *lines[index + 1 :]]
        (copy / "events.jsonl").write_text("\n".join(edited) + "\n")
        ok, problem = verify_bundle(copy)
        assert not ok
        assert f"event at position {event['position']} " in problem, problem


def test_a_forged_recipe_with_a_matching_manifest_still_fails(bundle):
    recipe = bundle / "recipe" / "train.py"
    recipe.write_text(recipe.read_text().replace("WIDTH = 16", "WIDTH = 8"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["recipe/train.py"]["sha256"] = hashlib.sha256(recipe.read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    ok, problem = verify_bundle(bundle)
    assert not ok
    assert "recipe/train.py: not the file the recorded diffs produce" in problem


def test_missing_and_unlisted_files_are_named(bundle):
    view = (bundle / "view.txt").read_bytes()
    (bundle / "view.txt").unlink()
    assert verify_bundle(bundle) == (False, "view.txt: listed in the manifest but missing")
    (bundle / "view.txt").write_bytes(view)
    (bundle / "extra.txt").write_text("smuggled")
    assert verify_bundle(bundle) == (False, "extra.txt: in the bundle but not in the manifest")


def test_a_tampered_bundle_fails_the_cli_in_one_line(bundle):
    _flip_a_byte(bundle / "diffs" / "0008-trial-0012.diff")
    assert_one_line_error(cli("verify", "--bundle", str(bundle)), "diffs/0008-trial-0012.diff")


def test_the_seed_run_alone_makes_a_bundle(ledger, tmp_path):
    done = cli("bundle", "0", "--out", str(tmp_path / "b"), "--ledger", ledger)
    assert done.returncode == 0, done.stderr
    assert verify_bundle(tmp_path / "b")[0]


@pytest.mark.parametrize("name", ["../escape.py", "/etc/passwd", "a/../../b", ""])
def test_paths_that_leave_the_bundle_are_refused(name):
    with pytest.raises(BundleProblem):
        safe_relative(name)
