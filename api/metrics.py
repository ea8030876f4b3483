"""Prometheus metrics: `GET /metrics`, and the middleware that counts every request.

Requests are counted under their route template (`/admin/leads/{lead_id}`), never the raw path;
a path no route matches counts as `(unmatched)`. `/metrics` is open: `metrics_access` is the one
dependency that decides who may scrape, so closing it (a bearer token, an allowed network)
changes that function only.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import ServicesDep
from service import metrics

router = APIRouter(tags=["metrics"])

UNMATCHED = "(unmatched)"


async def metrics_access() -> None:
    """Who may scrape `/metrics`: anyone who reaches it, for now."""


MetricsAccessDep = Annotated[None, Depends(metrics_access)]


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format 0.0.4",
            "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def scrape(services: ServicesDep, _: MetricsAccessDep) -> Response:
    """Every process's metrics (merged when they share `PROMETHEUS_MULTIPROC_DIR`)."""
    return Response(await metrics.scrape(services), media_type=metrics.CONTENT_TYPE)


class RequestMetrics:
    """ASGI middleware: count each HTTP request by method, route template and status, and time
    it. A request that raises is counted as the 500 it becomes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router puts the matched route in the scope, on the way in.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            metrics.observe_request(scope["method"], route, status, time.perf_counter() - started)
