"""A local Pinecone: the data-plane REST endpoints the SDK's vector methods call, in memory.

One dense index (cosine) with a fixed dimension, vectors per namespace. Every request needs
the header `Api-Key` (else `401`). Endpoints and shapes (camelCase on the wire, as the SDK
sends and decodes them):

- `POST /vectors/upsert` `{"vectors": [{"id", "values", "metadata"?}], "namespace"?}` →
  `{"upsertedCount"}`; a wrong dimension, an all-zero vector or metadata that is not a
  string, number, boolean or list of strings → `400 {"code": 3, "message", "details"}`.
  Numbers in metadata come back as floats, as on Pinecone.
- `POST /query` `{"topK", "vector" | "id", "namespace"?, "includeMetadata"?,
  "includeValues"?}` → `{"matches": [{"id", "score", "values", "metadata"?}], "namespace",
  "usage": {"readUnits"}}`, best first.
- `GET /vectors/fetch?ids=a&ids=b&namespace=n` → `{"vectors": {id: {"id", "values",
  "metadata"?}}, "namespace", "usage"}`.
- `POST /describe_index_stats` `{}` → `{"namespaces": {name: {"vectorCount"}}, "dimension",
  "indexFullness", "totalVectorCount", "metric", "vectorType"}`.
- Control plane `GET /indexes/{name}` → the index description whose `host` is this server.

Faults on demand: `fail_next(status, retry_after=..., times=...)` answers the next matching
requests with that status (and `Retry-After` header), `delay_next(seconds)` holds them before
answering; `requests` lists every `(method, path)` received. `running_pinecone()` serves it
under uvicorn on 127.0.0.1 in a thread and yields `(url, fake)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tests.fakes import serving

_STATUS_CODES = {
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass
class _Fault:
    status: int | None
    retry_after: str | None
    delay_s: float
    times: int
    path: str | None


@dataclass
class _Record:
    values: list[float]
    metadata: dict[str, Any] = field(default_factory=dict)


class BadRequest(Exception):
    """A request the real service would reject with 400 INVALID_ARGUMENT."""


def _api_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}, "status": status}, status_code=status
    )


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"code": 3, "message": message, "details": []}, status_code=400)


def _metadata(raw: Any, vector_id: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadRequest(f"Metadata of vector {vector_id!r} must be an object")
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, bool | str):
            clean[key] = value
        elif isinstance(value, int | float) and math.isfinite(value):
            clean[key] = float(value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            clean[key] = list(value)
        else:
            raise BadRequest(
                "Metadata value must be a string, number, boolean or list of strings, "
                f"got '{value!r}' for field '{key}'"
            )
    return clean


class FakePinecone:
    """State and fault controls of one fake index; `app` is its ASGI application."""

    def __init__(
        self, *, api_key: str = "test-key", dimension: int = 256, index_name: str = "accounts"
    ) -> None:
        self.api_key = api_key
        self.dimension = dimension
        self.index_name = index_name
        self.url = ""
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._namespaces: dict[str, dict[str, _Record]] = {}
        self._faults: list[_Fault] = []
        self.app = self._build_app()

    # Controls, called from the test's thread

    def fail_next(
        self,
        status: int = 503,
        *,
        retry_after: float | str | None = None,
        times: int = 1,
        path: str | None = None,
    ) -> None:
        """Answer the next `times` requests (to `path`, if given) with `status`."""
        header = None if retry_after is None else str(retry_after)
        with self._lock:
            self._faults.append(_Fault(status, header, 0.0, times, path))

    def delay_next(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Hold the next `times` requests (to `path`, if given) for `seconds` before answering."""
        with self._lock:
            self._faults.append(_Fault(None, None, seconds, times, path))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def count(self, path: str | None = None) -> int:
        """How many requests were received (to `path`, if given)."""
        with self._lock:
            return sum(1 for _, seen in self.requests if path is None or seen == path)

    def stored(self, namespace: str) -> dict[str, dict[str, Any]]:
        """A copy of the vectors stored in `namespace`."""
        with self._lock:
            return {
                vid: {"values": list(rec.values), "metadata": dict(rec.metadata)}
                for vid, rec in self._namespaces.get(namespace, {}).items()
            }

    # Server side

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path == path:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def gatekeeper(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            path = request.url.path
            with self._lock:
                self.requests.append((request.method, path))
            if request.headers.get("api-key") != self.api_key:
                return _api_error(401, "UNAUTHENTICATED", "Invalid API Key")
            fault = self._take_fault(path)
            if fault is not None:
                if fault.delay_s:
                    # Read the body first: the client may give up while the server is slow.
                    await request.body()
                    await asyncio.sleep(fault.delay_s)
                if fault.status is not None:
                    response = _api_error(
                        fault.status,
                        _STATUS_CODES.get(fault.status, "UNKNOWN"),
                        f"injected {fault.status}",
                    )
                    if fault.retry_after is not None:
                        response.headers["Retry-After"] = fault.retry_after
                    return response
            return await call_next(request)

        @app.exception_handler(BadRequest)
        async def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
            return _bad_request(str(exc))

        @app.post("/vectors/upsert")
        async def upsert(request: Request) -> dict[str, Any]:
            body = await _json_object(request)
            vectors = body.get("vectors")
            if not isinstance(vectors, list) or not 1 <= len(vectors) <= 1000:
                raise BadRequest("vectors must be a list of 1 to 1000 vectors")
            namespace = _namespace(body.get("namespace"))
            records = {}
            for vector in vectors:
                if not isinstance(vector, dict):
                    raise BadRequest("each vector must be an object")
                vector_id = vector.get("id")
                if not isinstance(vector_id, str) or not 1 <= len(vector_id) <= 512:
                    raise BadRequest("Vector id must be a string of 1 to 512 characters")
                values = self._values(vector.get("values"))
                if not any(values):
                    raise BadRequest("Dense vectors must contain at least one non-zero value")
                records[vector_id] = _Record(values, _metadata(vector.get("metadata"), vector_id))
            with self._lock:
                self._namespaces.setdefault(namespace, {}).update(records)
            return {"upsertedCount": len(vectors)}

        @app.post("/query")
        async def query(request: Request) -> dict[str, Any]:
            body = await _json_object(request)
            top_k = body.get("topK")
            if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 10000:
                raise BadRequest("topK must be an integer from 1 to 10000")
            if body.get("filter") is not None:
                raise BadRequest("this local Pinecone does not evaluate metadata filters")
            namespace = _namespace(body.get("namespace"))
            with self._lock:
                records = dict(self._namespaces.get(namespace, {}))
            if ("vector" in body) == ("id" in body):
                raise BadRequest("exactly one of vector or id is required")
            if "id" in body:
                if body["id"] not in records:
                    return {"matches": [], "namespace": namespace, "usage": {"readUnits": 1}}
                query_values = records[body["id"]].values
            else:
                query_values = self._values(body["vector"])
            scored = _cosine(query_values, records)[:top_k]
            matches = []
            for vector_id, score in scored:
                record = records[vector_id]
                match: dict[str, Any] = {
                    "id": vector_id,
                    "score": score,
                    "values": record.values if body.get("includeValues") else [],
                }
                if body.get("includeMetadata") and record.metadata:
                    match["metadata"] = record.metadata
                matches.append(match)
            return {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}}

        @app.get("/vectors/fetch")
        async def fetch(request: Request) -> dict[str, Any]:
            ids = request.query_params.getlist("ids")
            if not ids:
                raise BadRequest("No IDs provided for fetch query")
            namespace = _namespace(request.query_params.get("namespace"))
            with self._lock:
                records = self._namespaces.get(namespace, {})
                found = {
                    vid: {"id": vid, "values": list(records[vid].values)}
                    | ({"metadata": dict(records[vid].metadata)} if records[vid].metadata else {})
                    for vid in ids
                    if vid in records
                }
            return {"vectors": found, "namespace": namespace, "usage": {"readUnits": 1}}

        @app.post("/describe_index_stats")
        async def describe_index_stats(request: Request) -> dict[str, Any]:
            body = await _json_object(request)
            if body.get("filter") is not None:
                raise BadRequest("this local Pinecone does not evaluate metadata filters")
            with self._lock:
                counts = {ns: len(recs) for ns, recs in self._namespaces.items() if recs}
            return {
                "namespaces": {ns: {"vectorCount": n} for ns, n in counts.items()},
                "dimension": self.dimension,
                "indexFullness": 0.0,
                "totalVectorCount": sum(counts.values()),
                "metric": "cosine",
                "vectorType": "dense",
            }

        @app.get("/indexes/{name}")
        async def describe_index(name: str) -> Response:
            if name != self.index_name:
                return _api_error(404, "NOT_FOUND", f"Resource {name} not found")
            return JSONResponse(
                {
                    "name": name,
                    "status": {"ready": True, "state": "Ready"},
                    "schema": {
                        "fields": {
                            "values": {
                                "type": "dense_vector",
                                "dimension": self.dimension,
                                "metric": "cosine",
                            }
                        }
                    },
                    "deployment": {
                        "deployment_type": "managed",
                        "cloud": "aws",
                        "region": "us-east-1",
                    },
                    "deletion_protection": "disabled",
                    "host": self.url,
                }
            )

        return app

    def _values(self, raw: Any) -> list[float]:
        if not isinstance(raw, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in raw
        ):
            raise BadRequest("values must be a list of finite numbers")
        if len(raw) != self.dimension:
            raise BadRequest(
                f"Vector dimension {len(raw)} does not match the dimension of the index "
                f"{self.dimension}"
            )
        return [float(x) for x in raw]


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadRequest("request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _namespace(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise BadRequest("namespace must be a string")
    return raw


def _cosine(query: list[float], records: dict[str, _Record]) -> list[tuple[str, float]]:
    if not records:
        return []
    ids = list(records)
    matrix = np.asarray([records[vid].values for vid in ids], dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0)
    scores = (matrix @ q) / np.where(norms > 0, norms, 1.0)
    return sorted(
        ((vid, float(score)) for vid, score in zip(ids, scores, strict=True)),
        key=lambda pair: (-pair[1], pair[0]),
    )


@contextlib.contextmanager
def running_pinecone(
    *, api_key: str = "test-key", dimension: int = 256, index_name: str = "accounts"
) -> Iterator[tuple[str, FakePinecone]]:
    """Serve a FakePinecone on 127.0.0.1 (a free port) in a thread; yield `(url, fake)`."""
    fake = FakePinecone(api_key=api_key, dimension=dimension, index_name=index_name)
    with serving(fake.app) as url:
        fake.url = url
        yield url, fake
