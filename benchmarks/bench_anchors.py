"""Letters per second for load + normalize + anchors on text input, in one process.

python benchmarks/bench_anchors.py [--rounds N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from imr_llm.anchors.record import anchors_extraction
from imr_llm.letters.load import load_bytes

LETTERS = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    blobs = [(p.name, p.read_bytes()) for p in sorted(LETTERS.glob("*/*.txt"))]
    size = sum(len(b) for _, b in blobs) / len(blobs)
    for name, blob in blobs:  # warm up regex caches
        anchors_extraction(load_bytes(blob, path=name).text, path=name)
    start = time.perf_counter()
    for _ in range(args.rounds):
        for name, blob in blobs:
            letter = load_bytes(blob, path=name)
            anchors_extraction(letter.text, path=name).model_dump_json()
    elapsed = time.perf_counter() - start
    n = args.rounds * len(blobs)
    print(f"letters: {n} ({len(blobs)} distinct, mean {size / 1024:.1f} KB)")
    print(f"elapsed: {elapsed:.2f} s")
    print(f"throughput: {n / elapsed:,.0f} letters/s (load+normalize+anchors+record+JSON)")
    print(f"per letter: {elapsed / n * 1000:.3f} ms")


if __name__ == "__main__":
    main()
