"""Cal.com's booking webhooks: the payload as it arrives, and what a change does to the meeting.

The body is the one Cal.com's `sendPayload` posts (calcom/cal.com
`packages/features/webhooks/lib/sendPayload.ts`): `{"triggerEvent", "createdAt", "payload"}`,
where `payload` is the booking's `CalendarEvent` plus `uid`, `metadata`, `rescheduleUid`, …
(`startTime`, `endTime`, `attendees[{name, email, timeZone}]`, `organizer{…, timeZone}`,
`videoCallData.url`, `location`), signed as `X-Cal-Signature-256` = hex HMAC-SHA256 of the raw
body with the webhook's secret (`createWebhookSignature`, same file).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from domain.records import Booking, BookingEvent

Trigger = Literal["BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"]
STATUS: dict[str, Literal["confirmed", "rescheduled", "cancelled"]] = {
    "BOOKING_CREATED": "confirmed",
    "BOOKING_RESCHEDULED": "rescheduled",
    "BOOKING_CANCELLED": "cancelled",
}

HELD = frozenset({"confirmed", "rescheduled"})  # a meeting that stands, moved or not
UID_MEMORY_S = 365 * 86400  # a booking's uid names its lead this long


class CalcomPerson(BaseModel):
    """An attendee or the organizer."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    email: str | None = None
    time_zone: str | None = Field(default=None, alias="timeZone")


class CalcomBooking(BaseModel):
    """The fields of `payload` this service reads; the rest are kept but unused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    uid: str | None = None
    start_time: str | None = Field(default=None, alias="startTime")
    end_time: str | None = Field(default=None, alias="endTime")
    metadata: dict[str, Any] | None = None
    attendees: list[CalcomPerson] = []
    organizer: CalcomPerson | None = None
    reschedule_uid: str | None = Field(default=None, alias="rescheduleUid")
    location: str | None = None
    video_call_data: dict[str, Any] | None = Field(default=None, alias="videoCallData")


class CalcomWebhook(BaseModel):
    """One delivery of a Cal.com webhook."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    trigger_event: str = Field(alias="triggerEvent")
    created_at: str | None = Field(default=None, alias="createdAt")
    payload: CalcomBooking


def lead_of(event: CalcomWebhook) -> str | None:
    """The lead a booking belongs to (`metadata.lead_id`, set when this service booked it), or
    None for a trigger this service does not act on or a booking that is not ours."""
    if event.trigger_event not in STATUS or not event.payload.uid:
        return None
    lead_id = (event.payload.metadata or {}).get("lead_id")
    return str(lead_id) if lead_id else None


def known_uids(event: CalcomWebhook) -> list[str]:
    """The uids that may name the lead of a delivery without metadata: the booking a
    reschedule replaces (`rescheduleUid`), then the booking's own."""
    if event.trigger_event not in STATUS:
        return []
    uids = [event.payload.reschedule_uid, event.payload.uid]
    return [uid for uid in dict.fromkeys(uids) if uid]


def uid_key(uid: str) -> str:
    """The cache key under which a Cal.com booking's uid names its lead (written when the
    meeting is booked and when a delivery names its lead)."""
    return f"calcom:uid:{uid}"


def delivery_key(event: CalcomWebhook) -> str:
    """The key a delivery is claimed under: Cal.com retries repeat (trigger, uid)."""
    return f"{event.trigger_event}:{event.payload.uid}"


def as_change(event: CalcomWebhook) -> BookingEvent:
    """The delivery as the queue and the graph carry it."""
    booking = event.payload
    attendee = booking.attendees[0] if booking.attendees else None
    link = (booking.video_call_data or {}).get("url") or booking.location
    zone = (booking.organizer.time_zone if booking.organizer else None) or (
        attendee.time_zone if attendee else None
    )
    return {
        "trigger": cast(Trigger, event.trigger_event),
        "uid": booking.uid or "",
        "reschedule_uid": booking.reschedule_uid,
        "start": booking.start_time,
        "end": booking.end_time,
        "link": link if link and link.startswith(("http://", "https://")) else None,
        "attendee": (attendee.name or attendee.email) if attendee else None,
        "timezone": zone,
        "created_at": event.created_at,
    }


def inbound(change: dict[str, Any], *, waiting: bool) -> BookingEvent:
    """A queued change as the graph reads it, saying whether the lead was waiting."""
    return cast(BookingEvent, {**change, "waiting": waiting})


def seen(booking: Booking, change: BookingEvent) -> bool:
    """True when this (trigger, uid) is in the meeting's history already."""
    return any(
        (e.get("trigger"), e.get("uid")) == (change.get("trigger"), change.get("uid"))
        for e in booking.get("history") or []
    )


def local_time(iso: str | None, zone: str | None) -> str:
    """`Tue 10:00` in `zone` (UTC when unknown); `an unknown time` without a time."""
    if not iso:
        return "an unknown time"
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(tz)
    return when.strftime("%a %H:%M") + ("" if zone else " UTC")


def describe(change: BookingEvent, who: str, zone: str | None) -> str:
    """What happened, as the owner reads it: "Maria Keller moved the meeting to Tue 10:00"."""
    when = local_time(change.get("start"), zone)
    trigger = change.get("trigger")
    if trigger == "BOOKING_RESCHEDULED":
        return f"{who} moved the meeting to {when}"
    if trigger == "BOOKING_CANCELLED":
        return f"{who} cancelled the meeting of {when}"
    return f"{who} booked a meeting for {when}"


def changed(booking: Booking, change: BookingEvent) -> Booking:
    """The meeting after the change: status, time, link and uid, the change in its history."""
    updated: Booking = {**booking, "status": STATUS[change["trigger"]]}
    updated["provider"] = booking.get("provider") or "cal.com"
    updated["uid"] = updated["booking_id"] = change["uid"]
    start, end, link = change.get("start"), change.get("end"), change.get("link")
    if change.get("trigger") == "BOOKING_CANCELLED":
        # The meeting keeps its time (the one cancelled); one never held takes Cal.com's.
        if start and not updated.get("start"):
            updated["start"] = start
        if end and not updated.get("end"):
            updated["end"] = end
    else:
        if start:
            updated["start"] = start
        if end:
            updated["end"] = end
        if link:
            updated["link"] = link
    updated["history"] = [*(booking.get("history") or []), change]
    return updated
