"""Compare an LLM answer with the anchors, field by field (pure; no LLM imports).

Values are compared by meaning (:mod:`imr_llm.extraction.values`): "01/31/2017" is the
anchors' "2017-01-31", "Iowa" is "IA"; a conflict is a different value, not a spelling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from imr_llm.anchors.finder import Anchors
from imr_llm.extraction.answer import Answer, AnswerItem, validating_with
from imr_llm.extraction.values import plain, same
from imr_llm.models import HEADER_FIELDS

LETTER_FIELDS = (
    *HEADER_FIELDS,
    "patient.age",
    "patient.sex",
    "reviewer.licensure_states",
    "reviewer.specialties",
)
# Fields whose disagreement is worth a re-ask: a wrong value here changes what the row says.
_BLOCKING = {"case_number", "decision_date", "date_of_injury", "items", "decision", "quantity"}
_ITEM = re.compile(r"items\[(\d+)\]\.(\w+)$")
_ITEM_CHECKS = ("decision", "quantity", "strength", "request", "category", "subcategory")
# Below this similarity two requests are not the same item.
_MIN_MATCH = 0.6


@dataclass(frozen=True, slots=True)
class Conflict:
    """One field where the LLM and the letter's anchors disagree."""

    field: str
    anchor: Any
    llm: Any
    message: str

    @property
    def key(self) -> str:
        return _ITEM.sub(r"\2", self.field).split("[")[0]


def blocking(conflict: Conflict) -> bool:
    """True when the disagreement should trigger a re-ask (the LLM said something wrong)."""
    return conflict.key in _BLOCKING and conflict.llm is not None


def _llm_value(answer: Answer, field: str) -> Any:
    value: Any = answer
    for part in field.split("."):
        value = getattr(value, part, None)
    return value


def _letter_conflicts(answer: Answer, anchors: Anchors) -> list[Conflict]:
    out = []
    values = anchors.values()
    for field in LETTER_FIELDS:
        if field not in values:
            continue
        want, got = values[field], _llm_value(answer, field)
        got = None if got in ([], "") else got  # left empty: an omission, not a claim
        if not same(field, want, got):
            out.append(
                Conflict(
                    field, want, got, f"the letter gives {field} {want!r}, you returned {got!r}"
                )
            )
    return out


def align(llm_items: list[AnswerItem], anchor_items: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Pairs (anchor index, llm index) of the same disputed item, in order."""
    if len(llm_items) == len(anchor_items):
        return [(i, i) for i in range(len(anchor_items))]
    pairs: list[tuple[int, int]] = []
    start = 0
    for i, anchor in enumerate(anchor_items):
        scores = [
            (SequenceMatcher(None, plain(anchor["request"]), plain(item.request)).ratio(), j)
            for j, item in enumerate(llm_items[start:], start)
        ]
        best = max(scores, default=(0.0, -1))
        if best[0] >= _MIN_MATCH:
            pairs.append((i, best[1]))
            start = best[1] + 1
    return pairs


def _item_conflicts(i: int, anchor: dict[str, Any], item: AnswerItem) -> list[Conflict]:
    out = []
    heading = f"{anchor['request']}: {str(anchor['decision']).capitalize()}"
    for field in _ITEM_CHECKS:
        if field not in anchor:
            continue
        want, got = anchor[field], getattr(item, field)
        if not same(field, want, got):
            message = f"item {i + 1}: the letter says '{heading}' but you returned {field} {got!r}"
            out.append(Conflict(f"items[{i}].{field}", want, got, message))
    return out


def compare(answer: Answer, anchors: Anchors) -> list[Conflict]:
    """Every disagreement between ``answer`` and ``anchors``."""
    conflicts = _letter_conflicts(answer, anchors)
    anchor_items = anchors.items()
    if not anchor_items:
        return conflicts
    if len(answer.items) != len(anchor_items):
        headings = "; ".join(f"'{a['request']}'" for a in anchor_items)
        conflicts.append(
            Conflict(
                "items",
                len(anchor_items),
                len(answer.items),
                f"the letter has {len(anchor_items)} disputed item(s) ({headings}), "
                f"you returned {len(answer.items)}",
            )
        )
    for i, j in align(answer.items, anchor_items):
        conflicts += _item_conflicts(i, anchor_items[i], answer.items[j])
    return conflicts


def checked_fields(answer: Answer, anchors: Anchors) -> set[str]:
    """Anchor field paths that :func:`compare` looked at for this answer."""
    values = anchors.values()
    fields = {f for f in LETTER_FIELDS if f in values}
    anchor_items = anchors.items()
    for i, _ in align(answer.items, anchor_items):
        fields |= {f"items[{i}].{name}" for name in _ITEM_CHECKS if name in anchor_items[i]}
    return fields


@contextmanager
def checking_against(anchors: Anchors) -> Iterator[None]:
    """Validate answers built inside this block against ``anchors`` (blocking conflicts fail)."""

    def check(answer: Answer) -> list[str]:
        return [c.message for c in compare(answer, anchors) if blocking(c)]

    with validating_with(check):
        yield
