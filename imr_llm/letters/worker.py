"""The PDF reader's worker process: parse the PDFs handed over a pipe, one at a time.

It imports only what reading needs (the loader and PDFium), so a replacement starts fast.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from imr_llm.errors import InputError
from imr_llm.letters import pdf as _pdf  # noqa: F401  loaded before the first job, not during it
from imr_llm.letters.load import Letter, load_bytes

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, SpawnContext

READY = "ready"
# What a job does with the letter it read, in the worker: ``then(name, letter or InputError)``
# (name "-" for standard input). A module-level function: it travels by name.
Then = Callable[[str, "Letter | InputError"], Any]
# (job id, PDF bytes, path, max_chars, test fault or None, then or None)
Job = tuple[int, bytes, "str | None", int, "str | None", "Then | None"]


def process_context(preload: Sequence[str] = ()) -> ForkServerContext | SpawnContext:
    """How workers are started: forked from a server that imported this module (and
    ``preload``) once, where the platform has one."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # Applies only if the server is not running yet.
        context.set_forkserver_preload([__name__, *preload])
        return context
    return multiprocessing.get_context("spawn")


def crash_message(exitcode: int | None) -> str:
    """Why a worker's letter failed when the worker died."""
    return f"the PDF reader crashed ({how_it_ended(exitcode)})"


def how_it_ended(exitcode: int | None) -> str:
    if exitcode is None:
        return "it did not exit"
    return f"signal {-exitcode}" if exitcode < 0 else f"exit code {exitcode}"


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
