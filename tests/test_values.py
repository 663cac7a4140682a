"""Field values compare by meaning: spellings of one value agree, near-misses do not."""

from __future__ import annotations

from typing import Any

import pytest

from imr_llm.anchors.finder import Anchor, Anchors
from imr_llm.extraction.answer import Answer
from imr_llm.extraction.merge import merge
from imr_llm.extraction.values import (
    canonical,
    iso_date,
    number,
    plain,
    same,
    state_codes,
    strength,
)
from imr_llm.extraction.verify import compare


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2017-01-31", "2017-01-31"),
        ("2017-1-31", "2017-01-31"),
        ("01/31/2017", "2017-01-31"),
        ("1/31/2017", "2017-01-31"),
        ("1/31/17", "2017-01-31"),
        ("01-31-2017", "2017-01-31"),
        ("10-13-96", "1996-10-13"),  # two-digit years: 1930-2029, as the anchors read them
        ("January 31, 2017", "2017-01-31"),
        ("Jan. 31 2017", "2017-01-31"),
        ("January 31st, 2017", "2017-01-31"),
        ("31 January 2017", "2017-01-31"),
        (" 01/31/2017 ", "2017-01-31"),
        ("02/30/2017", None),  # no such day
        ("31/01/2017", None),  # day first is not how US letters write it
        ("2016-10-13T08:39:57Z", None),  # a time stamp is not a date
        ("Smarch 3, 2017", None),
        ("", None),
        (20170131, None),
    ],
)
def test_iso_date(text: Any, iso: str | None) -> None:
    assert iso_date(text) == iso


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        (["IA", "MT", "CA"], {"IA", "MT", "CA"}),
        (["Iowa", "Montana", "California"], {"IA", "MT", "CA"}),
        (["Iowa, Montana, California"], {"IA", "MT", "CA"}),
        ("IA, MT, CA", {"IA", "MT", "CA"}),
        ("California and New York", {"CA", "NY"}),
        (["california", "ca", "CA."], {"CA"}),
        (["West Virginia"], {"WV"}),
        (["District of Columbia"], {"DC"}),
        (["North  Carolina"], {"NC"}),
        ([], set()),
        (["Calif"], None),  # not a state name or code: never silently dropped
        (["XX"], None),
        (["CA", 5], None),
    ],
)
def test_state_codes(value: Any, codes: set[str] | None) -> None:
    assert state_codes(value) == (None if codes is None else frozenset(codes))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (60, 60.0),
        (60.0, 60.0),
        ("60", 60.0),
        ("60.00", 60.0),
        ("#60", 60.0),
        ("QTY: 60.00", 60.0),
        ("1,200", 1200.0),
        ("sixty", 60.0),
        ("Sixty-five", 65.0),
        ("one hundred twenty", 120.0),
        ("two thousand five hundred", 2500.0),
        ("sixty count", None),
        ("12 sessions", None),
        ("hundred", None),
        ("", None),
        (True, None),
        (None, None),
    ],
)
def test_number(value: Any, expected: float | None) -> None:
    assert number(value) == expected


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("10/325 mg", "10/325mg", True),
        ("10/325MG", "10/325mg", True),
        ("10mg/325mg", "10/325mg", True),
        ("5.0 mg", "5mg", True),
        (".5%", "0.5%", True),
        ("25 ug", "25mcg", True),
        ("10/325mg", "10/300mg", False),
        ("5mg", "50mg", False),
        ("10mg/325mcg", "10/325mg", False),
    ],
)
def test_strength(a: str, b: str, equal: bool) -> None:
    assert (strength(a) == strength(b)) == equal


@pytest.mark.parametrize(
    ("field", "anchor", "llm", "equal"),
    [
        ("decision_date", "2017-01-31", "01/31/2017", True),
        ("decision_date", "2017-01-31", "January 31, 2017", True),
        ("date_of_injury", "2017-01-31", "1/31/17", True),
        ("decision_date", "01/31/2017", "01/13/2017", False),
        ("decision_date", "2017-01-31", "2017-01-30", False),
        ("decision_date", "2017-01-31", "2017-01-31T00:00:00Z", False),
        ("decision_date", "2017-01-31", "unknown", False),
        ("reviewer.licensure_states", ["IA", "MT", "CA"], ["Iowa", "Montana", "California"], True),
        ("reviewer.licensure_states", ["IA", "MT", "CA"], "Iowa, Montana, California", True),
        ("reviewer.licensure_states", ["IA", "MT", "CA"], ["CA", "IA", "MT", "CA"], True),
        ("reviewer.licensure_states", ["IA"], ["Iowa, Idaho"], False),
        ("reviewer.licensure_states", ["IA", "ID"], ["IA"], False),
        ("reviewer.licensure_states", ["VA"], ["West Virginia"], False),
        ("reviewer.licensure_states", ["CA"], ["Calif"], False),
        ("items[0].quantity", 60.0, 60, True),
        ("items[0].quantity", 60.0, "60.00", True),
        ("items[3].quantity", 60.0, "sixty", True),
        ("items[0].quantity", 60.0, 6.0, False),
        ("items[0].quantity", 60.0, 60.5, False),
        ("patient.age", 48, 48.0, True),
        ("patient.age", 48, "forty-eight", True),
        ("patient.age", 48, 84, False),
        ("items[0].strength", "10/325mg", "10/325 mg", True),
        ("items[0].strength", "10/325mg", "7.5/325 mg", False),
        ("items[0].request", "Norco", "norco ", True),
        ("items[0].request", "Norco 10/325mg #60", "NORCO 10/325MG, #60", True),
        ("items[0].request", "Norco", "Norco 10", False),
        ("items[0].category", "Evaluation & Management", "evaluation and management", True),
        (
            "reviewer.specialties",
            ["Orthopaedic Surgery", "Sports Medicine"],
            ["sports medicine, orthopaedic surgery"],
            True,
        ),
        ("reviewer.specialties", ["Orthopaedic Surgery"], ["Orthopedic Surgery"], False),
        ("case_number", "CM16-0213037", "cm16-0213037", True),
        ("case_number", "CM16-0213037", "CM16-0213038", False),
        ("patient.sex", "male", None, False),
        ("patient.sex", None, None, True),
    ],
)
def test_same(field: str, anchor: Any, llm: Any, equal: bool) -> None:
    assert same(field, anchor, llm) == equal
    assert same(field, llm, anchor) == equal  # symmetric: neither side is privileged


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("decision_date", "1/31/17", "2017-01-31"),
        ("decision_date", "2017-01-31", "2017-01-31"),
        ("decision_date", "soon", None),
        ("reviewer.licensure_states", ["Iowa, Montana", "IA"], ["IA", "MT"]),
        ("reviewer.licensure_states", ["Calif"], None),
        ("patient.age", "forty-eight", 48),
        ("patient.age", 48.5, None),
        ("items[0].quantity", "60.00", 60.0),
        ("items[0].strength", "10/325 mg", "10/325 mg"),  # no contract spelling: as given
        ("case_number", "CM16-0213037", "CM16-0213037"),
        ("priority", None, None),
    ],
)
def test_canonical(field: str, value: Any, expected: Any) -> None:
    assert canonical(field, value) == expected


def test_plain_collapses_case_punctuation_and_space() -> None:
    assert plain("  Norco\t10/325 mg,  #60 ") == "norco 10 325 mg 60"
    assert plain("PT & OT") == plain("pt and ot")
    assert plain("Café") == "café"
    assert plain("Norco 10/325mg x60") == plain("NORCO 10/325 MG X 60")


def _answer(**changes: Any) -> Answer:
    item = {
        "request": "norco 10/325 MG #60",
        "decision": "upheld",
        "treatment": "Norco",
        "generic_name": None,
        "category": None,
        "subcategory": None,
        "strength": "10/325 mg",
        "quantity": 60,
        "reasons": [],
        "summary": None,
    }
    letter = {
        "case_number": "cm16-0213037",
        "date_assigned": None,
        "decision_date": "01/31/2017",
        "ur_denial_date": "January 5, 2017",
        "date_of_injury": "10-13-16",
        "application_received": None,
        "priority": None,
        "reviewer": {"licensure_states": ["Iowa, Montana, California"], "specialties": []},
        "patient": {"age": 48, "sex": "male"},
        "diagnoses": [],
        "items": [item | changes.pop("item", {})],
    }
    return Answer.model_validate(letter | changes)


ANCHORS = Anchors(
    "current",
    tuple(
        Anchor(field, value, 0, 1)
        for field, value in {
            "case_number": "CM16-0213037",
            "decision_date": "2017-01-31",
            "ur_denial_date": "2017-01-05",
            "date_of_injury": "2016-10-13",
            "reviewer.licensure_states": ["IA", "MT", "CA"],
            "patient.age": 48,
            "patient.sex": "male",
            "items[0].request": "Norco 10/325mg #60",
            "items[0].decision": "upheld",
            "items[0].strength": "10/325mg",
            "items[0].quantity": 60.0,
        }.items()
    ),
    (),
)


def test_compare_and_merge_see_no_conflict_in_other_spellings() -> None:
    # The review-page case: ISO dates against US ones, codes against state names.
    assert compare(_answer(), ANCHORS) == []
    text = "x" * 10
    assert merge(text, ANCHORS, _answer(), accepted=True).discrepancies == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"decision_date": "01/13/2017"}, "decision_date"),
        (
            {"reviewer": {"licensure_states": ["Iowa, Idaho"], "specialties": []}},
            "reviewer.licensure_states",
        ),
        ({"item": {"quantity": 6}}, "items[0].quantity"),
        ({"item": {"strength": "10/300 mg"}}, "items[0].strength"),
    ],
)
def test_compare_still_reports_a_different_value(changes: dict[str, Any], field: str) -> None:
    assert [c.field for c in compare(_answer(**changes), ANCHORS)] == [field]
