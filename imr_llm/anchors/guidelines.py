"""Parse a guideline line: MTUS or not, sources, pages and sections."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NO_EVIDENCE = re.compile(r"did\s+not\s+cite\s+any\s+(?:medical\s+)?evidence", re.I)
_MTUS_BASED = re.compile(r"Decision\s+based\s+on\s+(?:the\s+)?(?:CA\s+|California\s+)?MTUS\b", re.I)
_NON_MTUS = re.compile(
    r"Non-MTUS\s+Citation\s*:?\s*(?P<v>.*?)(?=Decision\s+based\s+on|$)", re.I | re.S
)
_ODG = re.compile(r"Official\s+Disability\s+Guidelines|\bODG\b")
_ACOEM = re.compile(r"\bACOEM\b|American\s+College\s+of\s+Occupational", re.I)
_OTHER = re.compile(r"Other\s+Medical\s+Treatment\s+Guidelines?|www\.|https?://", re.I)
_PAGES = re.compile(
    r"\bpages?\s*(?:\(s\))?\s*:?\s*(?P<v>\d+(?:\s*(?:-|\u2013|,|and)\s*\d+)*)", re.I
)
_RANGE = re.compile(r"(\d+)\s*(?:-|\u2013)\s*(\d+)|(\d+)")
_SECTIONS = re.compile(
    r"Section\(s\):\s*(?P<v>.*?)(?=\.(?:\s|$)|Decision\s+based\s+on"
    r"|,?\s+and\s+[A-Z][^:.]*?\d{4},\s*Section|\s+Page\(s\)|$)",
    re.S,
)
# A cited range longer than this is a typo or a total, not a page list.
_MAX_RANGE = 200


@dataclass(slots=True)
class GuidelineFacts:
    mtus: bool | None
    sources: list[str] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    pages_span: tuple[int, int] | None = None
    sections_span: tuple[int, int] | None = None


def expand_pages(text: str) -> list[int]:
    """Expand "76-79, 91" into [76, 77, 78, 79, 91]."""
    pages: list[int] = []
    for m in _RANGE.finditer(text):
        if m[3]:
            pages.append(int(m[3]))
            continue
        lo, hi = int(m[1]), int(m[2])
        pages.extend(range(lo, hi + 1) if 0 <= hi - lo <= _MAX_RANGE else (lo, hi))
    return list(dict.fromkeys(pages))


def _sources(text: str, mtus: bool | None) -> list[str]:
    found: list[str] = ["MTUS"] if mtus else []
    for m in _NON_MTUS.finditer(text):
        cited = m["v"]
        names = [
            n for n, rx in (("ACOEM", _ACOEM), ("ODG", _ODG), ("Other", _OTHER)) if rx.search(cited)
        ]
        found += names or ["Other"]
    order = ["MTUS", "ACOEM", "ODG", "Other"]
    return sorted(set(found), key=order.index)


def parse_guideline(text: str) -> GuidelineFacts:
    """Classify one Claims Administrator or MAXIMUS guideline line."""
    if _MTUS_BASED.search(text):
        mtus: bool | None = True
    elif _NO_EVIDENCE.search(text) and not _NON_MTUS.search(text):
        mtus = None
    else:
        mtus = False
    page_hits = list(_PAGES.finditer(text))
    pages = [p for m in page_hits for p in expand_pages(m["v"])]
    section_hits = list(_SECTIONS.finditer(text))
    sections = [name for m in section_hits for name in _section_names(m["v"])]
    return GuidelineFacts(
        mtus,
        _sources(text, mtus),
        list(dict.fromkeys(pages)),
        sections,
        _cover(page_hits),
        _cover(section_hits),
    )


def _section_names(text: str) -> list[str]:
    """Split "Special Studies, Summary" into titles; "TENS, chronic pain (...)" is one title."""
    names: list[str] = []
    for piece in " ".join(text.split()).split(", "):
        piece = piece.strip()
        if names and piece[:1].islower():
            names[-1] = f"{names[-1]}, {piece}"
        elif piece:
            names.append(piece)
    return names


def _cover(hits: list[re.Match[str]]) -> tuple[int, int] | None:
    return (hits[0].start(), hits[-1].end()) if hits else None
