"""Case-blind patterns made cheap: read in lowercase text, and behind a literal test.

A pattern compiled with re.I folds the case of every character it compares, and cannot skip
an alternative by its first letter; the same pattern in lowercase, without re.I, run on
``fold``-ed text (the same length, the same word and space characters) finds the same spans
about twice as fast (``caseless``). And most sentences hold none of a pattern's words: a
substring test skips them for a small share of a regex scan.

Two kinds of words. A ``Rule``'s ``keys`` were written as part of the rule: they are tested
in ``str.lower()`` text and decide, with the pattern, what the rule finds. A ``Keyed``
pattern's or a ``Negated`` phrase's ``keys`` are words that every match holds, so testing
them first changes nothing but the time taken; they are tested in ``fold``-ed text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from imr_llm.models import Reason

# Letters that re.I matches to an ASCII letter str.lower() does not give them (U+0130 also
# lowers to two characters). Found by trying every code point against a-z.
_FOLD = str.maketrans("\u0130\u0131\u017f", "iis")


def fold(text: str) -> str:
    """``text`` with each letter as re.I sees it, one character for one: a literal word of a
    case-blind pattern that is not in ``fold(text)`` cannot match ``text``."""
    return (text if text.isascii() else text.translate(_FOLD)).lower()


def caseless(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``pattern`` (written for re.I) compiled to run on ``fold``-ed text: its letters are
    lowered, except the one after a backslash (``\\S``, ``\\W``, ``\\B`` mean other things)."""
    if "(?P" in pattern or "(?i" in pattern:
        raise ValueError("caseless patterns take no group names or inline flags")
    out, escaped = [], False
    for char in pattern:
        out.append(char if escaped else char.lower())
        escaped = not escaped and char == "\\"
    return re.compile("".join(out), flags & ~re.I)


@dataclass(frozen=True, slots=True)
class Text:
    """A sentence and its lowercase forms, made once for every pattern that reads it."""

    body: str
    lower: str  # body.lower(): what the rules' own keys are tested in
    folded: str  # fold(body): what the necessary words are tested in

    @classmethod
    def of(cls, body: str) -> Text:
        lower = body.lower()
        return cls(body, lower, lower if body.isascii() else fold(body))


def _holds(text: str, words: Sequence[str]) -> bool:
    # A loop, not any() over a generator (a quarter slower): this runs 200 times a letter.
    for word in words:  # noqa: SIM110
        if word in text:
            return True
    return False


def words(spec: str) -> tuple[str, ...]:
    """Words written "a|b|c"."""
    return tuple(spec.split("|")) if spec else ()


@dataclass(frozen=True, slots=True)
class Keyed:
    """A pattern and words one of which every match holds (written from the pattern)."""

    pattern: re.Pattern[str]
    keys: tuple[str, ...]

    def search(self, text: Text) -> re.Match[str] | None:
        return self.pattern.search(text.folded) if _holds(text.folded, self.keys) else None


def keyed(pattern: str, keys: str, flags: int = 0) -> Keyed:
    """A ``caseless`` pattern with the words every match holds, written "a|b|c"."""
    return Keyed(caseless(pattern, flags), words(keys))


@dataclass(frozen=True, slots=True)
class Negated:
    """A phrase negated in its clause ("no red flags", "red flags were not noted").

    ``keys``, when given, are words every match of ``phrase`` holds.
    """

    phrase: re.Pattern[str]
    negated: re.Pattern[str]
    keys: tuple[str, ...] = ()

    def search(self, text: Text) -> re.Match[str] | None:
        if self.keys and not _holds(text.folded, self.keys):
            return None
        # The phrase alone first: most sentences lack it, and a sentence full of negations
        # would otherwise cost a window scan after every one of them.
        return self.negated.search(text.folded) if self.phrase.search(text.folded) else None


@dataclass(frozen=True, slots=True)
class Rule:
    """A code and its ``caseless`` pattern, tried only on a sentence that holds one of its
    keys (part of the rule, not implied by the pattern: tested in ``lower()`` text)."""

    reason: Reason
    pattern: re.Pattern[str] | Negated
    keys: tuple[str, ...] = ()

    def search(self, text: Text) -> re.Match[str] | None:
        """The first match in the sentence."""
        if self.keys and not _holds(text.lower, self.keys):
            return None
        if isinstance(self.pattern, Negated):
            return self.pattern.search(text)
        return self.pattern.search(text.folded)


def rule(reason: Reason, pattern: re.Pattern[str] | Negated, keys: str = "") -> Rule:
    """A ``Rule`` with its keys written "a|b|c"."""
    return Rule(reason, pattern, words(keys))
