"""Quantity and strength of a disputed item, read from its request heading.

Quantity rules, first match wins, applied to the IMR-eligible part of the heading:
explicit count ("#60", "QTY: 60.00", "sixty count") · session count ("Twelve physical
therapy sessions", summed over "... and eight ... sessions") · frequency x duration
("2 times a week for 6 weeks") · "2 times 8" / "times 12" · a leading count ("1 knee
scooter"). Ranges ("2-3 times", "12-18 sessions") never yield a quantity. When a partial-UR
heading names no remaining amount, the original minus the authorized count is used.
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
_NUMBER = rf"(?:{_DIGITS}|{_WORD_NUMBER})"
# Time, measure and anatomy words that follow a number without making it a count.
_NOT_COUNT = (
    r"(?:times?|x|in|to|or|and|per|weeks?|wks?|days?|months?|years?|hours?|hrs?|minutes?|"
    r"mins?|levels?|leads?|views?|mg|mcg|ml|g|gm|percent)\b|%|/"
)


def _num(name: str) -> str:
    """A number in a named group, not glued to a word, level ("L4") or date part."""
    return rf"(?<![\w.#/-])(?P<{name}>{_NUMBER})"


_MARKER = re.compile(
    rf"#\s?(?P<n>{_DIGITS})|\b(?:qty|quantity)\s*(?::|of)?\s*(?P<q>{_DIGITS})"
    rf"|{_num('c')}[\s-]count\b",
    re.I,
)
_STOP = r"(?:times?|a|per|weeks?|weekly|months?|days?|for|over|to|or|and|of|the)\b"
_SESSION = re.compile(
    rf"{_num('n')}\s+(?:(?!{_STOP})[A-Za-z/-]+\s+){{0,4}}?(?:sessions?|visits?|treatments?)\b",
    re.I,
)
_FREQUENCY = re.compile(
    rf"(?:{_num('f')}\s*(?:times?|x)|\b(?P<fw>{_alt(_FREQ_WORDS)}))"
    r"(?:\s*/\s*|\s+(?:a|per|each|every)\s+|\s+)(?P<per>weekly|week|wk|monthly|month)\b"
    rf",?\s+(?:for|over|times|x)\s+{_num('d')}\s+(?P<dur>weeks?|wks?|months?)\b",
    re.I,
)
_TIMES = re.compile(
    rf"(?:{_num('a')}\s+)?\btimes\s+{_num('b')}(?![\w.%/-])(?!\s*(?:{_NOT_COUNT}))", re.I
)
_LEADING = re.compile(
    rf"(?:^|:\s+)(?:(?:retrospective|prospective|additional|post-op|pre-op)\s+)?"
    rf"{_num('n')}\s+(?!{_NOT_COUNT})[A-Za-z]",
    re.I,
)
_RANGE_BEFORE = re.compile(rf"{_NUMBER}\s*(?:-|\u2013|to|or)\s*$", re.I)
_RANGE_AFTER = re.compile(rf"\s*(?:-|\u2013|to|or)\s*{_NUMBER}", re.I)
_ELIGIBLE = re.compile(
    r"(?:(?:remaining IMR eligible portion of |\b)the original request,|"
    r"leaving the original request of)\s*",
    re.I,
)
_ORIGINAL = re.compile(r"^(?P<text>.+?)\s+was the original request\b", re.I)
_AUTHORIZED = (
    re.compile(r"original request\.\s+(?P<text>.+?)\s+was authorized by the claims", re.I),
    re.compile(r"claims administrator authorized\s+(?P<text>.+?)(?:,\s*leaving\b|\.\s|\.?$)", re.I),
)


def _value(text: str) -> float:
    """Numeric value of digits or English number words."""
    if text[0].isdigit():
        return float(text.replace(",", ""))
    total = 0
    for word in re.split(r"[\s-]+", text.lower()):
        if word == "hundred":
            total *= 100
        elif word != "and":
            total += _WORDS[word]
    return float(total)


def _ranged(text: str, m: re.Match[str], *groups: str) -> bool:
    """True when any named number is one end of a range ("2-3", "1 to 2", "six to eight")."""
    for g in groups:
        if m.group(g) is None:
            continue
        if _RANGE_BEFORE.search(text[max(0, m.start(g) - 24) : m.start(g)]):
            return True
        if _RANGE_AFTER.match(text, m.end(g)):
            return True
    return False


def _count_marker(text: str) -> Parsed | None:
    """An explicit count: "#60", "QTY: 60.00", "sixty count"."""
    for m in _MARKER.finditer(text):
        if not _ranged(text, m, "n", "q", "c"):
            number = m.group("n") or m.group("q") or m.group("c")
            return Parsed(_value(number), m.start(), m.end())
    return None


def _session_count(text: str) -> Parsed | None:
    """A count of sessions or visits; counts joined by "and" are summed."""
    found = [m for m in _SESSION.finditer(text) if not _ranged(text, m, "n")]
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
        if not _ranged(text, m, "a", "b"):
            factor = _value(m["a"]) if m["a"] else 1.0
            return Parsed(factor * _value(m["b"]), m.start("a") if m["a"] else m.start(), m.end())
    return None


def _leading_count(text: str) -> Parsed | None:
    """A count of units heading the request: "1 knee scooter", "2 leg wraps"."""
    m = _LEADING.search(text)
    if m is None or _ranged(text, m, "n"):
        return None
    return Parsed(_value(m["n"]), m.start("n"), m.end("n"))


_RULES: tuple[Callable[[str], Parsed | None], ...] = (
    _count_marker,
    _session_count,
    _frequency_duration,
    _times_count,
    _leading_count,
)


def _shift(parsed: Parsed, offset: int) -> Parsed:
    """The same value with its span moved by ``offset``."""
    return Parsed(parsed.value, parsed.start + offset, parsed.end + offset)


def _eligible_start(request: str) -> int:
    """Where the IMR-eligible portion of a partial-UR heading begins (0 if not partial)."""
    marks = list(_ELIGIBLE.finditer(request))
    return marks[-1].end() if marks else 0


def _first(text: str, offset: int = 0) -> Parsed | None:
    """The first rule that finds a quantity in ``text``, spans shifted by ``offset``."""
    for rule in _RULES:
        if (found := rule(text)) is not None:
            return _shift(found, offset)
    return None


def _authorized(request: str) -> re.Match[str] | None:
    """The authorized part of a partial-UR heading, in either wording."""
    for pattern in _AUTHORIZED:
        if m := pattern.search(request):
            return m
    return None


def _remaining(request: str) -> Parsed | None:
    """Original minus authorized, when both are explicit counts of the same kind."""
    original, authorized = _ORIGINAL.search(request), _authorized(request)
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
