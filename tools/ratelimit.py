"""A client-side rate limiter for the SaaS adapters: a token bucket per limit, in one process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """`rate` tokens a second up to `burst`; `acquire` waits for one, first come first served."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = burst
        self._last = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1 - 1e-9:  # a float sum short of a whole token counts
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                await self._sleep((1 - self._tokens) / self.rate)


def window_bucket(
    limit: int,
    window_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> TokenBucket:
    """A bucket that lets at most `limit` calls start in any `window_s` seconds.

    A burst of a tenth of the limit, then the rest spread evenly: burst + rate × window = limit.
    """
    if limit < 1:
        raise ValueError(f"a rate limit must be at least 1 call, got {limit}")
    burst = max(1, limit // 10)
    rate = max(limit - burst, 1) / window_s
    return TokenBucket(rate, burst, clock=clock, sleep=sleep)
