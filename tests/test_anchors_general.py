"""Anchors on forms the corpus barely shows: general table tests, each with near-misses.

Partial-UR headings broken anywhere by a line or a page break, quantities in the ways
requests state them (and the numbers that only look like counts), and inputs that hold more
than one letter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import cases, corpus_letter

from imr_llm.anchors.finder import Anchors, find_anchors
from imr_llm.anchors.quantity import parse_quantity
from imr_llm.anchors.record import anchors_extraction
from imr_llm.cli.app import EXIT_OK, main

BLOCK = (
    "Claims Administrator guideline: Decision based on MTUS Chronic Pain.\n\n"
    "MAXIMUS guideline: Decision based on MTUS Chronic Pain, Page(s): 76-79.\n\n"
    "Decision rationale: The request is not medically necessary.\n"
)


def _letter(items: list[str], *, glued: bool = False, rationale: str = "") -> str:
    """A current-layout letter around ``items`` (headings as written, decision included).

    ``glued`` drops the blank lines between an item's parts and between items, as PDF
    extractors that lose empty paragraphs do.
    """
    block = BLOCK.replace("\n\n", "\n") if glued else BLOCK
    if rationale:
        block = block.replace("The request is not medically necessary.", rationale)
    sep = "\n" if glued else "\n\n"
    body = sep.join(f"{item}{sep}{block}" for item in items)
    return (
        "HOW THE IMR FINAL DETERMINATION WAS MADE\n\n"
        "CLINICAL CASE SUMMARY\nThe patient is a 48 year old male who sustained an injury on "
        "3/24/07.\n\n"
        "IMR ISSUES, DECISIONS AND RATIONALES\n"
        "The Final Determination was based on decisions for the disputed items/services set "
        f"forth below:{sep}{body}"
    )


def _requests(anchors: Anchors) -> list[str]:
    return [item["request"] for item in anchors.items()]


def _passage(text: str, anchors: Anchors, field: str) -> str:
    anchor = anchors.get(field)
    assert anchor is not None, field
    return " ".join(text[anchor.start : anchor.end].split())


# --- Partial-UR headings -------------------------------------------------------------

AUTHORIZED = (
    "{x} was the original request. {y} was authorized by the Claims Administrator. The "
    "remaining IMR eligible portion of the original request, {z}"
)
LEAVING = (
    "{x} was the original request. The Claims Administrator authorized {y}, leaving the "
    "original request IMR eligible. The original request, {z}"
)
# The remaining part introduced by "is (for)" instead of a comma.
IS_FOR = AUTHORIZED.replace("original request, {z}", "original request is for {z}")
# California UR "certifies" what it approves.
CERTIFIED = AUTHORIZED.replace("authorized", "certified")

# (id, wording, original, authorized, remaining): the request is the whole heading.
PARTIAL = [
    ("sessions", AUTHORIZED, "Twelve aquatic therapy sessions", "Six aquatic therapy sessions",
     "six aquatic therapy sessions"),
    ("drug-count", AUTHORIZED, "Tramadol ER 150mg #90", "Tramadol ER 150mg #30",
     "Tramadol ER 150mg #60"),
    ("decimal-strength", AUTHORIZED, "Tizanidine 2.5mg #60, per 1/4/2017 order",
     "Tizanidine 2.5mg #20, per 1/4/2017 order", "Tizanidine 2.5mg #40, per 1/4/2017 order"),
    ("parenthesis", AUTHORIZED, "Chiropractic care 2 times a week for 4 weeks (8 visits)",
     "Chiropractic care 4 visits", "Chiropractic care 4 visits"),
    ("certified", CERTIFIED, "Lumbar epidural steroid injection x 2",
     "Lumbar epidural steroid injection x 1", "Lumbar epidural steroid injection x 1"),
    ("is-for", IS_FOR, "Ten sessions of chiropractic care", "Four sessions of chiropractic care",
     "six sessions of chiropractic care"),
    ("rental", LEAVING, "Rental of a cold therapy unit for 30 days",
     "a cold therapy unit for 7 days", "rental of a cold therapy unit for 30 days"),
    ("evaluation-only", LEAVING, "Functional restoration program",
     "an evaluation for a functional restoration program", "Functional restoration program"),
]  # fmt: skip


def _gaps(heading: str) -> list[int]:
    return [m.start() for m in re.finditer(" ", heading)]


@pytest.mark.parametrize(("wording", "x", "y", "z"), cases(PARTIAL))
@pytest.mark.parametrize("brk", ["\n", "\n\n"], ids=["line-break", "page-break"])
@pytest.mark.parametrize("glued", [False, True], ids=["paragraphs", "glued"])
@pytest.mark.parametrize("first", [True, False], ids=["first-item", "after-an-item"])
def test_partial_heading_is_whole_wherever_it_breaks(
    wording: str, x: str, y: str, z: str, brk: str, glued: bool, first: bool
) -> None:
    heading = wording.format(x=x, y=y, z=z)
    for gap in _gaps(heading):
        written = heading[:gap] + brk + heading[gap + 1 :] + " is: Upheld"
        items = [written] if first else ["Soma 350mg: Overturned", written]
        anchors = find_anchors(_letter(items, glued=glued))
        assert _requests(anchors)[-1] == heading, f"break after {heading[:gap]!r}"
        assert anchors.items()[-1]["decision"] == "upheld"
        assert anchors.problems == ()


@pytest.mark.parametrize(("wording", "x", "y", "z"), cases(PARTIAL))
def test_partial_heading_span_and_decision_on_next_line(
    wording: str, x: str, y: str, z: str
) -> None:
    heading = wording.format(x=x, y=y, z=z)
    text = _letter(["Soma 350mg: Overturned", heading + " is:\nUpheld"], glued=True)
    anchors = find_anchors(text)
    assert _passage(text, anchors, "items[1].request") == heading
    assert _passage(text, anchors, "items[1].decision") == "Upheld"


# (id, items as written, rationale of every item, requests wanted)
HEADING_NEAR_MISSES = [
    (
        "rationale-retells-the-partial-ur",
        ["Norco 10/325mg #60: Upheld", "Soma 350mg: Overturned"],
        "Norco 10/325mg #90 was the original request. The Claims Administrator authorized "
        "Norco 10/325mg #30, leaving the original request IMR eligible. On review, the "
        "original request, Norco 10/325mg #60, is not medically necessary.",
        ["Norco 10/325mg #60", "Soma 350mg"],
    ),
    (
        "rationale-without-a-full-stop",
        ["Norco 10/325mg #60: Upheld", "Soma 350mg: Overturned"],
        "The request is not medically necessary per MTUS",
        ["Norco 10/325mg #60", "Soma 350mg"],
    ),
    (
        "page-break-inside-an-ordinary-heading",
        ["Retrospective request for 1 prescription of Norco 10/325mg\n\n#160: Upheld",
         "Magnetic resonance imaging of the\n\nleft knee: Overturned"],
        "",
        ["Retrospective request for 1 prescription of Norco 10/325mg #160",
         "Magnetic resonance imaging of the left knee"],
    ),
    (
        "original-request-in-an-ordinary-heading",
        ["Repeat of the original request for Norco 10/325mg #60: Upheld"],
        "",
        ["Repeat of the original request for Norco 10/325mg #60"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("items", "rationale", "wanted"), cases(HEADING_NEAR_MISSES))
@pytest.mark.parametrize("glued", [False, True], ids=["paragraphs", "glued"])
def test_heading_near_miss(
    items: list[str], rationale: str, wanted: list[str], glued: bool
) -> None:
    if glued:  # no blank lines at all: a page break is a line break
        items = [item.replace("\n\n", "\n") for item in items]
    anchors = find_anchors(_letter(items, glued=glued, rationale=rationale))
    assert _requests(anchors) == wanted
    assert not [p for p in anchors.problems if "heading" in p]


# --- Quantities ------------------------------------------------------------------------

# (id, request, quantity)
QUANTITIES = [
    # A number word with its digits in parentheses is one number.
    ("word-digits-sessions", "Eight (8) physical therapy sessions", 8),
    ("word-digits-leading", "One (1) x-ray of the lumbar spine", 1),
    ("word-digits-visits", "Twelve (12) chiropractic visits for the low back", 12),
    ("digits-word", "6 (six) sessions of acupuncture", 6),
    ("word-digits-injection", "Two (2) trigger point injections", 2),
    ("word-digits-and", "Four (4) sessions of PT and two (2) sessions of OT", 6),
    # A count closing the request after a comma.
    ("trailing-study", "NCV of the bilateral lower extremities, 2", 2),
    ("trailing-sessions", "Physical Therapy sessions, 12", 12),
    ("trailing-after-strength", "Gabapentin 600mg, 90", 90),
    ("trailing-after-digit", "Hydrocodone/APAP 10/325, 120", 120),
    # A rate times a duration.
    ("visits-per-week", "3 visits per week for 2 weeks", 6),
    ("sessions-a-week", "Aquatic therapy 2 sessions a week for 4 weeks", 8),
    ("visits-weekly", "Chiropractic 2 visits weekly for 3 weeks", 6),
    ("slash-week", "Physical therapy 3x/week x 4 weeks", 12),
    ("words-per-month", "Trigger point injection one time per month for three months", 3),
    ("named-visits-per-week", "Three acupuncture visits per week for two weeks", 6),
    # A parenthesized total wins over the factors beside it.
    ("total-after-times", "Physical therapy two times four visits (8)", 8),
    ("total-after-rate", "Acupuncture 2 times a week for 3 weeks (6)", 6),
    ("total-beats-rate-visits", "3 visits per week for 4 weeks (10)", 10),
    ("total-of", "Massage therapy twice weekly for 3 weeks (total of 6)", 6),
    ("times-factor-visits", "Physical therapy two times four visits", 8),
    ("x-after-word", "Extracorporeal shockwave therapy x 3", 3),
    ("x-ray-counted", "2 x-rays of the right wrist", 2),
    ("paren-after-drug", "Tramadol 50mg (60)", 60),
    ("x-then-site", "Trigger point injections x 4 to the trapezius", 4),
    ("x-sessions", "Cognitive behavioral therapy x 6 sessions", 6),
    ("units-of-a-thing", "2 pairs of compression stockings", 2),
]

# Numbers that name a kind of thing, a duration, a measure or a place: never counts.
LOOK_ALIKES = [
    "Three phase bone scan",
    "3 phase bone scan of the left foot",
    "Two-level lumbar fusion",
    "2 level anterior cervical discectomy and fusion",
    "Two level lumbar decompression",
    "3D CT scan of the right ankle",
    "3-D reconstruction of the pelvis",
    "4-view x-ray of the right knee",
    "Two view chest x-ray",
    "X-ray 2 views of the left ankle",
    "X-ray of the left ankle, 3 views",
    "Bedside 3-in-1 commode",
    "3 in 1 commode",
    "Lidoderm 5% patch",
    "12-lead EKG",
    "12 lead electrocardiogram",
    "C5-6 anterior cervical discectomy",
    "Epidural steroid injection at L4-L5, L5-S1",
    "24 hour urine collection",
    "1 month supply of Lidopro lotion",
    "30 day trial of a TENS unit",
    "Six week functional restoration program",
    "Two wheeled walker",
    "4 wheeled walker with seat",
    "Four point cane",
    "Two channel TENS unit",
    "10 panel urine drug screen",
    "Three compartment knee arthroplasty",
    "Two stage revision of the right knee",
    "5 lb cuff weights",
    "Physical therapy 3 visits per week",
    "3 sessions per week of aquatic therapy",
    "Physical therapy 2x4",
    "4x4 gauze pads",
    "(1) MRI of the lumbar spine",
    "MRI of the lumbar spine (2016)",
    "Vitamin D 50,000",
    "Physical therapy sessions, 6-8",
    "Acupuncture 1 to 2 visits per week for 4 weeks",
    "Home exercise kit x 2 weeks",
    "Four extremity EMG/NCV",
    "Interferential unit x 1 month rental",
    "Home health aide 4 hours a day, 5 days a week",
    "Two (2) month rental of a cold therapy unit",
    "Ibuprofen 800mg 1 tab three times a day",
]


@pytest.mark.parametrize(("request_text", "expected"), cases(QUANTITIES))
def test_quantity_form(request_text: str, expected: float) -> None:
    parsed = parse_quantity(request_text)
    assert parsed is not None
    assert parsed.value == expected
    assert re.search(r"\d|[a-z]", request_text[parsed.start : parsed.end], re.I)


@pytest.mark.parametrize("request_text", LOOK_ALIKES)
def test_look_alike_is_not_a_quantity(request_text: str) -> None:
    assert parse_quantity(request_text) is None


@pytest.mark.parametrize(("request_text", "expected"), cases(QUANTITIES))
def test_quantity_of_a_partial_heading_is_the_remaining_part(
    request_text: str, expected: float
) -> None:
    # The original and authorized parts carry numbers of their own that must not be read.
    for wording in (AUTHORIZED, IS_FOR, LEAVING):
        heading = wording.format(x="Ninety-nine (99) visits, 99", y="One (1) visit", z=request_text)
        parsed = parse_quantity(heading)
        assert parsed is not None
        assert parsed.value == expected


def test_quantity_spans() -> None:
    text = "Chiropractic 2 visits weekly for 3 weeks"
    parsed = parse_quantity(text)
    assert parsed is not None
    assert text[parsed.start : parsed.end] == "2 visits weekly for 3 weeks"
    text = "Physical therapy two times four visits (8)"
    parsed = parse_quantity(text)
    assert parsed is not None
    assert text[parsed.start : parsed.end] == "(8)"


# --- Inputs that hold more than one letter ---------------------------------------------

FIRST = "CM16-0213037"  # two items, header block
SECOND = "CM17-0001749"  # one partial-UR item, header block
SEED = "000_3d6c485213f605e4"  # no header block, a blank line after every line
SEED_2 = "001_e6b0d48aa7f5108d"
GREETING = "\n\nDear Ms. Doe:\n\nMAXIMUS Federal Services has completed the review.\n\n"


def _issues_only(name: str) -> str:
    text = corpus_letter(name)
    return text[text.index("IMR ISSUES") :]


def _without_header(name: str) -> str:
    text = corpus_letter(name)
    return text[text.index("HOW THE IMR") :]


# (id, text, case numbers named in the warning, or None when the input is one letter)
INPUTS: list[tuple[str, str, str | None]] = [
    ("two-headers", corpus_letter(FIRST) + corpus_letter(SECOND), f"{FIRST}, {SECOND}"),
    ("pasted-without-newline", corpus_letter(FIRST).rstrip() + corpus_letter(SECOND),
     f"{FIRST}, {SECOND}"),
    ("second-without-header", corpus_letter(FIRST) + corpus_letter(SEED),
     f"{FIRST}, no case number"),
    ("first-without-header", _without_header(SECOND) + corpus_letter(FIRST),
     f"no case number, {FIRST}"),
    ("two-double-spaced-seeds", corpus_letter(SEED) + corpus_letter(SEED_2),
     "no case number, no case number"),
    ("same-letter-twice", corpus_letter(FIRST) * 2, f"{FIRST}, {FIRST}"),
    ("greeting-then-sections", corpus_letter(FIRST) + GREETING + _without_header(SECOND),
     f"{FIRST}, no case number"),
    ("items-section-only", corpus_letter(FIRST) + "\n" + _issues_only(SECOND),
     f"{FIRST}, no case number"),
    ("three-letters", corpus_letter(SECOND) + corpus_letter(FIRST) + corpus_letter(SEED),
     f"{SECOND}, {FIRST}, no case number"),
]  # fmt: skip


def _first_alone(text: str) -> str:
    """The letter that ``text`` begins with, as it stands alone."""
    alone = [_without_header(SECOND)] + [corpus_letter(n) for n in (FIRST, SECOND, SEED)]
    return next(letter for letter in alone if text.startswith(letter.rstrip()))


def _one_letter_near_misses() -> list[tuple[str, str, str | None]]:
    text = corpus_letter(FIRST)
    summary = text.index("CLINICAL CASE SUMMARY")
    rationale = text.index("Decision rationale:") + len("Decision rationale:")
    at_line = text.index("\n", summary + 40) + 1
    return [
        ("page-header-repeats-case-number",
         text[:at_line] + f"Case Number: {FIRST}\n" + text[at_line:], None),
        ("rationale-cites-another-case",
         text[:rationale] + " As in Case Number: CM15-0001234, the request is not supported."
         + text[rationale:], None),
        ("summary-quotes-a-header",
         text[:at_line] + "Case Number: CM15-0001234\nDate Assigned: 01/02/2015\n"
         + text[at_line:], None),
        ("summary-quotes-a-greeting",
         text[:at_line] + "Dear Dr. Lee:\nThe patient is doing better.\n" + text[at_line:], None),
        ("headings-named-in-prose",
         text[:rationale] + " The clinical case summary and how the IMR final determination "
         "was made are above." + text[rationale:], None),
    ]  # fmt: skip


@pytest.mark.parametrize(("text", "named"), cases(INPUTS + _one_letter_near_misses()))
def test_input_with_several_letters_reads_only_the_first(text: str, named: str | None) -> None:
    row = anchors_extraction(text)
    assert row.record is not None
    notes = [w for w in row.warnings if "letters" in w]
    if named is None:
        assert row.status == "ok"
        assert notes == []
        return
    count = named.count(",") + 1
    assert row.status == "needs_review"
    assert notes == [f"the input holds {count} letters ({named}); only the first was read"]
    alone = anchors_extraction(_first_alone(text))
    assert alone.record is not None
    assert row.record == alone.record, "the row is the first letter's, and only its"
    assert all(ev.end <= len(_first_alone(text).rstrip()) for ev in row.evidence)


def test_bulk_accounting_one_row_per_input(tmp_path: Path) -> None:
    one = tmp_path / "one.txt"
    two = tmp_path / "two.txt"
    one.write_text(corpus_letter(FIRST), encoding="utf-8")
    two.write_text(corpus_letter(FIRST) + corpus_letter(SECOND), encoding="utf-8")
    out = tmp_path / "rows.jsonl"
    assert main(["anchors", str(one), str(two), "-o", str(out)]) == EXIT_OK
    rows: list[dict[str, Any]] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok", "needs_review"]
    assert rows[1]["record"]["case_number"] == FIRST
    assert any(SECOND in w for w in rows[1]["warnings"])


def test_a_header_quoted_in_the_first_letter_does_not_move_the_second() -> None:
    first = corpus_letter(FIRST)
    at = first.index("\n", first.index("CLINICAL CASE SUMMARY") + 40) + 1
    quoted = first[:at] + "Case Number: CM15-0001234\n" + first[at:]
    row = anchors_extraction(quoted + corpus_letter(SECOND))
    alone = anchors_extraction(quoted)
    assert row.record == alone.record
    assert f"({FIRST}, {SECOND})" in row.warnings[-1]


def test_letter_end_is_where_the_second_letter_begins_in_the_original_text() -> None:
    first, second = corpus_letter(FIRST), corpus_letter(SECOND)
    for text in (first + second, first.rstrip() + second, first + "\n\n\n" + second):
        end = find_anchors(text).letter_end
        assert end is not None
        assert text[end:].startswith(second.lstrip())
        assert not text[:end].strip().endswith(second.strip()[:40])
    assert find_anchors(first).letter_end is None
