"""Worker processes that parse PDFs, watched by one thread: a crash or a hang costs one letter.

Each worker reads one PDF at a time, so a worker that dies (a crash in PDFium, a kill) or
passes its deadline (it is then killed) fails exactly the letter it was reading, and is
replaced. Once every worker has started, each is sent the next PDF before it is done, so it
never waits for work; one it had not begun goes back to the queue.
Workers start when PDFs are waiting, up to ``size``; they are forked from a server process
that has imported the reader once ("forkserver"), so a replacement costs milliseconds.
"""

from __future__ import annotations

import math
import multiprocessing.connection as mpc
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imr_llm.letters import worker
from imr_llm.letters.worker import READY, Job, crash_message, how_it_ended, serve

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

# Workers that die before they are ready, in a row, before the reader gives up starting them.
START_FAILURES = 3
# A worker idle this long (seconds) exits: a long-lived process keeps no idle parsers, and a
# new worker costs milliseconds.
IDLE_EXIT = 1.0
# PDFs a worker holds: the one it reads, and the next in its pipe (else it idles meanwhile).
HELD = 2


@dataclass(eq=False, slots=True)
class _Slot:
    process: BaseProcess
    conn: mpc.Connection
    ready: bool = False
    jobs: deque[tuple[int, Job]] = field(default_factory=deque)  # numbered, the one read first
    deadline: float = math.inf  # busy: the first job's time limit; idle: when it exits
    room: int = 0  # bytes of PDF that may wait in the pipe (worker.pipe_room)


class Supervisor:
    """Runs PDF jobs in at most ``size`` worker processes, each within ``timeout`` seconds;
    the workers import ``preload`` before their first job (``process_context``)."""

    def __init__(self, size: int, timeout: float, preload: Sequence[str] = ()) -> None:
        self.size = size
        self.timeout = timeout
        self._context = worker.process_context(preload)
        self._lock = threading.Lock()
        self._queue: deque[Job] = deque()  # guarded by _lock, like the three flags
        self._poked = self._closing = False
        # The watcher could start a new job at once (a worker is idle, or one may start): only
        # then does submit() wake it. Else the next answer does, with one wake-up a letter.
        self._hungry = True
        self._wake_in, self._wake_out = self._context.Pipe(duplex=False)
        self._slots: list[_Slot] = []  # the watcher thread's alone
        self._numbers = 0
        self._failed_starts = 0
        self._broken: str | None = None  # why no worker can run; guarded by _lock
        self._thread = threading.Thread(target=self._watch, name="imr-llm-pdf-reader", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue a job; its future is resolved by the watcher thread."""
        with self._lock:
            if self._closing:
                raise RuntimeError("the PDF reader is closed")
            if self._broken:
                job.fail(self._broken)
                return
            self._queue.append(job)
            if self._hungry:
                self._poke()

    def close(self) -> None:
        """Stop the workers; a job not finished fails (or is cancelled if it never started)."""
        with self._lock:
            self._closing = True
            self._poke()
        self._thread.join()
        self._wake_in.close()
        self._wake_out.close()

    def _poke(self) -> None:
        if not self._poked:  # one byte in the pipe at most: a busy watcher never blocks us
            self._poked = True
            self._wake_out.send_bytes(b"")

    def _watch(self) -> None:
        try:
            while self._step():
                pass
        # Whatever goes wrong here (no process can be started, a bug), the letters waiting
        # and every later one fail with the reason rather than wait forever.
        except Exception as exc:
            self._give_up(f"the PDF reader stopped ({type(exc).__name__}: {exc})")
        finally:
            self._stop_all()

    def _step(self) -> bool:
        if self._closed():
            return False
        self._dispatch()
        slots = list(self._slots)
        waiting: list[Any] = [self._wake_in, *(s.conn for s in slots)]
        waiting += [s.process.sentinel for s in slots]
        ready = worker.ready_among(waiting, self._until_deadline())
        if self._wake_in in ready:
            self._drain_wake()
        for slot in slots:
            if slot.conn in ready:
                self._receive(slot)
        for slot in slots:
            if slot in self._slots and slot.process.sentinel in ready:
                self._bury(slot)
        self._expire()
        return True

    def _closed(self) -> bool:
        with self._lock:
            return self._closing

    def _drain_wake(self) -> None:
        with self._lock:  # _poked is set with the one message in the pipe: it is there
            self._poked = False
            self._wake_in.recv_bytes()

    def _until_deadline(self) -> float | None:
        deadline = min((s.deadline for s in self._slots), default=math.inf)
        return None if deadline == math.inf else max(deadline - time.monotonic(), 0.0)

    def _dispatch(self) -> None:
        """Give waiting jobs to workers; start workers while jobs outnumber them."""
        while True:
            self._hand_out()
            with self._lock:
                waiting = len(self._queue)
            starting = sum(1 for s in self._slots if not s.ready)
            while waiting > starting and len(self._slots) < self.size:
                self._slots.append(self._start())
                starting += 1
            idle = any(s.ready and not s.jobs for s in self._slots)
            with self._lock:
                self._hungry = idle or len(self._slots) < self.size
                if not (idle and self._queue):  # else a job came while _hungry was False
                    return

    def _hand_out(self) -> None:
        while job := self._next_job():
            slot = self._taker(job)
            if slot is None or not self._send(slot, job):
                with self._lock:
                    self._queue.appendleft(job)
                if slot is None:
                    return

    def _taker(self, job: Job) -> _Slot | None:
        """An idle worker; else, once no more may start (a new one reads it sooner), a busy
        one whose pipe holds the PDF: sending it must not block, a hung worker reads nothing."""
        ready = [s for s in self._slots if s.ready and len(s.jobs) < HELD]
        if idle := next((s for s in ready if not s.jobs), None):
            return idle
        if len(self._slots) < self.size:
            return None
        return next((s for s in ready if len(job.data or b"") <= s.room), None)

    def _next_job(self) -> Job | None:
        """The first waiting job not cancelled, marked running."""
        with self._lock:
            while self._queue:
                job = self._queue.popleft()
                if job.started or job.future.set_running_or_notify_cancel():
                    job.started = True
                    return job
        return None

    def _send(self, slot: _Slot, job: Job) -> bool:
        self._numbers += 1
        try:
            slot.conn.send((self._numbers, job.data, job.path, job.max_chars, job.fault, job.then))
        except OSError:  # it died: not this letter's fault
            self._bury(slot)
            return False
        if not slot.jobs:
            slot.deadline = time.monotonic() + self.timeout
        slot.jobs.append((self._numbers, job))
        return True

    def _start(self) -> _Slot:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=serve, args=(theirs,), name="imr-llm-pdf-worker", daemon=True
        )
        process.start()
        theirs.close()  # the worker's end: closing ours lets EOF show when it dies
        return _Slot(process, ours, room=worker.pipe_room(ours))

    def _receive(self, slot: _Slot) -> None:
        if slot not in self._slots:
            return
        # One message a wake-up: a second one wakes the next wait at once.
        try:
            message = slot.conn.recv()
        except (EOFError, OSError):
            self._bury(slot)
            return
        if message == READY:
            slot.ready, self._failed_starts = True, 0
            slot.deadline = time.monotonic() + IDLE_EXIT
        else:
            self._answer(slot, message)

    def _answer(self, slot: _Slot, message: tuple[int, Any]) -> None:
        number, result = message
        if not slot.jobs or slot.jobs[0][0] != number:
            return  # cannot happen: answers come in order; ignore rather than misfile
        job = slot.jobs.popleft()[1]
        # The next job (if one waits in the pipe) starts now.
        slot.deadline = time.monotonic() + (self.timeout if slot.jobs else IDLE_EXIT)
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)

    def _bury(self, slot: _Slot) -> None:
        """A dead worker: the letter it was reading fails; a worker that never started counts."""
        try:
            while slot.jobs and slot.conn.poll():  # answers it sent before it died
                self._answer(slot, slot.conn.recv())
        except (EOFError, OSError):
            pass
        self._retire(slot)
        code = slot.process.exitcode
        if slot.jobs:
            slot.jobs.popleft()[1].fail(crash_message(code))
            self._requeue(slot)
        elif not slot.ready:
            self._failed_starts += 1
            if self._failed_starts >= START_FAILURES:
                self._give_up(f"the PDF reader process could not start ({how_it_ended(code)})")

    def _expire(self) -> None:
        now = time.monotonic()
        for slot in [s for s in self._slots if s.deadline <= now]:
            if not slot.jobs:  # idle: it exits when its pipe closes
                self._retire(slot)
                continue
            slot.process.kill()
            self._retire(slot)
            slot.jobs.popleft()[1].fail(f"reading the PDF took more than {self.timeout:g} s")
            self._requeue(slot)

    def _requeue(self, slot: _Slot) -> None:
        """The jobs a dead worker held but had not begun go back to the front of the queue."""
        with self._lock:
            self._queue.extendleft(job for _, job in reversed(slot.jobs))
        slot.jobs.clear()

    def _retire(self, slot: _Slot) -> None:
        """Forget a worker that has exited or must: it is ended if it has not."""
        self._slots.remove(slot)
        slot.conn.close()
        slot.process.join(5)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join()

    def _give_up(self, message: str) -> None:
        """No worker can run: every waiting letter, and every later one, fails with why."""
        with self._lock:
            self._broken = message = self._broken or message  # "closed" hides no cause
            waiting = list(self._queue)
            self._queue.clear()
        for job in waiting:
            job.fail(message)

    def _stop_all(self) -> None:
        """Idle workers exit when their pipe closes; busy ones (an interrupted run) are killed."""
        for slot in self._slots:
            if slot.jobs:
                slot.process.kill()
            for _, job in slot.jobs:
                job.fail("the PDF reader was closed before this PDF was read")
            slot.conn.close()
        for slot in self._slots:
            slot.process.join(5)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
        self._slots.clear()
        self._give_up("the PDF reader is closed")


def _held(slot: _Slot) -> int:
    return len(slot.jobs)
