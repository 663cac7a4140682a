"""The rate limiter on a fake clock: no test sleeps."""

from __future__ import annotations

import asyncio

import pytest

from imr_llm.bulk.ratelimit import MIN_FACTOR, Bucket, RateLimiter, estimate_tokens


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _limiter(clock: Clock, **kw: float) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **kw)


def test_without_limits_nothing_waits() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    assert [limiter.reserve(10_000) for _ in range(100)] == [0.0] * 100


def test_requests_per_minute_are_spaced_evenly_after_a_one_second_burst() -> None:
    clock = Clock()
    limiter = _limiter(clock, rpm=120)  # 2 a second, burst of 2
    waits = [limiter.reserve(0) for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])


def test_waits_shrink_as_time_passes() -> None:
    clock = Clock()
    limiter = _limiter(clock, rpm=60)
    assert limiter.reserve(0) == 0.0
    assert limiter.reserve(0) == pytest.approx(1.0)
    clock.now += 10
    assert limiter.reserve(0) == 0.0


def test_tokens_per_minute_limit_large_requests() -> None:
    clock = Clock()
    limiter = _limiter(clock, tpm=60_000)  # 1,000 tokens a second
    assert limiter.reserve(3000) == 0.0  # the first request always goes
    # Later ones wait until a full bucket's worth is back: steady state 1,000 tokens/s.
    assert limiter.reserve(3000) == pytest.approx(3.0)
    assert limiter.reserve(3000) == pytest.approx(6.0)


def test_settle_gives_back_an_overestimate() -> None:
    clock = Clock()
    limiter = _limiter(clock, tpm=60_000)
    limiter.reserve(3000)
    limiter.settle(3000, 1000)  # it really used a third
    assert limiter.reserve(1000) == pytest.approx(1.0)  # not 3.0 as the estimate had it


def test_settle_charges_an_underestimate_and_extra_requests() -> None:
    clock = Clock()
    limiter = _limiter(clock, rpm=60, tpm=60_000)
    limiter.reserve(1000)
    limiter.settle(1000, 4000, requests=3)  # two re-asks, 4,000 tokens in all
    assert limiter.reserve(0) == pytest.approx(3.0)  # the two extra requests, then this one


def test_a_429_pauses_everyone_and_halves_the_rate() -> None:
    clock = Clock()
    limiter = _limiter(clock, rpm=60, cooldown=30, recovery=60)
    limiter.reserve(0)
    limiter.penalize()
    assert limiter.rate_limited == 1
    assert limiter.factor(clock.now) == 0.5
    first = limiter.reserve(0)
    second = limiter.reserve(0)
    assert first == pytest.approx(30.0)
    # Waiting requests are spread after the pause at the halved rate, not released at once.
    assert second == pytest.approx(32.0)


def test_rates_recover_linearly_and_repeated_429s_slow_further() -> None:
    clock = Clock()
    limiter = _limiter(clock, rpm=60, cooldown=0, recovery=60)
    limiter.penalize()
    clock.now += 30
    assert limiter.factor(clock.now) == pytest.approx(0.75)
    clock.now += 30
    assert limiter.factor(clock.now) == 1.0
    for _ in range(10):
        limiter.penalize()
    assert limiter.factor(clock.now) == MIN_FACTOR


def test_acquire_sleeps_for_the_reserved_wait() -> None:
    clock = Clock()
    limiter = _limiter(clock, rpm=60)

    async def three() -> None:
        for _ in range(3):
            await limiter.acquire(0)

    asyncio.run(three())
    assert clock.slept == pytest.approx([1.0, 1.0])


def test_bucket_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError):
        Bucket(0, now=0.0)


def test_estimate_counts_four_characters_a_token_plus_the_answer() -> None:
    assert estimate_tokens("a" * 400, "b" * 400, completion=100) == 300
