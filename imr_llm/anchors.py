"""Deterministic anchors: regex facts found in a letter, with spans in the original text.

This module and everything it imports stay free of the LLM stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Found:
    """A fact found in normalized text: ``text[start:end]`` is the passage it rests on."""

    field: str
    value: Any
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Anchor:
    """A fact found in a letter, with its span in the ORIGINAL text."""

    field: str
    value: Any
    start: int
    end: int
