"""Client-side rate limits: requests and tokens per minute, and a pause after a 429.

Each limit is a token bucket scheduled ahead of time: a request reserves its share at once
and learns how long to wait, so concurrent callers queue fairly without polling. Token
counts are estimated before a call (from the prompt's length) and corrected with the
usage the endpoint reports afterwards.

The openai client retries a 429 itself, honouring Retry-After; the Retry-After value does
not reach us. When a letter still fails with a 429 after those retries, the limiter stops
new requests for ``cooldown`` seconds and halves the configured rates; after the pause the
rates recover linearly over ``recovery`` seconds. The failed row stays in the output for
--retry-failed: the engine does not retry it, as the transport already had its retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Characters per token for English prose; estimates are corrected after each call.
CHARS_PER_TOKEN = 4
# Seconds of steady traffic a bucket may send at once (the limit is enforced per minute,
# but endpoints measure it over shorter windows too).
BURST_SECONDS = 1.0
# The slowest the limiter gets after repeated 429s: a sixteenth of the configured rates.
MIN_FACTOR = 1 / 16


class Bucket:
    """A token bucket that may go into debt, so a request larger than the bucket still goes."""

    def __init__(self, per_minute: float, *, now: float) -> None:
        if per_minute <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = per_minute / 60
        self.capacity = self.rate * BURST_SECONDS
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float, factor: float = 1.0) -> None:
        """Add what the elapsed time earned at ``factor`` times the configured rate."""
        earned = max(0.0, now - self.updated) * self.rate * factor
        self.level = min(self.capacity, self.level + earned)
        self.updated = max(self.updated, now)

    def reserve(self, amount: float, factor: float = 1.0) -> float:
        """Take ``amount`` now; the seconds until the bucket held it (or was full)."""
        wait = max(0.0, min(amount, self.capacity) - self.level) / (self.rate * factor)
        self.level -= amount
        return wait

    def adjust(self, amount: float) -> None:
        """Give back (positive) or take more (negative) once the real cost is known."""
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits shared by every worker of a run."""

    def __init__(
        self,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        cooldown: float = 30.0,
        recovery: float = 60.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        now = clock()
        self.requests = Bucket(rpm, now=now) if rpm else None
        self.tokens = Bucket(tpm, now=now) if tpm else None
        self.cooldown = cooldown
        self.recovery = recovery
        self.paused_until = now
        self.slowed = MIN_FACTOR  # factor just after the last 429
        self.slowed_at: float | None = None
        self.rate_limited = 0
        self._clock = clock
        self._sleep = sleep

    def factor(self, now: float) -> float:
        """The share of the configured rates in force: 1 unless a 429 came recently."""
        if self.slowed_at is None:
            return 1.0
        regained = max(0.0, now - self.slowed_at) / self.recovery * (1 - self.slowed)
        return min(1.0, self.slowed + regained)

    def reserve(self, tokens: float) -> float:
        """Book one request of about ``tokens`` tokens; the seconds the caller must wait."""
        now = self._clock()
        # During a pause the buckets are booked from its end, so waiting requests are
        # spread out after it instead of all firing at once.
        start = max(now, self.paused_until)
        factor = self.factor(start)
        wait = start - now
        for bucket, amount in ((self.requests, 1.0), (self.tokens, tokens)):
            if bucket is not None:
                bucket.refill(start, factor)
                wait = max(wait, start - now + bucket.reserve(amount, factor))
        return wait

    async def acquire(self, tokens: float) -> None:
        """Wait until one request of about ``tokens`` tokens may be sent."""
        wait = self.reserve(tokens)
        if wait > 0:
            await self._sleep(wait)

    def settle(self, estimated: float, used: float, *, requests: int = 1) -> None:
        """Correct the books with the tokens and requests a call really used (re-asks too)."""
        if self.tokens is not None:
            self.tokens.adjust(estimated - used)
        if self.requests is not None and requests > 1:
            self.requests.adjust(1 - requests)

    def penalize(self) -> None:
        """A 429 outlived the client's retries: pause new requests and halve the rates."""
        now = self._clock()
        self.rate_limited += 1
        self.paused_until = max(self.paused_until, now + self.cooldown)
        self.slowed = max(MIN_FACTOR, self.factor(now) / 2)
        # The halved rates apply from the end of the pause and recover from there.
        self.slowed_at = self.paused_until


def estimate_tokens(*texts: str, completion: int) -> int:
    """Tokens one request will probably use: its text at CHARS_PER_TOKEN, plus the answer."""
    return sum(len(t) for t in texts) // CHARS_PER_TOKEN + completion
