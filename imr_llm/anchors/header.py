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
