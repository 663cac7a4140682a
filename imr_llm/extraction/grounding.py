"""Find where in the letter an LLM value for an anchored field is written, if anywhere.

An anchored field the anchors missed may still be filled by the LLM, but only with a value
the letter visibly contains: an ungrounded value is reported, never silently accepted.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from imr_llm.anchors.dates import DATE, to_iso
from imr_llm.anchors.reviewer import STATES
from imr_llm.extraction.values import canonical, number

_DATES = re.compile(DATE, re.I)
_CASE = re.compile(r"CM\d{2}-\d{7}")
_SEX_WORDS = {"male": r"\b(?:male|man|gentleman)\b", "female": r"\b(?:female|woman|lady)\b"}
# A date grounds a field only near words naming that field: any date in the letter would not.
_DATE_CONTEXT = {
    "date_assigned": r"assigned",
    "decision_date": r"decision",
    "ur_denial_date": r"utilization\s+review|\bUR\b",
    "date_of_injury": r"injur|claim",
    "application_received": r"application|received",
}
_NEAR = 80
_NAMES = {code: name for name, code in STATES.items()}
# A strength's numbers, units and signs, which letters space every way ("10 / 325 mg").
_STRENGTH_PARTS = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+|[^\w\s]")
# Written only in the header block: a "Case Number:" line further down is someone's text
# (a quoted record, an injected fake header), never the letter's own.
_HEADER_ONLY = {"case_number", "date_assigned", "decision_date", "application_received", "priority"}
_FIRST_SECTION = re.compile(r"HOW\s+THE\s+IMR")


def _find(text: str, pattern: str) -> tuple[int, int] | None:
    m = re.search(pattern, text, re.I)
    return (m.start(), m.end()) if m else None


def _date_span(text: str, iso: str, context: str) -> tuple[int, int] | None:
    for m in _DATES.finditer(text):
        if to_iso(m.group()) == iso and re.search(context, _sentence(text, m), re.I):
            return m.start(), m.end()
    return None


def _sentence(text: str, m: re.Match[str]) -> str:
    """The sentence around a match, at most ``_NEAR`` characters either side."""
    start = max(text.rfind(". ", 0, m.start()) + 2, m.start() - _NEAR, 0)
    stop = text.find(". ", m.end())
    stop = min(stop if stop >= 0 else len(text), m.end() + _NEAR)
    return text[start:stop]


def _literal(text: str, value: str) -> tuple[int, int] | None:
    words = value.split()
    if not words:
        return None
    # Whole words only: "5mg" is not grounded by "10/325mg".
    return _find(text, r"(?<![\w./%-])" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)")


def _header_block(text: str) -> str:
    """The text above the first section (as the header anchors read it)."""
    m = _FIRST_SECTION.search(text)
    return text[: m.start() if m else 2000]


class Located(NamedTuple):
    """Where the letter shows a value, and that value in the output contract's spelling."""

    span: tuple[int, int]
    value: Any


def locate(field: str, value: Any, text: str) -> Located | None:
    """Where ``text`` shows ``value`` for ``field``, however the LLM spelled it.

    "01/31/2017" is looked for as the date it is, "Iowa" as the state; the value to record
    comes back in the contract's spelling ("2017-01-31", "IA").
    """
    value = canonical(field, value)
    if value is None:
        return None
    span = _span(field, value, text)
    return None if span is None else Located(span, value)


def ground(field: str, value: Any, text: str) -> tuple[int, int] | None:
    """The span of ``text`` that shows ``value`` for ``field``, or None.

    ``value`` must already be in the contract's spelling (ISO dates, USPS codes), since a
    caller records it as given; :func:`locate` takes any spelling.
    """
    found = locate(field, value, text)
    return found.span if found is not None and found.value == value else None


def _span(field: str, value: Any, text: str) -> tuple[int, int] | None:
    if field in _HEADER_ONLY:
        text = _header_block(text)
    if field == "case_number":
        return _literal(text, value) if _CASE.fullmatch(str(value)) else None
    if field in _DATE_CONTEXT:
        return _date_span(text, str(value), _DATE_CONTEXT[field])
    if field == "priority":
        return _find(text, rf"\bPriority:\s*{re.escape(str(value))}\b")
    if field == "patient.age":
        return _find(text, rf"\b{int(value)}[\s-]+(?:years?|yrs?)[\s-]+old\b")
    if field == "patient.sex":
        return _find(text, _SEX_WORDS.get(str(value), r"(?!)"))
    if field == "reviewer.licensure_states":
        spans = [_literal(text, _NAMES[code]) for code in value]
        return None if None in spans else _cover(spans)
    if field == "reviewer.specialties":
        spans = [_literal(text, str(name)) for name in value]
        return None if None in spans else _cover(spans)
    return None


def _cover(spans: list[tuple[int, int] | None]) -> tuple[int, int] | None:
    real = [s for s in spans if s is not None]
    return (min(s[0] for s in real), max(s[1] for s in real)) if real else None


def ground_in_request(name: str, value: Any, request: str) -> tuple[int, int] | None:
    """Where an item's quantity or strength shows in its request heading, or None."""
    if name == "quantity" and (n := number(value)) is not None and n.is_integer():
        return _find(request, rf"(?<![\d.]){int(n)}(?:\.0+)?(?![\d.])")
    if name == "strength" and isinstance(value, str) and (parts := _STRENGTH_PARTS.findall(value)):
        # Whole words only, as in _literal; any spacing between the parts.
        pattern = r"\s*".join(re.escape(p) for p in parts)
        return _find(request, rf"(?<![\w./%-]){pattern}(?!\w)")
    return None
