"""working_deadline: an SLA counts only the rep's working time, in the rep's timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.config import Rep
from domain.routing import working_deadline

BERLIN = ZoneInfo("Europe/Berlin")


def rep(**fields: str | list[str]) -> Rep:
    """A rep in Berlin working 09:00-18:00, Monday to Friday."""
    values: dict[str, object] = {
        "id": "ben",
        "name": "Ben Okafor",
        "email": "ben@example.com",
        "timezone": "Europe/Berlin",
        "working_hours": "09:00-18:00",
    }
    values.update(fields)
    return Rep.model_validate(values)


def local(day: str, clock: str) -> datetime:
    """A moment on `day` at `clock` in Berlin."""
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=BERLIN)


def test_within_hours_the_deadline_is_plain_minutes_later() -> None:
    """A lead at Wednesday 10:00 with a 15-minute SLA is due at 10:15 the same day."""
    due = working_deadline(rep(), local("2026-03-04", "10:00"), 15)
    assert due == local("2026-03-04", "10:15")


def test_friday_evening_runs_over_into_monday_morning() -> None:
    """Friday 17:50 + 15 min: ten minutes on Friday, five on Monday → Monday 09:05 local."""
    start = local("2026-03-06", "17:50").astimezone(UTC)
    due = working_deadline(rep(), start, 15)
    assert due.astimezone(BERLIN) == local("2026-03-09", "09:05")
    assert due.tzinfo == start.tzinfo


def test_an_out_of_office_day_is_skipped() -> None:
    """With Monday off, Friday 17:50 + 15 min is due on Tuesday at 09:05."""
    away = rep(out_of_office=["2026-03-09"])
    due = working_deadline(away, local("2026-03-06", "17:50"), 15)
    assert due == local("2026-03-10", "09:05")


def test_an_out_of_office_week_is_skipped_whole() -> None:
    """A lead arriving during a week off starts counting on the first working day back."""
    away = rep(out_of_office=["2026-03-09..2026-03-13"])
    due = working_deadline(away, local("2026-03-10", "11:00"), 15)
    assert due == local("2026-03-16", "09:15")


@pytest.mark.parametrize(
    ("day", "clock"),
    [
        pytest.param("2026-03-04", "03:00", id="night-before-opening"),
        pytest.param("2026-03-03", "19:30", id="evening-after-closing"),
    ],
)
def test_a_lead_outside_hours_starts_counting_at_opening(day: str, clock: str) -> None:
    """A lead at 03:00 (or the evening before) is due 15 minutes after Wednesday's opening."""
    due = working_deadline(rep(), local(day, clock), 15)
    assert due == local("2026-03-04", "09:15")


def test_the_weekend_does_not_count() -> None:
    """A lead on Saturday afternoon is due on Monday at 09:15."""
    due = working_deadline(rep(), local("2026-03-07", "14:00"), 15)
    assert due == local("2026-03-09", "09:15")


def test_hours_are_read_in_the_reps_timezone() -> None:
    """Ten in the morning UTC is after hours in Tokyo: the Tokyo rep's clock starts next day."""
    tokyo = rep(timezone="Asia/Tokyo", working_hours="09:00-17:00")
    due = working_deadline(tokyo, datetime(2026, 3, 4, 10, 0, tzinfo=UTC), 15)
    assert due.astimezone(ZoneInfo("Asia/Tokyo")) == datetime(
        2026, 3, 5, 9, 15, tzinfo=ZoneInfo("Asia/Tokyo")
    )
