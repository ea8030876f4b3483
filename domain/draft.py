"""The rep's first-touch email, stating only facts from the lead and its enrichment."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from domain.classification import ASKING_FORMS
from domain.prompts import render, sections
from domain.records import Booking, DecisionRecord, Draft, Intent

# The opening line per intent, with and without the company's name.
OPENINGS = {
    "demo": ("Thanks for asking for a demo", " for the team at {company}"),
    "pricing": ("Thanks for your question about pricing", " for {company}"),
    "partnership": ("Thanks for reaching out about a partnership", " with {company}"),
    "other": ("Thanks for getting in touch", " from {company}"),
}
SUBJECTS = {
    "demo": "Your demo request",
    "pricing": "Your pricing question",
    "partnership": "Working together",
}
# Industries as a person writes them (the data keeps them lower-case).
INDUSTRY_WORDS = {"saas": "SaaS", "ecommerce": "e-commerce", "b2b": "B2B"}
# Text that reads as a template's seams: doubled punctuation (an ellipsis aside), a space
# before a comma or full stop, an empty pair of brackets, a placeholder.
SEAMS = re.compile(r"(?<![.])[.,;:!?][.,;:](?![.])|\s[,.;:](?=\s|$)|\(\s*\)|\$\w+|\{\w+\}")


def industry_words(industry: str) -> str:
    """An industry as written in a sentence ("SaaS", "e-commerce", "financial services")."""
    return INDUSTRY_WORDS.get(industry.lower(), industry)


def sentence(text: str) -> str:
    """`text` ending in one full stop: none added after a name that ends in one ("Inc.")."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def meeting_time(booking: Booking) -> str:
    """The meeting's time as the lead reads it: the day, the host's local time and city,
    and UTC ("Tuesday 3 March at 10:00 Berlin time (09:00 UTC)")."""
    start = datetime.fromisoformat(booking["start"]).astimezone(UTC)
    zone = booking.get("timezone") or "UTC"
    local = datetime.fromisoformat(booking.get("rep_local_start") or booking["start"])
    if zone == "UTC":
        return f"{local:%A} {local.day} {local:%B} at {local:%H:%M} UTC"
    city = zone.rsplit("/", 1)[-1].replace("_", " ")
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M} {city} time ({start:%H:%M} UTC)"


# What a name in an email may look like: letters and digits, spaces and the punctuation of
# company names. Anything else (a link, an address, markup, a line break) keeps it out.
_PLAIN_NAME = re.compile(r"[^\W_](?:[\w .,&'’()+/-]*[\w.)])?")
_FIRST_NAME = re.compile(r"[^\W\d_](?:[^\W\d_]|[ '’.-](?=[^\W\d_]))*\.?")
_LINK = re.compile(r"(?i)\b(?:https?://|www\.)\S+")


def plain_name(text: str | None, *, longest: int = 80, first_name: bool = False) -> str | None:
    """`text` when it reads as a plain name, else None: what a lead typed reaches a draft only
    in this shape (no links, addresses or markup, no sentence dressed as a company)."""
    if not text or len(text) > longest or "://" in text or "www." in text.lower():
        return None
    pattern = _FIRST_NAME if first_name else _PLAIN_NAME
    return text if pattern.fullmatch(text) else None


def _facts(state: DecisionRecord) -> dict[str, Any]:
    lead = state.get("lead", {})
    company = state.get("enrichment", {}).get("company", {})
    facts = {
        "first_name": plain_name(lead.get("first_name"), longest=40, first_name=True),
        "company": plain_name(company.get("name")) or plain_name(lead.get("company")),
        "industry": plain_name(company.get("industry")),
        "title": lead.get("title"),
        "intent": state.get("classification", {}).get("intent"),
    }
    return {k: v for k, v in facts.items() if v}


def asked_for(state: DecisionRecord) -> Intent:
    """What the lead asked for: the intent, unless only a form that asks for nothing implied it."""
    classification = state.get("classification", {})
    intent = classification.get("intent", "other")
    if classification.get("intent_from") != "form":
        return intent
    lead = state.get("lead", {})
    forms = {(lead.get("form_id") or "").lower(), (lead.get("source") or "").lower()}
    return intent if forms & ASKING_FORMS else "other"


def compose(state: DecisionRecord, rep_name: str, now: datetime) -> Draft:
    """Fill the draft template from the facts at hand and check it states nothing else."""
    facts = _facts(state)
    booking = state.get("booking", {})
    intent = asked_for(state)
    company = facts.get("company")
    thanks, for_company = OPENINGS.get(intent, OPENINGS["other"])
    opening = sentence(thanks + (for_company.format(company=company) if company else ""))
    if facts.get("industry") and company:
        value = (
            f"We work with a number of {industry_words(facts['industry'])} companies on "
            "answering and routing inbound leads quickly, and I'd like to hear how you handle "
            "yours today."
        )
    else:
        value = "I'd like to hear what prompted your enquiry and what you need to solve."
    if booking.get("status") == "confirmed":
        next_step = (
            f"I've held {meeting_time(booking)} for a 30-minute call; the invitation is here:\n"
            f"{booking.get('link')}\n\nIf that time doesn't suit, reply with one that does."
        )
        facts["meeting"] = booking.get("start")
    else:
        next_step = "Would a 30-minute call this week or next work for you?"
    subject = SUBJECTS.get(intent, "Following up on your enquiry")
    if company:
        subject += f" — {company}"
    text = render(
        "draft",
        subject=subject,
        first_name=facts.get("first_name", "there"),
        opening=opening,
        value_line=value,
        next_step=next_step,
        rep_name=rep_name,
    )
    parts = sections(text)
    meeting_link = booking.get("link") if booking.get("status") == "confirmed" else None
    checks = {
        "no_unfilled_placeholders": not re.search(r"\$\w+|\{\w+\}", text),
        "absolute_meeting_link": not meeting_link
        or meeting_link.startswith(("https://", "http://")),
        "names_only_known_company": not facts.get("company") or facts["company"] in text,
        "no_links_but_the_meeting": all(
            link.rstrip(".,)") == meeting_link for link in _LINK.findall(text)
        ),
        "no_markup": not re.search(r"[<>]", text),
        "no_seams": not SEAMS.search(text),
        "length_ok": 80 <= len(parts.get("body", "")) <= 1500,
    }
    return {
        "subject": parts.get("subject", subject),
        "body": parts.get("body", ""),
        "facts_used": facts,
        "checks": checks,
        "checks_passed": all(checks.values()),
        "method": "template",
        "composed_at": now.isoformat(),
    }
