"""Dates as letters write them ("10-13-16", "11/09/2016", "June 15, 2002") to ISO."""

from __future__ import annotations

import re
from datetime import date

_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        ),
        start=1,
    )
    for m in names.split()
}

NUMERIC = r"\d{1,2}[/-]\d{1,2}[/-](?:\d{4}|\d{2})\b"
WORDY = r"(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?\s+\d{1,2},?\s+\d{4}\b"
DATE = rf"(?:{NUMERIC}|{WORDY})"
_NUMERIC_PARTS = re.compile(r"(\d{1,2})[/-](\d{1,2})[/-](\d{4}|\d{2})")
_WORDY_PARTS = re.compile(r"([A-Za-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})")


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        # Two-digit years in these letters are dates of injury or review: 1930-2029.
        year += 2000 if year < 30 else 1900
    return year


def to_iso(text: str) -> str | None:
    """Return ``text`` as YYYY-MM-DD, or None if it is not a real calendar date."""
    m = _NUMERIC_PARTS.fullmatch(text.strip())
    if m:
        month, day, year = int(m[1]), int(m[2]), _year(m[3])
    else:
        w = _WORDY_PARTS.fullmatch(text.strip())
        if not w or w[1].lower() not in _MONTHS:
            return None
        month, day, year = _MONTHS[w[1].lower()], int(w[2]), int(w[3])
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None
