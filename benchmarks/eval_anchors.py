"""Per-field accuracy of the anchors alone over the labelled corpus.

python benchmarks/eval_anchors.py [CORPUS_DIR]   (default: ../shared/corpus)
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from imr_llm.anchors.record import anchors_extraction
from imr_llm.checking.labels import TREATMENT_ITEM_FIELDS, compare, read_labels
from imr_llm.letters.load import load_path


def _letters(corpus: Path) -> list[tuple[Path, dict[str, object]]]:
    pairs = []
    for labels_path, folder in (
        (corpus / "seeds/labels.jsonl", corpus / "seeds"),
        (corpus / "dev/labels.jsonl", corpus / "dev/txt"),
    ):
        for letter_id, label in read_labels(labels_path).items():
            pairs.append((folder / f"{letter_id}.txt", label))
    return pairs


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


def main(corpus: Path) -> int:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    t_right: Counter[str] = Counter()
    t_total: Counter[str] = Counter()
    misses: list[str] = []
    t_misses: list[str] = []
    resolved = items = 0
    for path, label in _letters(corpus):
        row = anchors_extraction(load_path(str(path)).text, path=str(path))
        assert row.record is not None, path
        misses += _tally(list(compare(row.record, label)), path.name, right, total)
        treatment = compare(row.record, label, TREATMENT_ITEM_FIELDS)
        item_rows = [r for r in treatment if r[0].startswith("items[")]
        t_misses += _tally(item_rows, path.name, t_right, t_total)
        items += len(row.record.items)
        resolved += sum(i.category is not None for i in row.record.items)
    _table(right, total)
    for miss in misses:
        print("MISS", miss)
    print(
        f"\ntreatment anchors (reported, not enforced); coverage {resolved}/{items} "
        f"= {resolved / items:.1%} of items resolved"
    )
    _table(t_right, t_total)
    for miss in t_misses:
        print("TREATMENT MISS", miss)
    return 0 if not misses else 1


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else default))
