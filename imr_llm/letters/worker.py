"""The PDF reader's worker processes: the jobs they are given, how they start, what they do
(parse the PDFs handed over a pipe, one at a time) and how they end.

It imports only what reading needs (the loader and PDFium), so a replacement starts fast.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.connection as mpc
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from imr_llm.errors import InputError, PdfError
from imr_llm.letters import pdf as _pdf  # noqa: F401  loaded before the first job, not during it
from imr_llm.letters.load import Letter, load_bytes, read_file

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, SpawnContext

READY = "ready"
# What a job does with the letter it read, in the worker: ``then(name, letter or InputError)``
# (name "-" for standard input). A module-level function: it travels by name.
Then = Callable[[str, "Letter | InputError"], Any]
# What a worker is sent: (job id, PDF bytes or None to read the file at path, path, max_chars,
# test fault or None, then or None)
Message = tuple[int, "bytes | None", "str | None", int, "str | None", "Then | None"]


@dataclass(eq=False, slots=True)
class Job:
    """One PDF to parse and the future its letter (or InputError) goes to; with ``then``, what
    ``then(name, letter or InputError)`` returns in the worker goes there instead."""

    future: Future[Any]
    data: bytes | None  # None: the worker reads the file at ``path``
    path: str | None
    max_chars: int
    fault: str | None = None  # the test hook: "kill" or "hang"
    then: Then | None = None
    started: bool = False  # its future is marked running (it can no longer be cancelled)

    def fail(self, message: str) -> None:
        """Resolve the future with a PdfError, unless it was cancelled while it waited."""
        if self.started or self.future.set_running_or_notify_cancel():
            self.started = True
            self.future.set_exception(PdfError(message, path=self.path))


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
            job: Message | None = conn.recv()
        except (EOFError, OSError):  # the parent closed its end (or exited): stop quietly
            return
        if job is None:
            return
        number, data, path, max_chars, fault, then = job
        _act_out(fault)
        result: Any
        try:
            if data is None and path is not None:
                data = read_file(path, max_chars=max_chars)
            result = load_bytes(data or b"", path=path, max_chars=max_chars)
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


def pipe_room(conn: mpc.Connection) -> int:
    """Bytes of a job that may wait in ``conn`` for a busy worker: a quarter of the socket's
    send buffer, which takes them without blocking; 0 where it is no socket."""
    try:
        with socket.socket(fileno=os.dup(conn.fileno())) as sock:
            return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) // 4
    except (OSError, ValueError):
        return 0


def ready_among(waiting: list[Any], timeout: float | None) -> set[Any]:
    """Those of ``waiting`` (connections, process sentinels) that are readable or closed."""
    if not hasattr(select, "poll"):  # Windows: handles, not descriptors
        return set(mpc.wait(waiting, timeout))
    # Not mpc.wait: it builds a selector each call, a tenth of a millisecond a letter.
    poller, by_fd = select.poll(), {}
    for item in waiting:
        fd = item if isinstance(item, int) else item.fileno()
        by_fd[fd] = item
        poller.register(fd, select.POLLIN)
    ms = None if timeout is None else math.ceil(timeout * 1000)
    return {by_fd[fd] for fd, _ in poller.poll(ms)}
