"""What the adapters' retries share: reading `Retry-After`, logging and counting each retry, and
counting the calls given up after their retries (`lead_router_backend_retries_total`,
`lead_router_backend_failures_total`, labelled by backend)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from tenacity import RetryCallState
from tenacity.stop import StopBaseT

from tools import metrics


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (seconds or an HTTP date); None if unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def log_retry(
    log: Any,
    event: str,
    describe: Callable[[BaseException | None], str],
    *,
    backend: str,
    **fields: Any,
) -> Callable[[RetryCallState], None]:
    """A tenacity `before_sleep` hook that logs a warning with the attempt, error and wait, and
    counts the retry for `backend`."""

    def before_sleep(state: RetryCallState) -> None:
        metrics.backend_retried(backend)
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            event,
            **fields,
            attempt=state.attempt_number,
            error=describe(exc),
            wait_s=round(state.upcoming_sleep, 3),
        )

    return before_sleep


def give_up(stop: StopBaseT, *, backend: str) -> Callable[[RetryCallState], bool]:
    """tenacity's `stop`, counting a failure of `backend` when it ends the retries.

    tenacity asks `stop` only about an attempt it would retry, so what is counted is a call
    still failing transiently when its attempts (or its time) ran out; an answer that is not
    retried (a 404, a rejected key) is the caller's to handle and is not counted here.
    """

    def check(state: RetryCallState) -> bool:
        if stop(state):
            metrics.backend_failed(backend)
            return True
        return False

    return check
