"""Field values compared by meaning, not spelling (pure; no LLM imports).

A model writes what the letter writes, or its own idea of it: "01/31/2017" for the ISO date
the anchors hold, "Iowa" for "IA", "sixty" for 60, "10/325 mg" for "10/325mg". These
normalizers turn each spelling into one comparable value, so a discrepancy means the values
differ. Rules:

- dates: ISO, US numeric (month first, as the letters write them; 2-digit years 1930-2029),
  month names either side of the day; a date-time is not a date.
- licensure states: a set of USPS codes (order and repeats carry no meaning); names or codes,
  in a list or joined by commas, "and", ";" or "/". An unknown token makes the value
  unparseable, so it is compared as text and never matches a real set by accident.
- numbers: ints, floats, numerals with "#", "QTY:" or thousands commas, English words.
- strengths: case, spaces and number spellings ("5.0", ".5") collapsed; "10mg/325mg" is
  "10/325mg".
- names and the rest: case-insensitive, punctuation and whitespace collapsed, "&" is "and".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from datetime import date
from functools import lru_cache
from typing import Any

from imr_llm.anchors.dates import to_iso
from imr_llm.anchors.reviewer import STATES

_DATE_FIELDS = {
    "date_assigned",
    "decision_date",
    "ur_denial_date",
    "date_of_injury",
    "application_received",
}
_KINDS = {
    **dict.fromkeys(_DATE_FIELDS, "date"),
    "reviewer.licensure_states": "states",
    "reviewer.specialties": "names",
    "patient.age": "number",
    "quantity": "number",
    "strength": "strength",
}
_ITEM_PREFIX = re.compile(r"^items\[\d+\]\.")

_NOT_ALNUM = re.compile(r"[^\w]+|_")
# "325mg" and "325 mg", "x60" and "x 60" are one spelling apart.
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})")
_ORDINAL = re.compile(r"(?<=\d)(?:st|nd|rd|th)\b", re.I)

_CODES = set(STATES.values())
_STATE_BY_NAME = {name.casefold(): code for name, code in STATES.items()}
_STATE_SPLIT = re.compile(r"\s*(?:[,;/&]|\band\b)\s*", re.I)

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_WORDS = {w: i for i, w in enumerate(_ONES)} | {w: 10 * i for i, w in enumerate(_TENS, 2)}
_NUMERAL = re.compile(r"(?:#|qty:?|quantity:?|x)?\s*(\d{1,3}(?:,\d{3})+|\d*\.?\d+)", re.I)

_UNITS = {"µg": "mcg", "μg": "mcg", "ug": "mcg", "mgs": "mg", "milligrams": "mg"}
_NUMBER_IN_TEXT = re.compile(r"\d+(?:,\d{3})+(?!\d)|\d*\.\d+|\d+")
_SHARED_UNIT = re.compile(r"(\d)([a-z%]+)/(\d[\d.]*)\2(?![a-z])")


def field_key(field: str) -> str:
    """The field's name without its item index: ``items[2].quantity`` -> ``quantity``."""
    return _ITEM_PREFIX.sub("", field)


@lru_cache(maxsize=4096)  # the same requests, specialties and headings recur letter after letter
def plain(text: str) -> str:
    """Lower case, "&" as "and", every run of punctuation or whitespace one space, and a
    space between digits and letters."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("&", " and ")
    return " ".join(_DIGIT_LETTER.sub(" ", _NOT_ALNUM.sub(" ", folded)).split())


def iso_date(value: Any) -> str | None:
    """``value`` as YYYY-MM-DD, or None if it is not a calendar date in a common spelling."""
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        return None
    text = " ".join(_ORDINAL.sub("", value).split())
    if m := _ISO.fullmatch(text):
        return _real_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _DAY_FIRST.fullmatch(text):
        text = f"{m[2]} {m[1]}, {m[3]}"
    return to_iso(text)


def _real_date(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def state_codes(value: Any) -> frozenset[str] | None:
    """USPS codes named by ``value`` (codes or names, list or joined string), or None."""
    codes = _state_list(value)
    return None if codes is None else frozenset(codes)


def _state_list(value: Any) -> list[str] | None:
    """The codes in the order named, each once; None if any token is not a state."""
    parts = value if isinstance(value, list | tuple | set | frozenset) else [value]
    codes: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            return None
        for token in _STATE_SPLIT.split(part.strip(" .")):
            code = _state_code(token)
            if code is None:
                return None
            codes.append(code)
    return list(dict.fromkeys(codes))


def _state_code(token: str) -> str | None:
    name = " ".join(token.replace(".", "").split())
    if name.upper() in _CODES and len(name) == 2:
        return name.upper()
    return _STATE_BY_NAME.get(name.casefold())


def number(value: Any) -> float | None:
    """``value`` as a number: 60, "60.00", "#60", "QTY: 60", "1,200", "sixty"; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if m := _NUMERAL.fullmatch(text):
        return float(m[1].replace(",", ""))
    return _number_words(text)


def _number_words(text: str) -> float | None:
    """English number words up to the thousands ("one hundred twenty-five")."""
    words = [w for w in re.split(r"[\s-]+", text.casefold()) if w and w != "and"]
    total = current = 0
    for word in words:
        if word in _NUMBER_WORDS:
            current += _NUMBER_WORDS[word]
        elif word == "hundred" and current:
            current *= 100
        elif word == "thousand" and (current or total):
            total, current = (total + current) * 1000, 0
        else:
            return None
    return float(total + current) if words else None


def strength(text: str) -> str:
    """A strength in one spelling: "10/325 mg", "10mg/325mg" and "10/325MG" are "10/325mg"."""
    s = "".join(unicodedata.normalize("NFKC", text).casefold().split())
    for alias, unit in _UNITS.items():
        s = re.sub(rf"(?<=\d){alias}(?![a-z])", unit, s)
    s = _NUMBER_IN_TEXT.sub(lambda m: _number_text(float(m[0].replace(",", ""))), s)
    return _SHARED_UNIT.sub(r"\1/\3\2", s)


def _number_text(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)


def canonical(field: str, value: Any) -> Any:
    """``value`` in the output contract's spelling for ``field``: ISO dates, USPS codes in
    the order named, numbers as numbers (age an int); other fields unchanged; None when
    the value cannot be read as one."""
    kind = _KINDS.get(field_key(field))
    if value is None or kind in (None, "names", "strength"):
        return value
    if kind == "date":
        return iso_date(value)
    if kind == "states":
        return _state_list(value)
    n = number(value)
    if n is None or field_key(field) != "patient.age":
        return n
    return int(n) if n.is_integer() else None


def same(field: str, anchor: Any, llm: Any) -> bool:
    """True when ``anchor`` and ``llm`` are the same value of ``field``, however spelled."""
    if anchor is None or llm is None:
        return anchor is None and llm is None
    kind = _KINDS.get(field_key(field))
    if kind == "date" and (a := iso_date(anchor)) and (b := iso_date(llm)):
        return a == b
    if kind == "states" and (codes := state_codes(anchor)) is not None:
        return codes == state_codes(llm)
    if kind == "strength" and isinstance(anchor, str) and isinstance(llm, str):
        return strength(anchor) == strength(llm)
    if kind == "number" or (_numeric(anchor) and _numeric(llm)):
        x, y = number(anchor), number(llm)
        if x is not None and y is not None:
            return abs(x - y) < 1e-9
    if kind == "names":
        return _name_set(anchor) == _name_set(llm)
    return _texts(anchor) == _texts(llm)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _name_set(value: Any) -> frozenset[str]:
    """Names as a set; a model may join a list into one comma-separated string."""
    parts = value if isinstance(value, list | tuple) else [value]
    return frozenset(p for v in parts for n in re.split(r"[,;]", str(v)) if (p := plain(n)))


def _texts(value: Any) -> Counter[str] | str:
    if isinstance(value, list | tuple):
        return Counter(plain(str(v)) for v in value)
    return plain(str(value))
