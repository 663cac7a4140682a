"""The anchors give the same records on PDFium's text of a letter as on its .txt (pypdf's text).

The PDFs in tests/data/pdf/corpus were picked for what PDFium lays out differently: the
header's "Application Received" split over three lines, hyphens at line ends (U+FFFE),
partial-UR headings that need the empty line before them, page breaks inside a sentence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imr_llm.anchors.record import anchors_extraction
from imr_llm.checking.labels import compare, read_labels
from imr_llm.letters.load import load_path

DATA = Path(__file__).parent / "data"
PDFS = sorted((DATA / "pdf" / "corpus").glob("*.pdf"))
TXT = DATA / "corpus" / "dev"
LABELS = read_labels(TXT / "labels.jsonl")
# The .txt of CM17-0013240 has an empty line where page 2 begins inside the claims
# administrator's guideline sentence, so the .txt's guideline stops at "American College";
# PDFium's text carries the sentence on ("... (ACOEM) Pain, Suffering, and the Restoration
# of Function Chapter."), which names ACOEM. The PDF's record is the right one.
BETTER_IN_PDF = {"CM17-0013240": "items[0].claims_administrator_guideline."}


def _differences(a: object, b: object, where: str = "") -> dict[str, tuple[object, object]]:
    if isinstance(a, dict) and isinstance(b, dict):
        found: dict[str, tuple[object, object]] = {}
        for key in a.keys() | b.keys():
            found |= _differences(a.get(key), b.get(key), f"{where}.{key}".lstrip("."))
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        found = {}
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found |= _differences(x, y, f"{where}[{i}]")
        return found
    return {} if a == b else {where: (a, b)}


@pytest.mark.parametrize("pdf", PDFS, ids=[p.stem for p in PDFS])
def test_pdf_gives_the_txt_record(pdf: Path) -> None:
    from_pdf = anchors_extraction(load_path(pdf).text)
    from_txt = anchors_extraction(load_path(TXT / f"{pdf.stem}.txt").text)
    assert from_pdf.status == from_txt.status == "ok"
    assert from_pdf.record is not None and from_txt.record is not None
    differ = _differences(from_txt.record.model_dump(), from_pdf.record.model_dump())
    if pdf.stem not in BETTER_IN_PDF:
        assert differ == {}
        return
    assert differ and all(field.startswith(BETTER_IN_PDF[pdf.stem]) for field in differ)
    guideline = from_pdf.record.items[0].claims_administrator_guideline
    assert guideline is not None and guideline.text.endswith("Restoration of Function Chapter.")
    assert guideline.sources == ["MTUS", "ACOEM"]


@pytest.mark.parametrize("pdf", PDFS, ids=[p.stem for p in PDFS])
def test_pdf_anchored_fields_equal_the_labels(pdf: Path) -> None:
    row = anchors_extraction(load_path(pdf).text)
    assert row.record is not None
    compared = compare(row.record, LABELS[pdf.stem])
    assert [(field, want, got) for field, want, got in compared if want != got] == []


@pytest.mark.parametrize("pdf", PDFS[:3], ids=[p.stem for p in PDFS[:3]])
def test_spans_point_into_the_pdf_text(pdf: Path) -> None:
    text = load_path(pdf).text
    row = anchors_extraction(text)
    assert row.record is not None
    for ev in row.evidence:
        passage = " ".join(text[ev.start : ev.end].split())
        if ev.field.endswith(".request"):
            index = int(ev.field.split("[")[1].split("]")[0])
            assert passage == row.record.items[index].request
        if ev.field == "case_number":
            assert passage == row.record.case_number == pdf.stem
