"""Bulk runs over several processes: the parent reads and claims letters, workers extract them.

Each worker is a "spawn" process with its own event loop, LLM client (built from picklable
settings), cache connection and 1/N of the concurrency and rate limits. Rows come back pickled;
the parent alone writes output. A dead worker's letters get failed rows ("WorkerCrashed").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import multiprocessing.connection as mpc
import signal
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .bulk import Skipped, _crashed, _name, _Throttled
from .cache import Cache, NullCache, ResponseCache
from .errors import InputError, UsageError
from .extract import aextract
from .llm import LlmClient, make_client
from .load import Letter, load_path
from .models import ErrorInfo, Extraction, SourceInfo
from .ratelimit import RateLimiter
from .record import error_extraction, source_info
from .settings import LlmSettings

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from .bulk import Input, Outcome, Plan

Job = tuple[int, str | None, str, tuple[str, ...]]  # index, path, text, warnings
# Replacements for crashed workers, per worker; beyond them, letters left fail at once.
RESTARTS_PER_WORKER = 3


@dataclass(frozen=True, slots=True)
class Recipe:
    """Everything a worker process needs to build its own client, cache and limiter."""

    settings: LlmSettings
    base_url: str
    api_key: str
    timeout: float
    transport_retries: int
    cache_path: str | None
    concurrency: int
    rpm: float | None
    tpm: float | None

    def client(self) -> LlmClient:
        endpoint = {"base_url": self.base_url, "api_key": self.api_key, "timeout": self.timeout}
        kwargs: dict[str, Any] = {**asdict(self.settings), **endpoint}
        return make_client(**kwargs, transport_retries=self.transport_retries)

    def cache(self) -> ResponseCache:
        return Cache(self.cache_path) if self.cache_path is not None else NullCache()


def _per_minute(limiter: RateLimiter | None, name: str, workers: int) -> float | None:
    bucket = getattr(limiter, name, None) if limiter else None
    return bucket.rate * 60 / workers if bucket is not None else None


def recipe_for(plan: Plan, workers: int) -> Recipe:
    """The picklable part of ``plan``: the rate limits are split evenly across the workers."""
    if isinstance(plan.cache, Cache):
        cache_path: str | None = str(plan.cache.path)
    elif isinstance(plan.cache, NullCache):
        cache_path = None
    else:
        raise UsageError("workers > 1 needs the default Cache, a Cache, or no cache")
    connection = plan.client.connection()
    return Recipe(
        settings=plan.client.settings,
        base_url=connection.base_url,
        api_key=connection.api_key,
        timeout=connection.timeout,
        transport_retries=connection.transport_retries,
        cache_path=cache_path,
        concurrency=math.ceil(plan.concurrency / workers),
        rpm=_per_minute(plan.limiter, "requests", workers),
        tpm=_per_minute(plan.limiter, "tokens", workers),
    )


def worker_main(recipe: Recipe, jobs: mpc.Connection, rows: mpc.Connection) -> None:
    """A worker process: extract jobs until the parent closes the job pipe (or dies)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    with recipe.cache() as cache, contextlib.suppress(BrokenPipeError, EOFError):
        asyncio.run(_serve(recipe, cache, jobs, rows))


def _read_jobs(
    jobs: mpc.Connection, queue: asyncio.Queue[Job], closed: asyncio.Future[None]
) -> None:
    """Pipe to event loop, on a thread, until the parent closes the pipe (done, Ctrl-C, death)."""
    loop = closed.get_loop()
    with contextlib.suppress(EOFError, OSError):
        while True:
            loop.call_soon_threadsafe(queue.put_nowait, jobs.recv())
    loop.call_soon_threadsafe(closed.set_result, None)


async def _serve(
    recipe: Recipe, cache: ResponseCache, jobs: mpc.Connection, rows: mpc.Connection
) -> None:
    client = _Throttled(recipe.client(), RateLimiter(rpm=recipe.rpm, tpm=recipe.tpm))
    queue: asyncio.Queue[Job] = asyncio.Queue()
    closed = asyncio.get_running_loop().create_future()
    threading.Thread(target=_read_jobs, args=(jobs, queue, closed), daemon=True).start()
    tasks = [
        asyncio.create_task(_work(client, cache, queue, rows)) for _ in range(recipe.concurrency)
    ]
    try:
        # Tasks end only by raising; a closed pipe with letters in flight is an interrupt.
        await asyncio.wait([closed, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t.exception() for t in tasks if t.done()]
        if failed and isinstance(failed[0], UsageError):
            rows.send((-1, failed[0]))  # the run is misconfigured: the parent stops it
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _work(
    client: LlmClient, cache: ResponseCache, queue: asyncio.Queue[Job], rows: mpc.Connection
) -> None:
    while True:
        index, path, text, warnings = await queue.get()
        try:
            row = await aextract(text, client=client, cache=cache, path=path, warnings=warnings)
        except UsageError:
            raise
        except Exception as exc:
            row = _crashed((path, text), exc)
        rows.send((index, row))


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    jobs: mpc.Connection  # parent -> worker
    rows: mpc.Connection  # worker -> parent
    held: dict[int, SourceInfo] = field(default_factory=dict)  # sent, no row back yet


def worker_crashed(source: SourceInfo, exitcode: int | None) -> Extraction:
    """The row of a letter whose worker process died before answering it."""
    message = f"the worker process extracting this letter died (exit code {exitcode})"
    error = ErrorInfo(type="WorkerCrashed", message=message)
    return Extraction(source=source, status="failed", record=None, error=error)


class _Pool:
    """The parent's side: feed workers within a window, collect rows, reorder, recover."""

    def __init__(self, plan: Plan, workers: int) -> None:
        self.plan = plan
        self.recipe = recipe_for(plan, workers)
        self.context = multiprocessing.get_context("spawn")
        self.cap = 2 * self.recipe.concurrency  # letters one worker holds at most
        self.window = plan.concurrency * (16 if plan.ordered else 2)
        self.restarts = RESTARTS_PER_WORKER * workers
        self.workers: list[_Worker] = [self._start() for _ in range(workers)]
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

    def _room(self) -> bool:
        if self.fed - self.given >= self.window:
            return False
        return not self.workers or min(len(w.held) for w in self.workers) < self.cap

    def _feed(self, index: int, item: Input) -> None:
        self.fed += 1
        try:
            letter = _load(item, self.plan.max_chars)
        except InputError as exc:
            source = source_info("", _name(item))
            if self.plan.claim and not self.plan.claim(source.path, source.sha256):
                self.pending[index] = Skipped(source.path, source.sha256)
            else:
                self.pending[index] = error_extraction(exc, source=source)
            return
        source = source_info(letter.text, letter.path)
        if self.plan.claim and not self.plan.claim(letter.path, source.sha256):
            self.pending[index] = Skipped(letter.path, source.sha256)
        elif not self.workers:  # every worker crashed and none may replace it
            self.pending[index] = worker_crashed(source, None)
        else:
            worker = min(self.workers, key=lambda w: len(w.held))
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
        by_sentinel = {w.process.sentinel: w for w in self.workers}
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
            self.pending[index] = worker_crashed(source, worker.process.exitcode)
        worker.jobs.close()
        worker.rows.close()
        self.workers.remove(worker)
        if self.restarts > 0:
            self.restarts -= 1
            self.workers.append(self._start())

    def close(self) -> None:
        """Stop every worker: idle ones exit at once, busy ones (an interrupt) are ended."""
        for worker in self.workers:
            worker.jobs.close()  # end of jobs
        for worker in self.workers:
            worker.process.join(5 if not worker.held else 1)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
            worker.rows.close()


def _load(item: Input, max_chars: int) -> Letter:
    if isinstance(item, tuple):
        return Letter(text=item[1], path=item[0])
    return load_path(item, max_chars=max_chars)


def run_pool(inputs: Iterable[Input], plan: Plan) -> Generator[Outcome, None, None]:
    """``bulk.run`` over ``plan.workers`` processes: one outcome per input, same order rules."""
    pool = _Pool(plan, plan.workers)
    try:
        yield from pool.outcomes(inputs)
    finally:
        pool.close()
