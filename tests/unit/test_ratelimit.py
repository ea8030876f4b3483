"""The client-side rate limiter: a token bucket that keeps any window within its limit."""

from __future__ import annotations

import pytest

from tools.ratelimit import window_bucket


class VirtualTime:
    """A clock that moves only when the bucket sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(("limit", "window_s"), [(100, 10.0), (190, 10.0), (4, 1.0)])
async def test_no_window_holds_more_calls_than_the_limit(limit: int, window_s: float) -> None:
    """However calls arrive, no `window_s` span holds more than `limit` starts."""
    time = VirtualTime()
    bucket = window_bucket(limit, window_s, clock=time.clock, sleep=time.sleep)
    starts = []
    for _ in range(limit * 3):
        await bucket.acquire()
        starts.append(time.now)
    busiest = max(
        sum(1 for t in starts if first <= t < first + window_s - 1e-9) for first in starts
    )
    assert busiest <= limit
    assert busiest >= limit - 1  # and it does not throttle far below the limit


async def test_a_rested_bucket_allows_its_burst_at_once() -> None:
    """After a quiet spell, a tenth of the limit starts without waiting."""
    time = VirtualTime()
    bucket = window_bucket(100, 10.0, clock=time.clock, sleep=time.sleep)
    for _ in range(10):
        await bucket.acquire()
    assert time.now == 0.0
    await bucket.acquire()
    assert time.now > 0.0
