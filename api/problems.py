"""Errors as problem details (RFC 9457, `application/problem+json`), answered by one handler.

Every refusal — a `Problem` raised by a route or dependency, a `service.errors.ServiceError`,
FastAPI's `HTTPException` (unknown path, wrong method), `RequestValidationError` (a bad
query or path parameter) and a backend out of reach (`service.faults`: 503 with `Retry-After`
and a `backend` member) — leaves as::

    {"type": "about:blank", "title": <reason phrase>, "status": <code>, "detail": <why>,
     "errors": [{"field", "problem"}, ...],   # when individual fields are wrong
     ...}                                     # members naming what it concerns, e.g. lead_id

`install(app)` registers the handler and documents the shape in the OpenAPI schema;
`problem_responses(...)` declares a route's error statuses there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from service.errors import (
    Conflict,
    Malformed,
    NotFound,
    Rejected,
    ServiceError,
    Unauthenticated,
    Unavailable,
)
from service.faults import RETRY_AFTER_S, UNREACHABLE_ERRORS, backend_of

log = structlog.get_logger("lead_router.api")

PROBLEM_JSON = "application/problem+json"
SCHEMA_REF = "#/components/schemas/{model}"

# The status each kind of service refusal is answered with.
SERVICE_STATUS: dict[type[ServiceError], int] = {
    Malformed: 400,
    Unauthenticated: 401,
    NotFound: 404,
    Conflict: 409,
    Rejected: 422,
    Unavailable: 503,
}
STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "errors"})


class Problem(Exception):
    """An HTTP error answered as problem details; `extra` members are added to the body."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        clash = STANDARD_MEMBERS & extra.keys()
        if clash:
            raise ValueError(f"extra members may not replace {sorted(clash)}")
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The problem details object."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return {**body, **self.extra}


class FieldProblem(BaseModel):
    """One invalid field of a request."""

    field: str = Field(description="where: a body field (`utm`), or `query.limit`, `(body)`")
    problem: str = Field(description="what is wrong with it")


class ProblemDetails(BaseModel):
    """An error answer (RFC 9457 problem details)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(default="about:blank", description="always about:blank")
    title: str = Field(description="the status code's reason phrase")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what is wrong, in a sentence")
    errors: list[FieldProblem] = Field(
        default=[], description="every invalid field; present only when fields are invalid"
    )


def validation_problems(errors: Any) -> list[dict[str, str]]:
    """pydantic's error list (`exc.errors()`) as `{"field", "problem"}` entries."""
    return [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "(body)",
            "problem": str(e["msg"]).removeprefix("Value error, "),
        }
        for e in errors
    ]


def as_problem(exc: Exception) -> Problem:
    """The problem details an exception is answered with."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ServiceError):
        status = next(s for kind, s in SERVICE_STATUS.items() if isinstance(exc, kind))
        retry = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(exc, Unavailable) else None
        return Problem(status, exc.detail, headers=retry, **exc.extra)
    backend = backend_of(exc)
    if backend is not None:
        return Problem(
            503,
            f"{backend} cannot be reached; retry later",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            backend=backend,
        )
    if isinstance(exc, RequestValidationError):
        return Problem(422, "invalid request", validation_problems(exc.errors()))
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return Problem(exc.status_code, detail, headers=exc.headers)
    raise TypeError(f"no problem details for {type(exc).__name__}")  # pragma: no cover


async def answer(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler: the exception as `application/problem+json`, logged with
    its reason (the fields named, not their values)."""
    problem = as_problem(exc)
    log.info(
        "refused",
        method=request.method,
        path=request.url.path,
        status=problem.status,
        detail=problem.detail[:300],
        fields=[e["field"] for e in problem.errors or []],
    )
    return JSONResponse(
        problem.body(),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def problem_responses(described: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's error statuses for `responses=`: each status with when it is answered."""
    return {
        status: {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": SCHEMA_REF.format(model="Problem")}}},
        }
        for status, description in described.items()
    }


def _document(app: FastAPI, build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Wrap `app.openapi` so the schema defines `Problem` and FastAPI's own 422s use it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = ProblemDetails.model_json_schema(ref_template=SCHEMA_REF)
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        # FastAPI documents a 422 on every route with parameters; here it is a problem too.
        default = problem_responses({422: "invalid query, path or header parameters"})[422]
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                declared = operation.get("responses", {}).get("422", {})
                if "application/json" in declared.get("content", {}):
                    operation["responses"]["422"] = default
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    return openapi


async def hung_up(request: Request, exc: Exception) -> Response:
    """A client that hung up before its body arrived: one line, no traceback, and nobody to
    answer (the server drops what is sent to a closed connection)."""
    log.info("client hung up", method=request.method, path=request.url.path)
    return Response(status_code=400)


def install(app: FastAPI) -> None:
    """Answer every refusal as problem details and describe them in the OpenAPI schema."""
    for kind in (
        Problem,
        ServiceError,
        StarletteHTTPException,
        RequestValidationError,
        *UNREACHABLE_ERRORS,
    ):
        app.add_exception_handler(kind, answer)
    app.add_exception_handler(ClientDisconnect, hung_up)
    app.openapi = _document(app, app.openapi)  # type: ignore[method-assign]
