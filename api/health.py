"""Liveness and each backend's readiness, for load balancers and monitors.

Anyone sees whether each concern is ok; which class serves it and why a probe failed (backend
error text can name hosts, users and databases) are shown only to an admin (`is_admin`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from api.deps import ServicesDep, is_admin

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    responses={
        503: {"description": "a backend is not ready; `checks` names which (and, to an admin, why)"}
    },
)
async def health(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> JSONResponse:
    """Liveness and each backend's readiness: `ok` per concern; with the admin bearer token
    also the class in use and the error of a failing probe."""
    checks = await services.health()
    ok = all(c["ok"] for c in checks.values())
    if not is_admin(services.settings, authorization):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )
