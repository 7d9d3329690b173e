"""The corrections a text field's values make to the words their lines were read as, learned from the training
documents: "SDN BND" -> "SDN BHD", "KWANSAN" -> "KAWASAN". A word is corrected only when the training values
changed its letters or digits more often than they kept it, so what the values fix is fixed again on new documents
of the same shops and nothing else changes (spacing and punctuation are left alone: the values disagree there)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from difflib import SequenceMatcher
from typing import Any

from headstart.data.field_align import compact

MIN_SIMILAR = 0.5  # a changed word must still look like the one it replaces (not a different word)


class WordCorrections:
    """Word -> replacement, applied to whole words of a decoded value."""

    def __init__(self, replace: Mapping[str, str] | None = None) -> None:
        self.replace = dict(replace or {})

    def fit(self, examples: Iterable[tuple[str, str]]) -> None:
        """`examples`: (the text of the lines a value was found on, joined as decoded; the value)."""
        changed: dict[str, dict[str, int]] = {}
        kept: dict[str, int] = {}
        for text, value in examples:
            read, wanted = text.split(), value.split()
            if not read or not wanted:
                continue
            for op, a0, a1, b0, b1 in SequenceMatcher(None, read, wanted, autojunk=False).get_opcodes():
                if op == "equal":
                    for word in read[a0:a1]:
                        kept[word] = kept.get(word, 0) + 1
                elif op == "replace":
                    pairs = (
                        list(zip(read[a0:a1], wanted[b0:b1], strict=True))
                        if a1 - a0 == b1 - b0
                        else [(" ".join(read[a0:a1]), " ".join(wanted[b0:b1]))]
                    )
                    for before, after in pairs:
                        if compact(before) == compact(after):
                            continue  # spacing and punctuation: the values disagree among themselves there
                        similar = SequenceMatcher(None, compact(before), compact(after), autojunk=False).ratio()
                        if similar >= MIN_SIMILAR:
                            row = changed.setdefault(before, {})
                            row[after] = row.get(after, 0) + 1
        self.replace = {}
        for before, options in changed.items():
            after, count = max(options.items(), key=lambda item: (item[1], item[0]))
            if count > kept.get(before, 0):
                self.replace[before] = after

    def __call__(self, text: str) -> str:
        if not self.replace:
            return text
        words = text.split(" ")
        out: list[str] = []
        at = 0
        while at < len(words):
            pair = " ".join(words[at : at + 2])
            if at + 1 < len(words) and pair in self.replace:
                out.append(self.replace[pair])
                at += 2
                continue
            out.append(self.replace.get(words[at], words[at]))
            at += 1
        return " ".join(out)

    def state(self) -> dict[str, Any]:
        return {"replace": dict(sorted(self.replace.items()))}

    @classmethod
    def from_state(cls, config: Mapping[str, Any]) -> WordCorrections:
        return cls({str(k): str(v) for k, v in config.get("replace", {}).items()})
