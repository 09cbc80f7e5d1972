"""The core-cpu suite: four multiple-choice tasks built deterministically from held-out plays.

Each item is a context and a few continuations, one of them the real text. A model
answers with the continuation it gives the highest mean log-probability per byte
(nanochat's CORE rule for multiple choice); `scoring` computes that on the trusted side.

* next_word: a line cut before a word; the real word or 3 other words of the same
  length from the held-out plays (each distinct word equally likely, in the real
  word's letter case).
* shuffled_line: the real line or the same line with every word but the first shuffled
  (the first stays: its capital would give the answer away).
* speaker: the two short speeches before a speech, headings included; the real
  speaker's heading (`NAME.`) or 3 others from the same stretch of the play (then the
  play's most frequent speakers), never the one who just spoke: who speaks next is in
  the context, if anywhere, and the names there tell it.
* continuation: a line cut at a word boundary near its middle; its real rest or the
  rests of 3 other held-out lines cut the same way.

Answer lines that occur as whole lines anywhere in the training text are never used.
Every item comes with its position (play, speech, line), by which prepare.py splits the
suite into validation and test items.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CHOICES = {"next_word": 4, "shuffled_line": 2, "speaker": 4, "continuation": 4}
CONTEXT_CHARS = 64  # characters of context kept before each continuation
SPEAKER_CONTEXT = 110  # the two speeches before a speaker item fit in this many
SPEAKER = re.compile(r"^[A-Z][A-Z0-9 ,'&-]*[A-Z]\.$")
WORD = re.compile(r"^[A-Za-z][a-z']{2,}$")  # letters (and apostrophes), 3 or more
LOCAL_SPEECHES = 8  # speeches either side whose speakers make the distractors


@dataclass(frozen=True)
class Item:
    task: str
    context: str
    choices: tuple[str, ...]
    answer: int


Position = tuple[int, int, int]  # (play, speech, line) of the line an item is built at


@dataclass(frozen=True)
class Speech:
    speaker: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Play:
    speeches: tuple[Speech, ...]

    def preamble(self, speech: int) -> str:
        """The last few speeches before speech `speech`, as printed."""
        return "".join(_render(s) for s in self.speeches[max(0, speech - 4) : speech])

    def before(self, speech: int, line: int) -> str:
        """The play as printed up to (not including) line `line` of speech `speech`."""
        current = self.speeches[speech]
        head = current.speaker + ".\n" + "".join(x + "\n" for x in current.lines[:line])
        return self.preamble(speech) + head

    def lines(self) -> list[str]:
        return [line for speech in self.speeches for line in speech.lines]


def _render(speech: Speech) -> str:
    return speech.speaker + ".\n" + "".join(line + "\n" for line in speech.lines) + "\n"


def parse_play(text: str) -> Play:
    """Speeches in order: paragraphs headed by an upper-case `NAME.` line, from Act I on."""
    start = re.search(r"^(ACT|SCENE) ", text, flags=re.M)
    body = text[start.start() :] if start else text
    speeches = []
    for paragraph in body.replace("\r\n", "\n").split("\n\n"):
        head, *rest = paragraph.strip("\n").split("\n")
        lines = tuple(x.strip() for x in rest if x.strip() and not x.lstrip().startswith("["))
        if SPEAKER.match(head.strip()) and lines:
            speeches.append(Speech(head.strip().removesuffix("."), lines))
    return Play(tuple(speeches))


def context_of(text: str) -> str:
    return text[-CONTEXT_CHARS:]


def _shuffled(rng: random.Random, choices: list[str], answer: str) -> tuple[tuple[str, ...], int]:
    rng.shuffle(choices)
    return tuple(choices), choices.index(answer)


def _like(word: str, model: str) -> str:
    """`word` in the letter case of `model` (lower, Capitalised or UPPER)."""
    if model.isupper():
        return word.upper()
    return word.capitalize() if model[0].isupper() else word.lower()


class Builder:
    """Draws the items of every task from the same plays with one seeded generator."""

    def __init__(self, plays: Sequence[Play], seen_lines: set[str], seed: int) -> None:
        self.plays = list(plays)
        self.seen = seen_lines
        self.rng = random.Random(seed)  # noqa: S311  (seeded, reproducible draws)
        self.all_lines = sorted({x for p in self.plays for x in p.lines() if len(x) >= 15})
        words = [w.strip(",.;:!?") for x in self.all_lines for w in x.split()]
        self.words: dict[int, list[str]] = {}
        for word in sorted(set(filter(WORD.match, words))):
            self.words.setdefault(len(word), []).append(word)

    def fresh(self, line: str) -> bool:
        return line not in self.seen

    def positions(self) -> list[Position]:
        """(play, speech, line) of every line of every speech."""
        return [
            (p, s, j)
            for p, play in enumerate(self.plays)
            for s, speech in enumerate(play.speeches)
            for j in range(len(speech.lines))
        ]

    def next_word(self, p: int, s: int, j: int) -> Item | None:
        line = self.plays[p].speeches[s].lines[j]
        words = line.split()
        spots = [k for k in range(2, len(words)) if WORD.match(words[k])]
        spots = [k for k in spots if len(self.words.get(len(words[k]), ())) > 10]
        if len(words) < 4 or not spots or not self.fresh(line):
            return None
        k = self.rng.choice(spots)
        real = words[k]
        prefix = self.plays[p].before(s, j) + " ".join(words[:k]) + " "
        others: list[str] = []
        while len(others) < CHOICES["next_word"] - 1:
            other = _like(self.rng.choice(self.words[len(real)]), real)
            if other.lower() != real.lower() and other not in others:
                others.append(other)
        choices, answer = _shuffled(self.rng, [real, *others], real)
        return Item("next_word", context_of(prefix), choices, answer)

    def shuffled_line(self, p: int, s: int, j: int) -> Item | None:
        line = self.plays[p].speeches[s].lines[j]
        words = line.split()
        if not 5 <= len(words) <= 10 or not self.fresh(line) or len(set(words[1:])) < 2:
            return None
        tail = words[1:]
        mixed = tail[:]
        while mixed == tail:
            self.rng.shuffle(mixed)
        choices, answer = _shuffled(self.rng, [line, " ".join([words[0], *mixed])], line)
        return Item("shuffled_line", context_of(self.plays[p].before(s, j)), choices, answer)

    def speaker(self, p: int, s: int, j: int) -> Item | None:
        play = self.plays[p]
        context = "".join(_render(x) for x in play.speeches[max(0, s - 2) : s])
        if j != 0 or s < 2 or len(context) > SPEAKER_CONTEXT:
            return None  # one item per speech, and only after two short speeches
        real = play.speeches[s].speaker
        near = play.speeches[max(0, s - LOCAL_SPEECHES) : s + LOCAL_SPEECHES]
        last = play.speeches[s - 1].speaker
        cast = [x for x in dict.fromkeys(x.speaker for x in near) if x not in (real, last)]
        common = [n for n, _ in Counter(x.speaker for x in play.speeches).most_common()]
        pool = cast + [n for n in common if n not in (real, last) and n not in cast]
        need = CHOICES["speaker"] - 1
        others = self.rng.sample(cast, need) if len(cast) >= need else pool[:need]
        names = [x + "." for x in (real, *others)]
        choices, answer = _shuffled(self.rng, names, names[0])
        return Item("speaker", context, choices, answer)

    def continuation(self, p: int, s: int, j: int) -> Item | None:
        line = self.plays[p].speeches[s].lines[j]
        if len(line.split()) < 6 or not self.fresh(line):
            return None
        head, rest = _cut(line)
        others: list[str] = []
        while len(others) < CHOICES["continuation"] - 1:
            other = _cut(self.rng.choice(self.all_lines))[1]
            if other and other != rest and other not in others:
                others.append(other)
        choices, answer = _shuffled(self.rng, [rest, *others], rest)
        context = context_of(self.plays[p].before(s, j) + head)
        return Item("continuation", context, choices, answer)


def _cut(line: str) -> tuple[str, str]:
    """The line up to the word boundary nearest its middle (with the space), and the rest."""
    words = line.split(" ")
    if len(words) < 2:
        return line, ""
    middle = min(range(1, len(words)), key=lambda k: abs(len(" ".join(words[:k])) - len(line) / 2))
    return " ".join(words[:middle]) + " ", " ".join(words[middle:])


def build_suite(
    plays: Sequence[Play], seen_lines: set[str], per_task: int, seed: int
) -> list[tuple[Position, Item]]:
    """`per_task` items of each task, from positions drawn without replacement, each
    with the position it was built at."""
    builder = Builder(plays, seen_lines, seed)
    makers: dict[str, Callable[[int, int, int], Item | None]] = {
        "next_word": builder.next_word,
        "shuffled_line": builder.shuffled_line,
        "speaker": builder.speaker,
        "continuation": builder.continuation,
    }
    items: list[tuple[Position, Item]] = []
    for task, make in makers.items():
        order = builder.positions()
        builder.rng.shuffle(order)
        made = ((pos, item) for pos in order if (item := make(*pos)) is not None)
        chosen = [placed for _, placed in zip(range(per_task), made, strict=False)]
        if len(chosen) < per_task:
            raise ValueError(f"{task}: only {len(chosen)} items, {per_task} wanted")
        items.extend(chosen)
    return items
