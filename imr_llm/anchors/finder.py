"""Deterministic anchors: regex facts found in a letter, with spans in the original text.

This module and everything it imports stay free of the LLM stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from imr_llm.anchors.header import find_header, find_letters, find_patient, find_summary_dates
from imr_llm.anchors.items import find_items, find_legacy_items
from imr_llm.anchors.reasons import find_reason_cues
from imr_llm.anchors.reviewer import find_reviewer
from imr_llm.letters.formats import recognise
from imr_llm.letters.normalize import Normalized, normalize

_ITEM_FIELD = re.compile(r"items\[(\d+)\]\.(.+?)(?:\[(\d+)\])?")


@lru_cache(maxsize=4096)
def _item_field(name: str) -> tuple[int, str, int | None] | None:
    """``items[2].decision`` -> (2, "decision", None), ``items[2].reasons[1]`` -> (2,
    "reasons", 1); None for a letter-level field."""
    m = _ITEM_FIELD.fullmatch(name)
    return (int(m[1]), m[2], None if m[3] is None else int(m[3])) if m else None


@dataclass(frozen=True, slots=True)
class Anchor:
    """A fact found in a letter, with its span in the ORIGINAL text."""

    field: str
    value: Any
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Anchors:
    """Everything the deterministic pass found in one letter."""

    format: str
    anchors: tuple[Anchor, ...]
    problems: tuple[str, ...]
    # Where a second letter begins in the original text (None: one letter). Everything
    # above was read from ``text[:letter_end]``; an LLM should be shown no more.
    letter_end: int | None = None
    # Grouped once: verification and merging read them several times per answer.
    _values: dict[str, Any] = field(init=False, repr=False, compare=False)
    _items: list[dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        items: dict[int, dict[str, Any]] = {}
        listed: dict[tuple[int, str], list[tuple[int, Any]]] = {}
        for a in self.anchors:
            if parsed := _item_field(a.field):
                i, name, k = parsed
                if k is None:
                    items.setdefault(i, {})[name] = a.value
                else:  # one anchor per list element (reasons[0], reasons[1]): one list
                    listed.setdefault((i, name), []).append((k, a.value))
        for (i, name), values in listed.items():
            items.setdefault(i, {})[name] = [v for _, v in sorted(values, key=lambda kv: kv[0])]
        object.__setattr__(self, "_values", {a.field: a.value for a in self.anchors})
        object.__setattr__(self, "_items", [items[i] for i in sorted(items)])

    def get(self, field: str) -> Anchor | None:
        """The anchor for ``field`` (e.g. ``items[0].decision``), if found."""
        return next((a for a in self.anchors if a.field == field), None)

    def values(self) -> dict[str, Any]:
        """Field path to value, for every anchor (shared: do not modify)."""
        return self._values

    def items(self) -> list[dict[str, Any]]:
        """Anchor values per disputed item, in letter order (shared: do not modify).

        Indexed fields become lists: ``items[0].reasons[k]`` is ``items()[0]["reasons"][k]``.
        """
        return self._items

    @property
    def item_count(self) -> int:
        return sum(1 for a in self.anchors if a.field.endswith(".decision"))


def find_anchors(text: str, normalized: Normalized | None = None) -> Anchors:
    """Find every anchor in ``text``; spans refer to ``text`` itself.

    ``normalized`` is ``normalize(text)`` when the caller already has it.
    """
    norm = normalized or normalize(text)
    body, problems = _first_letter(norm.text)
    fmt = recognise(body)
    if fmt == "not_imr":
        return Anchors(fmt, (), ())
    found = find_header(body)
    found += find_summary_dates(body, {f.field for f in found})
    found += find_reviewer(body) + find_patient(body)
    items, item_problems = find_items(body) if fmt == "current" else find_legacy_items(body)
    found += items
    found += find_reason_cues(body, items)
    anchors = tuple(Anchor(f.field, f.value, *norm.to_original(f.start, f.end)) for f in found)
    end = norm.to_original(len(body), len(body))[0] if problems else None
    return Anchors(fmt, anchors, tuple(problems + item_problems), end)


def _first_letter(text: str) -> tuple[str, list[str]]:
    """The first letter of ``text``, and a problem naming every letter when it holds more.

    Two letters pasted into one input are never merged: one row must not carry one
    letter's header with another's items. The first is read, the row is flagged.
    """
    letters = find_letters(text)
    if len(letters) == 1:
        return text, []
    cases = ", ".join(case or "no case number" for _, case in letters)
    return text[: letters[1][0]], [
        f"the input holds {len(letters)} letters ({cases}); only the first was read"
    ]
