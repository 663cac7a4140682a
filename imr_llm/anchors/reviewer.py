"""Anchors for the expert reviewer's licensure states and specialties."""

from __future__ import annotations

import re

from imr_llm.anchors.spans import Found

STATES = {
    "Alabama": "AL",
    "Alaska": "AK",
    "Arizona": "AZ",
    "Arkansas": "AR",
    "California": "CA",
    "Colorado": "CO",
    "Connecticut": "CT",
    "Delaware": "DE",
    "District of Columbia": "DC",
    "Florida": "FL",
    "Georgia": "GA",
    "Hawaii": "HI",
    "Idaho": "ID",
    "Illinois": "IL",
    "Indiana": "IN",
    "Iowa": "IA",
    "Kansas": "KS",
    "Kentucky": "KY",
    "Louisiana": "LA",
    "Maine": "ME",
    "Maryland": "MD",
    "Massachusetts": "MA",
    "Michigan": "MI",
    "Minnesota": "MN",
    "Mississippi": "MS",
    "Missouri": "MO",
    "Montana": "MT",
    "Nebraska": "NE",
    "Nevada": "NV",
    "New Hampshire": "NH",
    "New Jersey": "NJ",
    "New Mexico": "NM",
    "New York": "NY",
    "North Carolina": "NC",
    "North Dakota": "ND",
    "Ohio": "OH",
    "Oklahoma": "OK",
    "Oregon": "OR",
    "Pennsylvania": "PA",
    "Rhode Island": "RI",
    "South Carolina": "SC",
    "South Dakota": "SD",
    "Tennessee": "TN",
    "Texas": "TX",
    "Utah": "UT",
    "Vermont": "VT",
    "Virginia": "VA",
    "Washington": "WA",
    "West Virginia": "WV",
    "Wisconsin": "WI",
    "Wyoming": "WY",
}
# Longest names first so "West Virginia" wins over "Virginia".
_STATE = re.compile(
    r"\b(?:"
    + "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(STATES, key=len, reverse=True))
    + r")\b",
    re.I,
)
_BY_KEY = {name.lower(): code for name, code in STATES.items()}
_LICENSURE = re.compile(r"State\(s\)\s+of\s+Licensure:[ \t]*(?P<v>[^\n]*)")
# The specialties may wrap onto a second line, but not into a section heading.
_SPECIALTY = re.compile(
    r"Certification\(s\)/Specialty:[ \t]*(?P<v>(?:[^\n]|\n(?!\n|[A-Z][A-Z ,&]{5,}(?:\n|$)))*)"
)
_SENTENCE = re.compile(
    r"\bBoard\s+Certified\s+in\s+(?P<board>[^,.]+?)(?:,\s+(?:and\s+)?has\s+a\s+subspecialty\s+in\s+"
    r"(?P<sub>[^,.]+?))?,?\s+(?:and\s+)?is\s+licensed\s+to\s+practice\s+in\s+(?P<states>[^.]+)\."
)


def _states(text: str, offset: int) -> list[Found]:
    codes = [
        (_BY_KEY[" ".join(m[0].lower().split())], m.start() + offset, m.end() + offset)
        for m in _STATE.finditer(text)
    ]
    if not codes:
        return []
    values = list(dict.fromkeys(c for c, _, _ in codes))
    return [Found("reviewer.licensure_states", values, codes[0][1], codes[-1][2])]


def _specialties(text: str, offset: int) -> list[Found]:
    names = [" ".join(s.split()) for s in text.split(",")]
    names = [n.rstrip(".") for n in names if n.strip(" .")]
    if not names:
        return []
    end = offset + len(text.rstrip(" .\n"))
    return [Found("reviewer.specialties", names, offset, end)]


def find_reviewer(text: str) -> list[Found]:
    """Licensure states (as USPS codes) and specialties, in line or sentence form."""
    found: list[Found] = []
    if m := _LICENSURE.search(text):
        found += _states(m["v"], m.start("v"))
    if m := _SPECIALTY.search(text):
        found += _specialties(m["v"], m.start("v"))
    if found:
        return found
    if m := _SENTENCE.search(text):
        found += _states(m["states"], m.start("states"))
        board = " ".join(m["board"].split())
        names = [board] + ([" ".join(m["sub"].split())] if m["sub"] else [])
        found.append(
            Found(
                "reviewer.specialties",
                names,
                m.start("board"),
                m.end("sub" if m["sub"] else "board"),
            )
        )
    return found
