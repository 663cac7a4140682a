"""Per-field accuracy of the anchors alone over the labelled corpus, from the .txt files and
from the PDFs (read as imr-llm reads them: PDFium, in worker processes).

python benchmarks/eval_anchors.py [CORPUS_DIR] [--txt | --pdf]   (default: ../shared/corpus, both)

The PDF pass also compares each PDF's whole anchored record with its .txt's record.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

from imr_llm.anchors.record import anchors_extraction
from imr_llm.checking.labels import TREATMENT_ITEM_FIELDS, compare, read_labels
from imr_llm.errors import InputError
from imr_llm.letters.load import load_path
from imr_llm.letters.reader import read_letters
from imr_llm.models import Extraction


def _txt_letters(corpus: Path) -> list[tuple[Path, dict[str, object]]]:
    pairs = []
    for labels_path, folder in (
        (corpus / "seeds/labels.jsonl", corpus / "seeds"),
        (corpus / "dev/labels.jsonl", corpus / "dev/txt"),
    ):
        for letter_id, label in read_labels(labels_path).items():
            pairs.append((folder / f"{letter_id}.txt", label))
    return pairs


def _pdf_letters(corpus: Path) -> list[tuple[Path, dict[str, object]]]:
    labels = read_labels(corpus / "dev/labels.jsonl")
    return [(corpus / "dev/pdf" / f"{i}.pdf", label) for i, label in labels.items()]


def _table(right: Counter[str], total: Counter[str]) -> None:
    print(f"{'field':40} {'right':>6} {'total':>6} {'accuracy':>9}")
    for key in total:
        print(f"{key:40} {right[key]:6d} {total[key]:6d} {right[key] / total[key]:9.1%}")
    print(
        f"{'ALL':40} {sum(right.values()):6d} {sum(total.values()):6d} "
        f"{sum(right.values()) / sum(total.values()):9.1%}"
    )


def _tally(
    rows: list[tuple[str, object, object]], name: str, right: Counter[str], total: Counter[str]
) -> list[str]:
    misses = []
    for field, want, got in rows:
        key = re.sub(r"\[\d+\]", "[]", field)
        total[key] += 1
        right[key] += want == got
        if want != got:
            misses.append(f"{name} {field}: label={want!r} anchors={got!r}")
    return misses


def _rows(pairs: list[tuple[Path, dict[str, object]]]) -> list[Extraction]:
    """Each letter's anchors-only row; PDFs through the isolated reader, as the CLI reads."""
    rows = []
    for name, loaded in read_letters([str(path) for path, _ in pairs], workers=2):
        if isinstance(loaded, InputError):
            raise SystemExit(f"{name}: {loaded.kind}: {loaded}")
        rows.append(anchors_extraction(loaded.text, path=name))
    return rows


def evaluate(
    title: str, pairs: list[tuple[Path, dict[str, object]]]
) -> tuple[list[Extraction], bool]:
    """Print the anchored and treatment tables; the rows, and whether every field is right."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    t_right: Counter[str] = Counter()
    t_total: Counter[str] = Counter()
    misses: list[str] = []
    t_misses: list[str] = []
    rows = _rows(pairs)
    for (path, label), row in zip(pairs, rows, strict=True):
        assert row.record is not None, path
        misses += _tally(list(compare(row.record, label)), path.name, right, total)
        treatment = compare(row.record, label, TREATMENT_ITEM_FIELDS)
        item_rows = [r for r in treatment if r[0].startswith("items[")]
        t_misses += _tally(item_rows, path.name, t_right, t_total)
    items = [item for row in rows if row.record for item in row.record.items]
    resolved = sum(item.category is not None for item in items)
    print(f"== {title}: {len(rows)} letters")
    _table(right, total)
    for miss in misses:
        print("MISS", miss)
    print(
        f"\ntreatment anchors (reported, not enforced); coverage {resolved}/{len(items)} "
        f"= {resolved / len(items):.1%} of items resolved"
    )
    _table(t_right, t_total)
    for miss in t_misses:
        print("TREATMENT MISS", miss)
    print()
    return rows, not misses


def same_as_txt(corpus: Path, pdf_rows: list[Extraction]) -> None:
    """How many PDFs give exactly their .txt's anchored record, and which fields differ."""
    same = 0
    for row in pdf_rows:
        txt = corpus / "dev/txt" / f"{Path(str(row.source.path)).stem}.txt"
        record = anchors_extraction(load_path(txt).text).record
        assert record is not None and row.record is not None
        if record == row.record:
            same += 1
            continue
        for i, (a, b) in enumerate(zip(record.items, row.record.items, strict=False)):
            for field in type(a).model_fields:
                if getattr(a, field) != getattr(b, field):
                    print(f"PDF != TXT {txt.stem} items[{i}].{field}")
    print(f"PDF records equal to their .txt records: {same}/{len(pdf_rows)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    default = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    parser.add_argument("corpus", nargs="?", type=Path, default=default)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--txt", action="store_true", help="the .txt files only")
    only.add_argument("--pdf", action="store_true", help="the PDFs only")
    args = parser.parse_args()
    right = True
    if not args.pdf:
        right &= evaluate("txt", _txt_letters(args.corpus))[1]
    if not args.txt:
        rows, pdf_right = evaluate("pdf (PDFium, isolated reader)", _pdf_letters(args.corpus))
        same_as_txt(args.corpus, rows)
        right &= pdf_right
    return 0 if right else 1


if __name__ == "__main__":
    sys.exit(main())
