"""Similar-account memory in a Pinecone index: the production backend of `VectorMemory`.

Speaks Pinecone's data-plane REST API through the official `pinecone` SDK (10.x,
`Pinecone(api_key=...).Index(host=...)`), against the index host, with header `Api-Key`:

- `POST /vectors/upsert` `{"vectors": [{"id", "values", "metadata"}], "namespace"}` →
  `{"upsertedCount"}`
- `POST /query` `{"vector", "topK", "namespace", "includeMetadata", "includeValues"}` →
  `{"matches": [{"id", "score", "metadata"}], "namespace"}`
- `GET /vectors/fetch?ids=...&ids=...&namespace=...` → `{"vectors": {id: {"id", "values",
  "metadata"}}, "namespace"}`
- `POST /describe_index_stats` `{}` → `{"namespaces": {name: {"vectorCount"}}, "dimension",
  "totalVectorCount", "indexFullness"}`

and, only when no host is configured, the control plane's `GET /indexes/{name}` to find the
index host (the SDK's `Pinecone.Index(name=...)`).

Retries live here, not in the SDK: every call is retried with tenacity on 429 (waiting what
`Retry-After` asks, capped), on 5xx, on timeouts and on connection errors, with bounded
attempts and exponential backoff with jitter; other errors (401 bad key, 400 bad request) fail
at once. The SDK's own data-plane transport retries are switched off on the index client so
that attempts do not multiply (4 SDK attempts inside each of ours) and so the wait schedule is
the one configured here; the SDK offers no public setting for that, hence `_no_sdk_retries`.
Every failure surfaces as `tools.vector.VectorMemoryError` naming the operation, with the SDK
error as its cause. Blocking SDK calls run in a worker thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from pinecone import Pinecone, RetryConfig
from pinecone.errors import (
    ApiError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    RateLimitError,
    ServiceError,
    UnauthorizedError,
)
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from tools.retry import give_up, log_retry, retry_after_seconds
from tools.vector import VectorMemoryError, check_top_k, check_vector, sanitize_metadata

if TYPE_CHECKING:
    from pinecone import Index
    from pinecone.models.vectors.responses import DescribeIndexStatsResponse, FetchResponse

T = TypeVar("T")

log = structlog.get_logger("lead_router.vector_pinecone")

UPSERT_BATCH = 100  # vectors per request, well under Pinecone's 1000 vectors / 2 MB cap
FETCH_BATCH = 100  # ids per GET, to keep the URL short


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, RateLimitError | ServiceError | PineconeTimeoutError):
        return True
    if isinstance(exc, PineconeConnectionError):
        return True
    return isinstance(exc, ApiError) and exc.status_code == 408


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds a 429 asked the client to wait (`Retry-After`: seconds or an HTTP date)."""
    if not isinstance(exc, RateLimitError):
        return None
    if exc.retry_after is not None:
        return max(0.0, float(exc.retry_after))
    raw = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("retry-after")
    return retry_after_seconds(raw)


def _no_sdk_retries(index: Index) -> None:
    """Switch off the SDK's transport-level retries on this data-plane client."""
    transport = getattr(getattr(getattr(index, "_http", None), "_client", None), "_transport", None)
    if transport is None or not hasattr(transport, "_config"):
        log.warning(
            "pinecone SDK retries could not be switched off; attempts per call may multiply",
            sdk_layout="changed",
        )
        return
    transport._config = RetryConfig(max_retries=0)


class PineconeVectorMemory:
    """`VectorMemory` over one namespace of a Pinecone index, with retries on transient errors.

    `host` is the index host (e.g. `https://accounts-abc123.svc.us-east1-aws.pinecone.io`, or
    `http://127.0.0.1:5081` for a local endpoint); when None it is looked up once by index
    name through the control plane. `timeout_s` bounds each HTTP attempt. `max_attempts`,
    `backoff_s` (first backoff), `max_wait_s` (cap on any one wait, Retry-After included) and
    `sleep` (the coroutine that waits) shape the retries.
    """

    def __init__(
        self,
        api_key: str,
        index: str,
        host: str | None = None,
        namespace: str = "accounts",
        timeout_s: float = 5,
        *,
        max_attempts: int = 4,
        backoff_s: float = 0.25,
        max_wait_s: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("PINECONE_API_KEY is empty: set it to the project's API key")
        if not host and not index:
            raise ValueError("Pinecone needs an index name (PINECONE_INDEX) or a host")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.index_name = index
        self.host = host or None
        self.namespace = namespace
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self._api_key = api_key
        self._sleep = sleep
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_s, max=max_wait_s, jitter=backoff_s
        )
        self._lock = threading.Lock()
        self._client: Pinecone | None = None
        self._index: Index | None = None

    def __repr__(self) -> str:
        where = self.host or f"index {self.index_name!r}"
        return f"PineconeVectorMemory({where}, namespace={self.namespace!r})"

    # Connection

    def _open_index(self) -> Index:
        with self._lock:
            if self._index is not None:
                return self._index
            if self._client is None:
                self._client = Pinecone(
                    api_key=self._api_key,
                    timeout=self.timeout_s,
                    retry_config=RetryConfig(max_retries=0),
                )
            if self.host:
                index = self._client.index(host=self.host)
            else:
                index = self._client.index(name=self.index_name)
                self.host = index.host
            _no_sdk_retries(index)
            self._index = index
            return index

    async def close(self) -> None:
        """Close the HTTP clients; the next call opens them again."""

        def close() -> None:
            with self._lock:
                index, self._index = self._index, None
                client, self._client = self._client, None
            if index is not None:
                index.close()
            if client is not None:
                client.close()

        await asyncio.to_thread(close)

    # Retries

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_s(exc) if exc is not None else None
        if asked is not None:
            return min(asked, self.max_wait_s)
        return float(self._backoff(state))

    async def _call(self, operation: str, fn: Callable[[Index], T]) -> T:
        """Run `fn(index)` in a worker thread, retrying transient failures."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            stop=give_up(stop_after_attempt(self.max_attempts), backend="pinecone"),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=log_retry(
                log,
                "pinecone call failed, retrying",
                _describe,
                backend="pinecone",
                operation=operation,
            ),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await asyncio.to_thread(lambda: fn(self._open_index()))
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise VectorMemoryError(
                f"Pinecone {operation} failed after {self.max_attempts} attempts "
                f"({self._where()}): {_describe(last)}"
            ) from last
        except UnauthorizedError as exc:
            raise VectorMemoryError(
                f"Pinecone rejected the API key ({exc.status_code}) for {operation} at "
                f"{self._where()}: check PINECONE_API_KEY — {exc.message}"
            ) from exc
        except PineconeError as exc:
            raise VectorMemoryError(
                f"Pinecone {operation} failed ({self._where()}): {_describe(exc)}"
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _where(self) -> str:
        return f"host {self.host}" if self.host else f"index {self.index_name!r}"

    # VectorMemory

    async def upsert(self, items: list[tuple[str, list[float], dict[str, Any]]]) -> None:
        """Insert or replace each `(id, vector, metadata)` in the namespace."""
        vectors: list[dict[str, Any]] = []
        for item_id, vector, metadata in items:
            if not isinstance(item_id, str) or not item_id:
                raise ValueError(f"vector id must be a non-empty string, got {item_id!r}")
            vectors.append(
                {
                    "id": item_id,
                    "values": check_vector(vector, None, f"vector {item_id!r}"),
                    "metadata": sanitize_metadata(metadata),
                }
            )
        for start in range(0, len(vectors), UPSERT_BATCH):
            await self._call(
                "upsert", partial(self._upsert_batch, vectors[start : start + UPSERT_BATCH])
            )

    def _upsert_batch(self, batch: list[dict[str, Any]], index: Index) -> None:
        index.upsert(vectors=batch, namespace=self.namespace)

    async def query(self, vector: list[float], top_k: int) -> list[dict[str, Any]]:
        """The `top_k` most similar vectors in the namespace: `[{"id", "score", "metadata"}]`,
        best first."""
        check_top_k(top_k)
        values = check_vector(vector, None, "query vector")
        response = await self._call(
            "query",
            lambda index: index.query(
                vector=values, top_k=top_k, namespace=self.namespace, include_metadata=True
            ),
        )
        return [
            {"id": match.id, "score": float(match.score), "metadata": dict(match.metadata or {})}
            for match in response.matches
        ]

    async def fetch(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored vectors with these ids: `{id: {"id", "values", "metadata"}}`; absent
        ids are left out."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), FETCH_BATCH):
            response = await self._call(
                "fetch", partial(self._fetch_batch, wanted[start : start + FETCH_BATCH])
            )
            for vector_id, vector in response.vectors.items():
                found[vector_id] = {
                    "id": vector_id,
                    "values": [float(x) for x in vector.values],
                    "metadata": dict(vector.metadata or {}),
                }
        return found

    def _fetch_batch(self, batch: list[str], index: Index) -> FetchResponse:
        return index.fetch(ids=batch, namespace=self.namespace)

    async def stats(self) -> dict[str, Any]:
        """`{"backend": "pinecone", "count", "dimension", "total"}`: `count` is this
        namespace's vectors, `total` the whole index's."""
        response = await self._call("describe_index_stats", _describe_index_stats)
        summary = response.namespaces.get(self.namespace)
        return {
            "backend": "pinecone",
            "count": summary.vector_count if summary is not None else 0,
            "dimension": response.dimension,
            "total": response.total_vector_count,
        }

    async def ping(self) -> None:
        """Raise VectorMemoryError unless the index answers `describe_index_stats`."""
        await self._call("ping", _describe_index_stats)


def _describe_index_stats(index: Index) -> DescribeIndexStatsResponse:
    return index.describe_index_stats()


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    if isinstance(exc, ApiError):
        return f"{type(exc).__name__} {exc.status_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
