"""Every anchored field over the 70 labelled letters equals the hand-checked labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from imr_llm.anchors.record import anchors_extraction
from imr_llm.checking.labels import compare, read_labels

CORPUS = Path(__file__).parent / "data" / "corpus"
LABELS = {
    **read_labels(CORPUS / "seeds" / "labels.jsonl"),
    **read_labels(CORPUS / "dev" / "labels.jsonl"),
}


def _letter(letter_id: str) -> Path:
    for sub in ("seeds", "dev"):
        path = CORPUS / sub / f"{letter_id}.txt"
        if path.exists():
            return path
    raise FileNotFoundError(letter_id)


def test_corpus_is_complete() -> None:
    assert len(LABELS) == 70
    assert all(_letter(i).exists() for i in LABELS)


@pytest.mark.parametrize("letter_id", sorted(LABELS))
def test_anchored_fields_match_labels(letter_id: str) -> None:
    text = _letter(letter_id).read_text(encoding="utf-8")
    row = anchors_extraction(text, path=letter_id)
    assert row.status == "ok", row.warnings
    assert row.record is not None
    wrong = [
        (f, want, got) for f, want, got in compare(row.record, LABELS[letter_id]) if want != got
    ]
    assert wrong == []


@pytest.mark.parametrize("letter_id", sorted(LABELS)[:20])
def test_every_span_points_at_its_words(letter_id: str) -> None:
    text = _letter(letter_id).read_text(encoding="utf-8")
    row = anchors_extraction(text)
    assert row.record is not None
    for ev in row.evidence:
        assert 0 <= ev.start < ev.end <= len(text), ev
        passage = " ".join(text[ev.start : ev.end].split())
        if ev.field.endswith(".request"):
            index = int(ev.field.split("[")[1].split("]")[0])
            assert passage == row.record.items[index].request
        if ev.field.endswith(".decision"):
            assert passage.lower() in ("upheld", "overturned")
        if ev.field == "case_number":
            assert passage == row.record.case_number
