"""The PDF reader's worker process: parse the PDFs handed over a pipe, one at a time.

It imports only what reading needs (the loader and PDFium), so a replacement starts fast.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from imr_llm.errors import InputError
from imr_llm.letters import pdf as _pdf  # noqa: F401  loaded before the first job, not during it
from imr_llm.letters.load import Letter, load_bytes

READY = "ready"
# What a job does with the letter it read, in the worker: ``then(name, letter or InputError)``
# (name "-" for standard input). A module-level function: it travels by name.
Then = Callable[[str, "Letter | InputError"], Any]
# (job id, PDF bytes, path, max_chars, test fault or None, then or None)
Job = tuple[int, bytes, "str | None", int, "str | None", "Then | None"]


def serve(conn: Connection) -> None:
    """Answer each job with ``(job id, Letter or InputError)`` (or what its ``then`` made of
    them, or the exception it raised) until the pipe closes."""
    # Ctrl-C reaches the whole process group; the parent decides what stops, and how.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send(READY)
    while True:
        try:
            job: Job | None = conn.recv()
        except (EOFError, OSError):  # the parent closed its end (or exited): stop quietly
            return
        if job is None:
            return
        number, data, path, max_chars, fault, then = job
        _act_out(fault)
        result: Any
        try:
            result = load_bytes(data, path=path, max_chars=max_chars)
        except InputError as exc:
            result = exc
        if then is not None:
            result = _then(then, "-" if path is None else path, result)
        try:
            conn.send((number, result))
        except OSError:
            return


def _then(then: Then, name: str, loaded: Letter | InputError) -> Any:
    # A bug in ``then`` is the caller's to see, as if it had run there, not a reader crash.
    try:
        return then(name, loaded)
    except Exception as exc:
        return exc


def _act_out(fault: str | None) -> None:
    """The test hook (see ``reader.FAULTS_ENV``): behave like a parser that crashes or hangs."""
    if fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    while fault == "hang":
        time.sleep(3600)
