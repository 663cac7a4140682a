"""Letters per second for read + normalize + anchors + record + JSON.

python benchmarks/bench_anchors.py [--rounds N]
    text letters (tests/data/corpus), in one process
python benchmarks/bench_anchors.py --pdf [--workers N] [--pdf-dir DIR] [--rounds N]
    PDF letters (default: ../shared/corpus/dev/pdf, else tests/data/pdf/corpus): in one
    process (PDFium called directly), with the CPU time of each stage; then as
    `imr-llm anchors --workers N` makes rows (PDFs read in worker processes, and with more
    than one worker the rows made there too), with 1 and N workers (default 2)

The host may be shared (a local LLM server): wall-clock figures are best of three and CPU
times (this process, and on Linux its worker processes) are printed beside them. CPU time
is what a free core would take; the wall figure is what this host gave.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from imr_llm.anchors.finder import find_anchors
from imr_llm.anchors.record import anchored_rows, anchors_extraction
from imr_llm.letters.load import load_bytes
from imr_llm.letters.reader import LetterReader

ROOT = Path(__file__).resolve().parents[1]
LETTERS = ROOT / "tests" / "data" / "corpus"
SHARED_PDFS = ROOT.parent / "shared" / "corpus" / "dev" / "pdf"
TEST_PDFS = ROOT / "tests" / "data" / "pdf" / "corpus"
_CPU_MS: list[float] = []  # per letter, of each measurement (all processes)


def _cpu_ms(run: Callable[[], object], n: int) -> float:
    """CPU ms per letter of ``run`` in this process, best of three."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return 1000 * best / n


def _stages(paths: list[Path], rounds: int) -> None:
    """CPU per letter of each stage: PDF text, anchors, row + JSON (one process)."""
    blobs = [(str(p), p.read_bytes()) for p in paths] * rounds
    letters = [load_bytes(blob, path=name) for name, blob in blobs]
    n = len(blobs)
    read = _cpu_ms(lambda: [load_bytes(b, path=name) for name, b in blobs], n)
    anchors = _cpu_ms(lambda: [find_anchors(x.text) for x in letters], n)
    rows = _cpu_ms(lambda: [anchors_extraction(x.text).model_dump_json() for x in letters], n)
    print(
        f"  CPU ms/letter: read {read:.2f}, anchors {anchors:.2f}, row + JSON {rows - anchors:.2f}"
    )


def _in_process(paths: list[Path], rounds: int) -> float:
    """Letters/s reading each file's bytes and analysing it here, in this one process."""
    blobs = [(str(p), p.read_bytes()) for p in paths]
    for name, blob in blobs:  # warm up regex caches and PDFium
        anchors_extraction(load_bytes(blob, path=name).text, path=name)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        for name, blob in blobs:
            letter = load_bytes(blob, path=name)
            anchors_extraction(letter.text, path=name).model_dump_json()
    n = rounds * len(blobs)
    _CPU_MS.append(1000 * (time.process_time() - cpu) / n)
    return n / (time.perf_counter() - start)


def _descendants_cpu() -> dict[int, float]:
    """CPU seconds used so far by each live process below this one (Linux; else empty)."""
    if not os.path.isdir("/proc/self/task"):
        return {}
    tick, parents, used = os.sysconf("SC_CLK_TCK"), {}, {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # it ended
            continue
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    ours, found = {os.getpid()}, True
    while found:
        below = {pid for pid, parent in parents.items() if parent in ours} - ours
        ours, found = ours | below, bool(below)
    return {pid: used[pid] for pid in ours - {os.getpid()}}


def _isolated(paths: list[Path], rounds: int, workers: int) -> float:
    """Letters/s as `imr-llm anchors --workers N` makes and writes rows."""
    names = [str(p) for p in paths]

    def rows(names: Iterable[str]) -> None:
        for row in anchored_rows(reader, names):
            assert row.status == "ok", (row.source.path, row.error)
            row.model_dump_json()

    with LetterReader(workers=workers) as reader:
        rows(names * workers)  # start the workers, warm them up
        before, cpu = _descendants_cpu(), time.process_time()
        start = time.perf_counter()
        rows(names * rounds)
        wall = time.perf_counter() - start
        after = _descendants_cpu()
    used = time.process_time() - cpu + sum(t - before.get(p, 0.0) for p, t in after.items())
    _CPU_MS.append(1000 * used / (rounds * len(names)))
    return rounds * len(names) / wall


def _report(label: str, rate: float, base: float | None = None) -> None:
    versus = f"  ({rate / base:.2f}x one process)" if base else ""
    cpu = f"  (CPU {min(_CPU_MS):.2f} ms/letter)" if _CPU_MS else ""
    print(f"{label:44} {rate:7,.0f} letters/s  {1000 / rate:6.2f} ms/letter{versus}{cpu}")
    _CPU_MS.clear()


def _best(measure: Callable[[], float], repeats: int = 3) -> float:
    # Best of a few: the host is shared, and a neighbour's burst is not ours.
    return max(measure() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=None, help="passes over the letters")
    parser.add_argument("--pdf", action="store_true", help="PDF letters (see above)")
    parser.add_argument("--workers", type=int, default=2, help="reader processes (--pdf)")
    parser.add_argument("--pdf-dir", type=Path, help="folder of letter PDFs (--pdf)")
    args = parser.parse_args()
    texts = sorted(LETTERS.glob("*/*.txt"))
    text_rate = _best(lambda: _in_process(texts, args.rounds or 10))
    print(f"text letters: {len(texts)} (tests/data/corpus)")
    _report("text, one process", text_rate)
    if not args.pdf:
        return
    folder = args.pdf_dir or (SHARED_PDFS if SHARED_PDFS.is_dir() else TEST_PDFS)
    pdfs = sorted(folder.glob("*.pdf"))
    rounds = args.rounds or max(1, 300 // len(pdfs))
    print(f"PDF letters: {len(pdfs)} ({folder}), {rounds} rounds")
    one = _best(lambda: _in_process(pdfs, rounds))
    _report("PDF, one process (no isolation)", one)
    _stages(pdfs, rounds)
    for workers in dict.fromkeys([1, args.workers]):
        rate = _best(lambda w=workers: _isolated(pdfs, rounds, w))  # type: ignore[misc]
        _report(f"PDF, anchors --workers {workers}", rate, one)


if __name__ == "__main__":
    main()
