"""`reproduce` of a failed trial, through the real pipeline: it reproduces when the re-run
fails with the same label and the same deciding numbers (here the gate's mean)."""

from __future__ import annotations

import shutil

from tests.test_cli import ROOT, cli

EXAMPLE = ROOT / "docs" / "example-task"
# A gate no recipe can pass: the evaluator reports 200 held-out rows, the gate wants 1e9.
GATE = '[gate]\nmetric = "heldout_rows"\nthreshold = 1e9\ndirection = "at_least"\n\n[seeds]'


def test_a_disqualified_trial_reproduces_by_its_label_and_gate_numbers(tmp_path):
    task, ledger = tmp_path / "task", tmp_path / "runs" / "ledger.sqlite"
    shutil.copytree(EXAMPLE, task)
    toml = task / "task.toml"
    text = toml.read_text().replace("max_per_trial = 3", "max_per_trial = 1")
    toml.write_text(text.replace("noise = 10", "noise = 3").replace("[seeds]", GATE))
    searched = cli("search", "--task", str(task), "--trials", "1", "--ledger", str(ledger))
    assert "finished (baseline_failed)" in searched.stdout, searched.stderr

    done = cli("reproduce", "0", "--ledger", str(ledger), timeout=300)

    assert done.returncode == 0, done.stderr
    assert "recorded disqualified, reproduced disqualified (mean 200 -> 200" in done.stdout
    assert "reproduced: the same failure, its deciding numbers identical" in done.stdout
    assert "None" not in done.stdout
    recorded = cli(
        "audit", "select count(*) n from events where type = 'TrialReproduced'",
        "--format", "csv", "--ledger", str(ledger),
    )  # fmt: skip
    assert recorded.stdout.splitlines() == ["n", "1"]
