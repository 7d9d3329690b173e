"""What a text field's values leave out of their lines, learned by the shape of the first and last words: a line
"99 SPEED MART S/B (519537-X)" whose value is "99 SPEED MART S/B" teaches that a last word shaped "(9-A)" (a
registration number) is dropped; a shape is dropped when the training values dropped it more often than kept it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from headstart.data.field_align import compact

MIN_DROPPED = 2  # a shape is learned from at least this many values that left it out
_DIGITS = re.compile(r"\d+")
_LETTERS = re.compile(r"[^\W\d_]+")


def shape(word: str) -> str:
    """A word's shape: runs of digits as 9, of letters as A ("(519537-X)" -> "(9-A)", "DIMILIKI:" -> "A:")."""
    return _LETTERS.sub("A", _DIGITS.sub("9", word))


class EdgeTrimmer:
    """Drops a value's first / last word when its shape is one the training values left out."""

    def __init__(self, head: Iterable[str] = (), tail: Iterable[str] = ()) -> None:
        self.head = set(head)
        self.tail = set(tail)

    def fit(self, examples: Iterable[tuple[str, str]]) -> None:
        """`examples`: (the text of the lines a value was found on, the value)."""
        counts: dict[tuple[str, str], list[int]] = {}
        for text, value in examples:
            words = text.split()
            target = compact(value)
            if len(words) < 2 or not target:
                continue
            for end, word in (("head", words[0]), ("tail", words[-1])):
                piece = compact(word)
                if not piece:
                    continue
                kept = target.startswith(piece) if end == "head" else target.endswith(piece)
                tally = counts.setdefault((end, shape(word)), [0, 0])
                tally[0 if kept else 1] += 1
        dropped = {key for key, (kept, gone) in counts.items() if gone >= MIN_DROPPED and gone > kept}
        self.head = {s for end, s in dropped if end == "head"}
        self.tail = {s for end, s in dropped if end == "tail"}

    def __call__(self, text: str) -> str:
        words = text.split(" ")
        if len(words) > 1 and shape(words[-1]) in self.tail:
            words = words[:-1]
        if len(words) > 1 and shape(words[0]) in self.head:
            words = words[1:]
        return " ".join(words)

    def state(self) -> dict[str, Any]:
        return {"head": sorted(self.head), "tail": sorted(self.tail)}

    @classmethod
    def from_state(cls, config: Mapping[str, Any]) -> EdgeTrimmer:
        return cls(config.get("head", ()), config.get("tail", ()))
