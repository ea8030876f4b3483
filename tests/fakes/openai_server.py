"""A local OpenAI-compatible Chat Completions API that answers from a script, errors included.

Endpoints (under `/v1`, as `ChatOpenAI(base_url=<url>/v1)` calls them):

- `POST /v1/chat/completions` (non-streaming) → a `chat.completion`: `{"id": "chatcmpl-…",
  "object", "created", "model", "system_fingerprint", "service_tier", "choices": [{"index": 0,
  "message": {"role": "assistant", "content", "refusal", "annotations", "tool_calls"?},
  "logprobs": null, "finish_reason"}], "usage": {"prompt_tokens", "completion_tokens",
  "total_tokens", "prompt_tokens_details", "completion_tokens_details"}}`. Token counts are
  about one per four characters: of the messages, tools and schema sent, and of the answer.
- `GET /v1/models` → `{"object": "list", "data": [{"id", "object": "model", "created",
  "owned_by"}]}`; `GET /v1/models/{id}` → one of them, or 404 `model_not_found`.

Every request needs `Authorization: Bearer <api_key>`, else 401 `invalid_api_key`. Errors have
OpenAI's shape `{"error": {"message", "type", "param", "code"}}`: `stream: true` → 400
`unsupported_parameter`; a model not in `models` → 404 `model_not_found`. With
`require_json_schema=False` the server refuses `response_format: {"type": "json_schema"}` with
400 `response_format type must be one of "text" or "json_object", but got: json_schema`, the
answer (and the `{"error": {"code": 400, "message", "type"}}` body) of a llama.cpp server that
has no structured outputs.

Each completion request that passes those checks takes the next reply queued with
`reply_next(*replies)`, else the one `responder(body)` returns (a callable the test sets, given
the request's JSON body); with neither it answers 500 `no_scripted_reply`. A reply is:

- a dict or a pydantic model: the structured answer, in the place the request asked for it:
  `message.content` as JSON when the request has `response_format` of type `json_schema` or no
  `tools`; otherwise one `tool_calls` entry calling the function `tool_choice` names (or the
  only tool) with the answer as its `arguments` JSON string, `finish_reason: "tool_calls"`.
- `Raw(text)`: `text` put in that same place, for malformed JSON and schema violations;
  `Raw(text, finish_reason="length")` for an answer cut short.
- a `str`: plain assistant content, never a tool call.
- `Refusal(message)`: `message.refusal` set, `content` null.
- `ApiError(status, message=…, type=…, code=…, retry_after=…)`: that status with OpenAI's
  error body (defaults per status: 429 `requests`/`rate_limit_exceeded`, 5xx `server_error`)
  and `Retry-After` when given (in seconds; fractions are honoured by the openai client).
- `Delayed(seconds, reply)`: `reply`, after holding the request `seconds` (a client whose
  timeout is shorter has given up by then).

`requests` records every request as `RequestSeen(method, path, headers, body, at, status)`:
lower-case header names, the JSON body, the arrival time (`time.monotonic()`) and the status
answered (0 while still held). `chat_bodies()` copies the completion request bodies,
`pending()` counts the queued replies not yet taken, `reset()` forgets script and records.
`running_openai()` serves it under uvicorn on 127.0.0.1 in a thread and yields
`(base_url, fake)`, `base_url` ending in `/v1`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tests.fakes import serving

API_KEY = "sk-test-key"  # the key the server expects unless given another
MODEL = "gpt-4o-mini"  # the model it serves unless given others
LLAMA_CPP_JSON_SCHEMA_ERROR = (
    'response_format type must be one of "text" or "json_object", but got: json_schema'
)

_ERROR_DEFAULTS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Invalid request.", None),
    401: ("invalid_request_error", "Incorrect API key provided.", "invalid_api_key"),
    403: ("invalid_request_error", "You are not allowed to sample from this model.", None),
    404: ("invalid_request_error", "Not found.", "model_not_found"),
    429: (
        "requests",
        "Rate limit reached for requests. Please try again later.",
        "rate_limit_exceeded",
    ),
    500: (
        "server_error",
        "The server had an error while processing your request. Sorry about that!",
        None,
    ),
    503: ("server_error", "The engine is currently overloaded, please try again later.", None),
}


@dataclass(frozen=True)
class Raw:
    """Text put where the structured answer would go: malformed JSON, a schema violation."""

    text: str
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Refusal:
    """The model refuses: `message.refusal` is `message`, `content` is null."""

    message: str = "I'm sorry, I can't help with that request."


@dataclass(frozen=True)
class ApiError:
    """An HTTP error with OpenAI's body; type, message and code default per status."""

    status: int
    message: str | None = None
    type: str | None = None
    code: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Delayed:
    """`reply`, after holding the request `seconds`."""

    seconds: float
    reply: Reply


Reply: TypeAlias = dict[str, Any] | BaseModel | str | Raw | Refusal | ApiError | Delayed
Responder: TypeAlias = Callable[[dict[str, Any]], Reply]


@dataclass
class RequestSeen:
    """One request the server received; `status` is 0 while it is still being handled."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    status: int = 0


def _error(
    status: int,
    message: str | None = None,
    *,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    default_type, default_message, default_code = _ERROR_DEFAULTS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", "Error.", None)
    )
    body = {
        "error": {
            "message": message or default_message,
            "type": type or default_type,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }
    headers = {} if retry_after is None else {"Retry-After": _seconds(retry_after)}
    return JSONResponse(body, status_code=status, headers=headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _text(content: Any) -> str:
    """The text of a message's content: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return ""


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages") or []
    tokens = sum(3 + _tokens(_text(m.get("content"))) for m in messages if isinstance(m, dict))
    for key in ("tools", "response_format"):
        if body.get(key):
            tokens += _tokens(json.dumps(body[key]))
    return tokens + 3


def _response_format_type(body: dict[str, Any]) -> str | None:
    response_format = body.get("response_format")
    return response_format.get("type") if isinstance(response_format, dict) else None


def _tool_name(body: dict[str, Any]) -> str:
    """The function a tool call should name: the one `tool_choice` names, or the only tool."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"]["name"])
    names = [
        tool["function"]["name"]
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
    ]
    if len(names) != 1:
        raise ValueError(f"a structured reply needs tool_choice to name one of {names}")
    return str(names[0])


class FakeOpenAI:
    """Script, state and records of one fake model server; `app` is its ASGI application."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        models: tuple[str, ...] = (MODEL,),
        require_json_schema: bool = True,
        responder: Responder | None = None,
    ) -> None:
        self.api_key = api_key
        self.models = models
        self.require_json_schema = require_json_schema
        self.responder = responder
        self.base_url = ""
        self.requests: list[RequestSeen] = []
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self._ids = itertools.count(1)
        self.app = self._build_app()

    # Controls, called from the test's thread

    def reply_next(self, *replies: Reply) -> None:
        """Queue replies for the next completion requests, in order."""
        with self._lock:
            self._replies.extend(replies)

    def pending(self) -> int:
        """How many queued replies no request has taken yet."""
        with self._lock:
            return len(self._replies)

    def chat_bodies(self) -> list[dict[str, Any]]:
        """Copies of the JSON bodies of the completion requests received, oldest first."""
        with self._lock:
            return [
                json.loads(json.dumps(seen.body))
                for seen in self.requests
                if seen.path == "/v1/chat/completions" and isinstance(seen.body, dict)
            ]

    def reset(self) -> None:
        """Forget queued replies, the responder and received requests."""
        with self._lock:
            self._replies.clear()
            self.responder = None
            self.requests.clear()

    # Server side

    def _take_reply(self, body: dict[str, Any]) -> Reply | None:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
            responder = self.responder
        return None if responder is None else responder(body)

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def record(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            seen = RequestSeen(
                request.method,
                request.url.path,
                dict(request.headers),
                body,
                time.monotonic(),
            )
            with self._lock:
                self.requests.append(seen)
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                response: Response = _error(
                    401, "Incorrect API key provided.", code="invalid_api_key"
                )
            else:
                response = await call_next(request)
            with self._lock:
                seen.status = response.status_code
            return response

        @app.get("/v1/models")
        async def list_models() -> dict[str, Any]:
            return {"object": "list", "data": [self._model(name) for name in self.models]}

        @app.get("/v1/models/{name}")
        async def get_model(name: str) -> Response:
            if name not in self.models:
                return _unknown_model(name)
            return JSONResponse(self._model(name))

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                return _error(400, "We could not parse the JSON body of your request.")
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                return _error(400, "'messages' is required.", param="messages")
            if body.get("stream"):
                return _error(
                    400,
                    "This server does not stream; send stream: false.",
                    param="stream",
                    code="unsupported_parameter",
                )
            if body.get("model") not in self.models:
                return _unknown_model(str(body.get("model")))
            if not self.require_json_schema and _response_format_type(body) == "json_schema":
                return JSONResponse(
                    {
                        "error": {
                            "code": 400,
                            "message": LLAMA_CPP_JSON_SCHEMA_ERROR,
                            "type": "invalid_request_error",
                        }
                    },
                    status_code=400,
                )
            reply = self._take_reply(body)
            while isinstance(reply, Delayed):
                await asyncio.sleep(reply.seconds)
                reply = reply.reply
            if reply is None:
                return _error(
                    500,
                    "The fake has no scripted reply for this request.",
                    code="no_scripted_reply",
                )
            if isinstance(reply, ApiError):
                return _error(
                    reply.status,
                    reply.message,
                    type=reply.type,
                    code=reply.code,
                    retry_after=reply.retry_after,
                )
            try:
                message, finish_reason = self._message(reply, body)
            except ValueError as exc:
                return _error(500, f"The fake cannot answer this request: {exc}")
            return JSONResponse(self._completion(body, message, finish_reason))

        return app

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 1_715_367_049, "owned_by": "system"}

    def _message(self, reply: Reply, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The assistant message and finish reason that give `reply` as `body` asked for it."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "annotations": [],
        }
        if isinstance(reply, Refusal):
            return message | {"refusal": reply.message}, "stop"
        if isinstance(reply, str):
            return message | {"content": reply}, "stop"
        if isinstance(reply, Raw):
            text, finish_reason = reply.text, reply.finish_reason
        elif isinstance(reply, dict):
            text, finish_reason = json.dumps(reply), "stop"
        elif isinstance(reply, BaseModel):
            text, finish_reason = reply.model_dump_json(), "stop"
        else:
            raise ValueError(f"unknown reply type {type(reply).__name__}")
        if body.get("tools") and _response_format_type(body) != "json_schema":
            call = {
                "id": f"call_{next(self._ids):024x}",
                "type": "function",
                "function": {"name": _tool_name(body), "arguments": text},
            }
            tool_finish = "tool_calls" if finish_reason == "stop" else finish_reason
            return message | {"tool_calls": [call]}, tool_finish
        return message | {"content": text}, finish_reason

    def _completion(
        self, body: dict[str, Any], message: dict[str, Any], finish_reason: str
    ) -> dict[str, Any]:
        answer = message.get("content") or message.get("refusal") or ""
        answer += "".join(call["function"]["arguments"] for call in message.get("tool_calls", []))
        prompt_tokens, completion_tokens = _prompt_tokens(body), max(1, _tokens(answer))
        return {
            "id": f"chatcmpl-{next(self._ids):029x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_leadrouter",
            "service_tier": "default",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }


def _unknown_model(name: str) -> JSONResponse:
    return _error(
        404,
        f"The model `{name}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


@contextlib.contextmanager
def running_openai(
    *,
    api_key: str = API_KEY,
    models: tuple[str, ...] = (MODEL,),
    require_json_schema: bool = True,
    responder: Responder | None = None,
) -> Iterator[tuple[str, FakeOpenAI]]:
    """Serve a FakeOpenAI on 127.0.0.1 (a free port) in a thread; yield `(base_url, fake)`."""
    fake = FakeOpenAI(
        api_key=api_key,
        models=models,
        require_json_schema=require_json_schema,
        responder=responder,
    )
    with serving(fake.app) as url:
        fake.base_url = f"{url}/v1"
        yield fake.base_url, fake
