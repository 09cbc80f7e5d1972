"""The first real error of a multi-process run, read from its interleaved output.

Under torchrun every rank prints its own traceback (recent PyTorch prefixes each line
with `[rank3]:`), then torchrun itself raises ChildFailedError with a traceback through
its own launcher. The last traceback in the log is therefore torchrun's, which names no
line of the recipe; the cause is the first rank's. So tracebacks are collected per rank
prefix as they stream past, a chained exception ("During handling of the above
exception...") replaces its cause, and the first one finished that is not torchrun's
own summary wins. Its location is the deepest frame inside the recipe's work dir, where
an agent can act, rather than a frame deep inside torch; it is named relative to
that dir, as the harness names a recipe's lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from evaluators.upstream.watch import Raised

_RANK = re.compile(r"^\[(?:rank|default)?(\d+)\]:\s?")
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<n>\d+)(?:, in (?P<func>.+))?$')
_RAISED = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
_START = "Traceback (most recent call last):"
_CHAINED = ("During handling of the above exception", "The above exception was the direct")
_LAUNCHER_ERRORS = ("ChildFailedError",)  # torchrun's summary of a failed worker
Frame = tuple[str, int, str]


@dataclass
class _Rank:
    """One rank's output: the traceback being read and whether it continues a chain."""

    frames: list[Frame] | None = None  # None: not inside a traceback
    chained: bool = False
    last: int | None = None  # index in `found` of this rank's latest exception


@dataclass
class Tracebacks:
    work: Path  # the recipe's files live here
    found: list[Raised] = field(default_factory=list)  # in the order they finished
    ranks: dict[str, _Rank] = field(default_factory=dict)

    def feed(self, line: str) -> None:
        prefix = _RANK.match(line)
        rank = prefix[1] if prefix else ""
        text = line[prefix.end() :] if prefix else line
        state = self.ranks.setdefault(rank, _Rank())
        if text.startswith(_START):
            state.frames = []
        elif text.startswith(_CHAINED):
            state.chained = True
        elif state.frames is not None:
            self._inside(state, state.frames, rank, text)

    def root_cause(self) -> Raised | None:
        causes = [r for r in self.found if r.type.rsplit(".", 1)[-1] not in _LAUNCHER_ERRORS]
        return causes[0] if causes else None

    def _inside(self, state: _Rank, frames: list[Frame], rank: str, text: str) -> None:
        frame = _FRAME.match(text)
        if frame:
            frames.append((frame["file"], int(frame["n"]), frame["func"] or ""))
            return
        if not text or text[0].isspace():
            return  # a source line or a caret line under a frame
        raised = _RAISED.match(text)
        if raised:
            self._finish(state, self._raised(raised, frames, rank))
        state.frames = None

    def _finish(self, state: _Rank, raised: Raised) -> None:
        if state.chained and state.last is not None:
            self.found[state.last] = raised  # the exception that ended the chain
        else:
            state.last = len(self.found)
            self.found.append(raised)
        state.chained = False

    def _raised(self, match: re.Match[str], frames: list[Frame], rank: str) -> Raised:
        ours = [f for f in frames if self._is_recipe(f[0])]
        file, line, func = (ours or frames or [("", 0, "")])[-1]
        if ours:  # `train_gpt.py:812`, as the harness names the recipe's own lines
            file = Path(file).relative_to(self.work).as_posix()
        message = (match["message"] or "").strip()
        return Raised(match["type"], message, file, line, func, rank)

    def _is_recipe(self, file: str) -> bool:
        path = Path(file)
        return path.is_absolute() and path.is_relative_to(self.work)
