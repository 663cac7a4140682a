"""Many letters at once: a bounded pool of async workers over ``aextract``, one row per input.

The workers run on one long-lived event loop in a background thread, shared by every run in
the process: the openai client's connection pool belongs to the loop that opened it, so a
client used by two runs on two loops would find its kept-alive connections dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import cast

from imr_llm.anchors.record import error_extraction, source_info
from imr_llm.bulk.plan import Input, Outcome, Plan, Skipped, Throttled, crashed_row, input_name
from imr_llm.bulk.ratelimit import RateLimiter
from imr_llm.errors import InputError, UsageError
from imr_llm.extraction.cache import Cache, NullCache
from imr_llm.extraction.pipeline import CacheArg, aextract
from imr_llm.letters.load import Letter
from imr_llm.letters.reader import shared_reader
from imr_llm.llm import LlmClient, client_from_env
from imr_llm.models import Extraction

_END = object()


class _Engine:
    """One run on the background loop: a feeder, N workers, and rows handed to a queue."""

    def __init__(self, plan: Plan, inputs: Iterable[Input], out: queue.SimpleQueue[object]):
        self.plan = plan
        self.client = Throttled(plan.client, plan.limiter or RateLimiter())
        self.inputs = inputs
        self.out = out
        # Inputs fed but not yet taken by the consumer: bounds memory whatever the order.
        self.window = asyncio.Semaphore(plan.concurrency * (16 if plan.ordered else 2))
        self.pending: dict[int, Outcome] = {}
        self.next = 0
        self.finished = threading.Event()

    async def main(self) -> None:
        try:
            await self._feed()
        except BaseException as exc:
            self.out.put(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self.out.put(_END)
            self.finished.set()

    async def _feed(self) -> None:
        jobs: asyncio.Queue[tuple[int, Input] | None] = asyncio.Queue()
        workers = [asyncio.create_task(self._work(jobs)) for _ in range(self.plan.concurrency)]
        try:
            for job in enumerate(self.inputs):
                await self.window.acquire()
                jobs.put_nowait(job)
            for _ in workers:
                jobs.put_nowait(None)
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, jobs: asyncio.Queue[tuple[int, Input] | None]) -> None:
        while (job := await jobs.get()) is not None:
            index, item = job
            try:
                outcome = await self._one(item)
            except UsageError as exc:
                self.out.put(exc)  # the run is misconfigured: stop it, not the letter
                raise
            except Exception as exc:
                outcome = crashed_row(item, exc)
            self._emit(index, outcome)

    async def _load(self, item: Input) -> Letter:
        if isinstance(item, tuple):
            return Letter(text=item[1], path=item[0])
        # A PDF is parsed in a worker process: one that crashes or hangs fails this row alone.
        reader = shared_reader(max_chars=self.plan.max_chars, timeout=self.plan.pdf_timeout)
        return await asyncio.wrap_future(await asyncio.to_thread(reader.submit, item))

    async def _one(self, item: Input) -> Outcome:
        try:
            letter = await self._load(item)
        except InputError as exc:
            source = source_info("", input_name(item))
            if self.plan.claim and not self.plan.claim(source.path, source.sha256):
                return Skipped(source.path, source.sha256)
            return error_extraction(exc, source=source)
        if self.plan.claim:
            sha = source_info(letter.text, letter.path).sha256
            if not self.plan.claim(letter.path, sha):
                return Skipped(letter.path, sha)
        return await aextract(
            letter.text,
            client=self.client,
            cache=self.plan.cache,
            path=letter.path,
            warnings=letter.warnings,
        )

    def _emit(self, index: int, outcome: Outcome) -> None:
        if not self.plan.ordered:
            self.out.put(outcome)
            return
        self.pending[index] = outcome
        while self.next in self.pending:
            self.out.put(self.pending.pop(self.next))
            self.next += 1


@functools.cache
def _loop_for(pid: int) -> asyncio.AbstractEventLoop:
    # Keyed by process id: a forked child has the loop object but not its thread.
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="imr-llm-bulk", daemon=True).start()
    return loop


def run(inputs: Iterable[Input], plan: Plan) -> Generator[Outcome, None, None]:
    """One outcome per input (a row, or Skipped when ``plan.claim`` says it is done)."""
    if plan.workers > 1:
        from imr_llm.bulk.pool import run_pool

        return run_pool(inputs, plan)
    return _run_here(inputs, plan)


def _run_here(inputs: Iterable[Input], plan: Plan) -> Generator[Outcome, None, None]:
    loop = _loop_for(os.getpid())
    out: queue.SimpleQueue[object] = queue.SimpleQueue()
    engine = _Engine(plan, inputs, out)
    future = asyncio.run_coroutine_threadsafe(engine.main(), loop)
    try:
        while (item := out.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            loop.call_soon_threadsafe(engine.window.release)
            yield cast(Outcome, item)
    finally:
        # Stopping early (a break, Ctrl-C, an error) cancels the letters still in flight.
        future.cancel()
        engine.finished.wait(30)


def extract_many(
    inputs: Iterable[Input],
    *,
    client: LlmClient | None = None,
    cache: CacheArg = "default",
    concurrency: int = 8,
    rpm: float | None = None,
    tpm: float | None = None,
    ordered: bool = True,
    workers: int = 1,
) -> Iterator[Extraction]:
    """Extract letters (paths, or ``(name, text)`` pairs) concurrently: one row per input.

    ``workers`` > 1 spreads the letters over that many processes (0: one per CPU): each letter
    goes to the least busy one, ``concurrency`` bounds the letters out in all, and each process
    gets an even share of ``rpm`` and ``tpm``.
    """
    if concurrency < 1 or workers < 0:
        raise UsageError("concurrency must be at least 1 and workers not negative")
    for name, limit in (("rpm", rpm), ("tpm", tpm)):
        if limit is not None and limit <= 0:
            raise UsageError(f"{name} must be positive")
    # Not `cache or NullCache()`: an empty Cache has len 0, so it is falsy.
    store = Cache() if cache == "default" else cache if cache is not None else NullCache()
    plan = Plan(
        client=client or client_from_env(),
        cache=store,
        concurrency=concurrency,
        limiter=RateLimiter(rpm=rpm, tpm=tpm),
        ordered=ordered,
        workers=workers or os.cpu_count() or 1,
    )
    return _rows(inputs, plan, close=cache == "default")


def _rows(inputs: Iterable[Input], plan: Plan, *, close: bool) -> Iterator[Extraction]:
    try:
        with contextlib.closing(run(inputs, plan)) as outcomes:
            yield from (o for o in outcomes if isinstance(o, Extraction))
    finally:
        if close:
            plan.cache.close()


__all__ = ["Input", "Plan", "Skipped", "extract_many", "run"]
