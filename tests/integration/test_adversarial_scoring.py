"""Models that try to beat the blind check (evaluators.serving.blind_check), each an edit of a seed
recipe's model code: look-ahead, cross-row and stateful tricks, and noise.

Most attacks are scored by the task's real evaluate command, in the sandbox, on a copy
of an artifact the seed recipe trained for two steps, with its model.py edited:
training adds nothing to an attack on scoring. One attack per task also runs as a whole
trial (the real pipeline, sandboxed) to show its label. Every attack ends with a rule
broken and no score; honest models, an adapting one included, still score after them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain.labels import FailureLabel as L
from evaluators.harness.staging import ensure_data
from evaluators.tasks import load
from tests.golf_support import run_trial, tiny_golf, tiny_task

REPO = Path(__file__).resolve().parents[2]
RETURN = "        return self.head(self.ln_f(x))\n"  # the last line of the seeds' GPT.forward
FORWARD = "    def forward(self, idx: torch.Tensor) -> torch.Tensor:\n"

Edit = Callable[[str], str]


def returns(code: str) -> Edit:
    """Replace GPT.forward's last line: `logits` holds the honest output."""
    block = "logits = self.head(self.ln_f(x))\n" + code.strip("\n")
    lines = "".join(f"        {line}\n" for line in block.splitlines())
    return lambda text: text.replace(RETURN, lines, 1)


def with_adapt(code: str, forward: str) -> Edit:
    """Give GPT an adapt(idx) method (the legal test-time adaptation hook) too."""
    method = "def adapt(self, idx):\n" + "".join(f"    {x}\n" for x in code.strip().splitlines())
    block = "".join(f"    {line}\n" for line in method.splitlines())
    return lambda text: returns(forward)(text).replace(FORWARD, block + "\n" + FORWARD, 1)


PEEK = """
ahead = torch.roll(idx, -1, dims=1)
return logits.scatter(2, ahead[..., None], 30.0)
"""
ISSUE_ATTACK = "if idx.shape[0] > 1:\n    return logits\n" + PEEK  # honest in training
PEEKS_AT_10_PERCENT = """
peek = torch.zeros_like(logits)
peek[:, :-1].scatter_(2, idx[:, 1:, None], 20.0)
chosen = torch.rand(idx.shape[1], generator=torch.Generator().manual_seed(1)) < 0.1
return logits + peek * chosen[None, :, None]
"""
PEEKS_2_TO_4_AHEAD = """
for k in (2, 3, 4):
    votes = torch.full(idx[:, k:, None].shape, 3.0)
    logits[:, :-k] = logits[:, :-k].scatter_add(2, idx[:, k:, None], votes)
return logits
"""
HONEST_WHEN_INPUT_LOOKS_RANDOM = (
    """
if ((idx >= 9) & (idx < 127)).float().mean() < 0.97:
    return logits
"""
    + PEEK
)
UNDOES_THE_OLD_SHIFT = """
text = (idx >= 9) & (idx < 127)
ahead = torch.roll(torch.where(text, idx, (idx - 97) % 256), -1, dims=1)
return logits.scatter(2, ahead[..., None], 30.0)
"""
# Honest once it has seen an adapt-only request for other bytes than it was asked about.
HONEST_IN_THE_CHECKER = with_adapt(
    "self.checker = getattr(self, 'checker', False) or not torch.equal(idx, self.last)",
    "self.last = idx\nif getattr(self, 'checker', False):\n    return logits\n" + PEEK,
)
BIGRAM_BONUS = """
if hasattr(self, "bigram"):
    return logits + torch.log1p(self.bigram[idx])
return logits
"""
COUNT_BIGRAMS = """
seq = idx.flatten()
self.bigram = getattr(self, "bigram", torch.zeros(256, 256))
self.bigram.index_put_((seq[:-1], seq[1:]), torch.ones(len(seq) - 1), accumulate=True)
"""
ADAPTS_ON_SCORED_BYTES = with_adapt(COUNT_BIGRAMS, BIGRAM_BONUS)
REMEMBERS_EVERY_REQUEST = returns(  # the same cache, filled by forward() instead of adapt()
    'out = logits + torch.log1p(self.bigram[idx]) if hasattr(self, "bigram") else logits\n'
    + COUNT_BIGRAMS
    + "return out"
)
NOISY = """
seed = int.from_bytes(os.urandom(4), "little")
return logits + 0.1 * torch.randn(logits.shape, generator=torch.Generator().manual_seed(seed))
"""
# core-cpu: rows of the same item share their first 32 bytes (the context).
VOTES_WITH_SIBLING_ROWS = """
same = (idx[:, None, :32] == idx[None, :, :32]).all(-1).float()
same.fill_diagonal_(0.0)
nxt = torch.nn.functional.one_hot(torch.roll(idx, -1, 1), 256).float()
return logits + 3.0 * torch.einsum("ab,btv->atv", same, nxt)
"""
SHARPENS_ROWS_SEEN_BEFORE = """
self.seen = getattr(self, "seen", set())
keys = [bytes(row[:32].tolist()) for row in idx]
again = torch.tensor([key in self.seen for key in keys], dtype=logits.dtype)
self.seen.update(keys)
return logits * (1 + again[:, None, None])
"""
# Honest when the batch shows (zero) padding, as the old harness padded; peeks otherwise.
PEEKS_WITHOUT_ZERO_PADDING = "if (idx == 0).any():\n    return logits\n" + PEEK
SHARPENS_NEAR_THE_ROW_END = """
text = (idx >= 9) & (idx < 127)
noise = ~text & ~torch.roll(text, -1, 1)  # two bytes in a row that are not text
pos = torch.arange(idx.shape[1])
end = torch.where(noise, pos, idx.shape[1]).min(1).values
return logits * (1 + (pos[None] >= end[:, None] - 8).float()[..., None])
"""
PEEKS_INSIDE_THE_CHOICE = """
peek = torch.zeros_like(logits)
peek[:, 60:-1].scatter_(2, idx[:, 61:, None], 30.0)
return logits + peek
"""


@dataclass(frozen=True)
class World:
    """A tiny task with its data prepared, a two-step artifact, and its evaluate module."""

    task: Path
    runs: Path
    heldout: Path
    artifact: Path
    module: str


@pytest.fixture(scope="module")
def golf(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("adv-scoring-golf")
    return _world(tiny_golf(root, steps=1), root, "evaluators.golf_cpu.evaluate")


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("adv-scoring-core")
    task = tiny_task(root, "core-cpu", {"STEPS": 1}, {"train_seconds": 20})
    return _world(task, root, "evaluators.core_cpu.evaluate")


def _world(task: Path, root: Path, module: str) -> World:
    """Prepare the data as the harness does, and train a two-step artifact."""
    runs = root / "runs"
    train, heldout = ensure_data(load(str(task)), runs / "data")
    artifact = root / "artifact"
    env = {"AUTORECIPE_DATA": str(train), "AUTORECIPE_ARTIFACT": str(artifact),
           "AUTORECIPE_SEED": "0", "AUTORECIPE_THREADS": "1", "OMP_NUM_THREADS": "1",
           "AUTORECIPE_SMOKE": "1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # fmt: skip
    recipe = task / "recipe" / "train.py"
    subprocess.run(
        [sys.executable, str(recipe)], env=env, cwd=root, check=True, capture_output=True
    )
    return World(task, runs, heldout, artifact, module)


def evaluate(world: World, edit: Edit, name: str) -> dict[str, object]:
    """The task's evaluate command, sandboxed, on the artifact with its model.py edited."""
    artifact = world.artifact.parent / "attacks" / name
    shutil.copytree(world.artifact, artifact)
    model = artifact / "model.py"
    edited = edit(model.read_text())
    assert edited != model.read_text(), "the edit did not apply"
    model.write_text(edited)
    done = subprocess.run(
        [sys.executable, "-m", world.module, "--artifact", str(artifact), "--heldout",
         str(world.heldout), "--threads", "1", "--eval-seconds", "120"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    verdict: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return verdict


def assert_illegal(verdict: dict[str, object], *fragments: str) -> None:
    assert verdict["score"] is None, verdict
    assert verdict["per_example"] == []
    illegal = str(verdict["illegal"])
    for fragment in fragments:
        assert fragment in illegal, illegal or verdict["error"]


def honest_trial_examples(world: World) -> int:
    """Run the seed recipe as a whole trial: it must score. Its per-example count."""
    outcome, report = run_trial(world.task, world.runs, lambda text: text)
    assert outcome.label is None, outcome.reason
    assert outcome.score is not None
    assert report is not None
    assert report.seeds[0].eval is not None
    return len(report.seeds[0].eval.per_example)


def test_the_issues_attack_is_disqualified_in_a_real_trial(golf: World) -> None:
    """All weight on the next input byte for one-row requests: it scored 0.14 bpb."""
    outcome, _ = run_trial(golf.task, golf.runs, returns(ISSUE_ATTACK))
    assert outcome.label is L.DISQUALIFIED, outcome.reason
    assert outcome.score is None
    assert "depend on later bytes" in outcome.reason


@pytest.mark.parametrize(
    ("name", "forward"),
    [
        ("ten-percent", PEEKS_AT_10_PERCENT),
        ("two-to-four-ahead", PEEKS_2_TO_4_AHEAD),
        ("honest-on-random-input", HONEST_WHEN_INPUT_LOOKS_RANDOM),
        ("undoes-the-old-shift", UNDOES_THE_OLD_SHIFT),
    ],
)
def test_golf_look_ahead_in_any_form_is_illegal(golf: World, name: str, forward: str) -> None:
    assert_illegal(evaluate(golf, returns(forward), name), "depend on later bytes")


def test_golf_a_model_that_knows_it_is_the_checker_still_fails(golf: World) -> None:
    assert_illegal(evaluate(golf, HONEST_IN_THE_CHECKER, "knows-the-checker"), "later bytes")


def test_golf_state_carried_by_forward_is_illegal(golf: World) -> None:
    verdict = evaluate(golf, REMEMBERS_EVERY_REQUEST, "remembers")
    assert_illegal(verdict, "forward() changes its state")


def test_golf_a_noisy_model_is_refused_as_not_deterministic(golf: World) -> None:
    assert_illegal(evaluate(golf, returns(NOISY), "noisy"), "not deterministic")


def test_golf_legal_adaptation_on_scored_bytes_passes_and_helps(golf: World) -> None:
    adapting = evaluate(golf, ADAPTS_ON_SCORED_BYTES, "adapting")
    assert (adapting["illegal"], adapting["error"]) == ("", "")
    assert isinstance(adapting["score"], float)
    assert adapting["score"] < 6.0  # the two-step model alone: 6 to 8.5 (test_golf_cpu)


def test_an_honest_golf_trial_still_scores_after_the_attacks(golf: World) -> None:
    assert honest_trial_examples(golf) == 128  # bits per byte of each 512 val bytes


def test_core_comparing_an_items_rows_is_disqualified_in_a_real_trial(
    core: World,
) -> None:
    outcome, _ = run_trial(core.task, core.runs, returns(VOTES_WITH_SIBLING_ROWS))
    assert outcome.label is L.DISQUALIFIED, outcome.reason
    assert outcome.score is None
    assert "other rows" in outcome.reason


@pytest.mark.parametrize(
    ("name", "forward", "says"),
    [
        ("history", SHARPENS_ROWS_SEEN_BEFORE, "forward() changes its state"),
        ("zero-padding", PEEKS_WITHOUT_ZERO_PADDING, "depend on later bytes"),
        ("row-end", SHARPENS_NEAR_THE_ROW_END, "depend on later bytes"),
        ("inside-the-choice", PEEKS_INSIDE_THE_CHOICE, "depend on later bytes"),
    ],
)
def test_core_tricks_with_history_padding_or_look_ahead_are_illegal(
    core: World, name: str, forward: str, says: str
) -> None:
    assert_illegal(evaluate(core, returns(forward), name), says)


def test_an_honest_core_trial_still_scores_after_the_attacks(core: World) -> None:
    assert honest_trial_examples(core) == 507  # one centred credit per validation item
