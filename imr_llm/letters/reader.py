"""Read many letters without letting one PDF stop the run.

Text files are decoded here. PDFs are parsed by PDFium, native code: each one goes to a
worker process (``supervisor``), so a PDF that crashes the parser or takes longer than
``timeout`` becomes a ``PdfError`` for that file alone ("the PDF reader crashed (signal 9)",
"reading the PDF took more than 30 s") and the worker is replaced.

Test hook: ``IMR_LLM_TEST_PDF_FAULTS`` holds ``kill=PATH`` and ``hang=PATH`` entries separated
by ``os.pathsep``; the worker handed that PDF kills itself with SIGKILL or sleeps forever. It
is read when each PDF is submitted and costs nothing when unset.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from imr_llm.errors import InputError, UsageError
from imr_llm.letters.load import (
    DEFAULT_MAX_CHARS,
    Letter,
    is_pdf,
    load_bytes,
    read_stdin,
    read_unless_pdf,
)
from imr_llm.letters.supervisor import Supervisor
from imr_llm.letters.worker import Job, Then

DEFAULT_PDF_TIMEOUT = 30.0
TIMEOUT_ENV = "IMR_LLM_PDF_TIMEOUT"
FAULTS_ENV = "IMR_LLM_TEST_PDF_FAULTS"
# PDFs read ahead of the one being handed out, per worker: enough to keep every worker busy.
_AHEAD_PER_WORKER = 4

Loaded = Letter | InputError
Row = TypeVar("Row")


class LetterReader:
    """Reads letters: text in this process, PDFs in up to ``workers`` worker processes.

    ``workers`` 0 means one per CPU. Worker processes start only when PDFs come, and stop
    on ``close()`` (or at the end of a ``with`` block).
    """

    def __init__(
        self,
        *,
        workers: int = 1,
        timeout: float = DEFAULT_PDF_TIMEOUT,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        if workers < 0:
            raise UsageError(f"workers must be 0 (one per CPU) or more, not {workers}")
        if not timeout > 0:
            raise UsageError(f"the PDF time limit must be positive, not {timeout}")
        if max_chars < 1:
            raise UsageError(f"max_chars must be at least 1, not {max_chars}")
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.max_chars = max_chars
        self._supervisor: Supervisor | None = None

    def __enter__(self) -> LetterReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes."""
        if self._supervisor is not None:
            self._supervisor.close()
            self._supervisor = None

    def submit(self, name: str | os.PathLike[str]) -> Future[Letter]:
        """Start reading ``name`` ("-" is standard input); the future raises its InputError."""
        return self._submit(name, None)

    def read(self, names: Iterable[str]) -> Iterator[tuple[str, Loaded]]:
        """Each name with its letter or the reason it cannot be read, in input order."""
        yield from self._in_order(names, None)

    def rows(self, names: Iterable[str], then: Callable[[str, Loaded], Row]) -> Iterator[Row]:
        """``then(name, letter or InputError)`` for each name, in input order.

        For a PDF, ``then`` runs in the worker that read it, so the rows are made in parallel
        too (and this process is not the bottleneck): it must be a module-level function
        (it travels by name) returning something picklable. A PDF that crashes or hangs its
        worker is ``then``'s PdfError, here.
        """
        for name, out in self._in_order(names, then):
            yield then(name, out) if isinstance(out, InputError) else out

    def _submit(self, name: str | os.PathLike[str], then: Then | None) -> Future[Any]:
        future: Future[Any] = Future()
        path = None if name == "-" else os.fspath(name)
        try:
            # A PDF file is read by the worker that parses it: its bytes are not sent.
            data = (
                read_stdin(max_chars=self.max_chars)
                if path is None
                else read_unless_pdf(path, max_chars=self.max_chars)
            )
            if data is None or is_pdf(data):
                job = Job(future, data, path, self.max_chars, _fault(path), then)
                self._pdfs(then).submit(job)
            else:
                letter = load_bytes(data, path=path, max_chars=self.max_chars)
                future.set_result(letter if then is None else then(os.fspath(name), letter))
        except InputError as exc:
            future.set_exception(exc)
        return future

    def _in_order(self, names: Iterable[str], then: Then | None) -> Iterator[tuple[str, Any]]:
        ahead: deque[tuple[str, Future[Any]]] = deque()
        for name in names:
            ahead.append((name, self._submit(name, then)))
            if len(ahead) > _AHEAD_PER_WORKER * self.workers:
                yield _result(*ahead.popleft())
        while ahead:
            yield _result(*ahead.popleft())

    def _pdfs(self, then: Then | None) -> Supervisor:
        if self._supervisor is None:
            preload = () if then is None else (then.__module__,)
            self._supervisor = Supervisor(self.workers, self.timeout, preload)
        return self._supervisor


def _result(name: str, future: Future[Any]) -> tuple[str, Any]:
    try:
        return name, future.result()
    except InputError as exc:
        return name, exc


def read_letters(
    names: Iterable[str],
    *,
    workers: int = 1,
    timeout: float = DEFAULT_PDF_TIMEOUT,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Iterator[tuple[str, Loaded]]:
    """Each input with its letter or its InputError, in order; PDFs in worker processes."""
    with LetterReader(workers=workers, timeout=timeout, max_chars=max_chars) as reader:
        yield from reader.read(names)


def shared_reader(
    *, max_chars: int = DEFAULT_MAX_CHARS, timeout: float | None = None
) -> LetterReader:
    """A reader kept for the life of the process, with one worker per CPU, for callers that
    read letter by letter (bulk runs). Its time limit is ``timeout``, else
    ``IMR_LLM_PDF_TIMEOUT``, else 30 s."""
    return _shared(os.getpid(), env_timeout() if timeout is None else timeout, max_chars)


def env_timeout() -> float:
    """``IMR_LLM_PDF_TIMEOUT`` in seconds, else the default of 30."""
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        return float(value) if value else DEFAULT_PDF_TIMEOUT
    except ValueError:
        raise UsageError(f"{TIMEOUT_ENV} must be a number of seconds, not {value!r}") from None


@functools.cache
def _shared(pid: int, timeout: float, max_chars: int) -> LetterReader:
    # Keyed by the process id: a forked child must not use its parent's workers. Never
    # closed: idle workers exit on their own.
    return LetterReader(workers=0, timeout=timeout, max_chars=max_chars)


def _fault(path: str | None) -> str | None:
    spec = os.environ.get(FAULTS_ENV)
    if not spec or path is None:
        return None
    for entry in spec.split(os.pathsep):
        action, _, target = entry.partition("=")
        if target and os.path.abspath(target) == os.path.abspath(path):
            return action
    return None
