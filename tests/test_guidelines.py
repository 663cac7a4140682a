"""Guideline lines: MTUS or not, cited sources, expanded pages and sections."""

from __future__ import annotations

import pytest
from conftest import cases, regression

from imr_llm.anchors.guidelines import expand_pages, parse_guideline

OUTSIDE = (
    "The Expert Reviewer based their decision on recommendation(s) outside of the MTUS Guidelines. "
)
NO_EVIDENCE = "The Claims Administrator did not cite any medical evidence for its decision."

# (id, guideline line, mtus, sources)
CLASSIFY = [
    ("mtus", "Decision based on MTUS Chronic Pain Treatment Guidelines.", True, ["MTUS"]),
    ("ca-mtus", "Decision based on CA MTUS ACOEM 2004.", True, ["MTUS"]),
    ("the-mtus", "Decision based on the MTUS Shoulder Complaints 2004.", True, ["MTUS"]),
    (
        "outside-odg",
        OUTSIDE + "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG) "
        "Low Back Chapter, MRI.",
        False,
        ["ODG"],
    ),
    ("odg-abbrev", "Decision based on Non-MTUS Citation ODG Pain chapter.", False, ["ODG"]),
    (
        "acoem-non-mtus",
        OUTSIDE + "Decision based on Non-MTUS Citation ACOEM Hip and Groin Chapter.",
        False,
        ["ACOEM"],
    ),
    (
        "acoem-spelled-out",
        "Decision based on Non-MTUS Citation American College of Occupational and "
        "Environmental Medicine.",
        False,
        ["ACOEM"],
    ),
    (
        "other-mdguidelines",
        "Decision based on Non-MTUS Citation Other Medical Treatment Guidelines "
        "www.mdguidelines.com.",
        False,
        ["Other"],
    ),
    (
        "other-unknown",
        "Decision based on Non-MTUS Citation Medical Disability Advisor, Reed Group.",
        False,
        ["Other"],
    ),
    (
        "mtus-and-odg",
        "Decision based on MTUS Shoulder Complaints 2004, Section(s): Surgical Considerations. "
        "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG) Shoulder.",
        True,
        ["MTUS", "ODG"],
    ),
    (
        "odg-and-url",
        "Decision based on Non-MTUS Citation Official Disability Guidelines (ODG) Pain. "
        "Decision based on Non-MTUS Citation www.drugs.com.",
        False,
        ["ODG", "Other"],
    ),
    ("no-evidence", NO_EVIDENCE, None, []),
    (
        "no-evidence-short",
        "The Claims Administrator did not cite any evidence for its decision.",
        None,
        [],
    ),
    (
        "no-evidence-then-citation",
        NO_EVIDENCE + " Decision based on Non-MTUS Citation ODG Pain.",
        False,
        ["ODG"],
    ),
    ("mtus-mentioned-only", "The MTUS Guidelines did not address this request.", False, []),
    ("mtus-prefix-word", "Decision based on MTUSX Guidelines.", False, []),
]

# (id, guideline line, pages)
PAGES = [
    (
        "range",
        "Decision based on MTUS Criteria for use of opioids Page(s): 76-79.",
        [76, 77, 78, 79],
    ),
    (
        "lower-no-colon",
        "Decision based on MTUS ACOEM Chapter 12 page(s) 74-96",
        list(range(74, 97)),
    ),
    (
        "total-before",
        "Decision based on MTUS Chronic Pain Medical Treatment Guidelines 2009, 127 Page(s): 44, "
        "47, 75",
        [44, 47, 75],
    ),
    (
        "of-total",
        "Decision based on MTUS Chronic Pain Page(s): 67-72 of 127.",
        [67, 68, 69, 70, 71, 72],
    ),
    ("range-and-single", "Decision based on MTUS Page(s): 76-79, 91.", [76, 77, 78, 79, 91]),
    ("and", "Decision based on MTUS Page(s): 76 and 78.", [76, 78]),
    ("en-dash", "Decision based on MTUS Page(s): 76\u201379.", [76, 77, 78, 79]),
    (
        "two-lists",
        "Decision based on MTUS Page(s): 22. Decision based on MTUS Page(s): 22-23.",
        [22, 23],
    ),
    ("none", "Decision based on MTUS Chronic Pain Treatment Guidelines 2009.", []),
    ("year-not-page", "Decision based on MTUS Shoulder Complaints 2004.", []),
]

# (id, text, pages)
EXPAND = [
    ("range", "76-79", [76, 77, 78, 79]),
    ("list", "44, 47, 75", [44, 47, 75]),
    ("mixed", "76-79, 91", [76, 77, 78, 79, 91]),
    ("single", "5", [5]),
    ("duplicates", "22, 22-23", [22, 23]),
    ("too-long-range", "1-500", [1, 500]),
    ("reversed", "79-76", [79, 76]),
]

# (id, guideline line, sections)
SECTIONS = [
    (
        "one",
        "Decision based on MTUS Shoulder Complaints 2004, Section(s): Special Studies.",
        ["Special Studies"],
    ),
    (
        "two",
        "Decision based on MTUS Chronic Pain, Section(s): Cyclobenzaprine (Flexeril), Muscle "
        "relaxants (for pain).",
        ["Cyclobenzaprine (Flexeril)", "Muscle relaxants (for pain)"],
    ),
    (
        "before-pages",
        "Decision based on MTUS Chronic Pain, Section(s): Opioids Page(s): 76-80.",
        ["Opioids"],
    ),
    (
        "before-citation",
        "Decision based on MTUS Shoulder Complaints 2004, Section(s): Surgical Considerations "
        "Decision based on Non-MTUS Citation ODG Shoulder.",
        ["Surgical Considerations"],
    ),
    (
        "two-guidelines",
        "Decision based on MTUS Shoulder Complaints 2004, Section(s): Summary, and Chronic Pain "
        "Medical Treatment 2009, Section(s): Physical Methods.",
        ["Summary", "Physical Methods"],
    ),
    ("none", "Decision based on MTUS Chronic Pain Treatment Guidelines 2009.", []),
    regression(
        "comma-in-title",
        "Decision based on MTUS Chronic Pain, Section(s): TENS, chronic pain (transcutaneous "
        "electrical nerve stimulation).",
        ["TENS, chronic pain (transcutaneous electrical nerve stimulation)"],
        reason="sections split on every ', ', also inside one MTUS title",
    ),
    regression(
        "comma-in-guideline-name",
        "Decision based on MTUS Elbow Disorders 2007, Section(s): Special Studies, and Forearm, "
        "Wrist, and Hand Complaints 2004, Section(s): Special Studies.",
        ["Special Studies", "Special Studies"],
        reason="the ', and <Guideline> 2004,' stop cannot cross commas in the guideline's name",
    ),
]


@pytest.mark.parametrize(("text", "mtus", "sources"), cases(CLASSIFY))
def test_mtus_and_sources(text: str, mtus: bool | None, sources: list[str]) -> None:
    facts = parse_guideline(text)
    assert (facts.mtus, facts.sources) == (mtus, sources)


@pytest.mark.parametrize(("text", "pages"), cases(PAGES))
def test_pages(text: str, pages: list[int]) -> None:
    facts = parse_guideline(text)
    assert facts.pages == pages
    if pages:
        assert facts.pages_span is not None
        start, end = facts.pages_span
        assert text[start:end].lower().startswith("page")
    else:
        assert facts.pages_span is None


@pytest.mark.parametrize(("text", "pages"), cases(EXPAND))
def test_expand_pages(text: str, pages: list[int]) -> None:
    assert expand_pages(text) == pages


@pytest.mark.parametrize(("text", "sections"), cases(SECTIONS))
def test_sections(text: str, sections: list[str]) -> None:
    facts = parse_guideline(text)
    assert facts.sections == sections
    if sections:
        assert facts.sections_span is not None
        assert text[slice(*facts.sections_span)].startswith("Section(s):")
