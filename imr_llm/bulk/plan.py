"""What a bulk run is given and hands back: inputs, the plan, and the throttled client.

Shared by the runner, the worker processes and their pool.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imr_llm.anchors.finder import Anchors
from imr_llm.anchors.record import source_info
from imr_llm.bulk.ratelimit import RateLimiter, estimate_tokens
from imr_llm.errors import LlmUnavailableError
from imr_llm.extraction.answer import Answer
from imr_llm.extraction.cache import ResponseCache
from imr_llm.letters.load import DEFAULT_MAX_CHARS
from imr_llm.llm import CallResult, LlmClient, Reply
from imr_llm.llm.client import M
from imr_llm.models import ErrorInfo, Extraction

Input = str | os.PathLike[str] | tuple[str | None, str]
Claim = Callable[[str | None, str], bool]

# Answer tokens assumed before a call; the real count replaces it when the call returns.
COMPLETION_GUESS = 400


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input whose row the output file already holds."""

    path: str | None
    sha256: str


Outcome = Extraction | Skipped


@dataclass(frozen=True, slots=True)
class Plan:
    """How to run: the client, cache and limits, and which letters still need a row."""

    client: LlmClient
    cache: ResponseCache
    concurrency: int = 8
    limiter: RateLimiter | None = None
    ordered: bool = True
    max_chars: int = DEFAULT_MAX_CHARS
    # Called once per readable letter; False means "already done, skip it".
    claim: Claim | None = None
    # Worker processes (imr_llm.bulk.pool); 1 runs every letter on this process's event loop.
    workers: int = 1
    # Seconds a PDF may take to read before its row fails; None: IMR_LLM_PDF_TIMEOUT, else 30.
    pdf_timeout: float | None = None


@functools.cache
def _schema_chars() -> int:
    return len(json.dumps(Answer.model_json_schema()))


def rate_limited(result: CallResult | Reply[Any]) -> bool:
    """True when the call failed on a 429 that outlived the client's own retries."""
    message = str(result.error or "")
    return isinstance(result.error, LlmUnavailableError) and (
        message.startswith("RateLimitError") or " 429" in message
    )


class Throttled(LlmClient):
    """The caller's client, with every request booked with the rate limiter first."""

    def __init__(self, inner: LlmClient, limiter: RateLimiter) -> None:
        # Share the caller's instructor clients and settings rather than build new ones.
        vars(self).update(vars(inner))
        self.limiter = limiter

    async def aask(self, system: str, user: str, letter: str, anchors: Anchors) -> CallResult:
        """Wait for the limiter, ask, then correct its books with the real usage."""
        estimate = estimate_tokens(system, user, letter, completion=COMPLETION_GUESS)
        estimate += _schema_chars() // 4
        await self.limiter.acquire(estimate)
        result = await super().aask(system, user, letter, anchors)
        used = sum(a.prompt_tokens + a.completion_tokens for a in result.attempts)
        self.limiter.settle(estimate, used, requests=max(1, len(result.attempts)))
        if rate_limited(result):
            self.limiter.penalize()
        return result

    async def aask_model(
        self, model: type[M], system: str, user: str, *, max_tokens: int | None = None
    ) -> Reply[M]:
        """A focused call, booked with the limiter like a whole-letter one."""
        estimate = estimate_tokens(system, user, completion=max_tokens or COMPLETION_GUESS)
        await self.limiter.acquire(estimate)
        reply = await super().aask_model(model, system, user, max_tokens=max_tokens)
        used = sum(a.prompt_tokens + a.completion_tokens for a in reply.attempts)
        self.limiter.settle(estimate, used, requests=max(1, len(reply.attempts)))
        if rate_limited(reply):
            self.limiter.penalize()
        return reply


def input_name(item: Input) -> str | None:
    return item[0] if isinstance(item, tuple) else os.fspath(item)


def crashed_row(item: Input, exc: Exception) -> Extraction:
    """A failed row for an unexpected error, so that one bad letter never stops a run."""
    text = item[1] if isinstance(item, tuple) else ""
    return Extraction(
        source=source_info(text, input_name(item)),
        status="failed",
        record=None,
        error=ErrorInfo(type=type(exc).__name__, message=str(exc)),
    )
