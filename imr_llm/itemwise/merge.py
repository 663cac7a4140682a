"""The record from the anchors and the focused answers: anchors and lexicon first (pure).

- Anchored fields (header, reviewer, patient, request, decision, quantity, guidelines,
  rationale) come from the anchors; the focused calls never restate them.
- Where the lexicon resolved a treatment, its treatment, category and subcategory stand; an
  LLM disagreement is a discrepancy (resolution ``anchor``), never blocking.
- Where the lexicon abstained, the LLM's answer is used and marked ``llm_only``.
- Reasons: the reason cues' codes stand; the LLM's codes confirm them or fill an item no
  cue covers (see :func:`merge_reasons`); a difference between the two is a discrepancy.
- The LLM's reading of the rationale (medically necessary or not) must agree with the
  anchored decision; if it still disagrees after the re-asks, the row needs review.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imr_llm.anchors.finder import Anchors
from imr_llm.anchors.record import anchor_evidence, record_from_anchors
from imr_llm.extraction.merge import Merged
from imr_llm.itemwise.answers import MAX_REASONS, ItemAnswer
from imr_llm.itemwise.calls import ItemReply, Outcome
from imr_llm.models import Discrepancy, DisputedItem, Evidence, Reason, Status
from imr_llm.treatment.taxonomy import known_subcategory

LEXICON_FIELDS = ("treatment", "generic_name", "category", "subcategory")
APPROVAL = frozenset({Reason.CRITERIA_MET.value, Reason.DOCUMENTED_BENEFIT.value})
EITHER = frozenset({Reason.OTHER.value})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.lower().split()) == " ".join(b.lower().split())
    return bool(a == b)


def _fits(code: str, decision: str) -> bool:
    """Approval codes belong to overturned items, denial codes to upheld ones."""
    return code in EITHER or (code in APPROVAL) == (decision == "overturned")


def merge_reasons(cues: Sequence[str], llm: Sequence[str], decision: str) -> list[str]:
    """The reason cues when the rationale's wording gave any, else the LLM's codes.

    Cues are grounded in a sentence of the rationale and, measured on the labelled corpus,
    far more often right and in the right order than a small model's codes; the LLM's codes
    confirm them (evidence ``agreed``) or fill an item no cue covers. Codes on the wrong side
    of the decision are dropped; at most three are kept.
    """
    said = [c for c in llm if _fits(c, decision)]
    found = [c for c in cues if _fits(c, decision)]
    return list(dict.fromkeys(found or said))[:MAX_REASONS]


class _Builder:
    """Accumulates one row's evidence and discrepancies while the items are filled."""

    def __init__(self, text: str, anchors: Anchors) -> None:
        self.text = text
        self.anchors = anchors
        self.evidence = anchor_evidence(anchors)
        self.discrepancies: list[Discrepancy] = []
        self.conflicts = 0

    def mark(self, field: str, status: str) -> None:
        for ev in self.evidence:
            if ev.field == field:
                ev.status = status  # type: ignore[assignment]

    def llm_only(self, field: str, span: tuple[int, int]) -> None:
        self.evidence.append(Evidence(field=field, start=span[0], end=span[1], status="llm_only"))

    def span(self, i: int) -> tuple[int, int]:
        anchor = self.anchors.get(f"items[{i}].request")
        return (anchor.start, anchor.end) if anchor else (0, 0)


def _lexicon_fields(b: _Builder, i: int, item: DisputedItem, answer: ItemAnswer) -> None:
    anchored = b.anchors.items()[i]
    llm = answer.model_dump()
    if llm["category"] != anchored.get("category", llm["category"]):
        llm["subcategory"] = None  # a subcategory of another category cannot stand
    for name in LEXICON_FIELDS:
        value = llm[name]
        if name == "subcategory":
            value = known_subcategory(str(anchored.get("category") or llm["category"]), value)
        if (
            name == "generic_name"
            and anchored.get("category", llm["category"]) != "Pharmaceuticals"
        ):
            value = None
        field = f"items[{i}].{name}"
        if name in anchored:
            same = value is None or _same(anchored[name], value)
            b.mark(field, "agreed" if same else "corrected")
            if not same:
                b.discrepancies.append(
                    Discrepancy(field=field, anchor=anchored[name], llm=value, resolution="anchor")
                )
        elif value not in (None, ""):
            setattr(item, name, value)
            b.llm_only(field, b.span(i))


def _reasons(b: _Builder, i: int, item: DisputedItem, answer: ItemAnswer) -> None:
    cues, said = list(item.reasons), list(answer.reasons)
    merged = merge_reasons(cues, said, item.decision)
    for k, code in enumerate(cues):
        if code in said:
            b.mark(f"items[{i}].reasons[{k}]", "agreed")
    if merged != cues:
        item.reasons = merged  # type: ignore[assignment]
        b.llm_only(f"items[{i}].reasons", b.span(i))
    elif set(said) != set(cues):
        field = f"items[{i}].reasons"
        b.discrepancies.append(Discrepancy(field=field, anchor=cues, llm=said, resolution="anchor"))


def _fill_item(b: _Builder, found: ItemReply, item: DisputedItem) -> None:
    i, reply = found.prompt.index, found.reply
    answer = reply.value
    if answer is None:
        return
    field = f"items[{i}].decision"
    necessary = item.decision == "overturned"
    if answer.medically_necessary == necessary:
        b.mark(field, "agreed")
    else:
        b.conflicts += 1
        b.mark(field, "conflict")
        llm = "overturned" if answer.medically_necessary else "upheld"
        b.discrepancies.append(
            Discrepancy(field=field, anchor=item.decision, llm=llm, resolution="unresolved")
        )
    _lexicon_fields(b, i, item, answer)
    _reasons(b, i, item, answer)
    if answer.summary.strip():
        item.summary = answer.summary.strip()
        b.llm_only(f"items[{i}].summary", b.span(i))


def _diagnoses(b: _Builder, outcome: Outcome) -> list[str]:
    found = outcome.diagnoses.value
    names = [d.strip() for d in (found.diagnoses if found else []) if d.strip()]
    lowered = b.text.lower()
    for k, name in enumerate(names):
        at = lowered.find(name.lower())
        b.llm_only(f"diagnoses[{k}]", (at, at + len(name)) if at >= 0 else (0, 0))
    return names


def merge_items(text: str, anchors: Anchors, outcome: Outcome) -> Merged:
    """The final record, evidence, discrepancies and status of an ``items`` extraction."""
    record = record_from_anchors(anchors)
    text = text[: anchors.letter_end] if anchors.letter_end is not None else text
    b = _Builder(text, anchors)
    for found in outcome.items:
        _fill_item(b, found, record.items[found.prompt.index])
    record.diagnoses = _diagnoses(b, outcome)
    answered = [r for r in outcome.items if r.reply.value is not None]
    if not answered and outcome.items:
        return Merged(record, b.evidence, b.discrepancies, "failed")
    unsettled = any(not r.reply.accepted for r in outcome.items)
    doubtful = b.conflicts or unsettled or anchors.problems or not outcome.diagnoses.accepted
    status: Status = "needs_review" if doubtful else "ok"
    evidence = sorted(b.evidence, key=lambda e: (e.start, e.field))
    return Merged(record, evidence, b.discrepancies, status)


__all__ = ["merge_items", "merge_reasons"]
