"""The letter reader: text in this process, PDFs in worker processes that may crash or hang.

The crash and the hang are acted out by the workers through the test hook
(``IMR_LLM_TEST_PDF_FAULTS``): a real SIGKILL of the worker, a real endless sleep.
"""

from __future__ import annotations

import io
import multiprocessing
import operator
import os
import pickle
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from imr_llm.errors import InputError, InputTooLargeError, PdfError, UsageError
from imr_llm.letters import supervisor, worker
from imr_llm.letters.load import Letter, load_path
from imr_llm.letters.reader import FAULTS_ENV, LetterReader, read_letters, shared_reader

DATA = Path(__file__).parent / "data"
PDFS = sorted((DATA / "pdf" / "corpus").glob("*.pdf"))
LETTER_TXT = DATA / "letters" / "CM16-0242667.txt"


def _folder(tmp_path: Path, *faults: str) -> list[str]:
    """Corpus PDFs and a text letter; then one more PDF per fault, named after it."""
    names = [str(shutil.copy(p, tmp_path)) for p in PDFS[:4]]
    names.insert(2, str(shutil.copy(LETTER_TXT, tmp_path)))
    for fault in faults:
        names.insert(1, str(shutil.copy(PDFS[-1], tmp_path / f"{fault}.pdf")))
    return names


def _faults(monkeypatch: pytest.MonkeyPatch, names: list[str], *faults: str) -> None:
    by_stem = {Path(n).stem: n for n in names}
    monkeypatch.setenv(FAULTS_ENV, os.pathsep.join(f"{f}={by_stem[f]}" for f in faults))


def _same(got: Letter | InputError, name: str) -> bool:
    try:
        return got == load_path(name)
    except InputError as exc:
        return isinstance(got, InputError) and (type(got), str(got)) == (type(exc), str(exc))


def _ours() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "imr-llm-pdf-worker"]


def _all_gone(within: float = 10) -> bool:
    """No PDF worker left; an earlier test's shared reader lets its idle ones exit in 1 s."""
    deadline = time.monotonic() + within
    while _ours() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _ours()


@pytest.mark.parametrize("workers", [1, 2])
def test_letters_come_in_input_order_as_load_path_reads_them(tmp_path: Path, workers: int) -> None:
    names = _folder(tmp_path)
    names += [str(DATA / "bad" / "truncated.pdf"), str(tmp_path / "missing.pdf")]
    got = list(read_letters(names * 2, workers=workers))
    assert [name for name, _ in got] == names * 2
    assert all(_same(loaded, name) for name, loaded in got)
    assert _all_gone()  # closed with the reader


def _made_by(name: str, loaded: Letter | InputError) -> tuple[int, str, str]:
    """Which process made the row, and of what (module level: it travels to a worker by name)."""
    what = loaded.text[:80] if isinstance(loaded, Letter) else f"{type(loaded).__name__}: {loaded}"
    return os.getpid(), name, what


@pytest.mark.parametrize("workers", [1, 2])
def test_rows_are_made_where_their_letters_are_read_and_come_in_input_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    names = [*_folder(tmp_path, "kill", "hang"), str(tmp_path / "missing.pdf")]
    _faults(monkeypatch, names, "kill", "hang")
    with LetterReader(workers=workers, timeout=1) as reader:
        rows = list(reader.rows(names, _made_by))
    assert [name for _, name, _ in rows] == names
    here = os.getpid()
    hung, crashed, text, missing = names[1], names[2], str(tmp_path / LETTER_TXT.name), names[-1]
    for pid, name, what in rows:
        if name in (hung, crashed, text, missing):
            assert pid == here, name  # read here, or the reader failed: the row is made here
        else:
            assert pid != here and what == load_path(name).text[:80], name
    made = {name: what for _, name, what in rows}
    assert made[crashed] == "PdfError: the PDF reader crashed (signal 9)"
    assert made[hung] == "PdfError: reading the PDF took more than 1 s"
    assert made[text] == load_path(text).text[:80]
    assert made[missing] == "InputError: cannot read: no such file"


def test_an_error_in_a_worker_made_row_reaches_the_caller_as_if_made_here() -> None:
    with LetterReader() as reader, pytest.raises(TypeError, match="unsupported operand"):
        list(reader.rows([str(PDFS[0])], operator.truediv))


def test_text_files_are_read_here_without_a_worker(tmp_path: Path) -> None:
    with LetterReader() as reader:
        assert reader.submit(LETTER_TXT).result() == load_path(LETTER_TXT)
        assert reader._supervisor is None


@pytest.mark.parametrize("workers", [1, 2])  # a worker holds the next PDF: it is read anyway
def test_a_crash_and_a_hang_cost_their_own_letters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    names = _folder(tmp_path, "kill", "hang")
    _faults(monkeypatch, names, "kill", "hang")
    started = time.monotonic()
    got = dict(read_letters(names, workers=workers, timeout=1))
    assert time.monotonic() - started < 15
    crashed, hung = got.pop(names[2]), got.pop(names[1])
    assert isinstance(crashed, PdfError) and str(crashed) == "the PDF reader crashed (signal 9)"
    assert isinstance(hung, PdfError) and str(hung) == "reading the PDF took more than 1 s"
    assert (crashed.path, hung.path) == (names[2], names[1])
    assert all(_same(loaded, name) for name, loaded in got.items())


def test_a_big_pdf_behind_a_hung_one_does_not_stall_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sent to a busy worker, a PDF waits in its pipe; one bigger than the pipe holds would
    # block the reader's thread until the worker reads it: never, if the worker hangs.
    names = _folder(tmp_path, "hang")
    big = tmp_path / "big.pdf"
    big.write_bytes(PDFS[0].read_bytes() + b"%" + b"x" * 1_000_000 + b"\n")
    names.insert(2, str(big))
    _faults(monkeypatch, names, "hang")
    got: dict[str, Letter | InputError] = {}
    reading = threading.Thread(
        target=lambda: got.update(read_letters(names, workers=1, timeout=1)), daemon=True
    )
    reading.start()
    reading.join(30)
    assert not reading.is_alive(), "the reader stalled"
    assert str(got.pop(names[1])) == "reading the PDF took more than 1 s"
    assert isinstance(got.pop(str(big)), PdfError)  # junk after the end: not a stall, a row
    assert all(_same(loaded, name) for name, loaded in got.items())


def test_a_dead_worker_is_replaced_for_the_letters_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _folder(tmp_path, "kill")
    _faults(monkeypatch, names, "kill")
    with LetterReader(workers=1) as reader:
        results = [reader.submit(name) for name in names]
        with pytest.raises(PdfError, match="crashed"):
            results[1].result()
        assert all(
            f.result() == load_path(n) for n, f in zip(names, results, strict=True) if n != names[1]
        )


def test_errors_cross_the_process_boundary_whole() -> None:
    # Small enough in bytes to be parsed, too long in characters: the worker refuses it.
    with (
        LetterReader(max_chars=2000) as reader,
        pytest.raises(InputTooLargeError, match="characters, over the limit") as caught,
    ):
        reader.submit(PDFS[0]).result()
    assert caught.value.size > caught.value.limit == 2000
    assert caught.value.path == str(PDFS[0])
    error = pickle.loads(pickle.dumps(InputTooLargeError("big", size=3, limit=2, path="p")))
    assert (type(error), str(error), error.size, error.limit, error.path) == (
        InputTooLargeError,
        "big",
        3,
        2,
        "p",
    )


def test_a_pdf_file_is_read_by_its_worker_with_the_same_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only the path travels: the worker reads the file, refusing one over the byte limit.
    sent: list[worker.Job] = []
    monkeypatch.setattr(supervisor.Supervisor, "submit", _spying(sent))
    name, max_chars = str(PDFS[0]), PDFS[0].stat().st_size // 32 - 1  # 32 bytes a character
    got = dict(read_letters([name], max_chars=max_chars))[name]
    with pytest.raises(InputTooLargeError) as want:
        load_path(name, max_chars=max_chars)
    assert isinstance(got, InputTooLargeError) and str(got) == str(want.value)
    assert [job.data for job in sent] == [None]


def _spying(sent: list[worker.Job]) -> Any:
    submit = supervisor.Supervisor.submit

    def spy(self: supervisor.Supervisor, job: worker.Job) -> None:
        sent.append(job)
        submit(self, job)

    return spy


def test_standard_input_pdf_is_read_in_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(PDFS[0].read_bytes())))
    with LetterReader() as reader:
        letter = reader.submit("-").result()
        assert reader._supervisor is not None
    assert letter == Letter(load_path(PDFS[0]).text, None, (), "pdf")


@pytest.mark.parametrize(
    "kwargs", [{"workers": -1}, {"timeout": 0}, {"timeout": float("nan")}, {"max_chars": 0}]
)
def test_bad_settings_are_usage_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        LetterReader(**kwargs)  # type: ignore[arg-type]


def test_idle_workers_exit_and_come_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "IDLE_EXIT", 0.2)
    with LetterReader(workers=2) as reader:
        assert reader.submit(PDFS[0]).result() == load_path(PDFS[0])
        assert _all_gone()
        assert reader.submit(PDFS[1]).result() == load_path(PDFS[1])


def test_the_shared_reader_takes_its_time_limit_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMR_LLM_PDF_TIMEOUT", "2.5")
    assert shared_reader().timeout == 2.5
    assert shared_reader() is shared_reader()
    monkeypatch.setenv("IMR_LLM_PDF_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="IMR_LLM_PDF_TIMEOUT"):
        shared_reader()


def test_closing_with_letters_in_flight_ends_every_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = _folder(tmp_path, "hang")
    _faults(monkeypatch, names, "hang")
    reader = LetterReader(workers=2)
    futures = [reader.submit(name) for name in names]
    futures[1].cancel()  # waiting or already held: either way it must not hang close()
    time.sleep(0.5)
    reader.close()
    assert all(f.done() for f in futures)
    assert _all_gone()


def test_load_path_from_many_threads_reads_every_pdf_whole() -> None:
    # PDFium is not thread-safe even across documents (without the lock this segfaults).
    expected = {p: load_path(p) for p in PDFS}
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(load_path, PDFS * 4))
    assert got == [expected[p] for p in PDFS * 4]


def test_no_worker_can_start_fails_the_pdfs_instead_of_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def cannot(self: supervisor.Supervisor) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(supervisor.Supervisor, "_start", cannot)
    got = dict(read_letters([str(PDFS[0]), str(LETTER_TXT), str(PDFS[1])], timeout=1))
    assert got[str(LETTER_TXT)] == load_path(LETTER_TXT)
    for pdf in PDFS[:2]:
        error = got[str(pdf)]
        assert isinstance(error, PdfError)
        assert str(error) == "the PDF reader stopped (OSError: [Errno 24] Too many open files)"
