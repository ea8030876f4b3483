"""The rate limiter shared through Redis: several limiters on one key (as several workers
hold) keep every window within one limit together, and HubSpot's adapter uses it when
REDIS_URL is set."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from service.backends import open_hubspot_crm
from tests.fakes.hubspot_server import TOKEN, running_hubspot
from tests.helpers import make_settings
from tools.ratelimit import RedisWindow

from .test_hubspot import OWNERS

pytestmark = pytest.mark.redis


def busiest(starts: list[float], window_s: float) -> int:
    """The most starts any `window_s` span holds."""
    starts = sorted(starts)
    return max(sum(1 for t in starts if first <= t < first + window_s) for first in starts)


async def test_workers_sharing_a_key_stay_within_one_limit_together(
    redis_url: str, redis_prefix: str
) -> None:
    """Three limiters, each with its own connection, start 8 calls apiece: no 0.5 s window
    holds more than 5 of the 24, where three per-process limiters would allow 15."""
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(3)]
    limiters = [RedisWindow(c, f"{redis_prefix}hubspot:requests", 5, 0.5) for c in clients]
    starts: list[float] = []

    async def worker(limiter: RedisWindow) -> None:
        for _ in range(8):
            await limiter.acquire()
            starts.append(time.monotonic())

    try:
        await asyncio.gather(*(worker(limiter) for limiter in limiters))
    finally:
        for client in clients:
            await client.aclose()
    assert len(starts) == 24
    # Local clocks read a moment after Redis's; a 10 ms margin keeps that from counting.
    assert busiest(starts, 0.5 - 0.01) <= 5


async def test_hubspot_counts_its_calls_in_redis_when_redis_is_configured(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """The owners check at start is one request, counted in Redis under the app's key."""
    client = aioredis.Redis.from_url(redis_url)
    with running_hubspot(owners=OWNERS) as (url, fake):
        settings = make_settings(
            tmp_path,
            HUBSPOT_ACCESS_TOKEN=TOKEN,
            HUBSPOT_API_URL=url,
            REDIS_URL=redis_url,
            REDIS_PREFIX=redis_prefix,
        )
        try:
            await open_hubspot_crm(settings, [], client)
            keys = [key async for key in client.scan_iter(match=f"{redis_prefix}hubspot:*")]
            counted = await client.zcard(keys[0]) if keys else 0
        finally:
            await client.aclose()
    assert fake.count("owners.list") == 1
    assert [key.decode().rsplit(":", 1)[-1] for key in keys] == ["requests"]
    assert counted == 1
