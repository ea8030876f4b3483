"""Backends that are down for a while: which errors pass, how long to wait, one line per change.

An error `passes` when it says a backend could not be reached or refused for now — Redis not
answering, a PostgreSQL connection refused, reset or shut down by an administrator, a pool with
no connection to give, a serialization failure, SQLite busy — and trying again later is the
answer. Any other error is the lead's own and fails it.

`Outages` is the one place a process reports what it could not reach: a warning when a
backend goes down, an info line when it answers again, nothing for the attempts in between.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import redis.exceptions
import structlog

log = structlog.get_logger("lead_router.outages")

# Errors that mean "unreachable or refused for now", by the backend that raises them.
REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
POSTGRES_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError,)
UNREACHABLE_ERRORS = REDIS_ERRORS + POSTGRES_ERRORS

BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 3.0
RETRY_AFTER_S = 5


def backend_of(exc: BaseException) -> str | None:
    """The backend a passing error comes from (`redis`, `postgresql`, `sqlite`), else None."""
    if isinstance(exc, REDIS_ERRORS):
        return "redis"
    if isinstance(exc, POSTGRES_ERRORS):
        return "postgresql"
    if isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc) for word in ("locked", "busy")
    ):
        return "sqlite"
    return None


def passes(exc: BaseException) -> bool:
    """Whether `exc` is a backend being unreachable for now (retry), not a lead's own error."""
    return backend_of(exc) is not None


def backoff(first_s: float = BACKOFF_FIRST_S, max_s: float = BACKOFF_MAX_S) -> Iterator[float]:
    """Waits between attempts: doubling from `first_s` up to `max_s`, then `max_s` forever."""
    wait = first_s
    while True:
        yield wait
        wait = min(wait * 2, max_s)


@dataclass
class Outages:
    """What this process cannot reach now, logged once when it goes and once when it is back.

    `down(concern, exc)` is called on every failed attempt and `up(concern)` on every success;
    only a change of state writes a line. A concern is what was being done (`queue`, `store`,
    `checkpoints`, `recovery`), so the line says what stopped as well as which backend.
    """

    since: dict[str, float] = field(default_factory=dict)

    def down(self, concern: str, exc: BaseException) -> None:
        """Note a failed attempt; the first after success logs a warning."""
        if concern in self.since:
            return
        self.since[concern] = time.monotonic()
        log.warning(
            "backend unreachable; retrying with backoff",
            concern=concern,
            backend=backend_of(exc),
            error=f"{type(exc).__name__}: {exc}"[:300],
        )

    def up(self, concern: str) -> None:
        """Note a successful attempt; the first after a failure logs that it is back."""
        started = self.since.pop(concern, None)
        if started is not None:
            log.info(
                "backend reachable again",
                concern=concern,
                down_s=round(time.monotonic() - started, 1),
            )

    def is_down(self, concern: str) -> bool:
        """Whether the last attempt at `concern` failed."""
        return concern in self.since


async def pause(waits: Iterator[float]) -> None:
    """Sleep for the next wait of a `backoff()`."""
    await asyncio.sleep(next(waits))
