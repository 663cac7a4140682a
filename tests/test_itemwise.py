"""The items strategy without a model: prompts, the necessity cross-check, and the merge.

The answers here are built by hand to exercise the merge rules; what a real model answers
is in the cassettes (tests/test_cassettes.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import corpus_letter
from fake_openai import chat_completion

from imr_llm.anchors.finder import Anchors, find_anchors
from imr_llm.itemwise.answers import DiagnosesAnswer, ItemAnswer, checking_item
from imr_llm.itemwise.calls import ItemReply, Outcome, necessity_check
from imr_llm.itemwise.context import item_prompts, summary_excerpt
from imr_llm.itemwise.merge import merge_items, merge_reasons
from imr_llm.itemwise.row import items_apply
from imr_llm.letters.normalize import normalize
from imr_llm.llm import Reply

# Five items, all upheld; the lexicon knows every request but the first ("Physical exam").
LETTER = "CM16-0231745"


def _agreeing(anchored: dict[str, Any]) -> ItemAnswer:
    """An answer saying what the lexicon says of an item, read as upheld."""
    fields = {k: anchored[k] for k in ("treatment", "category", "subcategory") if k in anchored}
    return _answer(**fields)


def _answer(**fields: Any) -> ItemAnswer:
    base: dict[str, Any] = {
        "treatment": "physical examination",
        "generic_name": None,
        "category": "Evaluation & Management",
        "subcategory": "Medical Specialties",
        "medically_necessary": False,
        "reasons": ["insufficient_documentation"],
        "summary": "No rationale for the exam was documented.",
    }
    return ItemAnswer.model_validate({**base, **fields})


def _outcome(
    text: str,
    anchors: Anchors,
    answers: dict[int, ItemAnswer | None],
    accepted: bool = True,
    others: ItemAnswer | None = None,
) -> Outcome:
    """Replies for every item: ``answers`` by index, ``others`` (agreeing) for the rest."""
    items = []
    for prompt in item_prompts(text, anchors):
        value = answers.get(prompt.index, others or _agreeing(anchors.items()[prompt.index]))
        ok = value is not None and (accepted or prompt.index not in answers)
        items.append(ItemReply(prompt, Reply(value, ok)))
    diagnoses = Reply(DiagnosesAnswer(diagnoses=["lumbar sprain"]), True)
    return Outcome(items, diagnoses)


@pytest.fixture(scope="module")
def letter() -> tuple[str, Anchors]:
    text = corpus_letter(LETTER)
    return text, find_anchors(text)


def _status_of(row: Any, field: str) -> str:
    return next(e.status for e in row.evidence if e.field == field)


def test_prompts_hold_the_item_but_not_its_decision(letter: tuple[str, Anchors]) -> None:
    text, anchors = letter
    prompts = item_prompts(text, anchors)
    assert len(prompts) == 5
    assert prompts[0].user.startswith("Request: Physical exam 2 times 8\n")
    assert all("Upheld" not in p.user for p in prompts)
    assert len({p.system for p in prompts}) == 1  # one shared prefix for the server's cache
    assert "Pharmaceuticals: subcategories Opioids" in prompts[0].system


def test_an_agreeing_answer_fills_what_the_lexicon_left(letter: tuple[str, Anchors]) -> None:
    text, anchors = letter
    merged = merge_items(text, anchors, _outcome(text, anchors, {0: _answer()}))
    item = merged.record.items[0]
    assert (item.treatment, item.category, item.subcategory) == (
        "physical examination",
        "Evaluation & Management",
        "Medical Specialties",
    )
    assert _status_of(merged, "items[0].decision") == "agreed"
    assert _status_of(merged, "items[0].category") == "llm_only"
    assert merged.record.diagnoses == ["lumbar sprain"]
    assert merged.status == "ok"


def test_the_lexicon_stands_against_the_llm(letter: tuple[str, Anchors]) -> None:
    text, anchors = letter
    wrong = _answer(treatment="spinal manipulation", category="Therapies", subcategory=None)
    merged = merge_items(text, anchors, _outcome(text, anchors, {1: wrong}))
    item = merged.record.items[1]
    assert (item.category, item.subcategory) == ("Rehabilitation", "Chiropractic")
    found = {d.field: d for d in merged.discrepancies}
    assert found["items[1].category"].llm == "Therapies"
    assert found["items[1].category"].resolution == "anchor"
    assert _status_of(merged, "items[1].category") == "corrected"
    assert merged.status == "ok"  # a lexicon disagreement is recorded, not blocking


def test_medically_necessary_under_an_upheld_heading_needs_review(
    letter: tuple[str, Anchors],
) -> None:
    text, anchors = letter
    contrary = _answer(medically_necessary=True, reasons=["criteria_met"])
    merged = merge_items(text, anchors, _outcome(text, anchors, {0: contrary}, accepted=False))
    assert merged.record.items[0].decision == "upheld"  # the anchored decision stands
    assert _status_of(merged, "items[0].decision") == "conflict"
    conflict = next(d for d in merged.discrepancies if d.field == "items[0].decision")
    assert (conflict.anchor, conflict.llm, conflict.resolution) == (
        "upheld",
        "overturned",
        "unresolved",
    )
    assert merged.status == "needs_review"
    # An approval code never lands on a denial: the reason cues alone stand.
    cues = [a.value for a in anchors.anchors if a.field.startswith("items[0].reasons[")]
    assert merged.record.items[0].reasons == cues[:3]
    assert "criteria_met" not in merged.record.items[0].reasons


def test_the_cross_check_fails_validation_so_instructor_reasks(
    letter: tuple[str, Anchors],
) -> None:
    text, anchors = letter
    prompt = item_prompts(text, anchors)[0]
    check = necessity_check(prompt)
    assert check(_answer()) == []
    with checking_item(check), pytest.raises(ValueError, match="NOT medically necessary"):
        ItemAnswer.model_validate_json(_answer(medically_necessary=True).model_dump_json())


def test_every_item_call_failing_fails_the_row(letter: tuple[str, Anchors]) -> None:
    text, anchors = letter
    nothing = dict.fromkeys(range(5))
    merged = merge_items(text, anchors, _outcome(text, anchors, nothing))  # type: ignore[arg-type]
    assert merged.status == "failed"
    assert merged.record.items[0].request == "Physical exam 2 times 8"


def test_an_unknown_subcategory_spelling_is_dropped(letter: tuple[str, Anchors]) -> None:
    text, anchors = letter
    odd = _answer(subcategory="medical SPECIALTIES")
    merged = merge_items(text, anchors, _outcome(text, anchors, {0: odd}))
    assert merged.record.items[0].subcategory == "Medical Specialties"
    invented = _answer(subcategory="Physical Exams")
    merged = merge_items(text, anchors, _outcome(text, anchors, {0: invented}))
    assert merged.record.items[0].subcategory is None


@pytest.mark.parametrize(
    ("cues", "llm", "decision", "expected"),
    [
        # the cues stand, in their order, whatever the LLM adds or reorders
        (["no_red_flags", "criteria_not_met"], ["criteria_not_met", "other"], "upheld",
         ["no_red_flags", "criteria_not_met"]),
        # no cue: the LLM's codes fill the item
        ([], ["criteria_not_met"], "upheld", ["criteria_not_met"]),
        (["no_functional_improvement"], [], "upheld", ["no_functional_improvement"]),
        # approval codes never stand on an upheld item, denial codes never on an overturned one
        ([], ["criteria_met", "other"], "upheld", ["other"]),
        (["criteria_not_met"], ["criteria_met"], "overturned", ["criteria_met"]),
        # at most three, no repeats
        ([], ["insufficient_documentation", "no_red_flags", "other", "other", "criteria_not_met"],
         "upheld", ["insufficient_documentation", "no_red_flags", "other"]),
    ],
)  # fmt: skip
def test_merge_reasons(cues: list[str], llm: list[str], decision: str, expected: list[str]) -> None:
    assert merge_reasons(cues, llm, decision) == expected


def test_items_apply_only_when_the_anchors_hold_every_item(letter: tuple[str, Anchors]) -> None:
    assert items_apply(letter[1])
    assert not items_apply(find_anchors("Dear Sir, nothing to see here."))
    counted = Anchors("current", letter[1].anchors, ("found 5 item heading(s) but 6 blocks",))
    assert not items_apply(counted)


def test_summary_excerpt_keeps_the_diagnosis_sentences() -> None:
    text = normalize(corpus_letter(LETTER)).text
    excerpt = summary_excerpt(text)
    assert "diagnos" in excerpt.lower()
    assert len(excerpt) <= 900


def test_an_answer_the_cross_check_refused_is_still_kept_as_the_last_parsed() -> None:
    """Re-asks ran out: the item keeps its answer (to be flagged), it is not lost."""
    from imr_llm.llm.client import Attempt, _last_parsed

    answer = _answer(medically_necessary=True)
    body = chat_completion(answer.model_dump_json())  # a completion as the client records it
    attempts = [Attempt(raw=json.dumps(body), prompt_tokens=1, completion_tokens=1)]
    with checking_item(lambda _: ["the heading says otherwise"]):
        with pytest.raises(ValueError, match="heading says otherwise"):
            ItemAnswer.model_validate_json(answer.model_dump_json())
        assert _last_parsed(ItemAnswer, attempts) == answer


def test_a_summary_cut_at_the_grammar_bound_keeps_whole_words_and_says_so() -> None:
    limit = ItemAnswer.GRAMMAR_LIMITS["summary"]
    head = "The patient shows no objective functional improvement from the ongoing use of Norco"
    cut_in_a_word = (head + " and eff")[:limit].ljust(limit, "x")
    assert len(cut_in_a_word) == limit
    assert _answer(summary=cut_in_a_word).summary == head + " and\u2026"
    # Cut just after a word: that word stays.
    at_a_word = (head + " ")[:limit].ljust(limit, " ")
    assert _answer(summary=at_a_word).summary == head + "\u2026"
    # A token that would overrun the bound cannot be written: the cut may come a little short.
    assert _answer(summary=cut_in_a_word[:-3]).summary == head + " and\u2026"
    # Well within the bound, or ending a sentence at it: as written, stripped.
    assert _answer(summary=" No documented benefit. ").summary == "No documented benefit."
    sentence = "x" * (limit - 1) + "."
    assert _answer(summary=sentence).summary == sentence
