"""Layouts: current, older (2013-2014) and not an IMR letter, and the rows each one gives."""

from __future__ import annotations

import pytest
from conftest import CORPUS, cases, regression

from imr_llm.anchors.finder import find_anchors
from imr_llm.anchors.record import anchors_extraction
from imr_llm.letters.formats import recognise
from imr_llm.letters.normalize import normalize

LEGACY_DETERMINED = """\
Independent Medical Review Final Determination Letter
MAXIMUS Federal Services, Inc.

IMR DECISION(S) AND RATIONALE(S)
1. MAXIMUS Federal Services, Inc. has determined the request for Norco 10/325mg #90 is not
medically necessary and appropriate.
2. MAXIMUS Federal Services, Inc. has determined the request for physical therapy 2x4 is
medically necessary and appropriate.
"""
LEGACY_HEADINGS = """\
Independent Medical Review Final Determination Letter

IMR DECISION(S) AND RATIONALE(S)
Norco 10/325mg #90: Upheld

Decision rationale: The request is not medically necessary.
"""
LEGACY_UNREADABLE = """\
Independent Medical Review Final Determination Letter
MAXIMUS Federal Services

ISSUE AT DISPUTE
The reviewer considered the records and the treating physician's reports.
"""
LEGACY_SECTION_NO_ITEM = """\
Independent Medical Review Final Determination Letter

MEDICAL PROFESSIONAL REVIEW
The reviewer considered the records and the treating physician's reports.
"""
MEDICAL_NOTE = """\
PRIMARY TREATING PHYSICIAN'S PROGRESS REPORT
Date: 11/09/2016
The patient is a 48 year old male with low back pain. Norco 10/325mg #90 was prescribed.
Assessment: lumbar strain. Plan: physical therapy 2x4. Follow up in 4 weeks: Upheld
"""
MENTIONS_IMR = """\
Dear Dr. Smith,
The applicant has asked for an Independent Medical Review of the denial of Norco.
We will forward the records to MAXIMUS Federal Services. Please call with any questions.
"""
UR_LETTER = """\
UTILIZATION REVIEW DETERMINATION
After review, the claims administrator has determined the request for Norco 10/325mg #90 is
not medically necessary.
If you disagree, you may request an Independent Medical Review (IMR) with the enclosed form.
"""

# (id, text, format)
FORMATS = [
    ("current-dev", (CORPUS / "dev/CM16-0213037.txt").read_text(encoding="utf-8"), "current"),
    (
        "current-seed",
        (CORPUS / "seeds/000_3d6c485213f605e4.txt").read_text(encoding="utf-8"),
        "current",
    ),
    ("legacy-determined", LEGACY_DETERMINED, "legacy"),
    ("legacy-headings", LEGACY_HEADINGS, "legacy"),
    ("legacy-issue-at-dispute", LEGACY_UNREADABLE, "legacy"),
    ("legacy-professional-review", LEGACY_SECTION_NO_ITEM, "legacy"),
    ("medical-note", MEDICAL_NOTE, "not_imr"),
    ("mentions-imr", MENTIONS_IMR, "not_imr"),
    ("legacy-words-without-imr", "IMR DECISION(S) AND RATIONALE(S)\nNorco: Upheld\n", "not_imr"),
    ("empty", "", "not_imr"),
    regression(
        "ur-letter",
        UR_LETTER,
        "not_imr",
        reason="'has determined the request for' plus the IMR appeal notice reads as legacy",
    ),
]

# (id, text, requests, decisions)
LEGACY_ITEMS = [
    (
        "determined",
        LEGACY_DETERMINED,
        ["Norco 10/325mg #90", "physical therapy 2x4"],
        ["upheld", "overturned"],
    ),
    ("headings", LEGACY_HEADINGS, ["Norco 10/325mg #90"], ["upheld"]),
]


def _truncated_in_second_item(name: str) -> str:
    text = (CORPUS / name).read_text(encoding="utf-8")
    second = find_anchors(text).get("items[1].decision")
    assert second is not None
    return text[: text.index("MAXIMUS guideline", second.end)]


def _truncated_in_last_rationale(name: str) -> str:
    text = (CORPUS / name).read_text(encoding="utf-8")
    last = [a for a in find_anchors(text).anchors if a.field.endswith(".rationale")][-1]
    cut = (last.start + last.end) // 2
    return text[: text.rindex(" ", last.start, cut)]  # end on a word, not mid-sentence


@pytest.mark.parametrize(("text", "fmt"), cases(FORMATS))
def test_recognise(text: str, fmt: str) -> None:
    assert recognise(normalize(text).text) == fmt


@pytest.mark.parametrize("text", [MEDICAL_NOTE, MENTIONS_IMR, ""], ids=["note", "mention", "empty"])
def test_not_imr_row(text: str) -> None:
    row = anchors_extraction(text, path="x.txt")
    assert (row.status, row.record, row.error, row.evidence) == ("not_imr", None, None, [])
    assert row.source.path == "x.txt"
    assert row.source.chars == len(text)


@pytest.mark.parametrize(("text", "requests", "decisions"), cases(LEGACY_ITEMS))
def test_legacy_items_need_review(text: str, requests: list[str], decisions: list[str]) -> None:
    row = anchors_extraction(text)
    assert row.status == "needs_review"
    assert row.record is not None
    assert [i.request for i in row.record.items] == requests
    assert [i.decision for i in row.record.items] == decisions
    assert any("older letter layout" in w for w in row.warnings)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(LEGACY_UNREADABLE, id="no-section"),
        regression(
            "section-without-item",
            LEGACY_SECTION_NO_ITEM,
            reason="find_headings raises ValueError (zip strict) when a section has no heading",
        ),
    ],
)
def test_unreadable_legacy_fails_with_a_typed_error(text: str) -> None:
    row = anchors_extraction(text, path="old.txt")
    assert row.status == "failed"
    assert row.record is None
    assert row.error is not None
    assert row.error.type == "UnsupportedFormatError"


def test_warnings_from_loading_are_kept() -> None:
    row = anchors_extraction(LEGACY_DETERMINED, warnings=["pdf: 1 page without text"])
    assert row.warnings[0] == "pdf: 1 page without text"


@pytest.mark.parametrize("name", ["dev/CM16-0213037.txt", "seeds/000_3d6c485213f605e4.txt"])
def test_whole_letter_is_ok(name: str) -> None:
    row = anchors_extraction((CORPUS / name).read_text(encoding="utf-8"))
    assert (row.status, row.warnings) == ("ok", [])


@pytest.mark.parametrize(
    "name",
    ["dev/CM16-0213037.txt", "dev/CM17-0014449.txt", "seeds/000_3d6c485213f605e4.txt"],
)
def test_cut_in_second_item_needs_review(name: str) -> None:
    row = anchors_extraction(_truncated_in_second_item(name))
    assert row.status == "needs_review"
    assert any("found 2 item heading(s)" in w for w in row.warnings), row.warnings


@pytest.mark.parametrize(
    "name",
    ["dev/CM16-0213037.txt", "dev/CM17-0014449.txt", "seeds/000_3d6c485213f605e4.txt"],
)
def test_cut_in_last_rationale_needs_review(name: str) -> None:
    row = anchors_extraction(_truncated_in_last_rationale(name))
    assert row.status == "needs_review"
    assert any("looks truncated" in w for w in row.warnings), row.warnings
