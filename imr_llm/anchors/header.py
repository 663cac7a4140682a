"""Anchors in the header block and the clinical case summary."""

from __future__ import annotations

import re

from imr_llm.anchors.dates import DATE, to_iso
from imr_llm.anchors.spans import Found

_S = r"\s*"
_HEADER_DATES = {
    "date_assigned": r"Date\s+Assigned",
    "date_of_injury": r"Date\s+of\s+Injury",
    "decision_date": r"Decision\s+Date",
    "ur_denial_date": r"UR\s+Denial\s+Date",
    # pypdf splits "Application Received" around the priority value.
    "application_received": r"(?:Application\s+)?Received",
}
_HEADER = {
    field: re.compile(rf"\b{label}:{_S}(?P<v>{DATE})", re.I)
    for field, label in _HEADER_DATES.items()
}
_CASE = re.compile(r"\bCase\s+Number:?\s*(?P<v>CM\d{2}-\d{7})\b")
# Sections a letter holds once, in this order (rank 1-3): one that comes again, or after a
# later one, begins another letter. A header case number or a greeting (rank 0) may too.
# One pattern each: an alternation of them is 25 times slower (no literal prefix to skip to).
_LETTER_MARKS = (
    (0, re.compile(r"Case\s+Number:?\s*(?P<num>CM\d{2}-\d{7})\b")),
    (0, re.compile(r"Dear\s[^\n]{1,80}[:,]$", re.M)),
    (1, re.compile(r"HOW\s+THE\s+IMR\s+FINAL\s+DETERMINATION")),
    (2, re.compile(r"CLINICAL\s+CASE\s+SUMMARY")),
    (3, re.compile(r"IMR\s+ISSUES,?\s+DECISIONS,?\s+AND\s+RATIONALES")),
)
# A line of the header block (pypdf splits "Application Received: 12/29/2016" over three).
_HEADER_LINE = re.compile(
    r"(?:Case\s+Number|Date\s+Assigned|Date\s+of\s+Injury|Decision\s+Date|UR\s+Denial\s+Date|"
    r"Priority|Application|Received)\b[^\n]*|[\d/-]*",
    re.I,
)
_PRIORITY = re.compile(r"\bPriority:\s*(?P<v>Standard|Expedited)\b", re.I)

_AGE_SEX = re.compile(
    r"\b(?P<age>\d{1,3})[\s-]+(?:years?|yrs?)[\s-]+old\s+(?:(?:injured|Hispanic|Caucasian|"
    r"African[\s-]American|Asian|right[\s-]handed|left[\s-]handed)\s+)?(?P<sex>male|female|man|woman|"
    r"gentleman|lady)\b",
    re.I,
)
_SEX_ONLY = re.compile(
    r"\b(?:is|was)\s+an?\s*(?:\(n\)\s+)?(?P<sex>male|female|man|woman|gentleman|lady)\b", re.I
)
_SEXES = {
    "male": "male",
    "man": "male",
    "gentleman": "male",
    "female": "female",
    "woman": "female",
    "lady": "female",
}
_SUMMARY_INJURY = re.compile(
    rf"\b(?:injury|claim)\b(?:\s+(?:date|on|of|from|dated)){{0,3}}\s+(?P<v>{DATE})", re.I
)
_SUMMARY_UR = re.compile(
    rf"(?:\bOn\s+(?P<a>{DATE}),?\s+(?:the\s+)?Utilization\s+Review\b"
    rf"|\bUtilization\s+Review\s+(?:\(UR\)\s+)?(?:determination|decision|letter)?\s*dated\s+"
    rf"(?P<b>{DATE}))",
    re.I,
)


def _date(field: str, m: re.Match[str], group: str = "v") -> Found | None:
    iso = to_iso(m[group])
    return Found(field, iso, m.start(group), m.end(group)) if iso else None


def find_header(text: str) -> list[Found]:
    """Case number, header dates and priority from the block above the first section."""
    head_end = text.find("HOW THE IMR")
    head = text[: head_end if head_end >= 0 else 2000]
    found: list[Found] = []
    if m := _CASE.search(head):
        found.append(Found("case_number", m["v"], m.start("v"), m.end("v")))
    for field, rx in _HEADER.items():
        if (m := rx.search(head)) and (f := _date(field, m)):
            found.append(f)
    if m := _PRIORITY.search(head):
        found.append(Found("priority", m["v"].lower(), m.start("v"), m.end("v")))
    return found


def _header_start(text: str, pos: int) -> int:
    """``pos`` moved back to the first of the header lines just above it."""
    begin = pos
    while pos > 0:
        line_start = text.rfind("\n", 0, pos - 1) + 1
        line = text[line_start:pos].strip()
        if not _HEADER_LINE.fullmatch(line):
            break
        pos = line_start
        begin = pos if line else begin
    return begin


def _marks(text: str) -> list[tuple[int, re.Match[str]]]:
    """(rank, match) for every letter mark, in text order.

    A case number or greeting counts only where it opens a line (or follows a sentence, when
    a letter was pasted on without a line break): a rationale may cite another case.
    """
    marks = []
    for rank, rx in _LETTER_MARKS:
        for m in rx.finditer(text):
            before = text[text.rfind("\n", 0, m.start()) + 1 : m.start()].rstrip()
            if rank or not before or before[-1] in ".!?":
                marks.append((rank, m))
    return sorted(marks, key=lambda mark: mark[1].start())


def find_letters(text: str) -> list[tuple[int, str | None]]:
    """Where each letter in ``text`` begins, with its case number: one entry per letter."""
    letters: list[tuple[int, str | None]] = [(0, None)]
    rank, since = 0, -1  # the last section seen (1-3); a header or greeting after it
    for now, m in _marks(text):
        case, number = letters[-1][1], m.groupdict().get("num")
        if number and case is None and not rank:
            letters[-1] = (letters[-1][0], number)
        elif not now:
            # The same number again is a page header. Another number or a greeting may
            # begin a letter, but only its sections prove it: a summary may quote either.
            since = m.start() if since < 0 and number != case else since
        else:
            if now <= rank:
                begin = _header_start(text, m.start())
                begin = since if 0 <= since < begin else begin
                found = _CASE.search(text, begin, m.end())
                letters.append((begin, found["v"] if found else None))
            rank, since = now, -1
    return letters


def summary_bounds(text: str) -> tuple[int, int]:
    """The span of the clinical case summary, or of the whole text if unmarked."""
    start = text.find("CLINICAL CASE SUMMARY")
    end = text.find("IMR ISSUES", max(start, 0))
    return (max(start, 0), end if end >= 0 else len(text))


def find_patient(text: str) -> list[Found]:
    """Patient age and sex from the first sentences of the case summary."""
    start, end = summary_bounds(text)
    found: list[Found] = []
    if m := _AGE_SEX.search(text, start, end):
        found.append(Found("patient.age", int(m["age"]), m.start("age"), m.end(0)))
        found.append(Found("patient.sex", _SEXES[m["sex"].lower()], m.start("sex"), m.end("sex")))
    elif m := _SEX_ONLY.search(text, start, end):
        found.append(Found("patient.sex", _SEXES[m["sex"].lower()], m.start("sex"), m.end("sex")))
    return found


def find_summary_dates(text: str, have: set[str]) -> list[Found]:
    """Date of injury and UR date stated in the summary, for fields the header lacks."""
    start, end = summary_bounds(text)
    found: list[Found] = []
    if "date_of_injury" not in have and (m := _SUMMARY_INJURY.search(text, start, end)):
        found += [f for f in [_date("date_of_injury", m)] if f]
    if "ur_denial_date" not in have and (m := _SUMMARY_UR.search(text, start, end)):
        found += [f for f in [_date("ur_denial_date", m, "a" if m["a"] else "b")] if f]
    return found
