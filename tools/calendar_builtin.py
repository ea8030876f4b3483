"""Built-in calendar in a SQLite file: stands in for Cal.com (API v2 slots and bookings).

The embedded default of the `Calendar` port (DESIGN §4). A rep's free slots come from their
routing.yaml entry (timezone, `working_hours` Monday–Friday, `out_of_office` ranges) minus
their existing bookings. Finding the slot and storing the booking happen in one
`BEGIN IMMEDIATE` transaction, so concurrent bookings for one rep, from any process sharing
the file, never overlap; a repeated key returns the booking already made.

A booking's `link` is `{base_url}/bookings/{booking_id}`, the service's page for the meeting
(`base_url` is PUBLIC_BASE_URL), so the lead and the rep can open it from an email or Slack.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.records import Booking
from tools.sqlite_file import SqliteFile, immediate

_IDS = uuid.UUID("c2f1d7a4-6b0e-4f3a-9d85-3e7a1b2c9f40")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bookings (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    rep_id TEXT NOT NULL,
    start_utc TEXT NOT NULL,
    end_utc TEXT NOT NULL,
    timezone TEXT NOT NULL,
    attendee TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bookings_rep_start ON bookings (rep_id, start_utc)
"""

DEFAULT_TIMEZONE = "UTC"
DEFAULT_WORKING_HOURS = "09:00-17:00"


@dataclass(frozen=True)
class Availability:
    """When a rep takes meetings: local working hours Monday–Friday, minus days off."""

    rep_id: str
    zone: ZoneInfo
    day_start: time
    day_end: time
    days_off: tuple[tuple[date, date], ...]

    @classmethod
    def of(cls, rep: dict[str, Any]) -> Availability:
        """Parse a routing.yaml rep; a malformed field raises ValueError naming the rep."""
        rep_id = str(rep.get("id") or "")
        if not rep_id:
            raise ValueError("a rep needs an id to be booked")
        tz_name = rep.get("timezone") or DEFAULT_TIMEZONE
        try:
            zone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"rep {rep_id!r}: unknown timezone {tz_name!r}") from None
        hours = str(rep.get("working_hours") or DEFAULT_WORKING_HOURS)
        try:
            start_text, end_text = hours.split("-")
            day_start, day_end = time.fromisoformat(start_text), time.fromisoformat(end_text)
        except ValueError:
            raise ValueError(
                f"rep {rep_id!r}: working_hours {hours!r} is not HH:MM-HH:MM"
            ) from None
        if day_end <= day_start:
            raise ValueError(f"rep {rep_id!r}: working_hours {hours!r} ends before it starts")
        days_off = []
        for entry in rep.get("out_of_office") or []:
            first, _, last = str(entry).partition("..")
            try:
                span = (date.fromisoformat(first), date.fromisoformat(last or first))
            except ValueError:
                raise ValueError(
                    f"rep {rep_id!r}: out_of_office {entry!r} is not YYYY-MM-DD..YYYY-MM-DD"
                ) from None
            if span[1] < span[0]:
                raise ValueError(f"rep {rep_id!r}: out_of_office {entry!r} ends before it starts")
            days_off.append(span)
        return cls(rep_id, zone, day_start, day_end, tuple(days_off))

    def works_on(self, day: date) -> bool:
        """Whether `day` (the rep's local date) is a weekday outside every out-of-office range."""
        return day.weekday() < 5 and not any(first <= day <= last for first, last in self.days_off)

    def first_free_slot(
        self,
        earliest: datetime,
        until: datetime,
        length: timedelta,
        busy: list[tuple[datetime, datetime]],
    ) -> datetime | None:
        """The first slot start (UTC) in [earliest, until) on the working-hours grid, or None.

        Slots start at the working day's start plus whole multiples of `length`, end by the
        day's end, and overlap none of the `busy` (start, end) UTC intervals.
        """
        day = earliest.astimezone(self.zone).date()
        while True:
            opens = datetime.combine(day, self.day_start, self.zone).astimezone(UTC)
            if opens >= until:
                return None
            closes = datetime.combine(day, self.day_end, self.zone).astimezone(UTC)
            if self.works_on(day):
                start = opens
                while start + length <= closes and start < until:
                    end = start + length
                    if start >= earliest and not any(
                        start < b_end and b_start < end for b_start, b_end in busy
                    ):
                        return start
                    start = end
            day += timedelta(days=1)


def _booking(row: sqlite3.Row, base_url: str) -> Booking:
    start = datetime.fromisoformat(row["start_utc"])
    return {
        "booking_id": row["id"],
        "rep_id": row["rep_id"],
        "start": row["start_utc"],
        "end": row["end_utc"],
        "rep_local_start": start.astimezone(ZoneInfo(row["timezone"])).isoformat(),
        "timezone": row["timezone"],
        "link": f"{base_url}/bookings/{row['id']}",
        "status": "confirmed",
        "provider": "built-in",
    }


class BuiltinCalendar(SqliteFile):
    """Reps' meeting slots and bookings in SQLite; implements the `Calendar` port."""

    def __init__(
        self,
        path: Path,
        *,
        base_url: str,
        slot_minutes: int = 30,
        lead_time_minutes: int = 120,
        horizon_days: int = 14,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an absolute http(s) address, got {base_url!r}")
        if slot_minutes <= 0 or lead_time_minutes < 0 or horizon_days <= 0:
            raise ValueError(
                "slot_minutes and horizon_days must be positive, lead_time_minutes not negative"
            )
        super().__init__(path, _SCHEMA, row_factory=sqlite3.Row, create_parent=True)
        self.base_url = base_url.rstrip("/")
        self.slot = timedelta(minutes=slot_minutes)
        self.lead_time = timedelta(minutes=lead_time_minutes)
        self.horizon = timedelta(days=horizon_days)

    async def book(
        self, key: str, rep: dict[str, Any], attendee: dict[str, Any], after: datetime
    ) -> Booking:
        """Book the rep's first free slot at or after `after` + lead time; once per `key`.

        Returns `{"booking_id", "rep_id", "start", "end", "rep_local_start", "timezone", "link",
        "status": "confirmed", "provider": "built-in"}` (start and end ISO UTC), the stored
        booking when `key` was booked before, or `{"status": "unavailable", "reason"}` when the
        horizon holds no free slot.
        """
        if not key:
            raise ValueError("a booking needs a key")
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError(f"after must be timezone-aware, got {after.isoformat()}")
        availability = Availability.of(rep)
        earliest = after.astimezone(UTC) + self.lead_time
        until = earliest + self.horizon
        attendee_json = json.dumps(attendee, sort_keys=True, default=str)

        def book(conn: sqlite3.Connection) -> Booking:
            with immediate(conn):
                return self._book_locked(conn, key, availability, attendee_json, earliest, until)

        return await self._run(book)

    def _book_locked(
        self,
        conn: sqlite3.Connection,
        key: str,
        availability: Availability,
        attendee_json: str,
        earliest: datetime,
        until: datetime,
    ) -> Booking:
        """Inside the write transaction: the stored booking for `key`, or a new one."""
        row = conn.execute("SELECT * FROM bookings WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return _booking(row, self.base_url)
        window = (
            (earliest - timedelta(seconds=1)).isoformat(timespec="seconds"),
            (until + timedelta(seconds=1)).isoformat(timespec="seconds"),
        )
        busy = [
            (datetime.fromisoformat(b["start_utc"]), datetime.fromisoformat(b["end_utc"]))
            for b in conn.execute(
                "SELECT start_utc, end_utc FROM bookings"
                " WHERE rep_id = ? AND end_utc > ? AND start_utc < ?",
                (availability.rep_id, *window),
            )
        ]
        start = availability.first_free_slot(earliest, until, self.slot, busy)
        if start is None:
            days = self.horizon.days
            return {
                "status": "unavailable",
                "rep_id": availability.rep_id,
                "reason": (
                    f"no free {int(self.slot.total_seconds() // 60)}-minute slot for rep "
                    f"{availability.rep_id!r} between {earliest.isoformat()} and the "
                    f"{days}-day horizon"
                ),
                "provider": "built-in",
            }
        booking_id = str(uuid.uuid5(_IDS, key))
        conn.execute(
            "INSERT INTO bookings (id, key, rep_id, start_utc, end_utc, timezone, attendee,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                booking_id,
                key,
                availability.rep_id,
                start.isoformat(timespec="seconds"),
                (start + self.slot).isoformat(timespec="seconds"),
                availability.zone.key,
                attendee_json,
                datetime.now(UTC).isoformat(timespec="microseconds"),
            ),
        )
        row = conn.execute("SELECT * FROM bookings WHERE id = ?", (booking_id,)).fetchone()
        return _booking(row, self.base_url)

    async def list(self, rep_id: str | None = None) -> builtins.list[dict[str, Any]]:
        """Bookings in start order, optionally only one rep's, each with its attendee."""
        where, params = ("WHERE rep_id = ?", (rep_id,)) if rep_id is not None else ("", ())

        def select(conn: sqlite3.Connection) -> builtins.list[dict[str, Any]]:
            rows = conn.execute(
                f"SELECT * FROM bookings {where} ORDER BY start_utc, rowid", params
            ).fetchall()
            return [
                {**_booking(row, self.base_url), "attendee": json.loads(row["attendee"])}
                for row in rows
            ]

        return await self._run(select)

    async def get(self, booking_id: str) -> Booking | None:
        """The booking with this id, or None."""

        def select(conn: sqlite3.Connection) -> Booking | None:
            row = conn.execute("SELECT * FROM bookings WHERE id = ?", (booking_id,)).fetchone()
            return None if row is None else _booking(row, self.base_url)

        return await self._run(select)


if TYPE_CHECKING:
    from tools.ports import Calendar

    def _is_calendar(calendar: BuiltinCalendar) -> Calendar:
        """mypy checks that BuiltinCalendar satisfies the `Calendar` port."""
        return calendar
