"""Booking on Cal.com API v2 over real HTTP, against the local Cal.com in
`tests/fakes/calcom_server.py`: the documented requests, a slot taken meanwhile, 429 with and
without Retry-After, 5xx, a booking whose answer was lost, shadow mode, and one lead end to end
through `open_services` with CALCOM_API_KEY and CALCOM_API_URL pointing at the fake.

Retry waits go through `Waits` (recorded, not slept); nothing here sleeps to time anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from domain.config import load_routing
from domain.rep_message import meeting_when
from tests.fakes.calcom_server import API_KEY, APP_URL, FakeCalcom, running_calcom
from tests.helpers import ROOT, Waits, lead_payload, make_settings, submit_and_run
from tools.calendar_calcom import CalcomAuthError, CalcomCalendar, CalcomUnavailable
from tools.slack import MemoryReceipts

EVENT_TYPE = 501
DAN = {
    "id": "dan",
    "timezone": "America/New_York",
    "working_hours": "09:00-17:00",
    "calcom_event_type_id": EVENT_TYPE,
}
# Monday 2 March 2026, 05:00 in New York: with two hours' lead time the first slot inside
# Dan's working hours is 09:00 New York, 14:00 UTC.
AFTER = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FIRST = "2026-03-02T14:00:00+00:00"
SECOND = "2026-03-02T14:30:00+00:00"
ATTENDEE = {"email": "jo.kim@acme-freight.com", "name": "Jo Kim", "company": "Acme Freight"}
KEY = "3f2c7a9e-1b4d-5e6f-8a9b-0c1d2e3f4a5b:meeting"
LEAD_ID = KEY.partition(":")[0]


def half_hours(first: datetime, count: int) -> list[datetime]:
    """`count` slot starts 30 minutes apart from `first`."""
    return [first + timedelta(minutes=30 * i) for i in range(count)]


@pytest.fixture
def calcom() -> Iterator[tuple[str, FakeCalcom]]:
    """A local Cal.com offering Dan's event type every half hour from 12:00 UTC (07:00 NY)."""
    with running_calcom() as (url, fake):
        fake.add_event_type(EVENT_TYPE, half_hours(datetime(2026, 3, 2, 12, tzinfo=UTC), 20))
        yield url, fake


def calendar(url: str, waits: Waits, **options: Any) -> CalcomCalendar:
    """A Cal.com calendar on the local server: in-memory receipts, recorded waits."""
    settings: dict[str, Any] = {
        "base_url": url,
        "receipts": MemoryReceipts(),
        "sleep": waits,
        "wait": lambda state: 0.25,
        "timeout_s": 5.0,
    }
    settings.update(options)
    return CalcomCalendar(SecretStr(settings.pop("api_key", API_KEY)), **settings)


async def test_books_the_first_slot_in_working_hours_with_the_documented_requests(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """A booking reads slots, looks for an earlier booking, then posts the documented body."""
    url, fake = calcom
    cal = calendar(url, waits)
    booking = await cal.book(KEY, DAN, ATTENDEE, AFTER)
    await cal.close()

    [made] = fake.bookings_of(ATTENDEE["email"])
    assert booking == {
        "status": "confirmed",
        "booking_id": made["uid"],
        "rep_id": "dan",
        "start": FIRST,
        "end": "2026-03-02T14:30:00+00:00",
        "rep_local_start": "2026-03-02T09:00:00-05:00",
        "timezone": "America/New_York",
        "link": f"{APP_URL}/video/{made['uid']}",
        "provider": "cal.com",
    }
    [slots] = fake.seen("GET /v2/slots")
    assert slots.headers["cal-api-version"] == "2024-09-04"
    assert slots.headers["authorization"] == f"Bearer {API_KEY}"
    assert slots.query["eventTypeId"] == str(EVENT_TYPE)
    assert slots.query["timeZone"] == "America/New_York"
    assert slots.query["start"] == "2026-03-02T12:00:00Z"
    [lookup] = fake.seen("GET /v2/bookings")
    assert lookup.query["attendeeEmail"] == ATTENDEE["email"]
    assert lookup.headers["cal-api-version"] == "2024-08-13"
    [post] = fake.seen("POST /v2/bookings")
    assert post.headers["cal-api-version"] == "2024-08-13"
    assert post.headers["authorization"] == f"Bearer {API_KEY}"
    assert post.body == {
        "start": "2026-03-02T14:00:00Z",
        "eventTypeId": EVENT_TYPE,
        "attendee": {"name": "Jo Kim", "email": ATTENDEE["email"], "timeZone": "America/New_York"},
        "metadata": {"lead_id": LEAD_ID, "lead_router_key": KEY},
    }


async def test_a_repeated_key_returns_the_first_booking_without_posting_again(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """The second call with the same key answers from the receipt; Cal.com sees one booking."""
    url, fake = calcom
    cal = calendar(url, waits)
    first = await cal.book(KEY, DAN, ATTENDEE, AFTER)
    again = await cal.book(KEY, DAN, ATTENDEE, AFTER + timedelta(days=1))
    await cal.close()

    assert again == first
    assert fake.count("POST /v2/bookings") == 1
    assert len(fake.bookings_of(ATTENDEE["email"])) == 1


async def test_a_booking_made_before_a_crash_is_found_not_doubled(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """With the receipt lost (a crash after the POST), the lookup by metadata finds the booking."""
    url, fake = calcom
    first = await calendar(url, waits).book(KEY, DAN, ATTENDEE, AFTER)
    after_crash = calendar(url, waits)  # new process: no receipts
    again = await after_crash.book(KEY, DAN, ATTENDEE, AFTER)
    await after_crash.close()

    assert again == first
    assert fake.count("POST /v2/bookings") == 1
    assert len(fake.bookings_of(ATTENDEE["email"])) == 1


async def test_another_lead_of_the_same_person_gets_its_own_booking(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """The lookup matches this lead's metadata, not any booking of the same attendee."""
    url, fake = calcom
    cal = calendar(url, waits)
    first = await cal.book(KEY, DAN, ATTENDEE, AFTER)
    other = await cal.book("7d1e9b2c-0000-5000-8000-000000000001:meeting", DAN, ATTENDEE, AFTER)
    await cal.close()

    assert other["booking_id"] != first["booking_id"] and other["start"] == SECOND
    assert len(fake.bookings_of(ATTENDEE["email"])) == 2


@pytest.mark.parametrize("taken_status", [409, 400])
async def test_a_slot_taken_meanwhile_moves_to_the_next_slot(
    taken_status: int, waits: Waits
) -> None:
    """Cal.com's 409 (or older 400) for a taken slot books the next free slot instead."""
    with running_calcom(taken_status=taken_status) as (url, fake):
        fake.add_event_type(EVENT_TYPE, half_hours(datetime(2026, 3, 2, 14, tzinfo=UTC), 4))
        fake.take_meanwhile(times=1)
        cal = calendar(url, waits)
        booking = await cal.book(KEY, DAN, ATTENDEE, AFTER)
        await cal.close()
        statuses = [seen.status for seen in fake.seen("POST /v2/bookings")]

    assert booking["status"] == "confirmed" and booking["start"] == SECOND
    assert statuses == [taken_status, 201]
    assert waits.seconds == []


async def test_every_slot_taken_is_unavailable_with_the_reason(waits: Waits) -> None:
    """When each slot tried is taken meanwhile, the answer says so instead of failing."""
    with running_calcom() as (url, fake):
        fake.add_event_type(EVENT_TYPE, half_hours(datetime(2026, 3, 2, 14, tzinfo=UTC), 2))
        fake.take_meanwhile(times=2)
        cal = calendar(url, waits)
        booking = await cal.book(KEY, DAN, ATTENDEE, AFTER)
        await cal.close()

    assert booking["status"] == "unavailable"
    assert "were taken while booking" in booking["reason"]


@pytest.mark.parametrize(("retry_after", "waited"), [(7, 7.0), (None, 0.25)])
async def test_a_rate_limited_booking_waits_as_asked_then_books_once(
    calcom: tuple[str, FakeCalcom],
    waits: Waits,
    retry_after: int | None,
    waited: float,
) -> None:
    """429 waits what Retry-After asks (else the backoff) and retries without a lookup."""
    url, fake = calcom
    fake.rate_limit_next(retry_after=retry_after, endpoint="POST /v2/bookings")
    cal = calendar(url, waits)
    booking = await cal.book(KEY, DAN, ATTENDEE, AFTER)
    await cal.close()

    assert booking["status"] == "confirmed" and booking["start"] == FIRST
    assert waits.seconds == [waited]
    assert [seen.status for seen in fake.seen("POST /v2/bookings")] == [429, 201]
    assert fake.count("GET /v2/bookings") == 1  # only the lookup before the first POST


async def test_a_server_error_is_followed_by_a_lookup_then_a_retry(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """After a 502 the attendee's bookings are looked up; none found, the POST is retried."""
    url, fake = calcom
    fake.fail_next(502, endpoint="POST /v2/bookings")
    cal = calendar(url, waits)
    booking = await cal.book(KEY, DAN, ATTENDEE, AFTER)
    await cal.close()

    assert booking["status"] == "confirmed" and booking["start"] == FIRST
    assert [seen.endpoint for seen in fake.requests] == [
        "GET /v2/bookings",
        "GET /v2/slots",
        "POST /v2/bookings",
        "GET /v2/bookings",
        "POST /v2/bookings",
    ]
    assert len(fake.bookings_of(ATTENDEE["email"])) == 1


async def test_a_booking_whose_answer_was_lost_is_found_and_not_made_twice(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """Cal.com books, the answer times out; the lookup finds that booking, no second POST."""
    url, fake = calcom
    fake.lose_response_next(seconds=1.5)
    cal = calendar(url, waits, timeout_s=0.3)
    booking = await cal.book(KEY, DAN, ATTENDEE, AFTER)
    await cal.close()

    [made] = fake.bookings_of(ATTENDEE["email"])
    assert booking["status"] == "confirmed" and booking["booking_id"] == made["uid"]
    assert booking["link"] == made["location"]
    assert fake.count("POST /v2/bookings") == 1


async def test_shadow_mode_reads_slots_but_never_posts(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """dry_run answers the slot it would book, as skipped, and Cal.com gets no booking."""
    url, fake = calcom
    receipts = MemoryReceipts()
    cal = calendar(url, waits, dry_run=True, receipts=receipts)
    booking = await cal.book(KEY, DAN, ATTENDEE, AFTER)
    await cal.close()

    assert booking["status"] == "skipped" and booking["start"] == FIRST
    assert booking["reason"] == f"shadow mode: would book {FIRST} on Cal.com event type 501"
    assert fake.count("POST /v2/bookings") == 0 and fake.bookings == []
    assert await receipts.get(KEY) is None


async def test_a_rep_without_an_event_type_is_skipped_without_calling_cal_com(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """No calcom_event_type_id on the rep (or their team): skipped, naming the setting."""
    url, fake = calcom
    rep = {key: value for key, value in DAN.items() if key != "calcom_event_type_id"}
    booking = await calendar(url, waits).book(KEY, rep, ATTENDEE, AFTER)

    assert booking["status"] == "skipped" and "calcom_event_type_id" in booking["reason"]
    assert fake.requests == []


async def test_a_rejected_api_key_fails_at_once(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """401 raises CalcomAuthError naming CALCOM_API_KEY, without retries."""
    url, fake = calcom
    with pytest.raises(CalcomAuthError, match="CALCOM_API_KEY"):
        await calendar(url, waits, api_key="cal_live_wrong").book(KEY, DAN, ATTENDEE, AFTER)
    assert fake.count() == 1 and waits.seconds == []


async def test_lasting_server_errors_give_up_after_the_attempts(
    calcom: tuple[str, FakeCalcom], waits: Waits
) -> None:
    """5xx on every try raises CalcomUnavailable after max_attempts; nothing is booked."""
    url, fake = calcom
    fake.fail_next(503, times=10, endpoint="GET /v2/slots")
    with pytest.raises(CalcomUnavailable, match="after 3 attempts"):
        await calendar(url, waits, max_attempts=3).book(KEY, DAN, ATTENDEE, AFTER)
    assert fake.count("GET /v2/slots") == 3 and fake.bookings == []


# One lead end to end through the settings' wiring


def routing_with_event_types(tmp_path: Path) -> Path:
    """The shipped routing.yaml with Cal.com event types (701 per team, 702 for reps in no
    team) and without out-of-office days, so no test depends on the date."""
    data = yaml.safe_load((ROOT / "infra" / "routing.yaml").read_text(encoding="utf-8"))
    pooled = {rep for team in data["teams"] for rep in team["pool"]}
    for team in data["teams"]:
        team["calcom_event_type_id"] = 701
    for rep in data["reps"]:
        rep.pop("out_of_office", None)
        if rep["id"] not in pooled:
            rep["calcom_event_type_id"] = 702
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def scoring_that_books(tmp_path: Path) -> Path:
    """The shipped scoring.yaml with every demo request hot enough to book."""
    data = yaml.safe_load((ROOT / "infra" / "scoring.yaml").read_text(encoding="utf-8"))
    data["actions"].update(book_at=1, draft_at=0)
    path = tmp_path / "scoring.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def open_calcom() -> Iterator[tuple[str, FakeCalcom]]:
    """A local Cal.com offering event types 701 and 702 every half hour for three weeks."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with running_calcom() as (url, fake):
        for event_type in (701, 702):
            fake.add_event_type(event_type, half_hours(start, 21 * 48))
        yield url, fake


@pytest.mark.parametrize("shadow", [False, True])
async def test_a_hot_lead_is_booked_on_cal_com_and_its_owner_gets_the_link(
    tmp_path: Path, open_calcom: tuple[str, FakeCalcom], shadow: bool
) -> None:
    """CALCOM_API_KEY books the owner's event type and the rep's message carries the Cal.com
    link; with SHADOW_MODE the same lead posts nothing to Cal.com."""
    from service.wiring import open_services

    url, fake = open_calcom
    routing_path = routing_with_event_types(tmp_path)
    settings = make_settings(
        tmp_path,
        CALCOM_API_KEY=API_KEY,
        CALCOM_API_URL=url,
        ROUTING_CONFIG=routing_path,
        SCORING_CONFIG=scoring_that_books(tmp_path),
        SHADOW_MODE=shadow,
    )
    payload = lead_payload()
    async with open_services(settings) as services:
        health = await services.health()
        state = await submit_and_run(services, payload)
        assert services.outbox is not None
        messages = await services.outbox.list(lead_id=state["lead_id"])

    assert health["calendar"] == {"backend": "CalcomCalendar", "ok": True}
    assert state["routing"]["action"] == "book"
    owner, team = state["routing"]["owner"], state["routing"].get("team")
    booking = state["booking"]
    assert booking["provider"] == "cal.com" and booking["rep_id"] == owner
    [message] = messages
    if shadow:
        assert booking["status"] == "skipped" and booking["reason"].startswith("shadow mode")
        assert fake.count("POST /v2/bookings") == 0 and fake.bookings == []
        assert "Meeting booked" not in str(message["blocks"])
        return
    [made] = fake.bookings_of(payload["email"])
    assert booking["status"] == "confirmed" and booking["booking_id"] == made["uid"]
    assert booking["link"] == made["location"] and booking["link"].startswith(f"{APP_URL}/")
    key = f"{state['lead_id']}:meeting"
    assert made["metadata"] == {"lead_id": state["lead_id"], "lead_router_key": key}
    assert made["eventTypeId"] == load_routing(routing_path).calcom_event_type(owner, team)
    zone = load_routing(routing_path).rep(owner).timezone
    when = meeting_when(booking["start"], booking["end"], zone)
    shown = f"*Meeting booked:* {when} — <{booking['link']}|open the booking>"
    assert shown in str(message["blocks"])
