"""The fact type the anchor finders return, before spans are mapped to the original."""

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
