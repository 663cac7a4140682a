"""Normalize letter text from any PDF extractor, keeping a map back to the original."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

# Words joined by single plain spaces: copied verbatim, so offsets map one to one.
_RUN = re.compile(r"\S+(?: \S+)*")
# A carriage return not followed by a line feed ends a line too (old Mac text; PDF text).
_LONE_CR = re.compile(r"\r(?!\n)")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A soft hyphen marks where a word may break; at a line end the word goes on below.
_SOFT_HYPHEN = "\u00ad"


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalized text plus the offsets needed to map spans back to the original.

    Lines are joined by one newline and paragraphs by a blank line; runs of spaces inside
    a line become one space. Every token is copied verbatim, so ``starts[i]`` (normalized)
    and ``origins[i]`` (original) mark where token ``i`` begins in each text.
    """

    text: str
    starts: tuple[int, ...]
    origins: tuple[int, ...]
    lengths: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalized span ``[start, end)`` to the original text."""
        starts, origins, lengths = self.starts, self.origins, self.lengths
        if not starts:
            return 0, 0
        i = max(bisect_right(starts, start) - 1, 0)
        offset = start - starts[i]
        if offset < lengths[i]:
            a = origins[i] + offset
        elif i + 1 < len(starts):  # a synthetic separator: the next token's start
            a = origins[i + 1]
        else:
            a = origins[i] + lengths[i]
        if end <= start:
            return a, a
        j = max(bisect_right(starts, end - 1) - 1, 0)
        offset = end - 1 - starts[j]
        b = origins[j] + (offset + 1 if offset < lengths[j] else lengths[j])
        # A span that covers only a synthetic separator is the point between two tokens.
        return (a, b) if a <= b else (b, b)


def _double_spaced(gaps: list[int]) -> bool:
    """True when the extractor put a blank line after every line (the seeds' layout)."""
    breaks = [n for n in gaps if n > 0]
    # Without a wider gap to mark paragraphs, blank lines are paragraph breaks. This also
    # keeps normalize idempotent: its own output has no gap wider than one blank line.
    if len(breaks) < 4 or max(breaks) < 3:
        return False
    # Double spacing leaves no plain single line break anywhere.
    return sum(1 for n in breaks if n == 1) <= 0.02 * len(breaks)


def _pieces(text: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Runs of text between whitespace gaps, and the newlines in the gap before each."""
    spans: list[tuple[int, int]] = []
    before: list[int] = []
    newlines = pos = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            start = pos + len(line) - len(line.lstrip())
            if stripped.isprintable() and "  " not in stripped:
                spans.append((start, start + len(stripped)))
                before.append(newlines)
            else:  # tabs, runs of spaces or odd unicode spaces inside the line
                for i, m in enumerate(_RUN.finditer(stripped)):
                    spans.append((start + m.start(), start + m.end()))
                    before.append(newlines if i == 0 else 0)
            newlines = 0
        newlines += 1
        pos += len(line) + 1
    return spans, before


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate code point replaced by U+FFFD (same length).

    A decoded file never holds one, but a ``str`` handed to the Python API may; a row quoting
    it could not be written as JSON. Offsets are unchanged, so spans still hold.
    """
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def normalize(text: str) -> Normalized:
    """Collapse whitespace, rejoin hyphenated line breaks and mark paragraphs."""
    # Same length, so offsets into either text are the same.
    lines = _LONE_CR.sub("\n", text) if "\r" in text else text
    spans, before = _pieces(lines)
    paragraph_at = 3 if _double_spaced(before[1:]) else 2
    parts: list[str] = []
    starts: list[int] = []
    pos = 0
    for i, (a, b) in enumerate(spans):
        piece = text[a:b]
        if i:
            sep = _separator(before[i], paragraph_at, parts[-1], piece)
            if sep == "" and parts[-1][-1] == _SOFT_HYPHEN:
                # The soft hyphen is not part of the word: its token ends before it.
                parts[-1] = parts[-1][:-1]
                spans[i - 1] = (spans[i - 1][0], spans[i - 1][1] - 1)
                pos -= 1
            parts.append(sep)
            pos += len(sep)
        parts.append(piece)
        starts.append(pos)
        pos += b - a
    origins = tuple(a for a, _ in spans)
    lengths = tuple(b - a for a, b in spans)
    return Normalized("".join(parts), tuple(starts), origins, lengths)


def _separator(newlines: int, paragraph_at: int, prev: str, nxt: str) -> str:
    if newlines == 0:
        return " "
    if newlines >= paragraph_at:
        return "\n\n"
    # "on-\ngoing": a word hyphenated at a line break is one word.
    if prev[-1:] == "-" and prev[-2:-1].isalpha() and nxt[:1].islower():
        return ""
    if prev[-1:] == _SOFT_HYPHEN and prev[-2:-1].isalpha() and nxt[:1].isalpha():
        return ""
    return "\n"
