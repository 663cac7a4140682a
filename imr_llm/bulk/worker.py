"""One bulk worker: its own event loop, LLM client, cache connection and share of the limits.

A worker runs in a "spawn" child process, or (while the children start) on a thread of the
parent. It reads jobs from one pipe and sends ``(index, row)`` back on another; its first
message is ``(READY, None)``, sent once its client is built, and ``(FAILED_RUN, error)`` means
the run is misconfigured. It stops when the parent closes the job pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing.connection as mpc
import signal
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from imr_llm.bulk.plan import Throttled, crashed_row
from imr_llm.bulk.ratelimit import RateLimiter
from imr_llm.errors import UsageError
from imr_llm.extraction.cache import Cache, NullCache, ResponseCache
from imr_llm.extraction.pipeline import aextract
from imr_llm.extraction.settings import LlmSettings
from imr_llm.llm import LlmClient, make_client

if TYPE_CHECKING:
    from imr_llm.bulk.plan import Plan

Job = tuple[int, str | None, str, tuple[str, ...]]  # index, path, text, warnings
READY = -2
FAILED_RUN = -1


@dataclass(frozen=True, slots=True)
class Recipe:
    """Everything a worker needs to build its own client, cache and limiter (picklable)."""

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
    """The picklable part of ``plan``: the rate limits are split evenly across the workers.

    Every worker may run the whole concurrency at once: the parent decides how many letters
    each one holds, so that together they never exceed ``plan.concurrency``.
    """
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
        concurrency=plan.concurrency,
        rpm=_per_minute(plan.limiter, "requests", workers),
        tpm=_per_minute(plan.limiter, "tokens", workers),
    )


def worker_main(recipe: Recipe, jobs: mpc.Connection, rows: mpc.Connection) -> None:
    """A worker process: extract jobs until the parent closes the job pipe (or dies)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    _run(recipe, jobs, rows)


def worker_thread(recipe: Recipe, jobs: mpc.Connection, rows: mpc.Connection) -> None:
    """The same worker on a thread of the parent; its pipe ends close when it stops."""
    try:
        _run(recipe, jobs, rows)
    finally:
        rows.close()
        jobs.close()


def _run(recipe: Recipe, jobs: mpc.Connection, rows: mpc.Connection) -> None:
    with recipe.cache() as cache, contextlib.suppress(BrokenPipeError, EOFError, OSError):
        asyncio.run(_serve(recipe, cache, jobs, rows))


def _read_jobs(
    jobs: mpc.Connection, queue: asyncio.Queue[Job], closed: asyncio.Future[None]
) -> None:
    """Pipe to event loop, on a thread, until the parent closes the pipe (done, Ctrl-C, death)."""
    loop = closed.get_loop()
    with contextlib.suppress(EOFError, OSError):
        while True:
            loop.call_soon_threadsafe(queue.put_nowait, jobs.recv())
    with contextlib.suppress(RuntimeError):  # the loop already stopped
        loop.call_soon_threadsafe(closed.set_result, None)


async def _serve(
    recipe: Recipe, cache: ResponseCache, jobs: mpc.Connection, rows: mpc.Connection
) -> None:
    client = Throttled(recipe.client(), RateLimiter(rpm=recipe.rpm, tpm=recipe.tpm))
    queue: asyncio.Queue[Job] = asyncio.Queue()
    closed = asyncio.get_running_loop().create_future()
    threading.Thread(target=_read_jobs, args=(jobs, queue, closed), daemon=True).start()
    tasks = [
        asyncio.create_task(_work(client, cache, queue, rows)) for _ in range(recipe.concurrency)
    ]
    rows.send((READY, None))
    try:
        # Tasks end only by raising; a closed pipe with letters in flight is an interrupt.
        await asyncio.wait([closed, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t.exception() for t in tasks if t.done()]
        if failed and isinstance(failed[0], UsageError):
            rows.send((FAILED_RUN, failed[0]))  # the run is misconfigured: the parent stops it
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
            row = crashed_row((path, text), exc)
        rows.send((index, row))


__all__ = ["FAILED_RUN", "READY", "Job", "Recipe", "recipe_for", "worker_main", "worker_thread"]
