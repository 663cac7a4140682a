"""Recognise which layout a letter uses, or that it is not an IMR letter at all."""

from __future__ import annotations

import re
from typing import Literal

Format = Literal["current", "legacy", "not_imr"]

_SECTION = r"IMR\s+ISSUES,?\s+DECISIONS,?\s+AND\s+RATIONALES"
# Letters print the heading in capitals; the case-blind search is 30x slower, so it is
# only the fallback.
_CURRENT = re.compile(_SECTION)
_CURRENT_ANY_CASE = re.compile(_SECTION, re.I)
_LEGACY = re.compile(
    r"IMR\s+DECISION\(S\)\s+AND\s+RATIONALE\(S\)|MEDICAL\s+PROFESSIONAL\s+REVIEW"
    r"|ISSUES?\s+AT\s+DISPUTE"
    r"|MAXIMUS\s+Federal\s+Services,?\s+Inc\.?,?\s+has\s+determined\s+(?:that\s+)?the\s+request",
    re.I,
)
_IMR = re.compile(
    r"HOW\s+THE\s+IMR\s+FINAL\s+DETERMINATION|Independent\s+Medical\s+Review|MAXIMUS\s+Federal",
    re.I,
)


def recognise(text: str) -> Format:
    """Classify normalized text as the current layout, an older one, or not a letter."""
    if find_section(text):
        return "current"
    if _LEGACY.search(text) and _IMR.search(text):
        return "legacy"
    return "not_imr"


def find_section(text: str) -> re.Match[str] | None:
    """The "IMR ISSUES, DECISIONS AND RATIONALES" heading of a current-layout letter."""
    return _CURRENT.search(text) or _CURRENT_ANY_CASE.search(text)
