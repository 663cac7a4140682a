"""Merge an LLM answer with the anchors into the final record, evidence and status (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imr_llm.anchors.finder import Anchors
from imr_llm.anchors.record import record_from_anchors
from imr_llm.extraction.answer import Answer, AnswerItem
from imr_llm.extraction.grounding import ground_in_request, locate
from imr_llm.extraction.verify import LETTER_FIELDS, Conflict, align, checked_fields, compare
from imr_llm.models import (
    Determination,
    Discrepancy,
    DisputedItem,
    Evidence,
    EvidenceStatus,
    Status,
)

# Fields only the LLM can fill; where issue-7 anchors exist for some, anchors win.
LLM_ITEM_FIELDS = ("treatment", "generic_name", "category", "subcategory", "reasons", "summary")


@dataclass(slots=True)
class Merged:
    record: Determination
    evidence: list[Evidence] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    status: Status = "ok"


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def _set_path(record: Determination, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target: Any = record
    for part in parents:
        target = getattr(target, part)
    setattr(target, leaf, value)


def _fill_letter(
    record: Determination, answer: Answer, anchors: Anchors, text: str
) -> tuple[list[Evidence], list[Discrepancy]]:
    """Letter fields the anchors missed: taken from the LLM only where the letter shows them."""
    values = anchors.values()
    evidence, rejected = [], []
    for path in LETTER_FIELDS:
        got: Any = answer
        for part in path.split("."):
            got = getattr(got, part)
        if path in values or _empty(got):
            continue
        found = locate(path, got, text)
        if found is None:
            rejected.append(Discrepancy(field=path, anchor=None, llm=got, resolution="anchor"))
            continue
        # Recorded in the contract's spelling ("2017-01-31", "IA"), however the LLM wrote it.
        _set_path(record, path, found.value)
        start, end = found.span
        evidence.append(Evidence(field=path, start=start, end=end, status="llm_only"))
    return evidence, rejected


def _locate(text: str, phrase: str) -> tuple[int, int]:
    at = text.lower().find(phrase.lower()) if phrase else -1
    return (at, at + len(phrase)) if at >= 0 else (0, 0)


def _diagnoses(record: Determination, answer: Answer, text: str) -> list[Evidence]:
    record.diagnoses = list(answer.diagnoses)
    return [
        Evidence(field=f"diagnoses[{k}]", start=s, end=e, status="llm_only")
        for k, d in enumerate(answer.diagnoses)
        for s, e in [_locate(text, d)]
    ]


def _fill_items(
    record: Determination, answer: Answer, anchors: Anchors, text: str
) -> list[Evidence]:
    anchor_items = anchors.items()
    if not anchor_items:  # nothing anchored (an older layout): the LLM's items, flagged
        record.items = [_llm_only_item(item) for item in answer.items]
        return [
            Evidence(field=f"items[{j}].request", start=0, end=0, status="llm_only")
            for j in range(len(answer.items))
        ]
    evidence = []
    for i, j in align(answer.items, anchor_items):
        item, llm_item = record.items[i], answer.items[j]
        start, end = _request_span(anchors, i)
        for name in LLM_ITEM_FIELDS:
            value = getattr(llm_item, name)
            if name in anchor_items[i] or _empty(value):
                continue  # anchored (the treatment lexicon): compared, not overwritten
            setattr(item, name, value)
            evidence.append(_evidence(f"items[{i}].{name}", (start, end)))
        for name in ("quantity", "strength"):
            value = getattr(llm_item, name)
            if name in anchor_items[i] or _empty(value):
                continue
            if (span := ground_in_request(name, value, text[start:end])) is not None:
                setattr(item, name, value)
                evidence.append(_evidence(f"items[{i}].{name}", (start + span[0], start + span[1])))
    return evidence


def _evidence(field: str, span: tuple[int, int]) -> Evidence:
    return Evidence(field=field, start=span[0], end=span[1], status="llm_only")


def _llm_only_item(item: AnswerItem) -> DisputedItem:
    return DisputedItem.model_validate(item.model_dump())


def _request_span(anchors: Anchors, i: int) -> tuple[int, int]:
    anchor = anchors.get(f"items[{i}].request")
    return (anchor.start, anchor.end) if anchor else (0, 0)


def _anchor_evidence(
    anchors: Anchors, conflicts: list[Conflict], checked: set[str]
) -> list[Evidence]:
    corrected = {c.field for c in conflicts if c.llm is not None}
    unanswered = {c.field for c in conflicts if c.llm is None}
    out = []
    for a in sorted(anchors.anchors, key=lambda a: (a.start, a.field)):
        status: EvidenceStatus = "anchor_only"
        if a.field in corrected:
            status = "corrected"
        elif a.field in checked and a.field not in unanswered:
            status = "agreed"
        out.append(Evidence(field=a.field, start=a.start, end=a.end, status=status))
    return out


def _discrepancies(conflicts: list[Conflict], extra_items: list[AnswerItem]) -> list[Discrepancy]:
    out = [
        Discrepancy(field=c.field, anchor=c.anchor, llm=c.llm, resolution="anchor")
        for c in conflicts
        if c.llm is not None
    ]
    out += [
        Discrepancy(field="items", anchor=None, llm=item.request, resolution="anchor")
        for item in extra_items
    ]
    return out


def merge(text: str, anchors: Anchors, answer: Answer | None, *, accepted: bool) -> Merged:
    """The final record: anchored fields from the anchors, the rest from ``answer``."""
    record = record_from_anchors(anchors)
    if answer is None:
        return Merged(record, _anchor_evidence(anchors, [], set()), [], "failed")
    # Two letters in one input: only the first, which the anchors read, may ground a value.
    text = text[: anchors.letter_end] if anchors.letter_end is not None else text
    conflicts = compare(answer, anchors)
    evidence = _anchor_evidence(anchors, conflicts, checked_fields(answer, anchors))
    letter_evidence, rejected = _fill_letter(record, answer, anchors, text)
    evidence += letter_evidence
    evidence += _fill_items(record, answer, anchors, text)
    evidence += _diagnoses(record, answer, text)
    anchor_items = anchors.items()
    matched = {j for _, j in align(answer.items, anchor_items)}
    extra = [it for j, it in enumerate(answer.items) if j not in matched and anchor_items]
    status: Status = "ok"
    if not accepted or anchors.problems or extra or not anchor_items:
        status = "needs_review"
    return Merged(record, evidence, _discrepancies(conflicts, extra) + rejected, status)
