"""How well the deterministic reason cues alone match the hand-labelled reasons.

python benchmarks/eval_reasons.py [CORPUS_DIR]   (default: ../shared/corpus)

Items are aligned with their labels by request text, as `imr-llm eval` does. Printed for all
labelled items and for two halves: the cues were written while reading only the seeds and
every other dev letter (in case-number order); the other half was held out to check them.
Scored blind once, the held-out half gave F1 0.73 and first code 0.71 (the written-on half
0.94 and 0.91); its misses were then read and general phrasings added, so its figure below
is no longer a blind one. A hidden set of letters is the real judge.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imr_llm.anchors.finder import find_anchors
from imr_llm.checking.evaluation import align_items
from imr_llm.checking.labels import read_labels
from imr_llm.checking.reason_scores import ReasonScore, majority_reasons

Pair = tuple[list[str], list[str], str]


def _letters(corpus: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(half, letter text, label) for every labelled letter."""
    yield from (
        ("written on", (corpus / "seeds" / f"{key}.txt").read_text(encoding="utf-8"), label)
        for key, label in read_labels(corpus / "seeds/labels.jsonl").items()
    )
    dev = sorted(read_labels(corpus / "dev/labels.jsonl").items())
    for n, (key, label) in enumerate(dev):
        text = (corpus / "dev/txt" / f"{key}.txt").read_text(encoding="utf-8")
        yield ("written on" if n % 2 == 0 else "held out"), text, label


def _pairs(text: str, label: dict[str, Any]) -> list[Pair]:
    """(cue codes, labelled codes, labelled decision) per aligned item."""
    predicted = find_anchors(text).items()
    wanted = label["items"]
    return [
        (predicted[i].get("reasons", []), wanted[j]["reasons"], wanted[j]["decision"])
        for i, j in align_items(predicted, wanted)
    ]


def _scores(pairs: list[Pair]) -> tuple[ReasonScore, ReasonScore]:
    cues, base = ReasonScore(), ReasonScore()
    for got, want, decision in pairs:
        cues.add(got, want)
        base.add(majority_reasons(decision), want)
    return cues, base


def _num(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:6.2f}"


def _summary(name: str, pairs: list[Pair]) -> None:
    cues, base = _scores(pairs)
    print(f"\n{name}: {cues.items} items")
    print(f"{'':29} {'P':>6} {'R':>6} {'F1':>6} {'first':>6} {'cover':>6}")
    for who, score in (("cues", cues), ("majority baseline", base)):
        d = score.as_dict()
        row = (d["precision"], d["recall"], d["f1"], d["first_code_accuracy"], d["coverage"])
        print(f"{who:29} " + " ".join(_num(v) for v in row))


def _per_code(pairs: list[Pair]) -> None:
    cues, _ = _scores(pairs)
    print(f"\n{'per code (all items)':29} {'P':>6} {'R':>6} {'tp':>4} {'fp':>4} {'fn':>4}")
    for code, d in sorted(cues.per_code().items(), key=lambda kv: -(kv[1]["tp"] + kv[1]["fn"])):
        print(
            f"{code:29} {_num(d['precision'])} {_num(d['recall'])} "
            f"{d['tp']:4d} {d['fp']:4d} {d['fn']:4d}"
        )


def main(corpus: Path) -> int:
    halves: dict[str, list[Pair]] = {"written on": [], "held out": []}
    for half, text, label in _letters(corpus):
        halves[half] += _pairs(text, label)
    every = halves["written on"] + halves["held out"]
    _summary("seeds + dev", every)
    _summary("written-on half (seeds + every other dev letter)", halves["written on"])
    _summary("held-out half (the other dev letters)", halves["held out"])
    _per_code(every)
    return 0


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "corpus"))
