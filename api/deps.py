"""Request dependencies: the services, the admin token, and bodies read, verified and parsed.

Each check raises a `Problem` (or lets a `service.errors` refusal through), so a route receives
only what passed. A JSON body is checked in this order: size (413), signature when
`WEBHOOK_SECRET` is set and the route is signed (401), content type (415), JSON object (422),
fields (422, every invalid field listed). Bodies are read raw, because the signature covers
the exact bytes; `request_body_doc` describes them in the OpenAPI schema instead.
"""

# No `from __future__ import annotations` here: FastAPI reads the dependency signatures built
# inside `json_body`, and their annotations must be objects, not names of closure variables.

import hashlib
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Request
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.problems import Problem, validation_problems
from domain.calcom import CalcomWebhook
from domain.hubspot_webhook import HubSpotEvent, v2_problem, v3_problem
from service.rep_decisions import Interaction, read_click
from service.settings import Settings
from service.wiring import Services

M = TypeVar("M", bound=BaseModel)

SIGNATURE_WINDOW_S = 300


MAX_JSON_DEPTH = 32  # a lead nests three levels; HubSpot's and Cal.com's bodies a few more
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def services_of(request: Request) -> Services:
    """The process's services, opened by the app's lifespan."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """The process's services, opened by the app's lifespan (read on the event loop: a plain
    `def` dependency would be sent to the thread pool on every request)."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer_is_admin(settings: Settings, authorization: str | None) -> bool:
    """Whether `Authorization` is `Bearer <ADMIN_TOKEN>` (compared in constant time)."""
    token = settings.admin_token
    scheme, _, given = (authorization or "").partition(" ")
    return (
        token is not None
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())
    )


def is_admin(settings: Settings, authorization: str | None) -> bool:
    """Whether the request may see what only an admin sees: the bearer token, or no token
    needed because the operator opened the service (`ADMIN_OPEN=true`, no `ADMIN_TOKEN`)."""
    if settings.admin_token is None:
        return settings.admin_open
    return bearer_is_admin(settings, authorization)


async def require_admin(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """The admin's `Authorization: Bearer <ADMIN_TOKEN>` (401 when missing or wrong). Closed
    (503) without `ADMIN_TOKEN`, unless the operator opened it with `ADMIN_OPEN=true`."""
    settings = services.settings
    if is_admin(settings, authorization):
        return
    if settings.admin_token is None:
        raise Problem(
            503,
            "the admin API is closed: set ADMIN_TOKEN and send Authorization: Bearer <token> "
            "(or ADMIN_OPEN=true on a machine only you can reach)",
        )
    raise Problem(401, "admin token missing or wrong (Authorization: Bearer <ADMIN_TOKEN>)")


AdminDep = Annotated[None, Depends(require_admin)]


def signature_problem(
    secret: str, body: bytes, signature: str | None, timestamp: str | None
) -> str | None:
    """None when the `X-Signature` over `{X-Timestamp}.{body}` is good, else what is wrong."""
    if not signature or not timestamp:
        return "missing X-Signature or X-Timestamp header"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "X-Timestamp is not Unix seconds"
    ts = int(timestamp)
    if abs(time.time() - ts) > SIGNATURE_WINDOW_S:
        return "X-Timestamp is outside the 5-minute window"
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(signature.removeprefix("sha256="), expected):
        return "X-Signature does not match the body"
    return None


async def read_body(request: Request, services: ServicesDep) -> bytes:
    """The raw body, refused with 413 as soon as it is over `MAX_BODY_BYTES`: a declared
    length over the limit is refused before reading, and a chunked body while it streams in,
    so an oversized request never sits whole in memory."""
    return await read_limited(request, services.settings.max_body_bytes)


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 once over `limit` bytes (see `read_body`)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"body is {declared} bytes; the limit is {limit} (MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"body is over {limit} bytes (MAX_BODY_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


def json_depth(raw: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings aside),
    counted without parsing, so a hostile nesting is refused before the parser recurses."""
    depth = deepest = 0
    for bracket in _BRACKETS.finditer(_STRINGS.sub(b'""', raw)):
        if bracket.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON value")


def parse_json(raw: bytes) -> Any:
    """A JSON text as Python values: 422 naming the problem when it is not strict JSON
    (NaN and Infinity are not) or nests deeper than `MAX_JSON_DEPTH`."""
    # Depth is at most the number of opening brackets: most bodies need no closer look.
    opening = raw.count(b"{") + raw.count(b"[")
    depth = json_depth(raw) if opening > MAX_JSON_DEPTH else opening
    if depth > MAX_JSON_DEPTH:
        raise Problem(
            422,
            f"body nests {depth} levels deep; the limit is {MAX_JSON_DEPTH}",
            [{"field": "(body)", "problem": "too deeply nested"}],
        )
    try:
        return json.loads(raw, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(
            422, "body is not valid JSON", [{"field": "(body)", "problem": str(exc)}]
        ) from exc


def check_signed(
    settings: Settings, body: bytes, signature: str | None, timestamp: str | None
) -> None:
    """Refuse the body with 401 unless signed, when `WEBHOOK_SECRET` is set."""
    secret = settings.webhook_secret
    if secret:
        wrong = signature_problem(secret.get_secret_value(), body, signature, timestamp)
        if wrong:
            raise Problem(401, f"bad signature: {wrong}")


def check_system(settings: Settings) -> None:
    """A body from another system (outcomes, replies) must be signed with `WEBHOOK_SECRET`,
    so the route is closed (503) without one unless `ADMIN_OPEN=true`."""
    if settings.webhook_secret is None and not settings.admin_open:
        raise Problem(
            503,
            "this webhook is closed: set WEBHOOK_SECRET and sign requests with it "
            "(or ADMIN_OPEN=true on a machine only you can reach)",
        )


def calcom_signature_problem(secret: str, body: bytes, signature: str | None) -> str | None:
    """None when `X-Cal-Signature-256` is the hex HMAC-SHA256 of the body, else what is wrong."""
    if not signature:
        return "missing X-Cal-Signature-256 header"
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
        return "X-Cal-Signature-256 does not match the body"
    return None


async def calcom_webhook(
    request: Request,
    body: Annotated[bytes, Depends(read_body)],
    services: ServicesDep,
    x_cal_signature_256: Annotated[str | None, Header(alias="X-Cal-Signature-256")] = None,
) -> CalcomWebhook:
    """A Cal.com delivery: 503 unless `CALCOM_WEBHOOK_SECRET` is set, 401 unless signed with
    it, then read as JSON (415, 422) and parsed."""
    secret = services.settings.calcom_webhook_secret
    if secret is None:
        raise Problem(503, "the Cal.com webhook is not configured (CALCOM_WEBHOOK_SECRET)")
    wrong = calcom_signature_problem(secret.get_secret_value(), body, x_cal_signature_256)
    if wrong:
        raise Problem(401, f"bad signature: {wrong}")
    return validated(CalcomWebhook, json_object(request, body), "Cal.com webhook")


CalcomWebhookDep = Annotated[CalcomWebhook, Depends(calcom_webhook)]


def json_object(request: Request, body: bytes) -> dict[str, Any]:
    """The body as a JSON object: 415 unless declared JSON, 422 unless a JSON object."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise Problem(415, f"Content-Type must be application/json, not {ctype or 'missing'}")
    data = parse_json(body)
    if not isinstance(data, dict):
        raise Problem(
            422,
            "body must be a JSON object",
            [{"field": "(body)", "problem": f"got {type(data).__name__}"}],
        )
    return data


def validated(model: type[M], data: dict[str, Any], what: str) -> M:
    """`data` as `model`, refused with 422 listing every invalid field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Problem(422, f"invalid {what}", validation_problems(exc.errors())) from exc


@dataclass(frozen=True)
class Parsed(Generic[M]):
    """A body validated as its model, the JSON object it was read from, and the services."""

    model: M
    data: dict[str, Any]
    services: Services


def json_body(
    model: type[M], what: str, *, signed: bool, system: bool = False
) -> Callable[[Request], Awaitable[Parsed[M]]]:
    """A dependency reading the body as `model` (`what` names it in the 422's detail).

    `signed` bodies (webhooks) must carry the `WEBHOOK_SECRET` signature when one is set;
    `system` bodies must carry it, and are refused while it is unset (`check_system`).
    The checks run in one dependency, in the order the module's docstring gives, and it takes
    the request alone: each dependency or header parameter FastAPI resolves costs every
    request its own resolution and validation, so the headers are read from the request here
    (`SIGNATURE_HEADERS` documents them in the OpenAPI schema).
    """

    async def parse(request: Request) -> Parsed[M]:
        services = services_of(request)
        settings = services.settings
        body = await read_limited(request, settings.max_body_bytes)
        if signed:
            headers = request.headers
            check_signed(settings, body, headers.get("x-signature"), headers.get("x-timestamp"))
        if system:
            check_system(settings)
        data = json_object(request, body)
        return Parsed(validated(model, data, what), data, services)

    return parse


def header_parameter(name: str) -> dict[str, Any]:
    """An optional string header in the OpenAPI schema, as FastAPI documents a `Header()`
    parameter, for a header a dependency reads from the request itself."""
    title = "-".join(part.capitalize() for part in name.split("-"))
    return {
        "in": "header",
        "name": name,
        "required": False,
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": title},
    }


# The headers a signed body is checked with (`check_signed`).
SIGNATURE_HEADERS = ("x-signature", "x-timestamp")


def request_body_doc(model: type[BaseModel], headers: tuple[str, ...] = ()) -> dict[str, Any]:
    """`openapi_extra` describing a JSON body that the route reads raw, as `model`, and the
    optional `headers` read with it."""
    schema = model.model_json_schema()
    if "$defs" in schema:  # nested models would need their own components
        raise TypeError(f"{model.__name__}: nested models are not documented inline")
    doc: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }
    if headers:
        doc["parameters"] = [header_parameter(name) for name in headers]
    return doc


async def slack_click(
    request: Request,
    services: ServicesDep,
    x_slack_signature: Annotated[str | None, Header()] = None,
    x_slack_request_timestamp: Annotated[str | None, Header()] = None,
    x_slack_retry_num: Annotated[str | None, Header()] = None,
) -> Interaction:
    """The verified button click a Slack request carries (404 / 401 / 400 when not)."""
    return read_click(
        services.settings,
        await read_body(request, services),
        timestamp=x_slack_request_timestamp,
        signature=x_slack_signature,
        retry_num=x_slack_retry_num,
    )


SlackClickDep = Annotated[Interaction, Depends(slack_click)]

_EVENTS = TypeAdapter(list[HubSpotEvent])


async def hubspot_secret(services: ServicesDep) -> str:
    """The HubSpot app's client secret; 503 when unset (the endpoint is closed by default)."""
    secret = services.settings.hubspot_client_secret
    if secret is None:
        raise Problem(503, "HubSpot webhooks are not configured: set HUBSPOT_CLIENT_SECRET")
    return secret.get_secret_value()


def _first(value: str | None) -> str | None:
    """The first (client-side) entry of a comma-separated forwarded header."""
    return value.split(",")[0].strip() or None if value else None


def called_uri(request: Request) -> str:
    """The URI the sender called: behind a proxy, its scheme and host from `X-Forwarded-Proto`
    and `X-Forwarded-Host` (else `Host`), then the raw path and query as received."""
    headers = request.headers
    scheme = _first(headers.get("x-forwarded-proto")) or request.url.scheme
    host = _first(headers.get("x-forwarded-host")) or headers.get("host") or request.url.netloc
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    uri = f"{scheme}://{host}{raw_path.decode('latin-1')}"
    query: bytes = request.scope.get("query_string", b"")
    return f"{uri}?{query.decode('latin-1')}" if query else uri


async def hubspot_events(
    request: Request,
    secret: Annotated[str, Depends(hubspot_secret)],
    body: Annotated[bytes, Depends(read_body)],
    services: ServicesDep,
) -> list[HubSpotEvent]:
    """A HubSpot delivery's events: 401 unless signed (v3; v2 when `HUBSPOT_SIGNATURE_V2`),
    415 unless JSON, 422 unless a JSON array of events (every invalid field listed)."""
    headers = request.headers
    uri = called_uri(request)
    v3 = headers.get("x-hubspot-signature-v3")
    v2 = headers.get("x-hubspot-signature")
    if v3 is None and v2 is not None and services.settings.hubspot_signature_v2:
        wrong = v2_problem(secret, request.method, uri, body, v2)
    else:
        timestamp = headers.get("x-hubspot-request-timestamp")
        wrong = v3_problem(secret, request.method, uri, body, v3, timestamp, time.time() * 1000)
    if wrong:
        raise Problem(401, f"bad signature: {wrong}")
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise Problem(415, f"Content-Type must be application/json, not {ctype or 'missing'}")
    try:
        return _EVENTS.validate_python(parse_json(body))
    except ValidationError as exc:
        raise Problem(
            422, "body must be a JSON array of HubSpot events", validation_problems(exc.errors())
        ) from exc


HubSpotEventsDep = Annotated[list[HubSpotEvent], Depends(hubspot_events)]
