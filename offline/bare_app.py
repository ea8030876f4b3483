"""The bench's baseline web app: `POST /webhooks/lead` parsed into the same `LeadIn` model and
answered as the service answers a new lead, with nothing derived, stored, queued or logged.

Served by uvicorn as the service is: `python -m uvicorn offline.bare_app:create_bare_app
--factory --host 127.0.0.1 --port PORT --log-level warning`.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from domain.intake import LeadIn


def create_bare_app() -> FastAPI:
    """A FastAPI app with the lead webhook's model and answer, and no work behind it."""
    app = FastAPI(title="bare lead webhook")

    @app.post("/webhooks/lead", status_code=202)
    async def submit_lead(lead: LeadIn) -> JSONResponse:
        return JSONResponse(
            {"lead_id": str(uuid.uuid4()), "status": "queued", "duplicate": False},
            status_code=202,
        )

    return app
