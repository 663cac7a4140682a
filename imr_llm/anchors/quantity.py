"""Quantity and strength of a disputed item, read from its request heading.

Quantity rules, first match wins, on the IMR-eligible part of a partial-UR heading ("... The
remaining IMR eligible portion of the original request, Z"): 1. "#60", "QTY: 60.00", "sixty
count"; 2. a bare total in parentheses, which wins over the factors beside it ("two times
four visits (8)" is 8); 3. sessions, visits or treatments ("Twelve physical therapy
sessions", summed over "... and eight ... sessions"), unless the number is a rate ("3 visits
per week") or a factor ("times four visits"); 4. a rate times a duration in the same unit
("2 times a week for 6 weeks", "3 visits per week for 2 weeks"); 5. "2 times 8", "times 12",
"therapy x 12"; 6. a trailing count ("NCV of the bilateral lower extremities, 2"); 7. a
leading count ("1 knee scooter", "One (1) x-ray"). "Eight (8)" and "8 (eight)" are one
number, read from its digits. When a partial-UR heading names no remaining amount, the
original minus the authorized count is used.

Not counts: numbers that say which kind of thing, or for how long, not how many. Ranges
("2-3 times"); a rate alone; durations and supplies ("24 hour urine", "1 month supply", "14
days rental"); measures and strengths ("5 lb weights", "Lidoderm 5% patch"); spinal levels
("C5-6", "2 level fusion"); and look-alikes: "three phase bone scan", "12 lead EKG", "two
view x-ray", "x-ray 2 views", "3D CT", "3 in 1 commode", "two wheeled walker", "four point
cane", "two channel TENS unit", "10 panel drug screen", "three compartment", "two stage",
"four extremity EMG".
Hyphenated forms ("3-in-1", "4-view", "two-level") never count. "2x4" is left alone: it also
sizes dressings ("4x4 gauze"). "(1) MRI ..." numbers the item; "(2016)" is a year.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Parsed:
    """A value read from a request; ``request[start:end]`` is the text it rests on."""

    value: float | str
    start: int
    end: int


_ONES_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
)
_ONES = {w: i for i, w in enumerate(_ONES_WORDS.split(), start=1)}
_TENS_WORDS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_TENS = {w: 10 * i for i, w in enumerate(_TENS_WORDS, start=2)}
_WORDS = {**_ONES, **_TENS, "hundred": 100}
_FREQ_WORDS = {"once": 1, "twice": 2, "thrice": 3}


def _alt(words: dict[str, int]) -> str:
    """Regex alternation of words, longest first."""
    return "|".join(sorted(words, key=len, reverse=True))


_UNDER_100 = rf"(?:(?:{_alt(_TENS)})(?:[\s-](?:{_alt(_ONES)}))?|{_alt(_ONES)})\b"
_WORD_NUMBER = rf"(?:(?:{_alt(_ONES)})\s+hundred\b(?:\s+(?:and\s+)?{_UNDER_100})?|{_UNDER_100})"
_DIGITS = r"\d+(?:,\d{3})*(?:\.\d+)?(?!\d)"
# "Eight (8)" and "8 (eight)": legal drafting spells a count both ways; it is one number.
# The lookahead skips, cheaply, the places where no number (digit or word) can begin.
_ONE_NUMBER = rf"(?=[\dotfsenhOTFSENH])(?:{_DIGITS}|{_WORD_NUMBER})"
_NUMBER = rf"{_ONE_NUMBER}(?:\s*\(\s*{_ONE_NUMBER}\s*\))?"
# Words that follow a number without making it a count: time, measure and anatomy, and
# the kinds of a thing ("three phase bone scan", "two wheeled walker"; see the docstring).
_NOT_COUNT = (
    r"(?:times?|x(?!-)|in|to(?!\s+the\b)|or|and|per|weeks?|wks?|days?|months?|years?|hours?|hrs?|"
    r"minutes?|mins?|mg|mcg|ml|g|gm|percent|lbs?|pounds?|kg|oz|cm|mm|inch(?:es)?|"
    r"levels?|leads?|views?|phases?|channels?|panels?|wheel(?:s|ed)?|points?|prong(?:s|ed)?|"
    r"compartments?|compartmental|stages?|dimensional|extremit(?:y|ies)|limbs?)\b|%|/"
)
# What follows a number that is a rate, not a total: "3 visits per week", "twice weekly".
_RATE = re.compile(
    r"\s*(?:sessions?|visits?|treatments?)?(?:(?:\s*/\s*|\s+(?:a|per|each|every)\s+)"
    r"(?:weeks?|wk|months?|days?)|\s+(?:weekly|monthly|daily))\b",
    re.I,
)
_FACTOR_BEFORE = re.compile(r"\b(?:times|x)\s*$", re.I)


def _num(name: str) -> str:
    """A number in a named group, not glued to a word, level ("L4") or date part."""
    return rf"(?<![\w.#/-])(?P<{name}>{_NUMBER})"


_MARKER = re.compile(
    rf"#\s?(?P<n>{_DIGITS})|\b(?:qty|quantity)\s*(?::|of)?\s*(?P<q>{_DIGITS})"
    rf"|{_num('c')}[\s-]count\b",
    re.I,
)
_STOP = r"(?:times?|a|per|weeks?|weekly|months?|days?|for|over|to|or|and|of|the)\b"
# "sessions", "physical therapy visits": up to four words before the unit.
_VISITS = rf"(?:(?!{_STOP})[A-Za-z/-]+\s+){{0,4}}?(?:sessions?|visits?|treatments?)\b"
_SESSION = re.compile(rf"{_num('n')}\s+{_VISITS}", re.I)
_FREQUENCY = re.compile(
    rf"(?:{_num('f')}(?:\s*(?:times?|x)|\s+{_VISITS})|\b(?P<fw>{_alt(_FREQ_WORDS)}))"
    r"(?:\s*/\s*|\s+(?:a|per|each|every)\s+|\s+)(?P<per>weekly|week|wk|monthly|month)\b"
    rf",?\s+(?:for|over|times|x)\s+{_num('d')}\s+(?P<dur>weeks?|wks?|months?)\b",
    re.I,
)
_TIMES = re.compile(
    rf"(?:(?:{_num('a')}\s+)?\btimes\s+{_num('b')}|(?<=[A-Za-z,]\s)x\s?(?P<x>\d{{1,3}}))"
    rf"(?![\w.%/-])(?!\s*(?:{_NOT_COUNT}))",
    re.I,
)
# A bare total: "(8)", "(8 total)", "(total of 8)"; a year has four digits.
_PAREN_TOTAL = re.compile(r"\(\s*(?:total(?:\s+of)?\s+)?(?P<n>\d{1,3})(?:\s+total)?\s*\)", re.I)
_NUMBER_BEFORE = re.compile(rf"{_ONE_NUMBER}\s*$", re.I)
# ", 2" closing the request; "50,000" is one number, not a count of 0.
_TRAILING = re.compile(r"(?:,\s+|(?<!\d),)(?P<n>\d{1,3})\s*\.?$")
_LEADING = re.compile(
    rf"(?:^|:\s+)(?:(?:retrospective|prospective|additional|post-op|pre-op)\s+)?"
    rf"{_num('n')}\s+(?!{_NOT_COUNT})[A-Za-z]",
    re.I,
)
_RANGE_BEFORE = re.compile(rf"{_NUMBER}\s*(?:-|\u2013|to|or)\s*$", re.I)
_RANGE_AFTER = re.compile(rf"\s*(?:-|\u2013|to|or)\s*{_NUMBER}", re.I)
_ELIGIBLE = re.compile(
    r"(?:remaining IMR eligible portion of the original request(?:,| is(?: for)?)|"
    r"\bthe original request,|leaving the original request of)\s*",
    re.I,
)
_ORIGINAL = re.compile(r"^(?P<text>.+?)\s+was the original request\b", re.I)
_AUTHORIZED = (
    re.compile(
        r"original request\.\s+(?P<text>.+?)\s+was (?:authorized|certified|approved) by", re.I
    ),
    re.compile(
        r"claims administrator (?:authorized|certified|approved)\s+(?P<text>.+?)"
        r"(?:,\s*leaving\b|\.\s|\.?$)",
        re.I,
    ),
)


def _value(text: str) -> float:
    """Numeric value of digits or English number words; in "eight (8)" the digits."""
    if digits := re.search(r"\d[\d,]*(?:\.\d+)?", text):
        return float(digits[0].replace(",", ""))
    total = 0
    for word in re.split(r"[\s-]+", text.lower()):
        if word == "hundred":
            total *= 100
        elif word != "and":
            total += _WORDS[word]
    return float(total)


def _ranged(text: str, m: re.Match[str], *groups: str) -> bool:
    """True when any named number is one end of a range ("2-3", "1 to 2", "six to eight")."""
    return any(
        m.group(g) is not None
        and bool(
            _RANGE_BEFORE.search(text[max(0, m.start(g) - 24) : m.start(g)])
            or _RANGE_AFTER.match(text, m.end(g))
        )
        for g in groups
    )


def _count_marker(text: str) -> Parsed | None:
    """An explicit count: "#60", "QTY: 60.00", "sixty count"."""
    for m in _MARKER.finditer(text):
        if not _ranged(text, m, "n", "q", "c"):
            number = m.group("n") or m.group("q") or m.group("c")
            return Parsed(_value(number), m.start(), m.end())
    return None


def _paren_total(text: str) -> Parsed | None:
    """A bare total in parentheses: "two times four visits (8)" -> 8."""
    for m in _PAREN_TOTAL.finditer(text):
        before = text[: m.start()]
        # "(1) MRI ..." numbers the item; "Eight (8)" is one number, read by the other rules.
        if before.strip() and not _NUMBER_BEFORE.search(before) and int(m["n"]):
            return Parsed(_value(m["n"]), m.start(), m.end())
    return None


def _is_total(text: str, m: re.Match[str]) -> bool:
    """A session count that is not a range, a rate ("3 visits a week") or a factor."""
    return not (
        _ranged(text, m, "n")
        or _RATE.match(text, m.end())
        or _FACTOR_BEFORE.search(text, 0, m.start())
    )


def _session_count(text: str) -> Parsed | None:
    """A count of sessions or visits; counts joined by "and" are summed."""
    found = [m for m in _SESSION.finditer(text) if _is_total(text, m)]
    if not found:
        return None
    total, end = _value(found[0]["n"]), found[0].end()
    for m in found[1:]:
        # "two ... sessions for A and eight ... sessions for B": separate remaining portions.
        if not re.search(r"\band\s+$", text[: m.start()], re.I):
            break
        total, end = total + _value(m["n"]), m.end()
    return Parsed(total, found[0].start(), end)


def _frequency_duration(text: str) -> Parsed | None:
    """Visits per week (or month) times weeks (or months): "2 times a week for 6 weeks"."""
    for m in _FREQUENCY.finditer(text):
        # "times a week for 2 months" mixes units, so it is not a plain product.
        if m["per"][0].lower() != m["dur"][0].lower() or _ranged(text, m, "f", "d"):
            continue
        per = _FREQ_WORDS[m["fw"].lower()] if m["fw"] else _value(m["f"])
        return Parsed(per * _value(m["d"]), m.start(), m.end())
    return None


def _times_count(text: str) -> Parsed | None:
    """A bare multiplier: "2 times 8" -> 16, "times 12" -> 12."""
    for m in _TIMES.finditer(text):
        if not _ranged(text, m, "a", "b", "x"):
            factor = _value(m["a"]) if m["a"] else 1.0
            count = _value(m["b"] or m["x"])
            return Parsed(factor * count, m.start("a") if m["a"] else m.start(), m.end())
    return None


def _trailing_count(text: str) -> Parsed | None:
    """A count closing the request after a comma: "NCV of both legs, 2"."""
    m = _TRAILING.search(text)
    if m is None or not int(m["n"]) or _ranged(text, m, "n"):
        return None
    return Parsed(_value(m["n"]), m.start("n"), m.end("n"))


def _leading_count(text: str) -> Parsed | None:
    """A count of units heading the request: "1 knee scooter", "2 leg wraps"."""
    m = _LEADING.search(text)
    if m is None or _ranged(text, m, "n"):
        return None
    # "3 visits per week" heading the request is a rate, not three visits.
    if (s := _SESSION.match(text, m.start("n"))) and not _is_total(text, s):
        return None
    return Parsed(_value(m["n"]), m.start("n"), m.end("n"))


_RULES: tuple[Callable[[str], Parsed | None], ...] = (
    _count_marker,
    _paren_total,
    _session_count,
    _frequency_duration,
    _times_count,
    _trailing_count,
    _leading_count,
)


def _eligible_start(request: str) -> int:
    """Where the IMR-eligible portion of a partial-UR heading begins (0 if not partial)."""
    marks = list(_ELIGIBLE.finditer(request))
    return marks[-1].end() if marks else 0


def _first(text: str, offset: int = 0) -> Parsed | None:
    """The first rule that finds a quantity in ``text``, spans shifted by ``offset``."""
    for rule in _RULES:
        if (found := rule(text)) is not None:
            return Parsed(found.value, found.start + offset, found.end + offset)
    return None


def _remaining(request: str) -> Parsed | None:
    """Original minus authorized, when both are explicit counts of the same kind."""
    original = _ORIGINAL.search(request)
    authorized = next((m for rx in _AUTHORIZED if (m := rx.search(request))), None)
    if original is None or authorized is None:
        return None
    for rule in (_count_marker, _session_count):
        was, got = rule(original["text"]), rule(authorized["text"])
        if was is not None and got is not None:
            rest = float(was.value) - float(got.value)
            end = authorized.start("text") + got.end
            return Parsed(rest, original.start("text") + was.start, end) if rest > 0 else None
    return None


def parse_quantity(request: str) -> Parsed | None:
    """The number of units, sessions or visits requested, or None when none is stated."""
    offset = _eligible_start(request)
    found = _first(request[offset:], offset)
    if found is None and offset:
        return _remaining(request)
    return found


_STRENGTH = re.compile(
    r"(?<![\w./])(?:"
    r"\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)*\s?(?:mg|mcg|meq)"
    r"(?:/\s?\d*(?:\.\d+)?\s?(?:ml|g|gm|hr|h|l|dose|actuation|spray))?(?![A-Za-z])"
    r"|\d+(?:\.\d+)?%(?:\s?-\s?\d+(?:\.\d+)?%)*"
    r"|(?P<a>\d+(?:\.\d+)?)/(?P<b>\d+(?:\.\d+)?)(?![\w./%])"
    r")",
    re.I,
)


def _strength_in(text: str) -> re.Match[str] | None:
    """The first dose in ``text``; a bare "a/b" counts only if it cannot be a month/day."""
    for m in _STRENGTH.finditer(text):
        if m["a"] is None or float(m["a"]) > 12 or float(m["b"]) > 31:
            return m
    return None


def parse_strength(request: str) -> Parsed | None:
    """The dose as written ("10/325mg", "5%", "25mg/ml"), or None when absent."""
    # A partial-UR heading restates the drug at the end; prefer that restatement.
    offset = _eligible_start(request)
    m = _strength_in(request[offset:])
    if m is None and offset:
        offset, m = 0, _strength_in(request)
    if m is None:
        return None
    return Parsed(m.group(), m.start() + offset, m.end() + offset)
