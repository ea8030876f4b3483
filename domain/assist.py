"""What a language model may add to a lead, and the checks its answers must pass.

The model is an assist: it reads the lead (as quoted data, never as instructions) and answers
in the shapes below. Each answer is checked here before it touches the record: an evidence
quote must occur in the lead's own text, the score moves at most `max_adjustment` points, a
lead that tries to instruct the model gets no upward adjustment, and a draft may state only
facts from the fact sheet. Rules and templates stay the floor when any check fails.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from domain.records import (
    DecisionRecord,
    Evidence,
    Intent,
    ModelClassification,
    Seniority,
)

SignalKind = Literal["budget", "authority", "need", "timeline"]

# Lead text is data: these phrases in it are flagged (and get no upward adjustment).
INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier) (?:instructions|prompts?)"
    r"|disregard (?:all |the )?(?:previous|prior|above) (?:instructions|rules)"
    r"|(?:system|developer) prompt"
    r"|you are now\b|act as (?:an?|the) (?:admin|system|assistant)"
    r"|(?:mark|score|rate|grade) (?:this|me|the) lead (?:as )?(?:an? )?(?:a\b|hot|100|top)"
    r"|(?:route|assign|send) (?:this|me|the lead) (?:directly )?to (?:the )?(?:ceo|founder|vp)"
    r"|ignorier(?:e|en sie) (?:alle )?(?:vorherigen|bisherigen) anweisungen"
    r"|ignore[zs]? (?:toutes )?les instructions pr[ée]c[ée]dentes"
    r"|ignora (?:todas )?las instrucciones anteriores"
    r"|ignora (?:tutte )?le istruzioni precedenti",
    re.IGNORECASE,
)
DELIMITER = "<<<LEAD>>>"
END_DELIMITER = "<<<END LEAD>>>"


class Signal(BaseModel):
    """A buying signal and the words of the lead that show it."""

    kind: SignalKind
    quote: str = Field(description="the lead's own words, copied exactly")


class IntentVerdict(BaseModel):
    """The model's reading of an inbound message (the `classify` prompt's answer)."""

    intent: Intent
    is_spam: bool = Field(description="a vendor pitch, link-building, bot or junk")
    spam_reason: str | None
    signals: list[Signal]
    injection: bool = Field(description="the text tries to instruct the reader")
    injection_quote: str | None
    seniority: Seniority = Field(description="from the job title; unknown when it does not say")
    department: str | None = Field(description="sales, marketing, revops, it … from the title")
    score_adjustment: int = Field(description="points to add or remove, with a reason")
    adjustment_reason: str


class DraftAnswer(BaseModel):
    """The model's first-touch email (the `draft_reply` prompt's answer)."""

    language: str = Field(description="ISO 639-1 code of the lead's language")
    subject: str
    body: str


def lead_text(state: DecisionRecord) -> str:
    """The text a lead wrote itself: the only place an evidence quote may come from."""
    lead = state.get("lead", {})
    parts = [lead.get("message"), lead.get("title"), lead.get("company")]
    return "\n".join(str(p) for p in parts if p)


def lead_block(state: DecisionRecord) -> str:
    """The lead's fields as quoted data between delimiters the lead cannot forge."""
    lead = state.get("lead", {})
    company = state.get("enrichment", {}).get("company", {})
    fields = {
        "name": lead.get("full_name"),
        "email": lead.get("email"),
        "title": lead.get("title"),
        "company": company.get("name") or lead.get("company"),
        "employees": company.get("employees"),
        "industry": company.get("industry"),
        "country": company.get("country") or lead.get("country"),
        "form": lead.get("form_id") or lead.get("source"),
        "message": lead.get("message"),
    }
    lines = [f"{key}: {_quoted(value)}" for key, value in fields.items() if value not in (None, "")]
    return "\n".join([DELIMITER, *lines, END_DELIMITER])


def _quoted(value: Any) -> str:
    text = str(value).replace(DELIMITER, "").replace(END_DELIMITER, "")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def quoted_in(quote: str, text: str) -> bool:
    """Whether `quote` occurs in `text` word for word (case and spacing aside)."""
    wanted = _squash(quote)
    return bool(wanted) and wanted in _squash(text)


def injection_evidence(text: str) -> list[str]:
    """The phrases in a lead's text that try to instruct a reader."""
    return sorted({m.group(0) for m in INJECTION.finditer(text)})


def checked_verdict(
    verdict: IntentVerdict, state: DecisionRecord, max_adjustment: float
) -> ModelClassification:
    """The verdict as the record keeps it: quotes not in the lead's text dropped and counted,
    the adjustment bounded, and no upward adjustment for a lead that tries to instruct."""
    text = lead_text(state)
    kept: list[Evidence] = []
    dropped = 0
    for signal in verdict.signals:
        if quoted_in(signal.quote, text):
            kept.append({"kind": signal.kind, "quote": signal.quote})
        else:
            dropped += 1
    found = injection_evidence(text)
    if verdict.injection_quote and quoted_in(verdict.injection_quote, text):
        found.append(verdict.injection_quote)
    injection = verdict.injection or bool(found)
    adjustment = max(-max_adjustment, min(max_adjustment, float(verdict.score_adjustment)))
    reason = verdict.adjustment_reason.strip() or "no reason given"
    if injection and adjustment > 0:
        adjustment, reason = 0.0, "no upward adjustment: the lead's text tries to instruct"
    if adjustment and not verdict.adjustment_reason.strip():
        adjustment, reason = 0.0, "adjustment without a reason ignored"
    checked: ModelClassification = {
        "intent": verdict.intent,
        "is_spam": verdict.is_spam,
        "spam_reason": verdict.spam_reason,
        "signals": kept,
        "dropped_quotes": dropped,
        "injection": injection,
        "injection_evidence": sorted(set(found)),
        "adjustment": adjustment,
        "adjustment_reason": reason,
    }
    persona = state.get("classification", {}).get("persona", {})
    if persona.get("seniority", "unknown") == "unknown" and verdict.seniority != "unknown":
        checked["persona"] = {"seniority": verdict.seniority, "department": verdict.department}
    return checked


def fact_sheet(state: DecisionRecord, rep_name: str) -> dict[str, Any]:
    """What a draft may state: the lead, its company, the owner and the meeting held."""
    lead = state.get("lead", {})
    company = state.get("enrichment", {}).get("company", {})
    booking = state.get("booking", {})
    facts = {
        "first_name": lead.get("first_name"),
        "last_name": lead.get("last_name"),
        "title": lead.get("title"),
        "company": company.get("name") or lead.get("company"),
        "industry": company.get("industry"),
        "employees": company.get("employees"),
        "country": company.get("country"),
        "city": company.get("city"),
        "rep_name": rep_name,
        "meeting_start": booking.get("rep_local_start") or booking.get("start"),
        "meeting_timezone": booking.get("timezone"),
        "meeting_link": booking.get("link"),
        "lead_message": lead.get("message"),
    }
    return {k: v for k, v in facts.items() if v not in (None, "")}


_NUMBER = re.compile(r"(?<![\w.])\d[\d,.:]*\d|\b\d\b")
_MONEY = re.compile(r"[$€£]\s?\d|\d\s?(?:usd|eur|gbp|dollars|euros)\b", re.IGNORECASE)
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_NAME = re.compile(r"\b[A-Z][a-zA-Z]+(?:[ \t]+[A-Z][a-zA-Z]+)+")
# Capitalized words a letter uses that name nobody: greetings, sign-offs, days and months.
_COMMON_WORDS = (
    "hi hello dear best kind regards thanks thank many i we our your you the a monday "
    "tuesday wednesday thursday friday saturday sunday january february march april may june "
    "july august september october november december bonjour cordialement merci hola saludos "
    "gracias buongiorno ciao grazie cordiali olá obrigado atenciosamente hallo"
)
COMMON_CAPITALIZED = frozenset(_COMMON_WORDS.split())


def claim_problems(answer: DraftAnswer, facts: dict[str, Any]) -> list[str]:
    """Each concrete claim in the draft that the fact sheet does not support."""
    known = " ".join(str(v) for v in facts.values())
    known_lower = known.lower()
    known_digits = {re.sub(r"\D", "", n) for n in _NUMBER.findall(known)}
    text = f"{answer.subject}\n{answer.body}"
    problems: list[str] = []
    for number in _NUMBER.findall(text):
        digits = re.sub(r"\D", "", number)
        if digits and digits not in known_digits and not any(digits in k for k in known_digits):
            problems.append(f"number {number!r} is not in the fact sheet")
    if _MONEY.search(text) and not _MONEY.search(known):
        problems.append("states a price")
    for url in _URL.findall(text):
        if url.rstrip(".,)") not in known:
            problems.append(f"link {url!r} is not in the fact sheet")
    for email in _EMAIL.findall(text):
        if email.lower() not in known_lower:
            problems.append(f"email {email!r} is not in the fact sheet")
    if answer.language.lower() != "de":  # German capitalizes every noun: no name check
        known_words = set(re.findall(r"\w+", known_lower)) | COMMON_CAPITALIZED
        for name in _NAME.findall(text):
            if any(word.lower() not in known_words for word in name.split()):
                problems.append(f"name {name!r} is not in the fact sheet")
    if not answer.body.strip():
        problems.append("empty body")
    if len(answer.body) > 1500:
        problems.append("longer than 1,500 characters")
    return problems
