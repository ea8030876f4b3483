"""The page a built-in calendar booking's link opens: the meeting's host and time.

Open to anyone with the link (it goes to the lead in the draft), so it shows the meeting and
nothing about the lead.
"""

from __future__ import annotations

from html import escape
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import ServicesDep
from api.problems import problem_responses
from service.bookings import meeting_page

router = APIRouter(tags=["bookings"])


@router.get(
    "/bookings/{booking_id}",
    response_class=HTMLResponse,
    responses=problem_responses({404: "no such booking on the built-in calendar"}),
)
async def booking(booking_id: str, services: ServicesDep) -> HTMLResponse:
    """A meeting booked on the built-in calendar: who hosts it and when, as an HTML page."""
    page = await meeting_page(services.context.calendar, services.context.routing, booking_id)
    zone = ZoneInfo(page.timezone)
    start, end = page.start.astimezone(zone), page.end.astimezone(zone)
    when = f"{start:%A} {start.day} {start:%B %Y}, {start:%H:%M}–{end:%H:%M} ({page.timezone})"
    utc = f"{page.start:%H:%M}–{page.end:%H:%M} UTC"
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>Call with {escape(page.host)}</title>"
        "<body style='font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto'>"
        f"<h1>Call with {escape(page.host)}</h1>"
        f"<p>{escape(when)}<br>{escape(utc)}</p>"
        "<p>To move or cancel it, reply to the email this link came in.</p></body></html>"
    )
    return HTMLResponse(body)
