"""A cap on every request body, enforced while it streams in (`MAX_BODY_BYTES`).

Routes that read a body themselves (`api.deps.read_body`) refuse it at the same size; this
middleware holds the line for everything else a framework reads for us (the console's forms),
before any of it is parsed: a declared length over the cap is answered `413` without reading a
byte, and a chunked body is cut off as soon as it passes the cap.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_JSON


class BodyLimit:
    """ASGI middleware: `413 application/problem+json` for a body over `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = b""
        chunked = False
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared.isdigit() and not chunked:
            if int(declared) > self.limit:
                await self._refuse(
                    send, f"body is {int(declared)} bytes; the limit is {self.limit}"
                )
                return
            # The server reads no more than the declared length: nothing to watch.
            await self.app(scope, receive, send)
            return
        received = 0
        over = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    over = True
                    return {"type": "http.disconnect"}  # the app stops reading here
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # whatever the app makes of the cut body, the answer is the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send, f"body is over {self.limit} bytes")

    async def _refuse(self, send: Send, detail: str) -> None:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": "Content Too Large",
            "status": 413,
            "detail": f"{detail} (MAX_BODY_BYTES)",
        }
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
