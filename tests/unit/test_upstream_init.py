"""`init` makes a loadable task folder from a checkout, and says why when it cannot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from evaluators.tasks import TaskError, load, resolve
from evaluators.upstream.init import PROJECT_ROOT, InitError, main, make_task
from tests.upstream_support import fake_checkout


def test_the_folder_is_an_upstream_task_with_baked_paths(tmp_path):
    checkout, data = fake_checkout(tmp_path, "parameter-golf")
    out = make_task(
        "parameter-golf",
        checkout,
        data,
        Path(sys.executable),
        tmp_path / "t",
        env={"DATA_PATH": "/elsewhere"},
        cache=tmp_path / "cache",
    )
    task = load(str(out))
    assert task.spec.kind == "upstream"
    assert task.spec.size_cap_bytes == 16_000_000
    assert task.seed_recipe() == {"train_gpt.py": (checkout / "train_gpt.py").read_text()}
    assert f"PYTHONPATH={PROJECT_ROOT}" in task.spec.commands.train
    config = json.loads((out / "upstream.json").read_text())
    assert config["checkout"] == str(checkout)
    assert config["env"]["DATA_PATH"] == "/elsewhere"  # the user's value wins
    assert config["env"]["TOKENIZER_PATH"] == "{data}/tokenizers/fineweb_1024_bpe.model"
    assert config["env"]["TRITON_CACHE_DIR"] == str(tmp_path / "cache" / "triton")
    assert config["forced_env"]["MAX_WALLCLOCK_SECONDS"] == "600"
    assert config["phases"]["train_seconds"] == 600


def test_a_checkout_without_the_recipe_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InitError, match=r"missing train_gpt\.py"):
        make_task(
            "parameter-golf", tmp_path / "empty", tmp_path, Path(sys.executable), tmp_path / "t"
        )
    assert not (tmp_path / "t").exists()


def test_a_folder_in_use_is_replaced_only_when_forced(tmp_path):
    checkout, data = fake_checkout(tmp_path, "airbench96")
    args = [
        "airbench96",
        "--checkout",
        str(checkout),
        "--data",
        str(data),
        "--python",
        sys.executable,
        "--out",
        str(tmp_path / "t"),
    ]
    assert main(args) == 0
    assert main(args) == 1  # not empty
    assert main([*args, "--force", "--env", "X=1"]) == 0
    assert json.loads((tmp_path / "t" / "upstream.json").read_text())["env"]["X"] == "1"


def test_a_missing_interpreter_is_named(tmp_path, capsys):
    checkout, data = fake_checkout(tmp_path, "airbench96")
    code = main(
        [
            "airbench96",
            "--checkout",
            str(checkout),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "t"),
        ]
    )
    assert code == 1
    assert ".venv/bin/python: no interpreter there" in capsys.readouterr().err


def test_an_adapter_name_as_task_says_how_to_make_the_folder():
    with pytest.raises(TaskError, match=r"python -m evaluators\.upstream\.init nanochat-d12"):
        resolve("nanochat-d12")
    assert resolve("golf-cpu").name == "golf_cpu"  # built-ins as before
