"""LLM values for anchored fields are accepted only where the letter shows them."""

from __future__ import annotations

from typing import Any

import pytest

from imr_llm.extraction.grounding import ground, ground_in_request

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
    ],
)
def test_ground_in_request(name: str, value: Any, heading: str, passage: str | None) -> None:
    span = ground_in_request(name, value, heading)
    assert (heading[span[0] : span[1]] if span else None) == passage
