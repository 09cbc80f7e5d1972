"""Attacks on re-measuring at the CPU cap, on real trials of a tiny golf-cpu recipe: a run
over its cap within the margin runs again, and only runs with its artifact bytes count.

The attacking recipes spend CPU until their own process clock reaches a mark, so each
measurement is about the mark whatever the load: the verdicts here do not depend on it.
"""

from __future__ import annotations

import pytest

from domain.labels import FailureLabel as L
from tests.golf_support import AFTER_ARTIFACT, insert_after, run_trial, tiny_golf

# Cap 4 + tolerance 1 = 5 CPU-s; re-measured within 50% of it: stopped at 7.5 CPU-s. The
# tiny seed recipe trains in about 2.3 CPU-s; the attacks spend up to 6 (20% over).
RULES = {"train_seconds": 4, "remeasures": 2, "remeasure_within": 0.5}
SPEND_TO_6 = "while time.process_time() < 6.0:\n    pass"
TEST_SEED = 1_000_000  # the final test's seeds start here (domain/final_test.py)


@pytest.fixture(scope="module")
def golf(tmp_path_factory):
    root = tmp_path_factory.mktemp("golf")
    folder = tiny_golf(root)
    toml = folder / "task.toml"
    text = toml.read_text()
    for key, value in RULES.items():
        text = "\n".join(
            f"{key} = {value}" if line.startswith(f"{key} =") else line
            for line in text.splitlines()
        )
    toml.write_text(text + "\n")
    return folder, root / "runs"


def test_more_work_on_the_test_seeds_is_over_the_cap_on_every_measurement(golf):
    """Attack: spend more only on the final test's seeds, betting that a re-measure lets
    a run over the cap through. Every measurement of that work is over it."""
    spend = f"import time\nif seed >= {TEST_SEED}:\n" + "".join(
        f"    {line}\n" for line in SPEND_TO_6.splitlines()
    )
    outcome, report = run_trial(*golf, insert_after(AFTER_ARTIFACT, spend), seeds=(0, TEST_SEED))
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN, outcome.reason
    assert outcome.evidence["seed"] == TEST_SEED
    measured = outcome.evidence["measured_cpu_s"]
    assert len(measured) == 3
    assert all(5 < cpu <= 7.5 for cpu in measured), measured
    assert len(set(outcome.evidence["measured_sha256"])) == 1  # the same work, 3 times
    assert outcome.evidence["cpu_s"] == min(measured)
    assert "measured 3 times" in outcome.reason
    assert outcome.evidence["settled"] is True  # a fact about the recipe: the cache may reuse it
    first, tested = report.seeds
    assert first.measures == ()
    assert first.eval is not None
    assert tested.eval is None  # an overrun is not evaluated
    assert outcome.measurements["cpu_s"] > sum(measured)  # every run is paid for


def test_work_that_varies_between_runs_is_judged_by_its_first_measurement(golf):
    """Attack: different work each run (here random bytes), hoping one cheap run counts.
    Other bytes out are other work: the re-measuring ends and the first run stands."""
    spend = 'import time\n(artifact / "nonce.bin").write_bytes(os.urandom(16))\n' + SPEND_TO_6
    outcome, _ = run_trial(*golf, insert_after(AFTER_ARTIFACT, spend))
    assert outcome.label is L.TRAIN_BUDGET_OVERRUN, outcome.reason
    first, second = outcome.evidence["measured_sha256"]
    assert first != second
    assert outcome.evidence["cpu_s"] == outcome.evidence["measured_cpu_s"][0]
    assert "(other bytes)" in outcome.reason
    assert outcome.evidence["settled"] is False  # never reused: its verdict is one reading


def test_a_run_within_its_cap_is_measured_once(golf):
    outcome, report = run_trial(*golf, lambda text: text)
    assert outcome.label is None, outcome.reason
    assert report.seeds[0].measures == ()
    assert "train_runs" not in outcome.per_seed[0].measurements
