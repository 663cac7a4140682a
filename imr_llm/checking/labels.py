"""Compare records with hand-checked labels (the format of corpus/*/labels.jsonl)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imr_llm.models import HEADER_FIELDS, Determination, DisputedItem

LETTER_FIELDS = HEADER_FIELDS
ANCHORED_ITEM_FIELDS = (
    "request",
    "decision",
    "quantity",
    "ca_guideline_mtus",
    "reviewer_guideline_mtus",
    "reviewer_guideline_sources",
    "reviewer_guideline_pages",
)

TREATMENT_ITEM_FIELDS = ("treatment", "category", "subcategory")


def read_labels(path: str | Path) -> dict[str, dict[str, Any]]:
    """Labels keyed by their ``id``."""
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return {row["id"]: row for row in rows}


def item_values(item: DisputedItem) -> dict[str, Any]:
    """An item's fields under the names the labels use."""
    ca, rg = item.claims_administrator_guideline, item.reviewer_guideline
    return {
        "request": item.request,
        "decision": item.decision,
        "treatment": item.treatment,
        "category": item.category,
        "subcategory": item.subcategory,
        "quantity": item.quantity,
        "ca_guideline_mtus": ca.mtus if ca else None,
        "reviewer_guideline_mtus": rg.mtus if rg else None,
        "reviewer_guideline_sources": list(rg.sources) if rg else [],
        "reviewer_guideline_pages": list(rg.pages) if rg else [],
        "reasons": [str(r) for r in item.reasons],
    }


def letter_values(record: Determination) -> dict[str, Any]:
    """Letter-level fields under the names the labels use."""
    values: dict[str, Any] = {f: getattr(record, f) for f in LETTER_FIELDS}
    values["reviewer.licensure_states"] = record.reviewer.licensure_states
    values["reviewer.specialties"] = record.reviewer.specialties
    values["patient.age"] = record.patient.age
    values["patient.sex"] = record.patient.sex
    values["item_count"] = len(record.items)
    return values


def label_letter_values(label: dict[str, Any]) -> dict[str, Any]:
    values = {f: label.get(f) for f in LETTER_FIELDS}
    values["reviewer.licensure_states"] = label["reviewer"]["licensure_states"]
    values["reviewer.specialties"] = label["reviewer"]["specialties"]
    values["patient.age"] = label["patient"]["age"]
    values["patient.sex"] = label["patient"]["sex"]
    values["item_count"] = len(label["items"])
    return values


def compare(
    record: Determination,
    label: dict[str, Any],
    item_fields: tuple[str, ...] = ANCHORED_ITEM_FIELDS,
) -> Iterator[tuple[str, Any, Any]]:
    """Yield ``(field, expected, got)`` for every compared field, matched or not."""
    got, want = letter_values(record), label_letter_values(label)
    for field, expected in want.items():
        yield field, expected, got[field]
    for i, expected_item in enumerate(label["items"]):
        have = item_values(record.items[i]) if i < len(record.items) else {}
        for field in item_fields:
            yield f"items[{i}].{field}", expected_item.get(field), have.get(field)
