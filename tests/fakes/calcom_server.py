"""A local Cal.com API v2: slots and bookings in memory, errors included.

It answers what `tools/calendar_calcom.py` calls, in the shapes of Cal.com's own source
(`calcom/cal.com`, paths under `apps/api/v2/src` and `packages/platform/types`):

- `GET /v2/slots` with `cal-api-version: 2024-09-04`, `eventTypeId`, `start`, `end` (UTC ISO
  8601, a bare date meaning the whole day), optional `timeZone` (default UTC) and
  `format=range` → `{"status": "success", "data": {"<date>": [{"start"[, "end"]}]}}`, the
  event type's free slots between `start` and `end` grouped by their date in `timeZone`, each
  time with that zone's offset. No slots → `"data": {}`.
- `POST /v2/bookings` with `cal-api-version: 2024-08-13` and a JSON body `{start, eventTypeId,
  attendee: {name, email, timeZone}, metadata?}` → HTTP 201 `{"status": "success", "data":
  <booking>}`; a booking has `id`, `uid`, `title`, `status: "accepted"`, `start`, `end`,
  `duration`, `eventTypeId`, `eventType: {id, slug}`, `location` and `meetingUrl` (a Cal Video
  URL), `metadata`, `attendees`, `hosts`, `createdAt`.
  A start that is not one of the event type's free slots is refused as Cal.com refuses it:
  HTTP 409 `error.code = "no_available_users_found_error"` (`taken_status=409`, the
  `ErrorWithCode` filter) or HTTP 400 `BadRequestException` "User either already has booking
  at this time or is not available" (`taken_status=400`, `errors.service.ts`).
- `GET /v2/bookings` with `cal-api-version: 2024-08-13`, `attendeeEmail`, `take` (default 100,
  at most 250) and `skip` → `{"status": "success", "data": [<booking>…], "pagination":
  {totalItems, remainingItems, returnedItems, itemsPerPage, currentPage, totalPages,
  hasNextPage, hasPreviousPage}}`, oldest first.

Authentication is `Authorization: Bearer <api key>`: none or a wrong one → 401
`UnauthorizedException`. A missing or different `cal-api-version` → 400 (Cal.com would serve an
older version of the endpoint; here it fails loudly). Validation errors → 400
`BadRequestException` with Cal.com's error envelope `{"status": "error", "timestamp", "path",
"error": {"code", "message", "details"}}`; an unknown event type → 404.

Controls, each aimed at one endpoint with `endpoint="POST /v2/bookings"` (or any endpoint):
`rate_limit_next(times, retry_after)` answers 429 (with `Retry-After` unless it is None);
`fail_next(status, times)` answers an HTML error page; `delay_next(seconds, times)` holds a
request before handling it; `lose_response_next(seconds, times)` handles a request (a booking
is stored) and then holds the answer `seconds`, so a client that gave up never sees it;
`take_meanwhile(times)` lets someone else book the slot of the next `times` bookings just
before they are handled. The fake records every request (`requests`, `count(endpoint)`).
`running_calcom()` serves it under uvicorn on 127.0.0.1 in a thread and yields
`(base_url, fake)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from tests.fakes import serving

API_KEY = "cal_test_0123456789abcdef"
SLOTS_VERSION = "2024-09-04"
BOOKINGS_VERSION = "2024-08-13"
APP_URL = "https://app.cal.test"


@dataclass
class EventType:
    """One bookable event type: its length and the slot starts (UTC) its hosts offer."""

    id: int
    slug: str
    length_minutes: int = 30
    slots: list[datetime] = field(default_factory=list)


@dataclass
class _Fault:
    kind: str  # ratelimit | fail | delay | lose | take
    times: int
    endpoint: str | None
    status: int = 0
    retry_after: int | None = None
    delay_s: float = 0.0


@dataclass
class RequestSeen:
    """One request the server received, as it arrived."""

    endpoint: str  # "POST /v2/bookings"
    headers: dict[str, str]
    query: dict[str, str]
    body: Any
    status: int = 0


def _utc(moment: datetime) -> str:
    """Cal.com's UTC timestamps: milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, code: str, message: str, path: str, **headers: str) -> JSONResponse:
    body = {
        "status": "error",
        "timestamp": _utc(datetime.now(UTC)),
        "path": path,
        "error": {"code": code, "message": message, "details": {"message": message}},
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _parse_when(text: str, *, end_of_day: bool = False) -> datetime:
    """A query's `start`/`end`: a bare date is the start (or end) of that day in UTC."""
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime.combine(day, time.max if end_of_day else time.min, UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(UTC)


class FakeCalcom:
    """State and fault controls of one fake Cal.com account; `app` is its ASGI application."""

    def __init__(self, *, api_key: str = API_KEY, taken_status: int = 409) -> None:
        if taken_status not in {400, 409}:
            raise ValueError("Cal.com answers a taken slot with 409 or 400")
        self.api_key = api_key
        self.taken_status = taken_status
        self.base_url = ""
        self.requests: list[RequestSeen] = []
        self.event_types: dict[int, EventType] = {}
        self.bookings: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1001)
        self.app = self._build_app()

    # Setup and controls, called from the test's thread

    def add_event_type(
        self, event_type_id: int, slots: list[datetime], *, length_minutes: int = 30
    ) -> EventType:
        """Offer `slots` (aware datetimes) on event type `event_type_id`."""
        event = EventType(
            event_type_id,
            f"meeting-{event_type_id}",
            length_minutes,
            sorted(s.astimezone(UTC) for s in slots),
        )
        with self._lock:
            self.event_types[event_type_id] = event
        return event

    def rate_limit_next(
        self, times: int = 1, retry_after: int | None = 1, *, endpoint: str | None = None
    ) -> None:
        """Answer the next `times` requests 429, with `Retry-After` unless it is None."""
        with self._lock:
            self._faults.append(_Fault("ratelimit", times, endpoint, 429, retry_after))

    def fail_next(self, status: int = 500, times: int = 1, *, endpoint: str | None = None) -> None:
        """Answer the next `times` requests with an HTML `status` page, storing nothing."""
        with self._lock:
            self._faults.append(_Fault("fail", times, endpoint, status))

    def delay_next(self, seconds: float, times: int = 1, *, endpoint: str | None = None) -> None:
        """Hold the next `times` requests `seconds` before handling them."""
        with self._lock:
            self._faults.append(_Fault("delay", times, endpoint, delay_s=seconds))

    def lose_response_next(
        self, seconds: float, times: int = 1, *, endpoint: str | None = "POST /v2/bookings"
    ) -> None:
        """Handle the next `times` requests, then hold their answers `seconds` (lost on a
        client that gave up sooner): the booking is made but the client never hears of it."""
        with self._lock:
            self._faults.append(_Fault("lose", times, endpoint, delay_s=seconds))

    def take_meanwhile(self, times: int = 1) -> None:
        """Let someone else book the requested slot just before each of the next `times`
        bookings is handled, as when two people book at once."""
        with self._lock:
            self._faults.append(_Fault("take", times, "POST /v2/bookings"))

    def count(self, endpoint: str | None = None) -> int:
        """How many requests were received (for `endpoint`, e.g. "POST /v2/bookings")."""
        with self._lock:
            return sum(1 for seen in self.requests if endpoint in (None, seen.endpoint))

    def seen(self, endpoint: str) -> list[RequestSeen]:
        """The requests received for `endpoint`, oldest first."""
        with self._lock:
            return [seen for seen in self.requests if seen.endpoint == endpoint]

    def bookings_of(self, email: str) -> list[dict[str, Any]]:
        """Copies of the accepted bookings with `email` as an attendee."""
        with self._lock:
            return [
                json.loads(json.dumps(b))
                for b in self.bookings
                if b["status"] == "accepted" and any(a["email"] == email for a in b["attendees"])
            ]

    # Server side

    def _take_fault(self, endpoint: str, kinds: set[str]) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.endpoint in (None, endpoint):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def call(path: str, request: Request) -> Response:
            endpoint = f"{request.method} /{path}"
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            seen = RequestSeen(endpoint, dict(request.headers), dict(request.query_params), body)
            with self._lock:
                self.requests.append(seen)
            fault = self._take_fault(endpoint, {"ratelimit", "fail", "delay", "lose"})
            if fault is not None and fault.kind == "delay":
                await asyncio.sleep(fault.delay_s)
            response: Response
            if fault is not None and fault.kind == "ratelimit":
                headers = (
                    {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                )
                response = _error(
                    429,
                    "ThrottlerException",
                    "ThrottlerException: Too Many Requests",
                    request.url.path,
                    **headers,
                )
            elif fault is not None and fault.kind == "fail":
                response = HTMLResponse(
                    f"<html><body><h1>{fault.status} Bad Gateway</h1></body></html>",
                    status_code=fault.status,
                )
            else:
                response = self._handle(endpoint, request, body)
                if fault is not None and fault.kind == "lose":
                    await asyncio.sleep(fault.delay_s)
            with self._lock:
                seen.status = response.status_code
            return response

        return app

    def _handle(self, endpoint: str, request: Request, body: Any) -> Response:
        path = request.url.path
        handlers = {
            "GET /v2/slots": (SLOTS_VERSION, self._slots),
            "POST /v2/bookings": (BOOKINGS_VERSION, self._create),
            "GET /v2/bookings": (BOOKINGS_VERSION, self._list),
        }
        if endpoint not in handlers:
            return _error(404, "NotFoundException", f"Cannot {endpoint}", path)
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            return _error(401, "UnauthorizedException", "Invalid Access Token.", path)
        version, handler = handlers[endpoint]
        if request.headers.get("cal-api-version") != version:
            return _error(
                400,
                "BadRequestException",
                f"{endpoint} needs the header cal-api-version: {version}",
                path,
            )
        return handler(dict(request.query_params), body, path)

    def _free(self, event: EventType) -> list[datetime]:
        """The event type's slots that no accepted booking on it overlaps (lock held)."""
        length = timedelta(minutes=event.length_minutes)
        busy = [
            (datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"]))
            for b in self.bookings
            if b["eventTypeId"] == event.id and b["status"] == "accepted"
        ]
        return [
            s for s in event.slots if not any(s < end and begin < s + length for begin, end in busy)
        ]

    def _slots(self, query: dict[str, str], body: Any, path: str) -> Response:
        try:
            event_type_id = int(query["eventTypeId"])
            start = _parse_when(query["start"])
            end = _parse_when(query["end"], end_of_day=True)
            zone = ZoneInfo(query.get("timeZone") or "UTC")
        except KeyError as exc:
            return _error(400, "BadRequestException", f"{exc.args[0]} is required", path)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            return _error(400, "BadRequestException", str(exc), path)
        with self._lock:
            event = self.event_types.get(event_type_id)
            if event is None:
                return _error(
                    404, "NotFoundException", f"Event Type with id={event_type_id} not found", path
                )
            free = [s for s in self._free(event) if start <= s <= end]
        ranged = query.get("format") == "range"
        data: dict[str, list[dict[str, str]]] = {}
        for slot in free:
            local = slot.astimezone(zone)
            entry = {"start": local.isoformat(timespec="milliseconds")}
            if ranged:
                finish = (slot + timedelta(minutes=event.length_minutes)).astimezone(zone)
                entry["end"] = finish.isoformat(timespec="milliseconds")
            data.setdefault(local.date().isoformat(), []).append(entry)
        return JSONResponse({"status": "success", "data": data})

    def _create(self, query: dict[str, str], body: Any, path: str) -> Response:
        problem = _booking_problem(body)
        if problem:
            return _error(400, "BadRequestException", problem, path)
        start = datetime.fromisoformat(body["start"].replace("Z", "+00:00")).astimezone(UTC)
        with self._lock:
            event = self.event_types.get(body["eventTypeId"])
            if event is None:
                return _error(
                    404,
                    "NotFoundException",
                    f"Event type with id {body['eventTypeId']} not found.",
                    path,
                )
            taken = self._take_fault("POST /v2/bookings", {"take"}) is not None
            if taken and start in self._free(event):
                self._store(
                    event,
                    start,
                    {"name": "Someone Else", "email": "else@example.org", "timeZone": "UTC"},
                    {},
                )
            if start not in self._free(event):
                if self.taken_status == 409:
                    return _error(
                        409,
                        "no_available_users_found_error",
                        "no_available_users_found_error",
                        path,
                    )
                return _error(
                    400,
                    "BadRequestException",
                    "User either already has booking at this time or is not available",
                    path,
                )
            booking = self._store(event, start, body["attendee"], body.get("metadata") or {})
        return JSONResponse({"status": "success", "data": booking}, status_code=201)

    def _store(
        self, event: EventType, start: datetime, attendee: dict[str, Any], metadata: dict[str, Any]
    ) -> dict[str, Any]:
        """Store an accepted booking (lock held) and return a copy of it."""
        uid = secrets.token_urlsafe(16)
        booking = {
            "id": next(self._ids),
            "uid": uid,
            "title": f"{event.slug} between Host and {attendee['name']}",
            "description": "",
            "hosts": [
                {
                    "id": 1,
                    "name": "Host",
                    "email": "host@example.com",
                    "username": "host",
                    "timeZone": "UTC",
                }
            ],
            "status": "accepted",
            "start": _utc(start),
            "end": _utc(start + timedelta(minutes=event.length_minutes)),
            "duration": event.length_minutes,
            "eventTypeId": event.id,
            "eventType": {"id": event.id, "slug": event.slug},
            "meetingUrl": f"{APP_URL}/video/{uid}",
            "location": f"{APP_URL}/video/{uid}",
            "absentHost": False,
            "createdAt": _utc(datetime.now(UTC)),
            "updatedAt": None,
            "metadata": dict(metadata),
            "attendees": [
                {
                    "name": attendee["name"],
                    "email": attendee.get("email", ""),
                    "displayEmail": attendee.get("email", ""),
                    "timeZone": attendee["timeZone"],
                    "language": "en",
                    "absent": False,
                }
            ],
            "guests": [],
            "bookingFieldsResponses": {
                "name": attendee["name"],
                "email": attendee.get("email", ""),
            },
        }
        self.bookings.append(booking)
        return json.loads(json.dumps(booking))

    def _list(self, query: dict[str, str], body: Any, path: str) -> Response:
        try:
            take = int(query.get("take") or 100)
            skip = int(query.get("skip") or 0)
        except ValueError:
            return _error(400, "BadRequestException", "take and skip must be numbers", path)
        if not 1 <= take <= 250 or skip < 0:
            return _error(400, "BadRequestException", "take must be 1..250, skip >= 0", path)
        email = query.get("attendeeEmail")
        with self._lock:
            found = [
                json.loads(json.dumps(b))
                for b in self.bookings
                if email is None or any(a["email"] == email for a in b["attendees"])
            ]
        page = found[skip : skip + take]
        total = len(found)
        pages = -(-total // take)
        return JSONResponse(
            {
                "status": "success",
                "data": page,
                "pagination": {
                    "totalItems": total,
                    "remainingItems": max(0, total - (skip + take)),
                    "returnedItems": len(page),
                    "itemsPerPage": take,
                    "currentPage": skip // take + 1,
                    "totalPages": pages,
                    "hasNextPage": skip + take < total,
                    "hasPreviousPage": skip > 0,
                },
            }
        )


def _booking_problem(body: Any) -> str | None:
    """What Cal.com's validation (`create-booking.input.ts`) would refuse, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    try:
        start = datetime.fromisoformat(str(body.get("start")).replace("Z", "+00:00"))
    except ValueError:
        return "start must be a valid ISO 8601 date string"
    if start.utcoffset() != timedelta(0):
        return "start must be in UTC"
    if not isinstance(body.get("eventTypeId"), int) or isinstance(body.get("eventTypeId"), bool):
        return "eventTypeId must be an integer number"
    attendee = body.get("attendee")
    if not isinstance(attendee, dict):
        return "attendee must be an object"
    if not isinstance(attendee.get("name"), str) or not attendee["name"]:
        return "attendee.name must be a string"
    if not isinstance(attendee.get("email"), str) or "@" not in attendee["email"]:
        return "Invalid email format"
    try:
        ZoneInfo(str(attendee.get("timeZone")))
    except (ZoneInfoNotFoundError, ValueError):
        return "attendee.timeZone must be a valid IANA time zone"
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or len(metadata) > 50
        or any(
            len(key) > 40 or (isinstance(value, str) and len(value) > 500)
            for key, value in metadata.items()
        )
    ):
        return (
            "Metadata must have at most 50 keys, each key up to 40 characters, and string "
            "values up to 500 characters."
        )
    return None


@contextlib.contextmanager
def running_calcom(
    *, api_key: str = API_KEY, taken_status: int = 409
) -> Iterator[tuple[str, FakeCalcom]]:
    """Serve a FakeCalcom on 127.0.0.1 (a free port) in a thread; yield `(base_url, fake)`."""
    fake = FakeCalcom(api_key=api_key, taken_status=taken_status)
    with serving(fake.app) as url:
        fake.base_url = url
        yield url, fake
