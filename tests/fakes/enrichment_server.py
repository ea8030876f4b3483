"""A local company-enrichment API of the shape `tools.enrichment_http` speaks, in memory.

`GET /v1/companies/find?domain=acme.com` (the path is configurable) with the header
`Authorization: Bearer <key>` answers `200` with the JSON stored for that domain (any JSON:
tests store odd shapes on purpose), `404 {"error": {"type": "unknown_record", ...}}` for an
unknown domain, `400` without a domain and `401 {"error": {"type": "auth_error", ...}}` without
the right key, as Clearbit's Company API does.

Faults on demand, consumed in the order they were set, by requests that passed the key check:
`fail_next(status, times, retry_after=None)` answers with that status (and `Retry-After`),
`delay_next(seconds, times)` holds the answer back, `malformed_next(times)` answers `200` with
a truncated JSON body, `trickle_next(every_s, times)` sends a JSON body one byte every `every_s`
seconds and `huge_next(size, times)` streams a JSON body of `size` bytes. `requests` lists the
domain of every request received.
`running_enrichment_server()` serves it on 127.0.0.1 in a thread and yields `(url, fake)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from tests.fakes import serving

API_KEY = "test-key"  # the key the API expects unless given another


@dataclass
class _Fault:
    kind: str  # "status" | "delay" | "malformed" | "trickle" | "huge"
    times: int
    status: int = 200
    retry_after: str | None = None
    delay_s: float = 0.0
    size: int = 0


async def _trickle(every_s: float) -> AsyncIterator[bytes]:
    for byte in b'{"name": "Slow Answer Inc", "employees": 10}':
        yield bytes([byte])
        await asyncio.sleep(every_s)


async def _huge(size: int) -> AsyncIterator[bytes]:
    yield b'{"name": "Big Answer", "notes": "'
    sent = 0
    while sent < size:
        yield b"x" * 65536
        sent += 65536
    yield b'"}'


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


class FakeEnrichment:
    """Companies by domain and fault controls of one fake provider; `app` is its ASGI app."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        auth_header: str = "Authorization",
        auth_scheme: str = "Bearer",
        path: str = "/v1/companies/find",
    ) -> None:
        self.api_key = api_key
        self.auth_header = auth_header
        self.auth_scheme = auth_scheme
        self.path = path
        self.requests: list[str | None] = []
        self._lock = threading.Lock()
        self._companies: dict[str, Any] = {}
        self._faults: list[_Fault] = []
        self.app = self._build_app()

    # Controls, called from the test's thread

    def add_company(self, domain: str, body: Any) -> None:
        """Answer lookups of `domain` with `body` (any JSON value)."""
        with self._lock:
            self._companies[domain.lower()] = copy.deepcopy(body)

    def fail_next(
        self, status: int, times: int = 1, retry_after: float | str | None = None
    ) -> None:
        """Answer the next `times` requests with `status` (and `Retry-After`, if given)."""
        header = None if retry_after is None else str(retry_after)
        with self._lock:
            self._faults.append(_Fault("status", times, status=status, retry_after=header))

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Hold the next `times` answers back for `seconds`."""
        with self._lock:
            self._faults.append(_Fault("delay", times, delay_s=seconds))

    def malformed_next(self, times: int = 1) -> None:
        """Answer the next `times` requests with 200 and a body that is not valid JSON."""
        with self._lock:
            self._faults.append(_Fault("malformed", times))

    def trickle_next(self, every_s: float, times: int = 1) -> None:
        """Answer the next `times` requests with 200 and a body sent a byte every `every_s`."""
        with self._lock:
            self._faults.append(_Fault("trickle", times, delay_s=every_s))

    def huge_next(self, size: int, times: int = 1) -> None:
        """Answer the next `times` requests with 200 and a `size`-byte JSON body, streamed."""
        with self._lock:
            self._faults.append(_Fault("huge", times, size=size))

    def reset(self) -> None:
        """Forget companies, faults and received requests."""
        with self._lock:
            self._companies.clear()
            self._faults.clear()
            self.requests.clear()

    def count(self) -> int:
        """How many requests were received."""
        with self._lock:
            return len(self.requests)

    # Server side

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            return fault

    def _authorized(self, request: Request) -> bool:
        expected = f"{self.auth_scheme} {self.api_key}" if self.auth_scheme else self.api_key
        return request.headers.get(self.auth_header) == expected

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.get(self.path)
        async def find(request: Request) -> Response:
            domain = request.query_params.get("domain")
            with self._lock:
                self.requests.append(domain)
            if not self._authorized(request):
                return _error(401, "auth_error", "Invalid API key")
            fault = self._take_fault()
            if fault is not None and fault.kind == "delay":
                await asyncio.sleep(fault.delay_s)
            elif fault is not None and fault.kind == "status":
                response = _error(fault.status, "injected", f"injected {fault.status}")
                if fault.retry_after is not None:
                    response.headers["Retry-After"] = fault.retry_after
                return response
            elif fault is not None and fault.kind == "malformed":
                return Response('{"name": "Acme", "employees": ', media_type="application/json")
            elif fault is not None and fault.kind == "trickle":
                return StreamingResponse(_trickle(fault.delay_s), media_type="application/json")
            elif fault is not None and fault.kind == "huge":
                return StreamingResponse(_huge(fault.size), media_type="application/json")
            if not domain:
                return _error(400, "invalid_request", "domain is required")
            with self._lock:
                found = domain.lower() in self._companies
                body = copy.deepcopy(self._companies.get(domain.lower()))
            if not found:
                return _error(404, "unknown_record", f"Unknown domain {domain}")
            return JSONResponse(body)

        return app


@contextlib.contextmanager
def running_enrichment_server(
    *,
    api_key: str = API_KEY,
    auth_header: str = "Authorization",
    auth_scheme: str = "Bearer",
    path: str = "/v1/companies/find",
) -> Iterator[tuple[str, FakeEnrichment]]:
    """Serve a FakeEnrichment on 127.0.0.1 (a free port) in a thread; yield `(url, fake)`."""
    fake = FakeEnrichment(
        api_key=api_key, auth_header=auth_header, auth_scheme=auth_scheme, path=path
    )
    with serving(fake.app) as url:
        yield url, fake
