"""The result of resolving a request heading to a treatment, and the word tokens it rests on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True, slots=True)
class Resolution:
    """A request's treatment and DWC category; ``request[start:end]`` holds the words it rests on.

    ``confidence`` is "lexicon" for one exact row of the drug table taken as it is, "rule" for
    a service rule or anything a rule derived (forms, combinations, misspellings).
    """

    treatment: str
    generic_name: str | None
    category: str
    subcategory: str | None
    confidence: Literal["lexicon", "rule"]
    start: int
    end: int


class Words:
    """The alphanumeric words of ``text[lo:]``, lower-cased; spans are found only when asked."""

    __slots__ = ("_spans", "lo", "text", "unique", "words")

    def __init__(self, text: str, lo: int = 0) -> None:
        self.text, self.lo = text, lo
        # Lower-casing non-ASCII text can change its length; the words themselves are ASCII.
        if text.isascii():
            self.words: list[str] = _WORD.findall(text.lower(), lo)
        else:
            self.words = " ".join(_WORD.findall(text, lo)).lower().split()
        self.unique = frozenset(self.words)
        self._spans: list[tuple[int, int]] | None = None

    def span(self, i: int, j: int | None = None) -> tuple[int, int]:
        """The span in ``text`` of word ``i`` (through word ``j - 1`` when ``j`` is given)."""
        if self._spans is None:
            self._spans = [m.span() for m in _WORD.finditer(self.text, self.lo)]
        return self._spans[i][0], self._spans[(j or i + 1) - 1][1]
