"""Normalize letter text from any PDF extractor, keeping a map back to the original."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

_TOKEN = re.compile(r"\S+")
_HYPHEN_END = re.compile(r"[A-Za-z]-$")


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
        if end <= start:
            pos = self._point(start, at_end=False)
            return pos, pos
        return self._point(start, at_end=False), self._point(end, at_end=True)

    def _point(self, pos: int, *, at_end: bool) -> int:
        if not self.starts:
            return 0
        probe = pos - 1 if at_end else pos
        i = max(bisect_right(self.starts, probe) - 1, 0)
        offset = probe - self.starts[i]
        if offset >= self.lengths[i]:
            # A synthetic separator: snap to the neighbouring token edge.
            if at_end:
                return self.origins[i] + self.lengths[i]
            nxt = min(i + 1, len(self.starts) - 1)
            return self.origins[nxt] if nxt != i else self.origins[i] + self.lengths[i]
        return self.origins[i] + offset + (1 if at_end else 0)


def _double_spaced(gaps: list[int]) -> bool:
    """True when the extractor put a blank line after every line (the seeds' layout)."""
    breaks = [n for n in gaps if n > 0]
    if len(breaks) < 4:
        return False
    return sum(1 for n in breaks if n == 2) >= 0.6 * len(breaks)


def normalize(text: str) -> Normalized:
    """Collapse whitespace, rejoin hyphenated line breaks and mark paragraphs."""
    tokens = list(_TOKEN.finditer(text))
    gaps = [text.count("\n", a.end(), b.start()) for a, b in zip(tokens, tokens[1:], strict=False)]
    paragraph_at = 3 if _double_spaced(gaps) else 2
    parts: list[str] = []
    starts: list[int] = []
    origins: list[int] = []
    lengths: list[int] = []
    pos = 0
    for i, tok in enumerate(tokens):
        if i:
            sep = _separator(gaps[i - 1], paragraph_at, parts[-1], tok.group())
            parts.append(sep)
            pos += len(sep)
        word = tok.group()
        parts.append(word)
        starts.append(pos)
        origins.append(tok.start())
        lengths.append(len(word))
        pos += len(word)
    return Normalized("".join(parts), tuple(starts), tuple(origins), tuple(lengths))


def _separator(newlines: int, paragraph_at: int, prev: str, nxt: str) -> str:
    if newlines == 0:
        return " "
    if newlines >= paragraph_at:
        return "\n\n"
    # "on-\ngoing": a word hyphenated at a line break is one word.
    if _HYPHEN_END.search(prev) and nxt[:1].islower():
        return ""
    return "\n"
