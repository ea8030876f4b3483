"""Liveness and each backend's readiness, for load balancers and monitors.

Anyone sees whether each concern is ok; which class serves it and why a probe failed (backend
error text can name hosts, users and databases) are shown only with the admin bearer token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from api.deps import ServicesDep

router = APIRouter(tags=["health"])


def _is_admin(services: ServicesDep, authorization: str | None) -> bool:
    """Whether the request carries `Authorization: Bearer <ADMIN_TOKEN>` (never without one)."""
    token = services.settings.admin_token
    if token is None or not authorization or not authorization.startswith("Bearer "):
        return False
    given = authorization.removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.get_secret_value().encode())


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
    if not _is_admin(services, authorization):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
    )
