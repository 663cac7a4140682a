"""Reason codes scored against labels: sets per item (micro precision, recall, F1), first code.

A labelled item has 1-3 codes, the reviewer's main point first (corpus/REASONS.md). The codes
overlap by nature, so they are compared as sets, and the first code on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imr_llm.models import Reason

# What a reader would guess knowing only the decision: the most common code on each side.
MAJORITY = {"upheld": Reason.CRITERIA_NOT_MET.value, "overturned": Reason.CRITERIA_MET.value}


def majority_reasons(decision: str | None) -> list[str]:
    """The majority baseline's codes for an item with this (labelled) decision."""
    code = MAJORITY.get(str(decision))
    return [code] if code else []


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


@dataclass(slots=True)
class ReasonScore:
    """Predicted reason codes compared with labelled ones, item by item."""

    items: int = 0
    covered: int = 0  # items with at least one predicted code
    first_right: int = 0
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)

    def add(self, got: Sequence[str], want: Sequence[str]) -> None:
        """Count one item: ``got`` predicted codes, ``want`` labelled codes (main point first)."""
        got_set, want_set = set(got), set(want)
        self.items += 1
        self.covered += bool(got)
        self.first_right += bool(got) and bool(want) and got[0] == want[0]
        self.tp.update(got_set & want_set)
        self.fp.update(got_set - want_set)
        self.fn.update(want_set - got_set)

    def _prf(self, tp: int, fp: int, fn: int) -> dict[str, Any]:
        p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        return {"precision": p, "recall": r, "f1": _f1(p, r), "tp": tp, "fp": fp, "fn": fn}

    def per_code(self) -> dict[str, dict[str, Any]]:
        """Precision and recall of each code seen, predicted or labelled."""
        codes = sorted(set(self.tp) | set(self.fp) | set(self.fn))
        return {c: self._prf(self.tp[c], self.fp[c], self.fn[c]) for c in codes}

    def as_dict(self) -> dict[str, Any]:
        """Micro precision, recall and F1, first-code accuracy and coverage."""
        totals = self._prf(*(sum(c.values()) for c in (self.tp, self.fp, self.fn)))
        return {
            "items": self.items,
            **totals,
            "first_code_accuracy": _ratio(self.first_right, self.items),
            "coverage": _ratio(self.covered, self.items),
        }


def format_reasons(data: dict[str, Any], base: dict[str, Any]) -> str:
    """One line: micro P/R/F1 and first-code accuracy, the majority baseline beside them."""

    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    return (
        f"reasons     P {num(data['precision'])} R {num(data['recall'])} "
        f"F1 {num(data['f1'])}, first code {num(data['first_code_accuracy'])} over "
        f"{data['items']} aligned items (majority baseline F1 {num(base['f1'])}, "
        f"first code {num(base['first_code_accuracy'])})"
    )
