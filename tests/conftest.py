"""Shared fixtures: real Redis and PostgreSQL when reachable.

Under CI=true a test that needs a service fails when the service cannot be reached; on a
developer machine without the service it is skipped with the reason.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest

from tests.helpers import unavailable

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
POSTGRES_TEST_URL = os.environ.get("POSTGRES_TEST_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), 2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str) -> None:
    """Fail under CI, skip elsewhere, when the service at `url` does not answer."""
    if not _reachable(url):
        unavailable(
            f"{name} is not reachable at {url}", hint=f"set {name.upper()}_TEST_URL or start it"
        )


@pytest.fixture
def redis_url() -> str:
    """URL of a real Redis (db 15 by default), failing loudly under CI when unreachable."""
    require_service("redis", REDIS_TEST_URL)
    return REDIS_TEST_URL


@pytest.fixture
def postgres_url() -> str:
    """URL of a real PostgreSQL, failing loudly under CI when unreachable."""
    require_service("postgres", POSTGRES_TEST_URL)
    return POSTGRES_TEST_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    import redis.asyncio as aioredis

    prefix = f"lrtest:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
