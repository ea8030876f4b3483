"""Nurture: the track for a lead that is not ready for a rep, and its first message."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.draft import sentence
from domain.prompts import render, sections
from domain.records import DecisionRecord, Nurture

TRACKS: dict[str, dict[str, str]] = {
    "executive-briefing": {
        "subject": "A short briefing for {company}",
        "resource": "Here is a two-page briefing on how revenue teams route and follow up "
        "inbound leads within minutes.",
    },
    "practitioner": {
        "subject": "Routing playbook for {company}",
        "resource": "Here is our playbook on lead-to-account matching, round-robin fairness "
        "and SLA design.",
    },
    "general": {
        "subject": "Thanks for your interest",
        "resource": "Here is a short overview of what teams like yours set up first.",
    },
}


def track_for(state: DecisionRecord) -> tuple[str, str]:
    """The track and why: executives get the briefing, practitioners the playbook."""
    persona = state.get("classification", {}).get("persona", {})
    seniority = persona.get("seniority")
    if seniority in {"c_level", "vp", "director"}:
        return "executive-briefing", f"{seniority} persona"
    if persona.get("department") in {"sales", "marketing", "revops"}:
        return "practitioner", f"{persona.get('department')} practitioner"
    return "general", "no persona-specific track applies"


def next_business_time(now: datetime, days: int) -> datetime:
    """`days` business days after now, at the same time of day."""
    when = now
    while days:
        when += timedelta(days=1)
        if when.weekday() < 5:
            days -= 1
    return when


def enrol(state: DecisionRecord, now: datetime) -> Nurture:
    """Enrol the lead in its track, with the next touch time and the first message."""
    lead = state.get("lead", {})
    company = state.get("enrichment", {}).get("company", {}).get("name") or lead.get("company")
    track, why = track_for(state)
    spec = TRACKS[track]
    text = render(
        "nurture",
        subject=spec["subject"].format(company=company or "your team"),
        first_name=lead.get("first_name") or "there",
        opening=sentence("Thanks for your interest" + (f" from {company}" if company else "")),
        resource_line=spec["resource"],
        rep_name="our team",
        company_team="Lead Router",
    )
    parts = sections(text)
    return {
        "track": track,
        "reason": why,
        "enrolled_at": now.isoformat(),
        "next_touch_at": next_business_time(now, 2).isoformat(),
        "first_message": {"subject": parts.get("subject"), "body": parts.get("body")},
        "method": "template",
    }
