"""Liveness and each backend's readiness, for load balancers and monitors."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    responses={503: {"description": "a backend is not ready; `checks` names which and why"}},
)
async def health(services: ServicesDep) -> JSONResponse:
    """Liveness and each backend's readiness."""
    checks = await services.health()
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )
