"""Client-side rate limiters for the SaaS adapters.

`window_bucket` is a token bucket in one process. `RedisWindow` is a sliding window kept in
Redis, shared by every process that names the same key: several workers together stay within
one account's limit (HubSpot counts requests per app, not per process).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis


class Limiter(Protocol):
    """Waits until one more call may start."""

    async def acquire(self) -> None: ...


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


# KEYS[1]: a sorted set of call starts (score: start in ms, Redis's clock). ARGV: limit,
# window in ms, a unique member. Drops starts older than the window, then either records this
# start (answers 0) or answers how many ms until the oldest start leaves the window.
_WINDOW_LUA = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now_ms + 1)
"""


class RedisWindow:
    """At most `limit` call starts in any `window_s` seconds, across every process using `key`.

    Each start is a member of a sorted set scored by Redis's own clock, so processes on
    machines whose clocks disagree still share one window. A caller over the limit sleeps
    until the oldest start leaves the window, then asks again.
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        limit: int,
        window_s: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"a rate limit needs limit >= 1 and window > 0: {limit}, {window_s}")
        self.key, self.limit, self.window_ms = key, limit, max(1, round(window_s * 1000))
        self._script = redis.register_script(_WINDOW_LUA)
        self._sleep = sleep

    async def acquire(self) -> None:
        member = uuid.uuid4().hex
        while True:
            wait_ms = int(
                await self._script(keys=[self.key], args=[self.limit, self.window_ms, member])
            )
            if wait_ms <= 0:
                return
            await self._sleep(wait_ms / 1000)


if TYPE_CHECKING:

    def _is_limiter(bucket: TokenBucket, window: RedisWindow) -> tuple[Limiter, Limiter]:
        """mypy checks that both limiters satisfy `Limiter`."""
        return bucket, window
