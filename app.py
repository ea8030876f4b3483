"""The HTTP API (DESIGN §5): the app factory, its lifespan, its routers and its error handler.

Routes live in `api/` (one router per audience) and the work they hand over in `service/`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from fastapi import FastAPI

from api import admin, bookings, console, health, metrics, problems, slack, webhooks
from api.limits import BodyLimit
from service import metrics as service_metrics
from service.logs import configure_logging
from service.settings import Settings, access
from service.wiring import open_services

log = structlog.get_logger("lead_router.api")

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


def lifespan(settings: Settings) -> Lifespan:
    """Open the backends and compile the graph once; with the in-process queue, sweep too.
    Prepare the shared metrics directory first, when there is one."""

    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        service_metrics.prepare()
        async with open_services(settings) as services:
            app.state.services = services
            opened = access(settings)
            noted = log.warning if any("OPEN" in who for who in opened.values()) else log.info
            noted("access", **opened)
            await services.broker.startup()
            sweeper = None
            if not settings.queue_url:  # this process is the worker; memory held the queue
                patience = settings.redeliver_after_ms / 1000
                sweeper = asyncio.create_task(services.sweep(patience, first_older_than_s=0))
            try:
                yield
            finally:
                if sweeper:
                    sweeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sweeper
                await services.drain()
                await services.broker.shutdown()
                service_metrics.exited()

    return run


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; the lifespan opens backends and compiles the graph once."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    app = FastAPI(title="Lead Router", version="0.1.0", lifespan=lifespan(settings))
    problems.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(metrics.RequestMetrics)
    for router in (
        webhooks.router,
        slack.router,
        admin.router,
        bookings.router,
        health.router,
        metrics.router,
    ):
        app.include_router(router)
    console.install(app)
    return app
