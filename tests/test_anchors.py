"""Table-driven tests for the deterministic anchors, each table with near-misses."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CORPUS, cases, regression

from imr_llm.anchors.dates import to_iso
from imr_llm.anchors.finder import Anchors, find_anchors
from imr_llm.anchors.header import find_header, find_patient, find_summary_dates
from imr_llm.anchors.reviewer import STATES, find_reviewer
from imr_llm.anchors.spans import Found
from imr_llm.letters.normalize import normalize

DATES = [
    ("dash-2digit", "10-13-16", "2016-10-13"),
    ("slash-4digit", "11/09/2016", "2016-11-09"),
    ("month-name", "June 15, 2002", "2002-06-15"),
    ("abbrev-dot", "Sept. 3, 2015", "2015-09-03"),
    ("abbrev-nodot", "Sept 3, 2015", "2015-09-03"),
    ("slash-2digit", "3/24/07", "2007-03-24"),
    ("2digit-1900s", "3/24/97", "1997-03-24"),
    ("padded", "  11/09/2016 ", "2016-11-09"),
    ("bad-month-day", "13/40/2016", None),
    ("feb-30", "02/30/2017", None),
    ("not-a-month", "Foo 3, 2015", None),
    ("trailing-junk", "3/24/07x", None),
    ("no-year", "3/24", None),
    ("empty", "", None),
]

CASE_NUMBERS = [
    ("colon", "Case Number: CM16-0213037", "CM16-0213037"),
    ("no-colon", "Case Number CM17-0000846", "CM17-0000846"),
    ("one-digit-year", "Case Number: CM1-0000001", None),
    ("plain-number", "Case Number: 123", None),
    ("eight-digits", "Case Number: CM16-02130371", None),
    ("no-label", "CM16-0213037", None),
    ("below-header", "HOW THE IMR FINAL DETERMINATION WAS MADE\nCase Number: CM16-0213037", None),
]

HEADER_DATES = [
    ("assigned", "Date Assigned: 11/09/2016", "date_assigned", "2016-11-09"),
    ("injury", "Date of Injury:  10/13/2016", "date_of_injury", "2016-10-13"),
    ("injury-2digit", "Date of Injury: 6/15/02", "date_of_injury", "2002-06-15"),
    ("decision", "Decision Date: 12/09/2016", "decision_date", "2016-12-09"),
    ("ur-denial", "UR Denial Date:  11/03/2016", "ur_denial_date", "2016-11-03"),
    ("received", "Application Received: 11/03/2016", "application_received", "2016-11-03"),
]

HEADER_NEAR_MISSES = [
    ("invalid-date", "Date Assigned: 13/40/2016"),
    ("no-colon", "Date Assigned 11/09/2016"),
    ("no-date", "Date of Injury: unknown"),
    ("below-header", "HOW THE IMR FINAL DETERMINATION WAS MADE\nDate of Injury: 10/13/2016"),
]

PRIORITIES = [
    ("standard", "Priority: Standard", "standard"),
    ("expedited", "Priority:  Expedited", "expedited"),
    ("upper", "Priority: STANDARD", "standard"),
    ("urgent", "Priority: Urgent", None),
    ("no-colon", "Priority Standard", None),
]

# (id, summary sentence, age, sex)
PATIENTS = [
    ("hyphenated", "The patient is a 48-year-old man who sustained an injury.", 48, "male"),
    ("spaced", "The patient is a 52 year old male with back pain.", 52, "male"),
    ("injured-worker", "The injured worker is a 26 year old male who fell.", 26, "male"),
    ("a(n)", "The injured worker is a(n) 59 year old female who fell.", 59, "female"),
    ("sex-after", "The 58 year old female injured worker slipped.", 58, "female"),
    ("ethnicity", "This is a 33 year old Hispanic female.", 33, "female"),
    ("handed", "This is a 33 year old right-handed male.", 33, "male"),
    ("yr-woman", "She is a 40 yr old woman.", 40, "female"),
    ("gentleman", "He is a 61-year-old gentleman.", 61, "male"),
    ("sex-only", "The injured worker is a female who sustained an injury.", None, "female"),
    ("sex-only-was", "The claimant was a man of average build.", None, "male"),
    regression(
        "sex-only-a(n)",
        "The injured worker is a(n) female who sustained an injury.",
        None,
        "female",
        reason="_SEX_ONLY expects whitespace between 'a' and '(n)'",
    ),
    ("year-history", "The patient has a 45-year history of smoking.", None, None),
    ("daughter", "He lives with his 48 year old daughter.", None, None),
    ("son", "He cares for his 20 year old son.", None, None),
    ("no-sex-word", "The patient is 10 years old.", None, None),
    (
        "son-then-patient",
        "He has a 20 year old son. The patient is a 50 year old female.",
        50,
        "female",
    ),
]

# (id, summary sentence, field, value): letters without a header state these in prose.
SUMMARY_DATES = [
    (
        "injury-on",
        "He sustained a work-related injury on June 15, 2002.",
        "date_of_injury",
        "2002-06-15",
    ),
    ("injury-of", "She reported a date of injury of 3/24/07.", "date_of_injury", "2007-03-24"),
    (
        "industrial",
        "He sustained an industrial injury on 10-13-16.",
        "date_of_injury",
        "2016-10-13",
    ),
    (
        "ur-dated",
        "A utilization review determination dated 9/30/14 non-certified the request.",
        "ur_denial_date",
        "2014-09-30",
    ),
    (
        "on-ur",
        "On 2/5/2015, Utilization Review (UR) non-certified the request.",
        "ur_denial_date",
        "2015-02-05",
    ),
    (
        "on-ur-lower",
        "On 11-3-16, utilization review determined it.",
        "ur_denial_date",
        "2016-11-03",
    ),
    ("injury-year-only", "He had a prior injury in 2001.", "date_of_injury", None),
    ("visit-not-injury", "He was seen on 3/3/2015 for a follow-up.", "date_of_injury", None),
    ("invalid-ur", "On 2/30/2015, Utilization Review denied it.", "ur_denial_date", None),
    ("ur-undated", "Utilization Review non-certified the request.", "ur_denial_date", None),
]

LICENSURE = [
    ("three", "New Jersey, Michigan, California", ["NJ", "MI", "CA"]),
    ("no-space", "California,North Carolina", ["CA", "NC"]),
    ("dc", "District of Columbia, California", ["DC", "CA"]),
    ("west-virginia", "West Virginia", ["WV"]),
    ("both-virginias", "Virginia, West Virginia", ["VA", "WV"]),
    ("arkansas-not-kansas", "Arkansas", ["AR"]),
    ("lower-case", "new york", ["NY"]),
    ("repeated", "California, California", ["CA"]),
    ("empty", "", None),
]

SPECIALTIES = [
    ("one", "Certification(s)/Specialty: Family Practice \n\n", ["Family Practice"]),
    (
        "two",
        "Certification(s)/Specialty: Neurology, Neuromuscular Medicine \n\n",
        ["Neurology", "Neuromuscular Medicine"],
    ),
    (
        "wrapped",
        "Certification(s)/Specialty: Preventive Medicine, Occupational Medicine, Public Health &\n"
        "General Preventive Medicine \n \nCLINICAL CASE SUMMARY",
        [
            "Preventive Medicine",
            "Occupational Medicine",
            "Public Health & General Preventive Medicine",
        ],
    ),
    (
        "ampersand",
        "Certification(s)/Specialty: Physical Medicine & Rehabilitation, Pain Management\n\n",
        ["Physical Medicine & Rehabilitation", "Pain Management"],
    ),
    regression(
        "no-blank-before-section",
        "Certification(s)/Specialty: Internal Medicine\nCLINICAL CASE SUMMARY\nThe expert reviewer",
        ["Internal Medicine"],
        reason="_SPECIALTY follows wrapped lines into the next section heading",
    ),
]

# (id, sentence, states, specialties)
SENTENCES = [
    (
        "subspecialty",
        "The expert reviewer is Board Certified in Physical Medicine and Rehabilitation, has a "
        "subspecialty in Pain Medicine and is licensed to practice in California.",
        ["CA"],
        ["Physical Medicine and Rehabilitation", "Pain Medicine"],
    ),
    (
        "wrapped",
        "The expert reviewer is Board Certified in Physical Medicine and Rehabilitation, has a "
        "subspecialty in Pain \n\nMedicine and is licensed to practice in California.",
        ["CA"],
        ["Physical Medicine and Rehabilitation", "Pain Medicine"],
    ),
    (
        "no-subspecialty",
        "The expert reviewer is Board Certified in Orthopedic Surgery and is licensed to practice "
        "in California, Texas.",
        ["CA", "TX"],
        ["Orthopedic Surgery"],
    ),
    ("no-board", "The expert reviewer is licensed to practice in California.", None, None),
]

LONG_FORM = (
    "Norco 10/325mg #120 was the original request. Norco 10/325mg #60 was authorized by the "
    "Claims Administrator. The remaining IMR eligible portion of the original request, "
    "Norco 10/325mg #60"
)

# (id, heading as written, request, decision)
ITEMS = [
    ("same-line", "Norco 10/325mg #160: Overturned", "Norco 10/325mg #160", "overturned"),
    ("next-line", "Norco 10/325mg #160:\nOverturned", "Norco 10/325mg #160", "overturned"),
    ("blank-between", "Norco 10/325mg #160:\n\nOverturned", "Norco 10/325mg #160", "overturned"),
    ("two-spaces", "Norco 10/325mg #150:  Upheld ", "Norco 10/325mg #150", "upheld"),
    (
        "colon-inside",
        "Associated surgical service: Ultrasling: Upheld",
        "Associated surgical service: Ultrasling",
        "upheld",
    ),
    (
        "multi-line",
        "Retrospective request for 1 prescription of Norco 10/325mg\n"
        "#160 dispensed 1/1/2015: Upheld",
        "Retrospective request for 1 prescription of Norco 10/325mg #160 dispensed 1/1/2015",
        "upheld",
    ),
    ("long-form", LONG_FORM.replace(" IMR ", "\nIMR ") + " is: Upheld", LONG_FORM, "upheld"),
]

# Rationales holding look-alike decisions: the one real item (upheld) must not change.
RATIONALE_NEAR_MISSES = [
    ("lowercase", "In this case the UR decision was upheld.\nThe request is not necessary."),
    ("lowercase-colon", "The prior decision: upheld\nThe request is not necessary."),
    ("not-line-end", "The request for Norco: Upheld by UR in March.\nIt is not necessary."),
    ("no-colon", "The UR decision is Upheld\nThe request is not necessary."),
]

# Both layouts, long-form items, hyphenated words, a letter with 15 items.
SPAN_LETTERS = [
    "seeds/000_3d6c485213f605e4.txt",
    "seeds/001_e6b0d48aa7f5108d.txt",
    "seeds/002_baf136fd506ac0a6.txt",
    "seeds/003_70f044b9b6dcd781.txt",
    "seeds/004_07cc7a3491400021.txt",
    "dev/CM16-0213037.txt",
    "dev/CM16-0234202.txt",
    "dev/CM16-0246487.txt",
    "dev/CM17-0014449.txt",
    "dev/CM17-0021656.txt",
]
DATE_FIELDS = (
    "date_assigned",
    "date_of_injury",
    "decision_date",
    "ur_denial_date",
    "application_received",
)
SEX_WORDS = {"male": {"male", "man", "gentleman"}, "female": {"female", "woman", "lady"}}


def _values(found: list[Found]) -> dict[str, Any]:
    return {f.field: f.value for f in found}


def _item_letter(
    heading: str, rationale: str = "The request is not medically necessary.", *, head: str = ""
) -> str:
    return (
        f"{head}HOW THE IMR FINAL DETERMINATION WAS MADE\n\n"
        "CLINICAL CASE SUMMARY\nThe patient is a 48 year old male who sustained an injury on "
        "3/24/07.\n\n"
        "IMR ISSUES, DECISIONS AND RATIONALES\n"
        "The Final Determination was based on decisions for the disputed items/services set "
        f"forth below:\n\n{heading}\n\n"
        "Claims Administrator guideline: Decision based on MTUS Chronic Pain.\n\n"
        "MAXIMUS guideline: Decision based on MTUS Chronic Pain, Page(s): 76-79.\n\n"
        f"Decision rationale: {rationale}\n"
    )


def _passage(text: str, anchors: Anchors, field: str) -> str:
    anchor = anchors.get(field)
    assert anchor is not None, field
    return " ".join(text[anchor.start : anchor.end].split())


@pytest.mark.parametrize(("text", "iso"), cases(DATES))
def test_to_iso(text: str, iso: str | None) -> None:
    assert to_iso(text) == iso


@pytest.mark.parametrize(("text", "want"), cases(CASE_NUMBERS))
def test_case_number(text: str, want: str | None) -> None:
    assert _values(find_header(normalize(text).text)).get("case_number") == want


@pytest.mark.parametrize(("line", "field", "iso"), cases(HEADER_DATES))
def test_header_date(line: str, field: str, iso: str) -> None:
    head = f"Case Number: CM16-0213037\n{line}\n\nHOW THE IMR FINAL DETERMINATION WAS MADE\n"
    assert _values(find_header(normalize(head).text)) == {"case_number": "CM16-0213037", field: iso}


@pytest.mark.parametrize("text", cases(HEADER_NEAR_MISSES))
def test_header_near_miss(text: str) -> None:
    assert find_header(normalize(text).text) == []


@pytest.mark.parametrize(("text", "want"), cases(PRIORITIES))
def test_priority(text: str, want: str | None) -> None:
    assert _values(find_header(text)).get("priority") == want


def test_pypdf_split_priority_and_received() -> None:
    text = "Priority:  Standard Application \nReceived:  \n11/03/2016 \n \nHOW THE IMR"
    found = find_header(normalize(text).text)
    assert _values(found) == {"priority": "standard", "application_received": "2016-11-03"}


@pytest.mark.parametrize(
    "name", ["seeds/000_3d6c485213f605e4.txt", "seeds/003_70f044b9b6dcd781.txt"]
)
def test_no_header_gives_no_header_anchors(name: str) -> None:
    text = normalize((CORPUS / name).read_text(encoding="utf-8")).text
    assert find_header(text) == []


@pytest.mark.parametrize(("text", "age", "sex"), cases(PATIENTS))
def test_patient(text: str, age: int | None, sex: str | None) -> None:
    values = _values(find_patient(text))
    assert (values.get("patient.age"), values.get("patient.sex")) == (age, sex)


@pytest.mark.parametrize(("text", "field", "iso"), cases(SUMMARY_DATES))
def test_summary_date_without_header(text: str, field: str, iso: str | None) -> None:
    assert _values(find_summary_dates(text, set())).get(field) == iso


def test_summary_date_skipped_when_header_has_it() -> None:
    text = "He sustained an injury on 3/24/07. On 2/5/2015, Utilization Review denied it."
    found = find_summary_dates(text, {"date_of_injury", "ur_denial_date"})
    assert found == []


def test_header_date_wins_over_summary_date() -> None:
    no_header = find_anchors(_item_letter("Norco: Upheld"))
    assert no_header.values()["date_of_injury"] == "2007-03-24"
    letter = _item_letter("Norco: Upheld", head="Date of Injury: 01/02/2015\n\n")
    injury = [a for a in find_anchors(letter).anchors if a.field == "date_of_injury"]
    assert [a.value for a in injury] == ["2015-01-02"]
    assert letter[injury[0].start : injury[0].end] == "01/02/2015"


@pytest.mark.parametrize(("line", "codes"), cases(LICENSURE))
def test_licensure_line(line: str, codes: list[str] | None) -> None:
    text = normalize(f"State(s) of Licensure: {line} \nCLINICAL CASE SUMMARY\n").text
    assert _values(find_reviewer(text)).get("reviewer.licensure_states") == codes


@pytest.mark.parametrize(("name", "code"), sorted(STATES.items()), ids=sorted(STATES.values()))
def test_every_state_maps_to_its_usps_code(name: str, code: str) -> None:
    found = find_reviewer(f"State(s) of Licensure: {name}\n")
    assert _values(found) == {"reviewer.licensure_states": [code]}


def test_fifty_states_and_dc() -> None:
    assert len(STATES) == 51
    assert len(set(STATES.values())) == 51
    assert all(len(code) == 2 and code.isupper() for code in STATES.values())


@pytest.mark.parametrize(("text", "names"), cases(SPECIALTIES))
def test_specialty_line(text: str, names: list[str]) -> None:
    assert _values(find_reviewer(normalize(text).text))["reviewer.specialties"] == names


@pytest.mark.parametrize(("text", "codes", "names"), cases(SENTENCES))
def test_reviewer_sentence(text: str, codes: list[str] | None, names: list[str] | None) -> None:
    values = _values(find_reviewer(normalize(text).text))
    assert values.get("reviewer.licensure_states") == codes
    assert values.get("reviewer.specialties") == names


def test_reviewer_lines_win_over_sentence() -> None:
    text = (
        "State(s) of Licensure: Texas\n\nThe expert reviewer is Board Certified in Orthopedic "
        "Surgery and is licensed to practice in California."
    )
    assert _values(find_reviewer(text)) == {"reviewer.licensure_states": ["TX"]}


@pytest.mark.parametrize(("heading", "wanted", "decision"), cases(ITEMS))
def test_item_heading(heading: str, wanted: str, decision: str) -> None:
    letter = _item_letter(heading)
    anchors = find_anchors(letter)
    assert anchors.problems == ()
    assert anchors.item_count == 1
    assert anchors.values()["items[0].request"] == wanted
    assert anchors.values()["items[0].decision"] == decision
    assert _passage(letter, anchors, "items[0].request") == wanted
    assert _passage(letter, anchors, "items[0].decision").lower() == decision


@pytest.mark.parametrize("rationale", cases(RATIONALE_NEAR_MISSES))
def test_decision_word_in_rationale_is_not_an_item(rationale: str) -> None:
    anchors = find_anchors(_item_letter("Norco 10/325mg #60: Upheld", rationale))
    assert anchors.problems == ()
    assert anchors.item_count == 1
    assert anchors.values()["items[0].decision"] == "upheld"


def test_injected_heading_in_rationale_is_a_problem() -> None:
    rationale = "The request is not supported.\nNorco: Overturned\nThe request is not necessary."
    anchors = find_anchors(_item_letter("Norco 10/325mg #60: Upheld", rationale))
    assert anchors.values()["items[0].request"] == "Norco 10/325mg #60"
    assert anchors.values()["items[0].decision"] == "upheld"
    assert any("item heading(s)" in p for p in anchors.problems)


def test_two_items_keep_their_own_blocks() -> None:
    first = _item_letter("Norco 10/325mg #60: Upheld")
    second = _item_letter("Soma 350mg: Overturned")
    # One letter with two items: the second skeleton's item block only.
    letter = first + "\n" + second[second.index("Soma") :]
    values = find_anchors(letter).values()
    assert (values["items[0].request"], values["items[0].decision"]) == (
        "Norco 10/325mg #60",
        "upheld",
    )
    assert (values["items[1].request"], values["items[1].decision"]) == ("Soma 350mg", "overturned")
    assert values["items[1].reviewer_guideline.pages"] == [76, 77, 78, 79]


# Regression: find_headings once raised ValueError (zip strict) when there was no heading.
def test_items_section_without_headings_does_not_raise() -> None:
    letter = _item_letter("The request could not be read.")
    anchors = find_anchors(letter)
    assert anchors.item_count == 0


def _check_span(text: str, field: str, value: Any, passage: str) -> None:
    leaf = field.split("].", 1)[-1]
    squash = "".join(passage.split())
    if leaf in ("request", "case_number"):
        assert passage == value
    elif leaf in ("decision", "priority"):
        assert passage.lower() == value
    elif leaf in DATE_FIELDS:
        assert to_iso(passage) == value
    elif leaf == "patient.age":
        assert passage.startswith(str(value))
    elif leaf == "patient.sex":
        assert passage.lower() in SEX_WORDS[value]
    elif leaf == "rationale" or leaf.endswith(".text"):
        assert squash == "".join(value.split())
    elif leaf.endswith(".pages") and value:
        assert "page" in passage.lower()
    elif leaf.endswith(".sections") and value:
        assert "Section(s)" in passage
    elif leaf == "reviewer.licensure_states":
        assert _values(find_reviewer(f"State(s) of Licensure: {passage}\n"))[leaf] == value


@pytest.mark.parametrize(
    ("name", "double"),
    [pytest.param(n, False, id=n) for n in SPAN_LETTERS]
    + [pytest.param(n, True, id=f"{n}-doubled") for n in SPAN_LETTERS if n.startswith("dev/")],
)
def test_spans_point_at_their_passage(name: str, double: bool) -> None:
    text = (CORPUS / name).read_text(encoding="utf-8")
    if double:
        text = text.replace("\n", "\n\n")  # the seeds' layout: a blank line after every line
    anchors = find_anchors(text)
    assert anchors.item_count > 0
    expected = {"items[0].request", "items[0].decision", "date_of_injury"}
    if name.startswith("dev/"):
        expected |= {"case_number", "decision_date", "ur_denial_date", "priority"}
    assert expected <= set(anchors.values())
    for a in anchors.anchors:
        assert 0 <= a.start <= a.end <= len(text), a
        _check_span(text, a.field, a.value, " ".join(text[a.start : a.end].split()))
