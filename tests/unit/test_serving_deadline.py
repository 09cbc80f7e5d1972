"""How long the evaluate command waits on its model servers: past the harness's wall
backstop when it is given one, a margin before --eval-seconds when run standalone."""

from __future__ import annotations

import pytest

from evaluators.harness.evaluation import BACKSTOP_ENV
from evaluators.serving.servers import MARGIN_SECONDS, parse_run

ARGS = ["--artifact", "a", "--heldout", "h", "--eval-seconds", "20"]


def test_standalone_it_stops_a_margin_before_the_eval_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(BACKSTOP_ENV, raising=False)
    run = parse_run("x", ARGS)
    assert run.backstop_s is None
    assert run.wait_seconds() == 20 - MARGIN_SECONDS


def test_under_the_harness_it_waits_past_the_backstop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKSTOP_ENV, "75.0")
    run = parse_run("x", ARGS)
    assert run.backstop_s == 75.0
    assert run.wait_seconds() > 75.0  # the harness's stop, and its label, always come first


@pytest.mark.parametrize("raw", ["soon", "0", "-3", "nan", "inf"])
def test_a_bad_backstop_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], raw: str
) -> None:
    monkeypatch.setenv(BACKSTOP_ENV, raw)
    with pytest.raises(SystemExit) as stopped:
        parse_run("x", ARGS)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"{BACKSTOP_ENV} must be a positive number of seconds, not '{raw}'" in err
    assert "Traceback" not in err
