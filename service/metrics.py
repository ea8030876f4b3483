"""Metrics for the HTTP API: requests recorded, the scrape answered, the directory prepared.

The definitions live in `tools.metrics`; this is the API's way to them (the API reaches tools
only through the service). A scrape adds what is measured at that moment — the queue's depth —
to what the processes recorded.
"""

from __future__ import annotations

import functools
from typing import Any

import structlog

from service.queue import queue_depth
from service.wiring import Services
from tools import metrics

log = structlog.get_logger("lead_router.metrics")

CONTENT_TYPE = metrics.CONTENT_TYPE
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request under its route template (any other method is `other`)."""
    counted, timed = _request_series(method if method in METHODS else "other", route, status)
    counted.inc()
    timed.observe(seconds)


@functools.cache
def _request_series(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The request counter's and the duration histogram's series for these labels, looked up
    once: `labels()` validates and locks on every call. Methods are the known few or `other`,
    routes are templates and statuses codes, so the cache stays small."""
    return (
        metrics.HTTP_REQUESTS.labels(method=method, route=route, status=str(status)),
        metrics.HTTP_DURATION.labels(method=method, route=route),
    )


async def scrape(services: Services) -> bytes:
    """The Prometheus text exposition: every process's recorded metrics and the queue's depth."""
    backend = "redis_stream" if services.settings.queue_url else "in_process"
    depth = metrics.gauge(
        "lead_router_queue_depth",
        "Queued tasks not yet finished (waiting or running), by queue and backend.",
        ["queue", "backend"],
    )
    try:
        value = await queue_depth(services.broker, services.settings)
    except Exception as exc:  # the scrape still answers; the gauge is left out
        log.warning("queue depth unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
    else:
        depth.add_metric([services.settings.queue_name, backend], value)
    return metrics.exposition([depth])


def prepare() -> None:
    """Prepare the multiprocess directory when `PROMETHEUS_MULTIPROC_DIR` is set (at start)."""
    folder = metrics.multiprocess_dir()
    if folder is not None:
        done = metrics.prepare_directory(folder)
        log.info("metrics shared between processes", directory=str(folder), **done)


def exited() -> None:
    """Take this process's live gauges out of the shared directory (at shutdown)."""
    metrics.process_exited()
