"""LLM values for anchored fields are accepted only where the letter shows them."""

from __future__ import annotations

from typing import Any

import pytest

from imr_llm.extraction.grounding import ground, ground_in_request, locate

TEXT = (
    "Case Number: CM16-0213037\n"
    "The patient is a 48-year-old man injured at work on 10-13-16. A progress report dated "
    "11/20/2016 noted pain. On 11/3/16, utilization review non-certified the MRI.\n"
    "State(s) of Licensure: California, North Carolina\n"
)


@pytest.mark.parametrize(
    ("field", "value", "grounded"),
    [
        ("case_number", "CM16-0213037", True),
        ("case_number", "CM99-9999999", False),  # well formed, not in the letter
        ("case_number", ");\n", False),
        ("date_of_injury", "2016-10-13", True),
        ("date_of_injury", "2016-11-20", False),  # a date in the letter, but not near "injur"
        ("ur_denial_date", "2016-11-03", True),
        ("ur_denial_date", "2016-10-13T08:39:57Z", False),
        ("patient.age", 48, True),
        ("patient.age", 84, False),
        ("patient.sex", "male", True),
        ("patient.sex", "female", False),
        ("reviewer.licensure_states", ["CA", "NC"], True),
        ("reviewer.licensure_states", ["CA", "TX"], False),
        ("priority", "standard", False),  # no "Priority:" line in this letter
        # Other spellings are located (below), but ground() takes the contract's spelling:
        # its callers record the value as given.
        ("date_of_injury", "10/13/2016", False),
        ("reviewer.licensure_states", ["California", "North Carolina"], False),
    ],
)
def test_ground(field: str, value: Any, grounded: bool) -> None:
    span = ground(field, value, TEXT)
    assert (span is not None) == grounded
    if span:
        assert 0 <= span[0] < span[1] <= len(TEXT)


@pytest.mark.parametrize(
    ("name", "value", "heading", "passage"),
    [
        ("quantity", 60, "Norco 10/325 x 60", "60"),
        ("quantity", 60.0, "Norco 10/325mg QTY 60.00", "60.00"),
        ("quantity", 6, "Norco 10/325mg x 60", None),  # 6 is only part of 60
        ("quantity", 32, "Norco 10/325mg x 60", None),
        ("strength", "10/325mg", "Norco 10/325mg x 60", "10/325mg"),
        ("strength", "5mg", "Norco 10/325mg x 60", None),
        ("strength", "10/325 mg", "Norco 10/325mg x 60", "10/325mg"),
        ("strength", "10/325MG", "Norco 10 / 325 mg x 60", "10 / 325 mg"),
        ("strength", "10/300 mg", "Norco 10/325mg x 60", None),
        ("quantity", "60", "Norco 10/325 x 60", "60"),
    ],
)
def test_ground_in_request(name: str, value: Any, heading: str, passage: str | None) -> None:
    span = ground_in_request(name, value, heading)
    assert (heading[span[0] : span[1]] if span else None) == passage


@pytest.mark.parametrize(
    ("field", "value", "recorded"),
    [
        ("date_of_injury", "10/13/2016", "2016-10-13"),
        ("date_of_injury", "October 13, 2016", "2016-10-13"),
        ("date_of_injury", "2016-10-13", "2016-10-13"),
        ("date_of_injury", "10/31/2016", None),  # near-miss: not in the letter
        ("ur_denial_date", "Nov 3, 2016", "2016-11-03"),
        ("reviewer.licensure_states", ["California", "North Carolina"], ["CA", "NC"]),
        ("reviewer.licensure_states", ["California, NC"], ["CA", "NC"]),
        ("reviewer.licensure_states", ["California", "Nevada"], None),
        ("reviewer.licensure_states", ["Calif"], None),
        ("patient.age", "forty-eight", 48),
        ("case_number", "CM16-0213037", "CM16-0213037"),
    ],
)
def test_locate_takes_any_spelling_and_gives_the_contracts(
    field: str, value: Any, recorded: Any
) -> None:
    found = locate(field, value, TEXT)
    assert (found.value if found else None) == recorded
    if found:
        assert 0 <= found.span[0] < found.span[1] <= len(TEXT)
