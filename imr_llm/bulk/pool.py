"""Bulk runs over several processes: the parent reads and claims letters, workers extract them.

Each worker (``imr_llm.bulk.worker``) is a "spawn" process with its own event loop, LLM client,
cache connection and 1/N of the rate limits. The parent alone reads letters, hands each to the
ready worker holding the fewest, keeps at most ``concurrency`` letters out at once, and writes
every row. While the worker processes start (about 2 s of imports), a worker on a thread of
the parent takes the letters, so a run starts at full speed. A dead worker's letters get failed
rows ("WorkerCrashed").
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection as mpc
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from imr_llm.anchors.record import error_extraction, source_info
from imr_llm.bulk.plan import Skipped, input_name
from imr_llm.bulk.worker import READY, recipe_for, worker_main, worker_thread
from imr_llm.errors import InputError
from imr_llm.letters.load import Letter
from imr_llm.letters.reader import shared_reader
from imr_llm.models import ErrorInfo, Extraction, SourceInfo

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from imr_llm.bulk.plan import Input, Outcome, Plan

INLINE_NAME = "imr-llm-inline-worker"  # the parent's own worker thread
# Replacements for crashed workers, per worker; beyond them, letters left fail at once.
RESTARTS_PER_WORKER = 3


@dataclass(eq=False)
class _Worker:
    process: BaseProcess | threading.Thread
    jobs: mpc.Connection  # parent -> worker
    rows: mpc.Connection  # worker -> parent
    held: dict[int, SourceInfo] = field(default_factory=dict)  # sent, no row back yet
    ready: bool = False

    @property
    def inline(self) -> bool:
        return isinstance(self.process, threading.Thread)

    @property
    def exitcode(self) -> int | None:
        return None if isinstance(self.process, threading.Thread) else self.process.exitcode

    @property
    def sentinel(self) -> int | None:
        """What becomes ready when a worker process dies (a thread has none)."""
        return None if isinstance(self.process, threading.Thread) else self.process.sentinel


def workercrashed_row(source: SourceInfo, exitcode: int | None) -> Extraction:
    """The row of a letter whose worker process died before answering it."""
    message = f"the worker process extracting this letter died (exit code {exitcode})"
    error = ErrorInfo(type="WorkerCrashed", message=message)
    return Extraction(source=source, status="failed", record=None, error=error)


class _Pool:
    """The parent's side: feed ready workers within the limits, collect rows, reorder, recover."""

    def __init__(self, plan: Plan, workers: int) -> None:
        self.plan = plan
        self.recipe = recipe_for(plan, workers)
        self.context = multiprocessing.get_context("spawn")
        self.window = plan.concurrency * (16 if plan.ordered else 2)
        self.restarts = RESTARTS_PER_WORKER * workers
        self.workers: list[_Worker] = [self._start() for _ in range(workers)]
        self.workers.append(self._start_inline())
        self.pending: dict[int, Outcome] = {}
        self.fed = self.given = self.next = 0

    def _start(self) -> _Worker:
        jobs_out, jobs_in = self.context.Pipe(duplex=False)  # (receiving end, sending end)
        rows_out, rows_in = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=worker_main, args=(self.recipe, jobs_out, rows_in), daemon=True
        )
        process.start()
        jobs_out.close()  # the worker's ends: closing ours lets EOF show when it dies
        rows_in.close()
        return _Worker(process, jobs_in, rows_out)

    def _start_inline(self) -> _Worker:
        jobs_out, jobs_in = self.context.Pipe(duplex=False)
        rows_out, rows_in = self.context.Pipe(duplex=False)
        args = (self.recipe, jobs_out, rows_in)  # the thread closes its ends when it stops
        thread = threading.Thread(target=worker_thread, args=args, name=INLINE_NAME, daemon=True)
        thread.start()
        return _Worker(thread, jobs_in, rows_out)

    def outcomes(self, inputs: Iterable[Input]) -> Iterator[Outcome]:
        items = enumerate(inputs)
        more = True
        while True:
            while more and self._room():
                item = next(items, None)
                more = item is not None
                if item is not None:
                    self._feed(*item)
            yield from self._ready()
            if not more and self.fed == self.given:
                return
            if not (more and self._room()):
                self._wait()  # the next row can only come from a worker
                self._retire_inline()

    def _candidates(self) -> list[_Worker]:
        """Ready worker processes; the parent's own worker only until one of them is ready."""
        ready = [w for w in self.workers if w.ready]
        return [w for w in ready if not w.inline] or ready

    def _room(self) -> bool:
        if self.fed - self.given >= self.window:
            return False
        if not self.workers:  # every worker crashed: letters fail at once, without waiting
            return True
        held = sum(len(w.held) for w in self.workers)
        return held < self.plan.concurrency and bool(self._candidates())

    def _retire_inline(self) -> None:
        """Once every worker process is ready, the parent's worker stops after its letters."""
        inline = [w for w in self.workers if w.inline]
        if inline and not inline[0].held and all(w.ready for w in self.workers):
            inline[0].jobs.close()  # its thread ends, its row pipe shows EOF, _bury removes it
            inline[0].ready = False

    def _feed(self, index: int, item: Input) -> None:
        self.fed += 1
        try:
            letter = _load(item, self.plan)
        except InputError as exc:
            source = source_info("", input_name(item))
            if self.plan.claim and not self.plan.claim(source.path, source.sha256):
                self.pending[index] = Skipped(source.path, source.sha256)
            else:
                self.pending[index] = error_extraction(exc, source=source)
            return
        source = source_info(letter.text, letter.path)
        if self.plan.claim and not self.plan.claim(letter.path, source.sha256):
            self.pending[index] = Skipped(letter.path, source.sha256)
        elif not self.workers:  # every worker crashed and none may replace it
            self.pending[index] = workercrashed_row(source, None)
        else:
            worker = min(self._candidates(), key=lambda w: len(w.held))
            worker.held[index] = source
            with contextlib.suppress(OSError):  # a dead worker: _wait gives the row
                worker.jobs.send((index, letter.path, letter.text, letter.warnings))

    def _ready(self) -> Iterator[Outcome]:
        if not self.plan.ordered:
            while self.pending:
                self.given += 1
                yield self.pending.pop(next(iter(self.pending)))
        while self.next in self.pending:
            self.given += 1
            self.next += 1
            yield self.pending.pop(self.next - 1)

    def _wait(self) -> None:
        by_conn = {w.rows: w for w in self.workers}
        by_sentinel = {w.sentinel: w for w in self.workers if w.sentinel is not None}
        ready = mpc.wait([*by_conn, *by_sentinel])
        dead = {by_sentinel[r] for r in ready if r in by_sentinel}
        for conn in ready:
            if conn in by_conn and by_conn[conn] not in dead:
                try:
                    self._receive(by_conn[conn])
                except EOFError:
                    dead.add(by_conn[conn])
        for worker in dead:
            self._bury(worker)

    def _receive(self, worker: _Worker) -> None:
        index, row = worker.rows.recv()
        if index == READY:
            worker.ready = True
            return
        if index < 0:
            raise row
        del worker.held[index]
        self.pending[index] = row

    def _bury(self, worker: _Worker) -> None:
        """Rows the dead worker sent still count; every other letter it held fails."""
        with contextlib.suppress(EOFError, OSError):
            while worker.rows.poll():
                self._receive(worker)
        worker.process.join()
        for index, source in worker.held.items():
            self.pending[index] = workercrashed_row(source, worker.exitcode)
        worker.jobs.close()
        worker.rows.close()
        self.workers.remove(worker)
        if self.restarts > 0 and not worker.inline:
            self.restarts -= 1
            self.workers.append(self._start())

    def close(self) -> None:
        """Stop every worker: idle ones exit at once, busy ones (an interrupt) are ended."""
        for worker in self.workers:
            worker.jobs.close()  # end of jobs
        for worker in self.workers:
            worker.process.join(5 if not worker.held else 1)
            if isinstance(worker.process, threading.Thread):
                # It stops as soon as its loop sees the closed pipe; a thread cannot be ended.
                if worker.process.is_alive():
                    continue
            elif worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
            worker.rows.close()


def _load(item: Input, plan: Plan) -> Letter:
    if isinstance(item, tuple):
        return Letter(text=item[1], path=item[0])
    # A PDF is parsed in a worker process: one that crashes or hangs fails this row alone.
    reader = shared_reader(max_chars=plan.max_chars, timeout=plan.pdf_timeout)
    return reader.submit(item).result()


def run_pool(inputs: Iterable[Input], plan: Plan) -> Generator[Outcome, None, None]:
    """``bulk.run`` over ``plan.workers`` processes: one outcome per input, same order rules."""
    pool = _Pool(plan, plan.workers)
    try:
        yield from pool.outcomes(inputs)
    finally:
        pool.close()
