"""run_measured on real processes (unsafe mode, no sandbox) and parse_exception."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from domain.reports import ExceptionInfo, ProcessReport
from evaluators.harness.output import LOG_HEAD_BYTES, LOG_TAIL_BYTES
from evaluators.harness.process import parse_exception, run_measured
from evaluators.harness.sandbox import SandboxSpec

ENV = {"PATH": "/usr/bin:/bin"}


def measure(code: str, work: Path, timeout_s: float = 10, **kwargs: Any) -> ProcessReport:
    spec = SandboxSpec(work_dir=work, enabled=False)
    argv = [sys.executable, "-c", textwrap.dedent(code)]
    return run_measured(
        argv, spec, env=ENV, cwd=work, timeout_s=timeout_s, log_path=work / "log",
        **kwargs,
    )  # fmt: skip


def test_stdout_lines_go_to_the_callback_and_both_streams_to_the_log(
    tmp_path: Path,
) -> None:
    (tmp_path / "log").write_bytes(b"earlier run\n")
    lines: list[str] = []
    code = """
        import sys
        print('{"step": 1, "loss": 2.5}', flush=True)
        print("to stderr", file=sys.stderr, flush=True)
        sys.stdout.write("last line, no newline")
    """
    report = measure(code, tmp_path, on_stdout_line=lines.append)
    assert report.rc == 0
    assert not report.timed_out
    assert report.exception is None
    assert lines == ['{"step": 1, "loss": 2.5}', "last line, no newline"]
    log = (tmp_path / "log").read_text()
    assert log.startswith("earlier run\n")  # appended, not replaced
    assert "to stderr" in log
    assert '"step": 1' in log
    assert "to stderr" in report.log_tail


def test_a_failure_reports_its_exit_code_and_exception(tmp_path: Path) -> None:
    code = """
        def train():
            raise ValueError("loss is nan")
        train()
    """
    report = measure(code, tmp_path)
    assert report.rc == 1
    assert report.exception == ExceptionInfo(
        type="ValueError", message="loss is nan", where="<string>:3 in train"
    )


def test_the_wall_clock_cap_kills_the_process(tmp_path: Path) -> None:
    report = measure("import time; time.sleep(30)", tmp_path, timeout_s=0.5)
    assert report.timed_out
    assert report.rc == -signal.SIGKILL
    assert 0.5 <= report.wall_s < 3


def test_time_cpu_and_memory_are_measured_over_the_reaped_tree(tmp_path: Path) -> None:
    code = """
        import os, time
        def burn(seconds):
            start = time.process_time()
            while time.process_time() - start < seconds:
                pass
        if os.fork() == 0:  # a child's CPU counts once it is reaped
            burn(0.3)
            os._exit(0)
        block = bytearray(200 << 20)  # touched: zero-filled pages count as resident
        burn(0.3)
        os.wait()
        time.sleep(0.3)
    """
    report = measure(code, tmp_path)
    assert report.rc == 0
    assert report.cpu_s >= 0.55  # both processes, not just the main one
    assert report.peak_rss_mb >= 200
    assert report.wall_s >= 0.6


def test_a_child_that_closes_stdout_is_still_waited_for(tmp_path: Path) -> None:
    code = """
        import os, sys, time
        os.close(1)
        time.sleep(1)
        sys.exit(3)
    """
    report = measure(code, tmp_path)
    assert report.rc == 3
    assert not report.timed_out
    assert report.wall_s >= 1


def test_a_child_that_closes_stdout_is_still_killed_at_the_cap(tmp_path: Path) -> None:
    code = "import os, time; os.close(1); os.close(2); time.sleep(30)"
    report = measure(code, tmp_path, timeout_s=0.5)
    assert report.timed_out
    assert report.wall_s < 3


def test_an_escaped_process_holding_the_pipes_does_not_hang_us(tmp_path: Path) -> None:
    code = """
        import os, time
        if os.fork() == 0:
            os.setsid()  # leaves the group that kill() ends
            print(os.getpid(), flush=True)
            time.sleep(30)
            os._exit(0)
        time.sleep(0.5)
    """
    lines: list[str] = []
    started = time.monotonic()
    report = measure(code, tmp_path, on_stdout_line=lines.append)
    try:
        assert report.rc == 0
        assert time.monotonic() - started < 5
    finally:
        os.kill(int(lines[0]), signal.SIGKILL)


def test_huge_output_keeps_the_head_and_tail_of_the_log_in_bounded_memory(
    tmp_path: Path,
) -> None:
    code = """
        import sys
        for block in range(64):
            rows = (b"%07d" % (block * 1024 + i) + b"x" * 1016 + b"\\n" for i in range(1024))
            sys.stdout.buffer.write(b"".join(rows))
    """
    count = 0

    def on_line(line: str) -> None:
        nonlocal count
        count += 1

    tracemalloc.start()
    try:
        report = measure(code, tmp_path, on_stdout_line=on_line)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.rc == 0
    assert count == 64 * 1024  # every line was seen; the log keeps 8 of the 64 MiB
    log = (tmp_path / "log").read_bytes()
    note = f"\n[autorecipe: {56 << 20:,} bytes of output left out here:".encode()
    assert log.startswith(b"0000000x")
    assert log[: LOG_HEAD_BYTES + len(note)].endswith(note)
    assert log.endswith(b"0065535" + b"x" * 1016 + b"\n")
    assert len(log) == log.index(b"]\n", LOG_HEAD_BYTES) + 2 + LOG_TAIL_BYTES
    assert peak < LOG_TAIL_BYTES + (2 << 20)  # 64 MiB went through; the tail stayed
    assert len(report.log_tail) <= 2000


def test_an_overlong_stdout_line_is_logged_but_not_passed_on(tmp_path: Path) -> None:
    code = "print('y' * 300_000); print('short')"
    lines: list[str] = []
    report = measure(code, tmp_path, on_stdout_line=lines.append)
    assert report.rc == 0
    assert lines == ["short"]
    assert (tmp_path / "log").stat().st_size == 300_000 + len("\nshort\n")


def test_stdin_data_and_output_flow_together_without_deadlock(tmp_path: Path) -> None:
    payload = os.urandom(4 << 20)  # far more than a pipe buffer, both ways
    code = """
        import hashlib, sys
        data = sys.stdin.buffer.read()
        sys.stdout.buffer.write(data)
        sys.stderr.write(hashlib.sha256(data).hexdigest())
    """
    report = measure(code, tmp_path, stdin_data=payload)
    assert report.rc == 0
    log = (tmp_path / "log").read_bytes()
    assert payload in log
    assert report.log_tail.endswith(hashlib.sha256(payload).hexdigest())


def test_a_raising_callback_propagates_and_leaves_no_process(tmp_path: Path) -> None:
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(30)"
    pids: list[int] = []

    def on_line(line: str) -> None:
        pids.append(int(line))
        raise RuntimeError("bad progress line")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="bad progress line"):
        measure(code, tmp_path, on_stdout_line=on_line)
    assert time.monotonic() - started < 5
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pids[0], 0)


def test_rlimits_apply_in_unsafe_mode_too(tmp_path: Path) -> None:
    code = """
        import resource
        print(resource.getrlimit(resource.RLIMIT_AS)[0] >> 20)
        print(resource.getrlimit(resource.RLIMIT_FSIZE)[0] >> 20)
    """
    lines: list[str] = []
    report = measure(code, tmp_path, on_stdout_line=lines.append)
    assert report.rc == 0
    assert lines == ["4096", "256"]


# parse_exception on the layouts Python prints.

TRACEBACK = """\
step 10 loss 2.1
Traceback (most recent call last):
  File "/work/train.py", line 40, in <module>
    main()
  File "/work/train.py", line 12, in main
    loss = step(batch)
           ^^^^^^^^^^^
KeyError: 'input_ids'
"""

CHAINED = """\
Traceback (most recent call last):
  File "/work/train.py", line 3, in load
    open("x")
FileNotFoundError: [Errno 2] No such file or directory: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/work/train.py", line 9, in <module>
    load()
  File "/work/train.py", line 5, in load
    raise RuntimeError("no data: see above")
RuntimeError: no data: see above
"""

MEMORY = """\
Traceback (most recent call last):
  File "/work/train.py", line 2, in <module>
    x = bytearray(1 << 40)
MemoryError
"""

SYNTAX = """\
  File "/work/train.py", line 7
    def f(:
          ^
SyntaxError: invalid syntax
"""

SYNTAX_ON_IMPORT = """\
Traceback (most recent call last):
  File "/work/train.py", line 1, in <module>
    import model
  File "/work/model.py", line 3
    return x +
              ^
SyntaxError: invalid syntax
"""

DOTTED = """\
Traceback (most recent call last):
  File "<frozen runpy>", line 88, in _run_code
numpy.core._exceptions._ArrayMemoryError: Unable to allocate 8.00 TiB
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TRACEBACK, ("KeyError", "'input_ids'", "/work/train.py:12 in main")),
        (CHAINED, ("RuntimeError", "no data: see above", "/work/train.py:5 in load")),
        (MEMORY, ("MemoryError", "", "/work/train.py:2 in <module>")),
        (SYNTAX, ("SyntaxError", "invalid syntax", "/work/train.py:7")),
        (SYNTAX_ON_IMPORT, ("SyntaxError", "invalid syntax", "/work/model.py:3")),
        (
            DOTTED,
            (
                "numpy.core._exceptions._ArrayMemoryError",
                "Unable to allocate 8.00 TiB",
                "<frozen runpy>:88 in _run_code",
            ),
        ),
    ],
)
def test_parse_exception_layouts(text: str, expected: tuple[str, str, str]) -> None:
    found = parse_exception(text)
    assert found is not None
    assert (found.type, found.message, found.where) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Killed\n",
        "error: loss diverged at step 40\n",
        # cut off before its exception line: no guess
        'Traceback (most recent call last):\n  File "/w/t.py", line 1, in <module>\n',
    ],
)
def test_parse_exception_needs_a_traceback(text: str) -> None:
    assert parse_exception(text) is None
