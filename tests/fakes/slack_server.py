"""A local Slack Web API: the methods the Slack notifier calls, in memory, errors included.

Every method is `POST /api/<method>` with arguments in the query string, a form body or a JSON
body (the SDK sends `auth.test` and `conversations.open` as query parameters and the `chat.*`
methods as JSON). Authentication is `Authorization: Bearer <token>` (or a `token` argument):
none → `{"ok": false, "error": "not_authed"}`, a wrong one → `invalid_auth`, both HTTP 200 as
on Slack. Methods and answers:

- `auth.test` → `{"ok", "url", "team", "user", "team_id", "user_id", "bot_id"}`
- `conversations.open` `users=U…` → `{"ok", "channel": {"id": "D…"}}` (the same id for the same
  user); no users → `users_list_not_supplied`, a malformed id → `user_not_found`.
- `chat.postMessage` `{channel, text?, blocks?}` with `channel` a `#name`, a name or an id →
  `{"ok", "channel": "C…"|"D…", "ts", "message": {"type", "user", "bot_id", "text", "ts",
  "blocks"}}`; unknown channel → `channel_not_found`, nothing to post → `no_text`, blocks that
  are not a list of typed objects → `invalid_blocks`.
- `chat.update` `{channel: <id>, ts, text?, blocks?}` → `{"ok", "channel", "ts", "text",
  "message"}` and the stored message is replaced (marked `edited`); unknown ts →
  `message_not_found`.
- anything else → HTTP 404 `unknown_method`.

Controls: `rate_limit_next(times, retry_after)` answers HTTP 429 with `Retry-After` and
`{"ok": false, "error": "ratelimited"}`; `fail_next(status, times)` answers an HTML error page
with that status, as a load balancer does; `delay_next(seconds)` holds requests before handling
them (a client that gave up still gets its message posted, as on Slack). Each takes `method=`
to aim at one API method. `min_post_interval_s` makes the server itself refuse (429) a post that
comes sooner than that after the previous one in the same channel. The server records every
request, each 429 it served and the arrival time (`time.monotonic()`) of every accepted post per
channel. `running_slack()` serves it under uvicorn on 127.0.0.1 in a thread and yields
`(base_url, fake)`, `base_url` ending in `/api/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from tests.fakes import serving

TEAM_ID = "T0LEADRTR"
BOT_USER_ID = "U0LEADBOT"
BOT_ID = "B0LEADBOT"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{2,}$")


@dataclass
class _Fault:
    kind: str  # ratelimit | fail | delay
    times: int
    method: str | None
    status: int = 0
    retry_after: int = 0
    delay_s: float = 0.0


@dataclass
class RequestSeen:
    """One request the server received; `status` is 0 while it is still being handled."""

    method: str
    at: float
    status: int = 0
    error: str | None = None


def _ident(prefix: str, name: str) -> str:
    return prefix + hashlib.sha1(name.encode()).hexdigest()[:8].upper()


def _ok(**fields: Any) -> JSONResponse:
    return JSONResponse({"ok": True, **fields})


def _error(error: str, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)


class FakeSlack:
    """State and fault controls of one fake workspace; `app` is its ASGI application."""

    def __init__(
        self,
        *,
        token: str = "xoxb-test-token",
        channels: tuple[str, ...] = ("general", "sales-emea", "sales-na", "support"),
        min_post_interval_s: float | None = None,
    ) -> None:
        self.token = token
        self.min_post_interval_s = min_post_interval_s
        self.base_url = ""
        self.requests: list[RequestSeen] = []
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._names = {name: _ident("C", name) for name in channels}
        self._dms: dict[str, str] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._post_times: dict[str, list[float]] = {}
        self._rate_limited: list[tuple[str, float]] = []
        self._ts = itertools.count(1)
        self.app = self._build_app()

    # Controls, called from the test's thread

    def rate_limit_next(
        self, times: int = 1, retry_after: int = 1, *, method: str | None = None
    ) -> None:
        """Answer the next `times` requests (to `method`, if given) with 429 and Retry-After."""
        with self._lock:
            self._faults.append(_Fault("ratelimit", times, method, 429, retry_after=retry_after))

    def fail_next(self, status: int = 500, times: int = 1, *, method: str | None = None) -> None:
        """Answer the next `times` requests (to `method`, if given) with an HTML `status` page."""
        with self._lock:
            self._faults.append(_Fault("fail", times, method, status))

    def delay_next(self, seconds: float, times: int = 1, *, method: str | None = None) -> None:
        """Hold the next `times` requests (to `method`, if given) `seconds`, then handle them."""
        with self._lock:
            self._faults.append(_Fault("delay", times, method, delay_s=seconds))

    def count(self, method: str | None = None) -> int:
        """How many requests were received (for `method`, if given)."""
        with self._lock:
            return sum(1 for seen in self.requests if method is None or seen.method == method)

    def channel_id(self, channel: str) -> str:
        """The id of a `#name`, a name, or a channel id as given."""
        return self._names.get(channel.lstrip("#"), channel)

    def dm_channel(self, user_id: str) -> str | None:
        """The DM channel opened with `user_id`, if any."""
        with self._lock:
            return self._dms.get(user_id)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Copies of the messages in a channel (name or id), oldest first."""
        with self._lock:
            return [
                json.loads(json.dumps(m)) for m in self._messages.get(self.channel_id(channel), [])
            ]

    def post_times(self, channel: str) -> list[float]:
        """Arrival times (`time.monotonic()`) of the posts accepted in a channel, oldest first."""
        with self._lock:
            return list(self._post_times.get(self.channel_id(channel), []))

    def rate_limited_at(self, method: str | None = None) -> list[float]:
        """When the server answered 429 (to `method`, if given)."""
        with self._lock:
            return [at for name, at in self._rate_limited if method is None or name == method]

    # Server side

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method is None or fault.method == method:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/{method}")
        async def call(method: str, request: Request) -> Response:
            seen = RequestSeen(method, time.monotonic())
            with self._lock:
                self.requests.append(seen)
            fault = self._take_fault(method)
            if fault is not None and fault.kind == "delay":
                await request.body()
                await asyncio.sleep(fault.delay_s)
                fault = None
            if fault is not None and fault.kind == "ratelimit":
                response: Response = _error(
                    "ratelimited", 429, **{"Retry-After": str(fault.retry_after)}
                )
            elif fault is not None:
                response = HTMLResponse(
                    f"<html><body><h1>{fault.status} Server Error</h1></body></html>",
                    status_code=fault.status,
                )
            else:
                response = await self._handle(method, request, seen.at)
            with self._lock:
                seen.status = response.status_code
                if isinstance(response, JSONResponse):
                    seen.error = json.loads(bytes(response.body)).get("error")
                if seen.status == 429:
                    self._rate_limited.append((method, seen.at))
            return response

        return app

    async def _handle(self, method: str, request: Request, arrived: float) -> Response:
        args = await _arguments(request)
        if args is None:
            return _error("invalid_json")
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        token = token or args.get("token")
        if not token:
            return _error("not_authed")
        if token != self.token:
            return _error("invalid_auth")
        handlers = {
            "auth.test": self._auth_test,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
        }
        handler = handlers.get(method)
        if handler is None:
            return _error("unknown_method", 404)
        return handler(args, arrived)

    def _auth_test(self, args: dict[str, Any], arrived: float) -> Response:
        return _ok(
            url="https://lead-router-test.slack.com/",
            team="Lead Router Test",
            user="leadrouter",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )

    def _conversations_open(self, args: dict[str, Any], arrived: float) -> Response:
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            return _error("users_list_not_supplied")
        if not all(_USER_ID.match(u) for u in users):
            return _error("user_not_found")
        key = ",".join(sorted(users))
        with self._lock:
            channel = self._dms.setdefault(key, _ident("D" if len(users) == 1 else "G", key))
            self._messages.setdefault(channel, [])
        return _ok(channel={"id": channel})

    def _known(self, channel: str) -> str | None:
        name = channel.lstrip("#")
        if name in self._names:
            return self._names[name]
        with self._lock:
            if _CHANNEL_ID.match(channel) and (
                channel in self._names.values() or channel in self._dms.values()
            ):
                return channel
        return None

    def _post_message(self, args: dict[str, Any], arrived: float) -> Response:
        channel = self._known(str(args.get("channel") or ""))
        if channel is None:
            return _error("channel_not_found")
        text, blocks = str(args.get("text") or ""), args.get("blocks")
        if (refused := _content_error(text, blocks)) is not None:
            return refused
        with self._lock:
            times = self._post_times.setdefault(channel, [])
            interval = self.min_post_interval_s
            if interval is not None and times and arrived - times[-1] < interval:
                return _error("ratelimited", 429, **{"Retry-After": "1"})
            times.append(arrived)
            message = {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "team": TEAM_ID,
                "text": text,
                "ts": self._next_ts(),
                "blocks": blocks or [],
            }
            self._messages.setdefault(channel, []).append(message)
        return _ok(channel=channel, ts=message["ts"], message=message)

    def _update(self, args: dict[str, Any], arrived: float) -> Response:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        text, blocks = str(args.get("text") or ""), args.get("blocks")
        if (refused := _content_error(text, blocks)) is not None:
            return refused
        with self._lock:
            if channel not in self._messages:
                return _error("channel_not_found")
            found = [m for m in self._messages[channel] if m["ts"] == ts]
            if not found:
                return _error("message_not_found")
            message = found[0]
            message.update(
                text=text,
                blocks=blocks or [],
                edited={"user": BOT_USER_ID, "ts": self._next_ts()},
            )
            copy = json.loads(json.dumps(message))
        return _ok(channel=channel, ts=ts, text=text, message=copy)


async def _arguments(request: Request) -> dict[str, Any] | None:
    """Query string, then form or JSON body, merged; None for a body that is not valid JSON."""
    args: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json") and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        args.update(parsed)
    elif body:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if isinstance(form.get("blocks"), str):
            try:
                form["blocks"] = json.loads(form["blocks"])
            except ValueError:
                form["blocks"] = "invalid"
        args.update(form)
    return args


def _valid_blocks(blocks: Any) -> bool:
    return isinstance(blocks, list) and all(
        isinstance(block, dict) and isinstance(block.get("type"), str) for block in blocks
    )


def _content_error(text: str, blocks: Any) -> JSONResponse | None:
    """Slack's error for a message with malformed blocks or nothing to show, else None."""
    if blocks is not None and not _valid_blocks(blocks):
        return _error("invalid_blocks")
    if not text and not blocks:
        return _error("no_text")
    return None


@contextlib.contextmanager
def running_slack(
    *,
    token: str = "xoxb-test-token",
    channels: tuple[str, ...] = ("general", "sales-emea", "sales-na", "support"),
    min_post_interval_s: float | None = None,
) -> Iterator[tuple[str, FakeSlack]]:
    """Serve a FakeSlack on 127.0.0.1 (a free port) in a thread; yield `(base_url, fake)`."""
    fake = FakeSlack(token=token, channels=channels, min_post_interval_s=min_post_interval_s)
    with serving(fake.app) as url:
        fake.base_url = f"{url}/api/"
        yield fake.base_url, fake
