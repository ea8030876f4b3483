"""Meetings on Cal.com API v2: the production backend of the `Calendar` port (DESIGN §4).

Speaks Cal.com API v2 over httpx, against `https://api.cal.com` or `CALCOM_API_URL`, with the
API key sent as `Authorization: Bearer cal_…`. The shapes below were read in Cal.com's source
(`calcom/cal.com`):

- `GET /v2/slots` with `cal-api-version: 2024-09-04` and `eventTypeId`, `start`, `end` (UTC ISO
  8601), `timeZone`, `format=range` → `{"status": "success", "data": {"<date>": [{"start",
  "end"}]}}` (`apps/api/v2/src/modules/slots/slots-2024-09-04/controllers/slots.controller.ts`).
- `POST /v2/bookings` with `cal-api-version: 2024-08-13` and `{start (UTC), eventTypeId,
  attendee: {name, email, timeZone}, metadata}`; metadata is at most 50 string values, keys up
  to 40 characters (`packages/platform/types/bookings/2024-08-13/inputs/create-booking.input.ts`)
  → `{"status": "success", "data": <booking>}` with `uid`, `start`, `end`, `status`, `location`
  (the meeting URL), `meetingUrl` (deprecated), `metadata`, `attendees`
  (`…/2024-08-13/outputs/booking.output.ts`, `apps/api/v2/src/ee/bookings/2024-08-13/controllers/
  bookings.controller.ts`).
- `GET /v2/bookings` with `cal-api-version: 2024-08-13`, `attendeeEmail`, `take` (≤ 250) and
  `skip` → `{"data": [<booking>…], "pagination": {…, "hasNextPage"}}`
  (`…/2024-08-13/inputs/get-bookings.input.ts`, `packages/platform/types/pagination/
  pagination.output.ts`).
- A slot taken since it was listed is refused with 409 `no_available_users_found_error`
  (`packages/lib/server/getServerErrorFromUnknown.ts`) or, in older releases, 400 "User either
  already has booking at this time or is not available" (`apps/api/v2/src/ee/bookings/
  2024-08-13/services/errors.service.ts`); errors come as `{"status": "error", "error": {"code",
  "message"}}` (`apps/api/v2/src/filters/http-exception.filter.ts`).

How a meeting is booked, once per key (`"{lead_id}:meeting"`):

1. A stored receipt for the key is the answer (`receipts`, the shared store's `Receipts` role).
2. Cal.com has no idempotency key, so the attendee's bookings are looked up first: an accepted or
   pending one whose `metadata.lead_id` and `metadata.lead_router_key` match is the booking.
3. The event type is the rep's `calcom_event_type_id`, else their team's (routing.yaml). Its
   slots from `after` + `lead_time_minutes` to `horizon_days` later are kept when they lie inside
   the rep's working hours (their time zone, Monday–Friday, not out of office).
4. The first slot is booked; a slot taken meanwhile moves to the next (at most `max_slots`).
   A timeout, a connection error or a 5xx leaves the outcome unknown: the attendee's bookings
   are looked up again before the booking is retried, so a booking Cal.com made but whose answer
   was lost is found, not doubled. 429 is retried after what `Retry-After` asks (capped), else
   after the backoff. Every call is retried at most `max_attempts` times (tenacity); 401/403
   raise `CalcomAuthError`, other 4xx `CalcomError`, exhausted retries `CalcomUnavailable`.
5. The receipt is stored: `{"status": "confirmed", "booking_id": <uid>, "rep_id", "start",
   "end" (ISO UTC), "rep_local_start", "timezone", "link", "provider": "cal.com"}`. `link` is
   the meeting URL Cal.com answered (`location`, else `meetingUrl`) when it is an absolute
   http(s) URL, else the booking's page `{app_url}/booking/{uid}`; never a relative path.

`dry_run=True` (SHADOW_MODE) reads slots and bookings but never posts one: it answers
`{"status": "skipped", "reason": "shadow mode: …", "start", …}` with the slot it would have
booked, and stores no receipt.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, cast

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

from domain.records import Booking
from tools.calendar_builtin import Availability
from tools.retry import give_up, log_retry, retry_after_seconds
from tools.slack import ReceiptStore

if TYPE_CHECKING:
    from tools.ports import Calendar

log = structlog.get_logger("lead_router.calcom")

DEFAULT_API_URL: Final = "https://api.cal.com"
DEFAULT_APP_URL: Final = "https://app.cal.com"
SLOTS_VERSION: Final = "2024-09-04"
BOOKINGS_VERSION: Final = "2024-08-13"
PROVIDER: Final = "cal.com"
_GONE: Final = frozenset({"cancelled", "rejected"})
_TAKEN_MESSAGES: Final = (
    "no_available_users_found_error",
    "already has booking at this time",
    "hosts_unavailable_for_booking",
    "booking_time_out_of_bounds_error",
    'can\'t be booked at the "start" time',
)
_PAGE: Final = 100
_MAX_PAGES: Final = 10


class CalcomError(RuntimeError):
    """A Cal.com call failed; the message names the call and Cal.com's answer."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CalcomAuthError(CalcomError):
    """Cal.com refused the API key (401/403): check CALCOM_API_KEY."""


class CalcomUnavailable(CalcomError):
    """Timeouts, 429 or 5xx lasted through every attempt."""


class _Transient(Exception):
    """A retryable answer (408, 429, 5xx) and the wait it asked for."""

    def __init__(self, status: int, retry_after_s: float | None, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}" if detail else f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s


def _is_transient(exc: BaseException) -> bool:
    return isinstance(
        exc, _Transient | httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError
    )


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"[:300]


def _message(response: httpx.Response) -> str:
    """Cal.com's error message (`error.message`), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or body["error"].get("code") or "")[:300]
    return response.text.strip().replace("\n", " ")[:200]


def _when(text: Any) -> datetime:
    """An aware datetime from Cal.com's ISO 8601 text (`…Z` or an offset)."""
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _absolute_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    url = httpx.URL(value.strip()) if value.strip() else None
    return str(url) if url is not None and url.scheme in {"http", "https"} and url.host else None


class CalcomCalendar:
    """`Calendar` that books the owner's Cal.com event type once per key (see the module).

    `api_key` is a Cal.com API key (`cal_live_…`); `base_url` the API root; `app_url` the web
    app whose `/booking/{uid}` page is the link when Cal.com gives no meeting URL. `receipts`
    remembers bookings per key. `timeout_s` bounds each HTTP attempt; `max_attempts`, `wait`
    (default exponential backoff with jitter) and `max_retry_after_s` shape retries; `sleep`
    is the coroutine that waits (replaceable in tests).
    """

    def __init__(
        self,
        api_key: SecretStr,
        *,
        receipts: ReceiptStore,
        base_url: str | None = None,
        app_url: str | None = None,
        dry_run: bool = False,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        lead_time_minutes: int = 120,
        horizon_days: int = 14,
        max_slots: int = 5,
        wait: Callable[[RetryCallState], float] | None = None,
        max_retry_after_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        secret = api_key.get_secret_value().strip()
        if not secret:
            raise ValueError("CALCOM_API_KEY is empty: set it to a Cal.com API key (cal_live_…)")
        for name, url_text in (("base_url", base_url), ("app_url", app_url)):
            if url_text is not None and _absolute_url(url_text) is None:
                raise ValueError(f"{name} must be an http(s) URL with a host, got {url_text!r}")
        if not timeout_s > 0 or max_attempts < 1 or max_slots < 1 or horizon_days < 1:
            raise ValueError("timeout_s, max_attempts, max_slots and horizon_days must be positive")
        if lead_time_minutes < 0 or max_retry_after_s < 0:
            raise ValueError("lead_time_minutes and max_retry_after_s must not be negative")
        self.base_url = (base_url or DEFAULT_API_URL).rstrip("/")
        self.app_url = (app_url or DEFAULT_APP_URL).rstrip("/")
        self.receipts = receipts
        self.dry_run = dry_run
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.lead_time = timedelta(minutes=lead_time_minutes)
        self.horizon = timedelta(days=horizon_days)
        self.max_slots = max_slots
        self.max_retry_after_s = max_retry_after_s
        self._secret = secret
        self._backoff = wait or wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)
        self._sleep = sleep
        self._client: httpx.AsyncClient | None = None
        self._key_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __repr__(self) -> str:
        return f"CalcomCalendar({self.base_url!r}, dry_run={self.dry_run})"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers={
                    "Authorization": f"Bearer {self._secret}",
                    "Accept": "application/json",
                    "User-Agent": "lead-router",
                },
                timeout=httpx.Timeout(self.timeout_s),
                follow_redirects=False,
            )
        return self._client

    async def close(self) -> None:
        """Close the HTTP client; the next call opens a new one."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # Calendar

    async def book(
        self, key: str, rep: dict[str, Any], attendee: dict[str, Any], after: datetime
    ) -> Booking:
        """Book the rep's first free Cal.com slot in their working hours after `after` + lead
        time, once per `key`; see the module docstring for the answer's shape."""
        if not key:
            raise ValueError("a booking needs a key")
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError(f"after must be timezone-aware, got {after.isoformat()}")
        availability = Availability.of(rep)
        rep_id = availability.rep_id
        event_type = rep.get("calcom_event_type_id")
        if not event_type:
            return self._not_booked(
                "skipped",
                rep_id,
                f"rep {rep_id!r} has no calcom_event_type_id (nor has their team) in routing.yaml",
            )
        email = str(attendee.get("email") or "").strip()
        if not email:
            return self._not_booked("skipped", rep_id, "the lead has no email to book with")
        lock = self._key_locks.get(key)
        if lock is None:
            lock = self._key_locks[key] = asyncio.Lock()
        async with lock:
            stored = await self.receipts.get(key)
            if stored is not None:
                return cast(Booking, stored)
            metadata = {"lead_id": key.partition(":")[0], "lead_router_key": key}
            found = await self._find(email, metadata)
            if found is not None:
                log.info("cal.com booking found", key=key, uid=found.get("uid"))
                return await self._keep(key, self._booking(found, availability))
            earliest = after.astimezone(UTC) + self.lead_time
            slots = await self._slots(int(event_type), availability, earliest)
            if not slots:
                return self._not_booked(
                    "unavailable",
                    rep_id,
                    f"Cal.com event type {event_type} has no free slot in rep {rep_id!r}'s "
                    f"working hours between {_iso(earliest)} and {_iso(earliest + self.horizon)}",
                )
            if self.dry_run:
                return self._would_book(slots[0], availability, int(event_type))
            body = {
                "start": slots[0].astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "eventTypeId": int(event_type),
                "attendee": {
                    "name": str(attendee.get("name") or email),
                    "email": email,
                    "timeZone": str(attendee.get("timezone") or availability.zone.key),
                },
                "metadata": metadata,
            }
            for slot in slots[: self.max_slots]:
                body["start"] = slot.astimezone(UTC).isoformat().replace("+00:00", "Z")
                made = await self._create(body, email, metadata)
                if made is not None:
                    log.info("cal.com booking made", key=key, uid=made.get("uid"), start=_iso(slot))
                    return await self._keep(key, self._booking(made, availability))
                log.info("cal.com slot taken meanwhile; trying the next", key=key, start=_iso(slot))
            return self._not_booked(
                "unavailable",
                rep_id,
                f"the first {min(len(slots), self.max_slots)} Cal.com slots of event type "
                f"{event_type} were taken while booking",
            )

    # Answers

    async def _keep(self, key: str, booking: Booking) -> Booking:
        if self.dry_run:
            return booking
        return cast(Booking, await self.receipts.put(key, dict(booking)))

    def _not_booked(self, status: str, rep_id: str, reason: str) -> Booking:
        return cast(
            Booking, {"status": status, "rep_id": rep_id, "reason": reason, "provider": PROVIDER}
        )

    def _booking(self, data: dict[str, Any], availability: Availability) -> Booking:
        uid = str(data.get("uid") or "")
        if not uid:
            raise CalcomError(f"Cal.com answered a booking without a uid: {str(data)[:200]}")
        try:
            start, end = _when(data["start"]), _when(data["end"])
        except (KeyError, ValueError) as exc:
            raise CalcomError(
                f"Cal.com booking {uid} has no readable start and end: {exc}"
            ) from exc
        link = (
            _absolute_url(data.get("location"))
            or _absolute_url(data.get("meetingUrl"))
            or f"{self.app_url}/booking/{uid}"
        )
        return {
            "status": "confirmed",
            "booking_id": uid,
            "rep_id": availability.rep_id,
            "start": _iso(start),
            "end": _iso(end),
            "rep_local_start": start.astimezone(availability.zone).isoformat(),
            "timezone": availability.zone.key,
            "link": link,
            "provider": PROVIDER,
        }

    def _would_book(self, slot: datetime, availability: Availability, event_type: int) -> Booking:
        return {
            "status": "skipped",
            "reason": f"shadow mode: would book {_iso(slot)} on Cal.com event type {event_type}",
            "rep_id": availability.rep_id,
            "start": _iso(slot),
            "rep_local_start": slot.astimezone(availability.zone).isoformat(),
            "timezone": availability.zone.key,
            "provider": PROVIDER,
        }

    # Cal.com calls

    async def _slots(
        self, event_type: int, availability: Availability, earliest: datetime
    ) -> list[datetime]:
        """Free slot starts (UTC) of the event type inside the rep's working hours, in order."""
        until = earliest + self.horizon
        params = {
            "eventTypeId": str(event_type),
            "start": earliest.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "end": until.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "timeZone": availability.zone.key,
            "format": "range",
        }
        response = await self._get("/v2/slots", params, SLOTS_VERSION)
        data = _data(response, "GET /v2/slots")
        if not isinstance(data, dict):
            raise CalcomError("GET /v2/slots answered data that is not an object of dates")
        starts = []
        for entries in data.values():
            for entry in entries if isinstance(entries, list) else []:
                start_text = entry.get("start") if isinstance(entry, dict) else entry
                end_text = entry.get("end") if isinstance(entry, dict) else None
                try:
                    start = _when(start_text).astimezone(UTC)
                    end = _when(end_text).astimezone(UTC) if end_text else start
                except ValueError:
                    continue
                if start >= earliest and _in_hours(availability, start, end):
                    starts.append(start)
        return sorted(set(starts))

    async def _find(self, email: str, metadata: dict[str, str]) -> dict[str, Any] | None:
        """The attendee's live booking carrying this lead's metadata, if Cal.com holds one."""
        for page in range(_MAX_PAGES):
            params = {"attendeeEmail": email, "take": str(_PAGE), "skip": str(page * _PAGE)}
            response = await self._get("/v2/bookings", params, BOOKINGS_VERSION)
            data = _data(response, "GET /v2/bookings")
            for booking in data if isinstance(data, list) else []:
                found = booking.get("metadata") if isinstance(booking, dict) else None
                if (
                    isinstance(found, dict)
                    and all(found.get(name) == value for name, value in metadata.items())
                    and booking.get("status") not in _GONE
                ):
                    return cast(dict[str, Any], booking)
            pagination = response.json().get("pagination")
            if not (isinstance(pagination, dict) and pagination.get("hasNextPage")):
                return None
        log.warning("cal.com lookup stopped after too many pages", email=email)
        return None

    async def _create(
        self, body: dict[str, Any], email: str, metadata: dict[str, str]
    ) -> dict[str, Any] | None:
        """POST the booking: Cal.com's booking, or None when the slot was taken meanwhile.

        After an answer that leaves the outcome unknown (timeout, connection error, 5xx) the
        attendee's bookings are looked up before the POST is tried again.
        """
        unknown = False
        retrying = self._retrying("POST /v2/bookings")
        try:
            async for attempt in retrying:
                with attempt:
                    if unknown:
                        found = await self._find(email, metadata)
                        if found is not None:
                            log.info(
                                "cal.com booking made by an unanswered try", uid=found.get("uid")
                            )
                            return found
                    unknown = True
                    response = await self._http().post(
                        "/v2/bookings", json=body, headers=_version(BOOKINGS_VERSION)
                    )
                    if response.status_code == 429:
                        unknown = False  # refused before anything was booked
                    self._raise_for_status(response, "POST /v2/bookings")
                    if response.status_code in {200, 201}:
                        data = _data(response, "POST /v2/bookings")
                        made = data[0] if isinstance(data, list) and data else data
                        if not isinstance(made, dict):
                            raise CalcomError("POST /v2/bookings answered no booking")
                        return cast(dict[str, Any], made)
                    if _slot_taken(response):
                        return None
                    raise CalcomError(
                        f"Cal.com POST /v2/bookings answered {response.status_code}: "
                        f"{_message(response)}",
                        status=response.status_code,
                    )
        except RetryError as exc:
            raise self._unavailable("POST /v2/bookings", exc) from exc
        raise AssertionError("tenacity ended without a result or an error")

    async def _get(self, path: str, params: dict[str, str], version: str) -> httpx.Response:
        """GET `path`, retrying transient failures; a 2xx answer or an error."""
        endpoint = f"GET {path}"
        try:
            async for attempt in self._retrying(endpoint):
                with attempt:
                    response = await self._http().get(
                        path, params=params, headers=_version(version)
                    )
                    self._raise_for_status(response, endpoint)
                    if response.is_success:
                        return response
                    raise CalcomError(
                        f"Cal.com {endpoint} answered {response.status_code}: {_message(response)}",
                        status=response.status_code,
                    )
        except RetryError as exc:
            raise self._unavailable(endpoint, exc) from exc
        raise AssertionError("tenacity ended without a result or an error")

    def _retrying(self, endpoint: str) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            stop=give_up(stop_after_attempt(self.max_attempts), backend="calcom"),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=log_retry(
                log, "cal.com call failed; retrying", _describe, backend="calcom", call=endpoint
            ),
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, self.max_retry_after_s)
        return float(self._backoff(state))

    def _raise_for_status(self, response: httpx.Response, endpoint: str) -> None:
        status = response.status_code
        if status in {408, 429} or status >= 500:
            raise _Transient(
                status, retry_after_seconds(response.headers.get("Retry-After")), _message(response)
            )
        if status in {401, 403}:
            raise CalcomAuthError(
                f"Cal.com refused {endpoint} with {status}: check CALCOM_API_KEY "
                f"({_message(response)})",
                status=status,
            )

    def _unavailable(self, endpoint: str, exc: RetryError) -> CalcomUnavailable:
        last = exc.last_attempt.exception()
        return CalcomUnavailable(
            f"Cal.com {endpoint} failed after {exc.last_attempt.attempt_number} attempts: "
            f"{_describe(last)}",
            status=last.status if isinstance(last, _Transient) else None,
        )


def _version(version: str) -> dict[str, str]:
    return {"cal-api-version": version}


def _data(response: httpx.Response, endpoint: str) -> Any:
    try:
        body = response.json()
    except ValueError as exc:
        raise CalcomError(f"Cal.com {endpoint} answered a body that is not JSON") from exc
    if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
        raise CalcomError(f"Cal.com {endpoint} answered without success data: {str(body)[:200]}")
    return body["data"]


def _slot_taken(response: httpx.Response) -> bool:
    """Whether Cal.com refused the booking because the slot is no longer free."""
    if response.status_code == 409:
        return True
    message = _message(response).lower()
    return response.status_code == 400 and any(text.lower() in message for text in _TAKEN_MESSAGES)


def _in_hours(availability: Availability, start: datetime, end: datetime) -> bool:
    """Whether [start, end] lies inside one of the rep's local working days."""
    local_start, local_end = start.astimezone(availability.zone), end.astimezone(availability.zone)
    return (
        availability.works_on(local_start.date())
        and local_start.time() >= availability.day_start
        and local_end.date() == local_start.date()
        and local_end.time() <= availability.day_end
    )


if TYPE_CHECKING:

    def _is_calendar(calendar: CalcomCalendar) -> Calendar:
        """mypy checks that CalcomCalendar satisfies the `Calendar` port."""
        return calendar
