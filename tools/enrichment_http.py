"""A generic JSON-over-HTTP company enrichment provider: one step of the enrich waterfall.

Speaks the shape shared by Clearbit's Company API (`GET /v2/companies/find?domain=`) and most
self-hosted firmographics services: a company is found by its domain with one `GET`, and the
answer is a JSON object describing it.

- `GET {base_url}{path_template}` where `{domain}` is the URL-encoded domain
  (default `/v1/companies/find?domain={domain}`), with the header
  `{auth_header}: {auth_scheme} {api_key}` (default `Authorization: Bearer <key>`; an empty
  scheme sends the bare key, as `X-Api-Key`-style APIs expect; no key, no header).
- `200` with a JSON object → the company. `404` → unknown company (`None`). `202`/`204` →
  nothing known yet (`None`; Clearbit answers `202` while it researches a domain).
- `401`/`403` → `ProviderAuthError` at once. `408`, `429` and `5xx`, timeouts and connection
  errors are transient: retried with tenacity up to `max_attempts`, waiting what `Retry-After`
  asks (seconds or an HTTP date, capped at `max_retry_after_s`) or else the backoff, then
  `ProviderUnavailable`. Any other status, a body that is not JSON, or JSON of the wrong shape
  → `ProviderError` at once: asking again would get the same answer.

`field_map` says where each of our fields sits in the provider's JSON, as dotted paths tried in
order (`DEFAULT_FIELD_MAP` reads a flat body with our own names plus the common aliases of
Clearbit, People Data Labs and Apollo-like APIs). A path through a missing key or a non-object
is simply absent. Values are coerced: `employees` and `founded_year` to int, `country` to an
ISO 3166-1 alpha-2 code, `domain` to a registrable domain, `linkedin_url` to a URL, `tags` to a
list of strings. A value of the wrong JSON type (an object where a name belongs) is a shape
error; a value of the right type that cannot be read ("unknown" employees, "Narnia") is left
out and noted in `ProviderResult.problems`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import httpx
import structlog
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from domain.normalize import website_domain
from domain.regions import country_code
from tools.retry import give_up, log_retry, retry_after_seconds

log = structlog.get_logger("lead_router.enrichment_http")

FIELD_NAMES: Final = (
    "name",
    "domain",
    "industry",
    "employees",
    "country",
    "state",
    "city",
    "founded_year",
    "description",
    "linkedin_url",
    "tags",
)

DEFAULT_FIELD_MAP: Final[Mapping[str, tuple[str, ...]]] = {
    "name": ("name", "company_name"),
    "domain": ("domain", "website"),
    "industry": ("industry", "category.industry", "category.sector"),
    "employees": (
        "employees",
        "employee_count",
        "metrics.employees",
        "estimated_num_employees",
    ),
    "country": ("country", "country_code", "geo.countryCode", "geo.country", "location.country"),
    "state": ("state", "geo.state", "location.region"),
    "city": ("city", "geo.city", "location.locality"),
    "founded_year": ("founded_year", "foundedYear", "founded"),
    "description": ("description", "short_description"),
    "linkedin_url": ("linkedin_url", "linkedin.handle"),
    "tags": ("tags",),
}

_TRANSIENT_STATUSES: Final = frozenset({408, 429})
_NOT_YET_KNOWN: Final = frozenset({202, 204})
_TEXT_FIELDS: Final = frozenset({"name", "industry", "state", "city", "description"})
_MAX_TEXT_CHARS: Final = 2000


class ProviderError(Exception):
    """The provider could not answer: the message names the host and the problem."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class ProviderAuthError(ProviderError):
    """The provider rejected the API key (401/403); retrying will not help."""


class ProviderUnavailable(ProviderError):
    """Transient failures (timeouts, 429, 5xx) lasted through every attempt."""


@dataclass(frozen=True, slots=True)
class FieldValue:
    """One enriched field: its value, who said so, how sure we are, and when."""

    value: Any
    source: str  # "http:<host>"
    confidence: float
    fetched_at: str  # ISO-8601 UTC


@dataclass(slots=True)
class ProviderResult:
    """A company found by the provider: coerced fields, plus how the lookup went."""

    fields: dict[str, FieldValue]
    raw_status: int
    attempts: int
    elapsed_ms: float
    problems: list[str] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        """Just the field values, by field name."""
        return {name: fv.value for name, fv in self.fields.items()}

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serializable copy, as the cache and the lead's state store it."""
        return asdict(self)


class _Transient(Exception):
    """A retryable HTTP answer (408, 429, 5xx) and the wait it asked for."""

    def __init__(self, status: int, retry_after_s: float | None, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}" if detail else f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s


class _ShapeError(ValueError):
    """The JSON body does not have the shape the field map expects."""


class _Deadline(TimeoutError):
    """One attempt outlasted its whole deadline (however slowly the bytes trickled in)."""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(
        exc,
        _Transient
        | _Deadline
        | httpx.TimeoutException
        | httpx.NetworkError
        | httpx.RemoteProtocolError,
    )


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, _Deadline):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "…"


def _normalize_map(
    field_map: Mapping[str, str | Sequence[str]] | None,
) -> dict[str, tuple[str, ...]]:
    if field_map is None:
        return dict(DEFAULT_FIELD_MAP)
    out: dict[str, tuple[str, ...]] = {}
    for name, paths in field_map.items():
        if name not in FIELD_NAMES:
            raise ValueError(
                f"field_map names unknown field {name!r}; known fields: {', '.join(FIELD_NAMES)}"
            )
        if isinstance(paths, str):
            candidates: tuple[Any, ...] = (paths,)
        else:
            candidates = tuple(paths) if isinstance(paths, Sequence) else ()
        if not candidates or any(
            not isinstance(p, str) or not p or "" in p.split(".") for p in candidates
        ):
            raise ValueError(
                f"field_map[{name!r}] must be a dotted path like 'geo.countryCode' "
                f"or a list of them, got {paths!r}"
            )
        out[name] = candidates
    return out


def _resolve(body: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when a key is missing or a step is not an object."""
    node: Any = body
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _json_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else type(value).__name__


def _text(value: Any, expected: str) -> str | None:
    if not isinstance(value, str):
        raise _ShapeError(f"expected {expected}, got {_json_type(value)}")
    text = " ".join(value.split())
    return text[:_MAX_TEXT_CHARS] or None


def _whole_number(value: Any) -> int | None:
    """An int from a JSON number or a digit string ("1,200"); None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _ShapeError(f"expected a number, got {_json_type(value)}")
    if isinstance(value, str):
        cleaned = value.strip().replace(",", "").replace("_", "").replace(" ", "")
        return int(cleaned) if cleaned.isdigit() else None
    if isinstance(value, float):
        return round(value) if math.isfinite(value) else None
    return value


def _coerce(name: str, value: Any) -> Any:
    """Our field's value from the provider's; None if unreadable, `_ShapeError` if mistyped."""
    if name in _TEXT_FIELDS:
        return _text(value, "a string")
    if name == "domain":
        text = _text(value, "a domain string")
        return website_domain(text) if text else None
    if name == "employees":
        count = _whole_number(value)
        return count if count is not None and count >= 0 else None
    if name == "founded_year":
        year = _whole_number(value)
        return year if year is not None and 1000 <= year <= datetime.now(UTC).year + 1 else None
    if name == "country":
        text = _text(value, "a country name or code")
        return country_code(text) if text else None
    if name == "linkedin_url":
        text = _text(value, "a LinkedIn URL or handle")
        if not text:
            return None
        if text.startswith(("http://", "https://")):
            return text
        return "https://www.linkedin.com/" + text.lstrip("/")
    if name == "tags":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise _ShapeError(f"expected a list of strings, got {_json_type(value)}")
        tags = [" ".join(item.split()) for item in items]
        return [tag for tag in tags if tag] or None
    raise AssertionError(f"no coercion for field {name!r}")


class HttpEnrichmentProvider:
    """Company firmographics by domain from a JSON-over-HTTP API, with timeouts and retries.

    `base_url` is the API root (`https://company.clearbit.com`, `http://enrich.internal:8080`);
    `api_key` goes in `auth_header` after `auth_scheme`. `timeout_s` bounds each attempt as a
    whole (connect, headers and body), and a body over `max_body_bytes` is dropped;
    `max_attempts` counts the first try. `wait` is the tenacity wait strategy between
    transient failures without `Retry-After` (default: exponential backoff with jitter from
    0.2 s, at most 2 s); `sleep` is the coroutine that waits and `clock` stamps `fetched_at`,
    both replaceable in tests. Every field found is given `confidence`.

    One `httpx.AsyncClient` serves every lookup: it opens on first use (or `open()`, or
    `async with`) and `close()` releases it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None,
        *,
        timeout_s: float = 3.0,
        max_attempts: int = 3,
        path_template: str = "/v1/companies/find?domain={domain}",
        auth_header: str = "Authorization",
        auth_scheme: str = "Bearer",
        field_map: Mapping[str, str | Sequence[str]] | None = None,
        confidence: float = 0.8,
        wait: Callable[[RetryCallState], float] | None = None,
        max_retry_after_s: float = 10.0,
        max_body_bytes: int = 1_000_000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in {"http", "https"} or not url.host:
            raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
        if api_key is not None and not api_key.get_secret_value().strip():
            raise ValueError("api_key is empty: pass None for a provider that needs no key")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if not 0 < confidence <= 1:
            raise ValueError(f"confidence must be in (0, 1], got {confidence}")
        if max_retry_after_s < 0:
            raise ValueError(f"max_retry_after_s must be >= 0, got {max_retry_after_s}")
        try:
            probe = path_template.format(domain="example.com")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"path_template may only use {{domain}}, got {path_template!r}"
            ) from exc
        if probe == path_template:
            raise ValueError(f"path_template must contain {{domain}}, got {path_template!r}")

        self.base_url = str(url).rstrip("/")
        self.host = url.host
        self.source = f"http:{url.host}"
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.path_template = path_template
        self.field_map = _normalize_map(field_map)
        self.confidence = confidence
        self.max_retry_after_s = max_retry_after_s
        self.max_body_bytes = max_body_bytes
        self._api_key = api_key
        self._auth_header = auth_header
        self._auth_scheme = auth_scheme.strip()
        self._backoff = wait or wait_exponential_jitter(multiplier=0.2, max=2.0, jitter=0.2)
        self._sleep = sleep
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"HttpEnrichmentProvider({self.base_url!r})"

    # Connection

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "lead-router"}
        if self._api_key is not None:
            key = self._api_key.get_secret_value()
            headers[self._auth_header] = f"{self._auth_scheme} {key}" if self._auth_scheme else key
        return headers

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers(),
                timeout=httpx.Timeout(self.timeout_s),
                follow_redirects=False,
            )
        return self._client

    async def open(self) -> Self:
        """Open the shared HTTP client (done on first lookup otherwise)."""
        self._http()
        return self

    async def close(self) -> None:
        """Close the HTTP client; the next lookup opens a new one."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # Lookup

    async def lookup(self, domain: str) -> ProviderResult | None:
        """The company at `domain` with its fields coerced, or None when the provider has none.

        Raises `ProviderAuthError` (key rejected), `ProviderUnavailable` (transient failures
        outlasted every attempt) or `ProviderError` (anything else, e.g. a malformed body).
        """
        wanted = domain.strip().lower() if isinstance(domain, str) else ""
        if not wanted or any(ch.isspace() or ch == "/" for ch in wanted):
            raise ValueError(f"domain must be a bare domain like 'acme.com', got {domain!r}")
        path = self.path_template.format(domain=quote(wanted, safe=""))
        client = self._http()
        started = time.perf_counter()
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            stop=give_up(stop_after_attempt(self.max_attempts), backend="enrichment_http"),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=log_retry(
                log,
                "enrichment lookup failed, retrying",
                _describe,
                backend="enrichment_http",
                provider=self.host,
                domain=wanted,
            ),
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    response = await self._get(client, path, attempts)
                    self._raise_for_status(response, attempts)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise ProviderUnavailable(
                f"enrichment provider {self.host} failed after {attempts} attempts "
                f"looking up {wanted!r}: {_describe(last)}",
                status=last.status if isinstance(last, _Transient) else None,
                attempts=attempts,
            ) from last
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"enrichment provider {self.host} could not be asked about {wanted!r}: "
                f"{_describe(exc)}",
                attempts=attempts,
            ) from exc

        if response.status_code == 404 or response.status_code in _NOT_YET_KNOWN:
            return None
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        fields, problems = self._parse(response, wanted, attempts)
        return ProviderResult(
            fields=fields,
            raw_status=response.status_code,
            attempts=attempts,
            elapsed_ms=elapsed_ms,
            problems=problems,
        )

    async def _get(self, client: httpx.AsyncClient, path: str, attempts: int) -> httpx.Response:
        """One GET within `timeout_s` in all (not per read), its body read up to
        `max_body_bytes`: a provider trickling bytes or sending megabytes costs one deadline."""
        try:
            async with asyncio.timeout(self.timeout_s):
                async with client.stream("GET", path) as streamed:
                    body = bytearray()
                    async for chunk in streamed.aiter_bytes():
                        body += chunk
                        if len(body) > self.max_body_bytes:
                            raise ProviderError(
                                f"enrichment provider {self.host} sent more than "
                                f"{self.max_body_bytes} bytes; the answer was dropped",
                                status=streamed.status_code,
                                attempts=attempts,
                            )
        except TimeoutError as exc:
            raise _Deadline(
                f"no whole answer within {self.timeout_s:g} s (ENRICHMENT_TIMEOUT_S)"
            ) from exc
        return httpx.Response(
            streamed.status_code,
            headers=streamed.headers,
            content=bytes(body),
            request=streamed.request,
        )

    def _raise_for_status(self, response: httpx.Response, attempts: int) -> None:
        status = response.status_code
        if status == 200 or status == 404 or status in _NOT_YET_KNOWN:
            return
        if status in _TRANSIENT_STATUSES or status >= 500:
            raise _Transient(
                status, retry_after_seconds(response.headers.get("Retry-After")), _snippet(response)
            )
        if status in {401, 403}:
            hint = "no API key was sent" if self._api_key is None else "check the API key"
            raise ProviderAuthError(
                f"enrichment provider {self.host} rejected the request with {status}: {hint} "
                f"({_snippet(response)})",
                status=status,
                attempts=attempts,
            )
        raise ProviderError(
            f"enrichment provider {self.host} answered {status} {response.reason_phrase}: "
            f"{_snippet(response)}",
            status=status,
            attempts=attempts,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, self.max_retry_after_s)
        return float(self._backoff(state))

    # Parsing

    def _parse(
        self, response: httpx.Response, domain: str, attempts: int
    ) -> tuple[dict[str, FieldValue], list[str]]:
        where = f"enrichment provider {self.host} ({domain!r})"
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderError(
                f"{where} sent a body that is not valid JSON: {exc}; body starts "
                f"{_snippet(response, 80)!r}",
                status=response.status_code,
                attempts=attempts,
            ) from exc
        if not isinstance(body, dict):
            raise ProviderError(
                f"{where} sent {_json_type(body)} where a JSON object describing the company "
                "was expected",
                status=response.status_code,
                attempts=attempts,
            )

        fetched_at = self._clock().astimezone(UTC).isoformat()
        fields: dict[str, FieldValue] = {}
        problems: list[str] = []
        for name, paths in self.field_map.items():
            path, raw = next(
                ((p, v) for p in paths if (v := _resolve(body, p)) is not None), (None, None)
            )
            if path is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
                continue
            try:
                value = _coerce(name, raw)
            except _ShapeError as exc:
                raise ProviderError(
                    f"{where} sent a body of the wrong shape: {name} at {path!r}: {exc} "
                    "(set field_map to where this provider keeps it)",
                    status=response.status_code,
                    attempts=attempts,
                ) from exc
            if value is None:
                problems.append(f"{name}: could not read {raw!r} at {path!r}")
                continue
            fields[name] = FieldValue(value, self.source, self.confidence, fetched_at)
        return fields, problems
