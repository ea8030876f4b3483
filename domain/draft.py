"""The rep's first-touch email, stating only facts from the lead and its enrichment."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from domain.classification import ASKING_FORMS
from domain.prompts import render, sections
from domain.records import DecisionRecord, Draft, Intent

OPENINGS = {
    "demo": "Thanks for asking for a demo{at_company}.",
    "pricing": "Thanks for your question about pricing{at_company}.",
    "partnership": "Thanks for reaching out about working together{at_company}.",
    "other": "Thanks for getting in touch{at_company}.",
}


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
    at_company = f" for {facts['company']}" if facts.get("company") else ""
    opening = OPENINGS.get(intent, OPENINGS["other"]).format(at_company=at_company)
    if facts.get("industry") and facts.get("company"):
        value = (
            f"We work with {facts['industry']} teams on routing and following up inbound "
            "leads quickly, and I'd like to learn how you handle it today."
        )
    else:
        value = "I'd like to learn what prompted your note and what you need to solve."
    if booking.get("status") == "confirmed":
        start = datetime.fromisoformat(booking.get("rep_local_start") or booking["start"])
        next_step = (
            f"I've held {start:%A %d %B at %H:%M} ({booking.get('timezone')}) for a "
            f"30-minute call: {booking.get('link')}. If it doesn't suit, reply with a "
            "better time."
        )
        facts["meeting"] = booking.get("start")
    else:
        next_step = "Would a 30-minute call this week or next work for you?"
    subject = {
        "demo": "Your demo request",
        "pricing": "Your pricing question",
        "partnership": "Working together",
    }.get(intent, "Following up on your note")
    if facts.get("company"):
        subject += f" — {facts['company']}"
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
        "names_only_known_company": not facts.get("company") or facts["company"] in text,
        "no_links_but_the_meeting": all(
            link.rstrip(".,)") == meeting_link for link in _LINK.findall(text)
        ),
        "no_markup": not re.search(r"[<>]", text),
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
