"""The bench's baseline web app: `POST /webhooks/lead` parsed into the same `LeadIn` model and
answered as the service answers a new lead, with nothing derived, stored, queued or logged;
and the same with one Redis round trip per lead (`create_bare_redis_app`).

Served by uvicorn as the service is: `python -m uvicorn offline.bare_app:create_bare_app
--factory --host 127.0.0.1 --port PORT --log-level warning`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

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


def create_bare_redis_app() -> FastAPI:
    """The bare app awaiting one Redis round trip per lead before it answers, as the service's
    claim does in queue mode: an EVALSHA (a script that returns a stored 1 KB value, the size
    of a lead's record) on a connection kept between requests. What it reaches beside the bare
    app is the most a webhook with a Redis-backed claim can reach on the same machine.

    Redis is `BARE_REDIS_URL`, the value's key `BARE_REDIS_KEY` (set at start-up). With
    `BARE_PROFILE` set it profiles itself between SIGUSR1 and SIGUSR2, as `serve --profile`.
    """
    import os

    import redis.asyncio as aioredis
    from redis.asyncio.connection import Connection

    url, key = os.environ["BARE_REDIS_URL"], os.environ["BARE_REDIS_KEY"]
    client = aioredis.Redis.from_url(url)
    pool = client.connection_pool
    kept: list[Connection] = []
    script = "return redis.call('GET', KEYS[1])"
    sha = ""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal sha
        await client.set(key, "x" * 1024)
        sha = await client.script_load(script)
        if os.environ.get("BARE_PROFILE"):  # `bench --profile ack`: as `serve --profile`
            from service.profiling import profile_between_signals

            profile_between_signals(Path(os.environ["BARE_PROFILE"]))
        yield
        await client.delete(key)
        await client.aclose()

    app = FastAPI(title="bare lead webhook with one Redis round trip", lifespan=lifespan)

    @app.post("/webhooks/lead", status_code=202)
    async def submit_lead(lead: LeadIn) -> JSONResponse:
        conn = kept.pop() if kept else await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(conn.pack_command("EVALSHA", sha, 1, key))
            await conn.read_response()
        finally:
            kept.append(conn)
        return JSONResponse(
            {"lead_id": str(uuid.uuid4()), "status": "queued", "duplicate": False},
            status_code=202,
        )

    return app
