"""Reason cues: table-driven, each cue with near-misses (negation, quoted guideline, side)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import CORPUS, cases, corpus_letter

from imr_llm.anchors.finder import Anchor, Anchors, find_anchors
from imr_llm.anchors.reasons import find_cues, find_reason_cues, sentences
from imr_llm.anchors.record import anchors_extraction, record_from_anchors
from imr_llm.anchors.spans import Found
from imr_llm.checking.evaluation import align_items
from imr_llm.checking.reason_scores import ReasonScore, majority_reasons

UPHELD_CUES = [
    # no_red_flags, and the near-misses that must not read as it
    ("no-red-flags", "There were no red flags on examination.", ["no_red_flags"]),
    ("absent-red-flags", "Absent red flags, the MRI is not supported.", ["no_red_flags"]),
    ("red-flags-present", "Red flags were present on examination.", []),
    ("quoted-red-flag-rule", '"Imaging is indicated when red flags are present."', []),
    (
        "no-change",
        "There was no significant change in the patient's symptoms since the last study.",
        ["no_red_flags"],
    ),
    # no_functional_improvement
    (
        "no-functional-improvement",
        "There is no documentation of objective functional improvement with prior use.",
        ["no_functional_improvement"],
    ),
    (
        "improvement-not-documented",
        "Functional improvement from the prior sessions was not documented.",
        ["no_functional_improvement"],
    ),
    ("improvement-shown", "The patient reported functional improvement with Norco.", []),
    (
        "guideline-on-improvement",
        "The MTUS recommends continuing opioids only with documented functional improvement.",
        [],
    ),
    # guideline_not_recommended
    (
        "not-recommended",
        "As this medication is not recommended by the MTUS, it is denied.",
        ["guideline_not_recommended"],
    ),
    (
        "recommended-but-not-for-acute",
        "Cyclobenzaprine is recommended for chronic pain; it is not recommended for acute pain.",
        [],
    ),
    (
        "not-recommended-for-longer",
        "The guidelines state it is not recommended for longer than 2-3 weeks.",
        [],
    ),
    # conservative_care_not_tried
    (
        "no-failed-conservative",
        "There is no documentation of failed conservative treatment.",
        ["conservative_care_not_tried"],
    ),
    ("failed-conservative", "The patient has failed conservative care including therapy.", []),
    (
        "oral-first",
        "There is no evidence that the patient cannot tolerate oral medications.",
        ["conservative_care_not_tried"],
    ),
    # exceeds_quantity_or_duration
    (
        "exceeds-visits",
        "The requested 12 sessions exceed the recommended number of visits.",
        ["exceeds_quantity_or_duration"],
    ),
    ("does-not-exceed", "The requested 6 visits do not exceed the guideline limit.", []),
    (
        "quantity-unstated",
        "The request failed to specify the quantity of the medication.",
        ["exceeds_quantity_or_duration"],
    ),
    # depends_on_denied_request
    (
        "associated-service",
        "Since the surgery is not medically necessary, the associated post-operative physical "
        "therapy is not medically necessary.",
        ["depends_on_denied_request"],
    ),
    ("plain-denial", "The requested surgery is not medically necessary.", []),
    (
        "named-procedure",
        "Given that the requested lumbar fusion is not certified, the request for post-operative "
        "physical therapy is not medically necessary.",
        ["depends_on_denied_request"],
    ),
    (
        "own-drug-not-recommended",
        "As the requested medication is not recommended, it is not medically necessary.",
        ["guideline_not_recommended"],
    ),
    # duplicate_or_already_done
    (
        "already-authorized",
        "The same MRI was already authorized on 11/02/2016.",
        ["duplicate_or_already_done"],
    ),
    (
        "repeat-without-reason",
        "It is unclear why a repeat MRI is needed.",
        ["duplicate_or_already_done", "insufficient_documentation"],
    ),
    (
        "repeat-not-indicated",
        "A repeat MRI is not indicated without a change in symptoms.",
        ["duplicate_or_already_done", "no_red_flags"],
    ),
    ("repeat-not-done", "Repeat x-rays were not performed.", []),
    # criteria_not_met and insufficient_documentation (per the codebook)
    (
        "missing-criterion",
        "There is no documentation of a neurological deficit on examination.",
        ["criteria_not_met"],
    ),
    ("not-candidate", "The patient is not a surgical candidate.", ["criteria_not_met"]),
    (
        "missing-in-general",
        "No recent progress report was provided for review.",
        ["insufficient_documentation"],
    ),
    (
        "looking-back",
        "In the absence of such documentation, the request is not medically necessary.",
        [],
    ),
    # approval language says nothing on an upheld item
    ("approval-on-upheld", "The request is medically necessary.", []),
]

OVERTURNED_CUES = [
    ("necessary", "The request is medically necessary.", ["criteria_met"]),
    ("meets", "The patient meets the MTUS criteria for the MRI.", ["criteria_met"]),
    (
        "not-in-excess",
        "The requested visits are not in excess of the guidelines.",
        ["criteria_met"],
    ),
    (
        "benefit-first",
        "She reported 50% functional improvement with the medication. "
        "The request is medically necessary.",
        ["documented_benefit", "criteria_met"],
    ),
    (
        "benefit-only-conditional",
        "Therapy may continue if functional improvement is documented. "
        "The request is medically necessary.",
        ["criteria_met"],
    ),
    # denial language says nothing on an overturned item
    ("denial-on-overturned", "There were no red flags.", []),
]


def _codes(text: str, decision: str, request: str = "") -> list[str]:
    return [c.reason.value for c in find_cues(text, decision, request=request)]


@pytest.mark.parametrize(("text", "expected"), cases(UPHELD_CUES))
def test_upheld_cues(text: str, expected: list[str]) -> None:
    assert _codes(text, "upheld") == expected


@pytest.mark.parametrize(("text", "expected"), cases(OVERTURNED_CUES))
def test_overturned_cues(text: str, expected: list[str]) -> None:
    assert _codes(text, "overturned") == expected


COMPOUND_RULE = (
    "The MTUS states that topical analgesics are largely experimental. Any compounded product "
    "that contains at least one drug that is not recommended is not recommended."
)
GUIDELINE_NOT_RECOMMENDED = [
    ("about-the-request", 'Per MTUS p29, "Soma is not recommended."', "Soma 350mg", True),
    (
        "no-subject",
        'Per MTUS CPMTG p29, "Not recommended. This medication is sedating."',
        "Soma",
        True,
    ),
    (
        "other-treatment",
        "The ODG states that ultrasound is not recommended.",
        "Norco 10/325",
        False,
    ),
    ("qualified", "The ODG states that surface EMG is not recommended.", "EMG of the legs", False),
    ("not-supported", "The MTUS does not support a TENS unit for back pain.", "TENS unit", True),
    ("compound-rule", COMPOUND_RULE, "Flurbiprofen 20%/Lidocaine 5% cream", True),
    ("compound-rule-for-lidoderm", COMPOUND_RULE, "Lidoderm 5% patch Lidoderm lidocaine", False),
]


@pytest.mark.parametrize(("text", "request_", "expected"), cases(GUIDELINE_NOT_RECOMMENDED))
def test_a_guideline_not_recommending_must_be_about_the_request(
    text: str, request_: str, expected: bool
) -> None:
    codes = _codes(text, "upheld", request=request_)
    assert ("guideline_not_recommended" in codes) is expected


def test_main_point_first_and_at_most_three() -> None:
    text = (
        "There is no rationale for the request. There is no documented neurological deficit. "
        "There were no red flags. The patient has not failed conservative care. "
        "Since the requested surgery is not certified, the assistant surgeon is not medically "
        "necessary."
    )
    # The dependency settles the item; a general lack of documentation comes last (dropped).
    assert _codes(text, "upheld") == [
        "depends_on_denied_request",
        "criteria_not_met",
        "no_red_flags",
    ]


def test_cue_spans_are_the_stating_sentence() -> None:
    text = "Guideline text. There were no red flags. The request is not medically necessary."
    (cue,) = find_cues(text, "upheld", start=16)
    assert text[cue.start : cue.end] == "There were no red flags."


SENTENCES = [
    ("abbreviation", "Rule out misuse (e.g. CURES report). Next one.", 2),
    ("possessive", "Complaints similar to the claimant's. Continued use.", 2),
    ("doctor", "Seen by Dr. Smith on 11/2/16. He improved.", 2),
    ("glued", "Recommended for MDD.The documentation does not support it.", 2),
    ("decimal", "Zoloft 1.5 mg was tried. It failed.", 2),
    ("no-final-stop", "The request is not medically necessary", 1),
]


@pytest.mark.parametrize(("text", "count"), cases(SENTENCES))
def test_sentences(text: str, count: int) -> None:
    spans = sentences(text)
    assert len(spans) == count
    assert all(text[a:b] == text[a:b].strip() and b > a for a, b in spans)


def test_item_facts_become_indexed_reason_facts() -> None:
    text = "x" * 10 + "There is no documentation of failed conservative care. No red flags exist."
    items = [
        Found("items[0].request", "MRI of the neck", 0, 3),
        Found("items[0].decision", "upheld", 4, 9),
        Found("items[0].rationale", text[10:], 10, len(text)),
        Found("items[1].request", "Legacy item", 0, 3),  # no rationale: no cue
        Found("items[1].decision", "upheld", 4, 9),
    ]
    got = find_reason_cues(text, items)
    assert [(f.field, f.value) for f in got] == [
        ("items[0].reasons[0]", "conservative_care_not_tried"),
        ("items[0].reasons[1]", "no_red_flags"),
    ]


@pytest.mark.parametrize(
    ("generic", "subcategory", "expected"),
    [
        (
            "methyl salicylate/menthol/lidocaine",
            "Topical Analgesics",
            ["guideline_not_recommended"],
        ),
        ("lidocaine", "Topical Analgesics", []),  # Lidoderm: one ingredient, no compound
    ],
)
def test_a_topical_with_several_ingredients_is_a_compound(
    generic: str, subcategory: str, expected: list[str]
) -> None:
    text = COMPOUND_RULE
    items = [
        Found("items[0].request", "Patch #30", 0, 0),
        Found("items[0].decision", "upheld", 0, 0),
        Found("items[0].generic_name", generic, 0, 0),
        Found("items[0].subcategory", subcategory, 0, 0),
        Found("items[0].rationale", text, 0, len(text)),
    ]
    assert [f.value for f in find_reason_cues(text, items)] == expected


def test_anchors_present_indexed_fields_as_ordered_lists() -> None:
    anchors = Anchors(
        "current",
        (
            Anchor("items[0].request", "MRI", 0, 3),
            Anchor("items[0].decision", "upheld", 5, 11),
            Anchor("items[0].reasons[1]", "no_red_flags", 40, 60),
            Anchor("items[0].reasons[0]", "criteria_not_met", 20, 39),
        ),
        (),
    )
    assert anchors.items()[0]["reasons"] == ["criteria_not_met", "no_red_flags"]
    assert anchors.values()["items[0].reasons[1]"] == "no_red_flags"
    assert anchors.item_count == 1
    assert record_from_anchors(anchors).items[0].reasons == ["criteria_not_met", "no_red_flags"]


def test_an_item_without_cues_has_no_reasons_key() -> None:
    # Merging lets the LLM fill a field the anchors do not hold.
    anchors = Anchors("current", (Anchor("items[0].decision", "upheld", 0, 6),), ())
    assert "reasons" not in anchors.items()[0]


def test_real_letter_cues_ground_in_the_original_text() -> None:
    text = corpus_letter("CM16-0213037")  # one line per PDF line: spans must map back
    anchors = find_anchors(text)
    reasons = [a for a in anchors.anchors if ".reasons[" in a.field]
    # As labelled: no willingness to consider surgery first, then "no ... red flag conditions".
    assert [a.value for a in reasons if a.field.startswith("items[0].")] == [
        "criteria_not_met",
        "no_red_flags",
    ]
    for a in reasons:
        assert "red flag" in " ".join(text[a.start : a.end].split()) or a.value != "no_red_flags"
        assert text[a.start].isupper() and text[a.end - 1] == "."
    row = anchors_extraction(text)
    fields = {e.field: e.status for e in row.evidence}
    assert fields["items[0].reasons[0]"] == "anchor_only"
    assert row.record is not None and row.record.items[0].reasons[0] == "criteria_not_met"


def _corpus_pairs() -> list[tuple[list[str], list[str], str]]:
    pairs = []
    for sub, folder in (("seeds", "seeds"), ("dev", "dev")):
        for line in (CORPUS / sub / "labels.jsonl").read_text(encoding="utf-8").splitlines():
            label: dict[str, Any] = json.loads(line)
            predicted = find_anchors((CORPUS / folder / f"{label['id']}.txt").read_text()).items()
            for i, j in align_items(predicted, label["items"]):
                want = label["items"][j]
                pairs.append((predicted[i].get("reasons", []), want["reasons"], want["decision"]))
    return pairs


def test_cues_beat_the_majority_baseline_on_the_corpus() -> None:
    cues, base = ReasonScore(), ReasonScore()
    for got, want, decision in _corpus_pairs():
        cues.add(got, want)
        base.add(majority_reasons(decision), want)
    c, b = cues.as_dict(), base.as_dict()
    assert c["items"] == b["items"] == 170
    assert round(b["f1"], 2) == 0.36 and round(b["first_code_accuracy"], 2) == 0.38
    # Floors well under today's figures (F1 0.89, first code 0.86): a guard, not a target.
    assert c["f1"] >= 0.75 and c["first_code_accuracy"] >= 0.7 and c["coverage"] >= 0.9
    assert all(
        set(got) <= {"criteria_met", "documented_benefit"}
        for got, _, d in _corpus_pairs()
        if d == "overturned"
    )
