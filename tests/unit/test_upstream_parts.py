"""The upstream wrapper's parts: tracebacks, packing, the work dir, the evaluate line."""

from __future__ import annotations

import base64
import json
import lzma
import subprocess
import sys
from pathlib import Path

from evaluators.upstream import workdir
from evaluators.upstream.config import Config, expand
from evaluators.upstream.evaluate import line_for
from evaluators.upstream.evaluate import main as evaluate_main
from evaluators.upstream.pack import packed_code
from evaluators.upstream.run import result_path
from evaluators.upstream.tracebacks import Tracebacks

WORK = Path("/trial/work")


def cause(lines: list[str]):
    tracebacks = Tracebacks(WORK)
    for line in lines:
        tracebacks.feed(line)
    return tracebacks.root_cause()


def test_a_chained_exception_reports_the_one_that_ended_the_chain():
    raised = cause(
        [
            "Traceback (most recent call last):",
            '  File "/trial/work/train_gpt.py", line 10, in load',
            "KeyError: 'tok_emb.weight'",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            '  File "/trial/work/train_gpt.py", line 12, in load',
            "RuntimeError: checkpoint does not match the model",
        ]
    )
    assert raised is not None
    assert (raised.type, raised.where) == ("RuntimeError", "train_gpt.py:12 in load")


def test_interleaved_ranks_keep_their_own_tracebacks():
    raised = cause(
        [
            "[rank0]: Traceback (most recent call last):",
            "[rank1]: Traceback (most recent call last):",
            '[rank1]:   File "/trial/work/train_gpt.py", line 7, in step',
            '[rank0]:   File "/trial/work/train_gpt.py", line 9, in other',
            "[rank1]: ValueError: first to finish",
            "[rank0]: ValueError: second",
        ]
    )
    assert raised is not None
    assert (raised.message, raised.where, raised.rank) == (
        "first to finish",
        "train_gpt.py:7 in step",
        "1",
    )


def test_frames_outside_the_work_dir_are_named_as_they_are_when_none_is_the_recipes():
    raised = cause(
        [
            "Traceback (most recent call last):",
            '  File "/opt/venv/lib/torch/cuda/__init__.py", line 372, in _lazy_init',
            "RuntimeError: No CUDA GPUs are available",
        ]
    )
    assert raised is not None
    assert raised.where == "/opt/venv/lib/torch/cuda/__init__.py:372 in _lazy_init"


def test_only_torchruns_own_failure_is_no_cause():
    assert (
        cause(
            [
                "Traceback (most recent call last):",
                '  File "/opt/venv/bin/torchrun", line 10, in <module>',
                "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
            ]
        )
        is None
    )


def test_packed_code_is_smaller_and_runs_the_same(tmp_path):
    source = (
        "# a comment that the packing drops\n"
        + "\n".join(f"VALUE_{i} = {i} * 2  # doubled" for i in range(400))
        + "\nprint(VALUE_399)\n"
    )
    packed = packed_code(source)
    assert len(packed) < len(source.encode()) / 4
    assert packed.startswith(b"import lzma,base64\nexec(")
    (tmp_path / "packed.py").write_bytes(packed)
    out = subprocess.run([sys.executable, tmp_path / "packed.py"], capture_output=True, text=True)
    assert out.stdout == "798\n"


def test_tiny_or_unparsable_code_counts_as_written():
    assert packed_code("x = 1\n") == b"x = 1\n"
    newer = "type Pair[T] = tuple[T, T]\n" * 300  # 3.12 syntax: packed without stripping
    packed = packed_code(newer)
    assert lzma.decompress(base64.b85decode(packed.split(b'"')[1])) == newer.encode()


def test_placeholders_are_filled_and_unknown_braces_left_alone():
    values = Config(adapter="x", launch=()).values(Path("/w"), 3)
    assert expand("{work}/a-{seed}-{other}", values) == "/w/a-3-{other}"


def test_prepare_protects_evaluation_code_links_data_and_drops_stale_models(tmp_path):
    checkout, work, data = tmp_path / "checkout", tmp_path / "work", tmp_path / "data"
    for path, text in {
        "pkg/model.py": "upstream",
        "pkg/core_eval.py": "pristine",
        "pkg/util.py": "upstream util",
    }.items():
        (checkout / path).parent.mkdir(parents=True, exist_ok=True)
        (checkout / path).write_text(text)
    (work / "pkg").mkdir(parents=True)
    (work / "pkg" / "model.py").write_text("edited by an agent")
    (work / "pkg" / "core_eval.py").write_text("score = 1.0  # edited")
    for name in ("tokenizer", "base_checkpoints"):
        (data / name).mkdir(parents=True)
    (work / "final_model.int8.ptz").write_bytes(b"from the smoke run")
    config = Config(
        adapter="x",
        launch=(),
        artifact_files=("final_model*.ptz",),
        checkout=str(checkout),
        data=str(data),
        support=("pkg",),
        protected=("pkg/core_eval.py",),
        links={"cifar10": "{data}"},
        mirrors={".base": "{data}"},
    )
    workdir.prepare(config, work, config.values(work, 0))
    assert (work / "pkg" / "model.py").read_text() == "edited by an agent"  # the recipe wins
    assert (work / "pkg" / "util.py").read_text() == "upstream util"  # filled in
    assert (work / "pkg" / "core_eval.py").read_text() == "pristine"  # never the recipe's
    assert (work / "cifar10").resolve() == data
    assert (work / ".base" / "tokenizer").resolve() == data / "tokenizer"
    assert not (work / ".base" / "base_checkpoints").exists()  # each trial writes its own
    assert not (work / "final_model.int8.ptz").exists()  # never counted for a later run


def test_assemble_counts_packed_code_and_the_newest_model(tmp_path):
    (tmp_path / "train_gpt.py").write_text("x = 1\n")
    (tmp_path / "final_model.int8.ptz").write_bytes(b"\0" * 100)
    artifact = tmp_path / "artifacts" / "0"
    artifact.mkdir(parents=True)
    config = Config(
        adapter="x",
        launch=(),
        artifact_code=("train_gpt.py",),
        artifact_files=("final_model*.ptz",),
        cleanup=("final_model.int8.ptz",),
    )
    sizes = workdir.assemble(config, tmp_path, artifact)
    assert sizes == {"code_bytes": 6, "code_bytes_raw": 6, "model_bytes": 100}
    assert sorted(p.name for p in artifact.iterdir()) == ["final_model.int8.ptz", "train_gpt.py"]
    workdir.clean(config, tmp_path)
    assert not (tmp_path / "final_model.int8.ptz").exists()
    assert (artifact / "final_model.int8.ptz").exists()


def test_a_valid_result_becomes_a_score_line():
    line = line_for({"label": "", "score": 1.2, "measurements": {"val_bpb": 1.2}, "evidence": {}})
    assert line == {
        "score": 1.2,
        "measurements": {"val_bpb": 1.2},
        "illegal": "",
        "error": "",
        "label": "",
        "evidence": {},
    }


def test_an_overrun_result_names_its_label_and_fails_without_the_label_channel():
    line = line_for({"label": "eval_budget_overrun", "reason": "evaluation took 601.0 s"})
    assert line["label"] == "eval_budget_overrun"
    assert line["error"] == "eval_budget_overrun: evaluation took 601.0 s"
    assert line["score"] is None


def test_a_missing_result_is_an_error(tmp_path, capsys):
    artifact = tmp_path / "0"
    assert evaluate_main(["--artifact", str(artifact), "--unsafe-no-sandbox"]) == 0
    assert "wrote no result" in json.loads(capsys.readouterr().out)["error"]
    result_path(artifact).write_text(json.dumps({"label": "crash", "reason": "exited 1"}))
    evaluate_main(["--artifact", str(artifact)])
    assert json.loads(capsys.readouterr().out)["error"] == "exited 1"


def test_an_unknown_label_is_an_error():
    assert "unknown label" in line_for({"label": "bogus"})["error"]
