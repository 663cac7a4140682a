"""Per-field accuracy of the anchors alone over the labelled corpus.

python benchmarks/eval_anchors.py [CORPUS_DIR]   (default: ../shared/corpus)
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from imr_llm.labels import compare, read_labels
from imr_llm.load import load_path
from imr_llm.record import anchors_extraction


def _letters(corpus: Path) -> list[tuple[Path, dict[str, object]]]:
    pairs = []
    for labels_path, folder in (
        (corpus / "seeds/labels.jsonl", corpus / "seeds"),
        (corpus / "dev/labels.jsonl", corpus / "dev/txt"),
    ):
        for letter_id, label in read_labels(labels_path).items():
            pairs.append((folder / f"{letter_id}.txt", label))
    return pairs


def main(corpus: Path) -> int:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses: list[str] = []
    for path, label in _letters(corpus):
        row = anchors_extraction(load_path(str(path)).text, path=str(path))
        assert row.record is not None, path
        for field, want, got in compare(row.record, label):
            key = re.sub(r"\[\d+\]", "[]", field)
            total[key] += 1
            right[key] += want == got
            if want != got:
                misses.append(f"{path.name} {field}: label={want!r} anchors={got!r}")
    print(f"{'field':40} {'right':>6} {'total':>6} {'accuracy':>9}")
    for key in total:
        print(f"{key:40} {right[key]:6d} {total[key]:6d} {right[key] / total[key]:9.1%}")
    print(
        f"{'ALL':40} {sum(right.values()):6d} {sum(total.values()):6d} "
        f"{sum(right.values()) / sum(total.values()):9.1%}"
    )
    for miss in misses:
        print("MISS", miss)
    return 0 if not misses else 1


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else default))
