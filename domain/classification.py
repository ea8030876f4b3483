"""Classification: persona from the title, ICP segment, inbound intent and a spam/bot verdict.

Deterministic rules; every verdict lists the evidence it rests on.
"""

from __future__ import annotations

import re
from typing import Any

from domain.config import ScoringConfig
from domain.records import (
    Classification,
    Company,
    Intent,
    Lead,
    Persona,
    Provenance,
    Segment,
    Seniority,
    Spam,
)


def _rx(*words: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])(?:" + "|".join(words) + r")(?![\w])", re.IGNORECASE)


SENIORITY: list[tuple[Seniority, re.Pattern[str]]] = [
    (
        "c_level",
        _rx(
            r"c[eftmor]o",
            r"cxo",
            r"chief",
            r"founder",
            r"co-founder",
            r"cofounder",
            r"owner",
            r"president",
            r"managing director",
            r"geschäftsführer(?:in)?",
            r"gesch\.?\s?f\.?",
            r"pdg",
            r"directeur général",
            r"directrice générale",
            r"director general",
            r"amministratore delegato",
            r"partner",
        ),
    ),
    (
        "vp",
        _rx(
            r"vp",
            r"svp",
            r"evp",
            r"avp",
            r"vice[- ]president",
            r"vice presidente",
            r"vizepräsident",
            r"head",
            r"bereichsleiter(?:in)?",
        ),
    ),
    (
        "director",
        _rx(
            r"director",
            r"directora?",
            r"directeur",
            r"directrice",
            r"direttore",
            r"direttrice",
            r"diretor",
            r"leiter(?:in)?",
            r"vertriebsleiter(?:in)?",
            r"abteilungsleiter(?:in)?",
            r"dir\.?",
        ),
    ),
    (
        "manager",
        _rx(
            r"manager",
            r"mgr",
            r"lead",
            r"team lead",
            r"supervisor",
            r"jefe",
            r"jefa",
            r"responsable",
            r"gerente",
            r"responsabile",
            r"teamleiter(?:in)?",
            r"coordinator",
            r"principal",
        ),
    ),
    (
        "ic",
        _rx(
            r"engineer",
            r"developer",
            r"analyst",
            r"specialist",
            r"representative",
            r"rep",
            r"sdr",
            r"bdr",
            r"ae",
            r"account executive",
            r"associate",
            r"consultant",
            r"intern",
            r"student",
            r"assistant",
            r"admin",
            r"administrator",
            r"designer",
            r"scientist",
            r"architect",
            r"ingenieur",
            r"entwickler",
            r"referent(?:in)?",
            r"sachbearbeiter(?:in)?",
            r"technicien",
            r"analista",
            r"stagiaire",
            r"praktikant",
        ),
    ),
]

DEPARTMENT: list[tuple[str, re.Pattern[str]]] = [
    (
        "revops",
        _rx(
            r"revops",
            r"rev ops",
            r"revenue operations",
            r"sales operations",
            r"sales ops",
            r"marketing operations",
            r"marketing ops",
            r"go[- ]to[- ]market ops",
            r"gtm ops",
            r"crm",
        ),
    ),
    (
        "executive",
        _rx(
            r"ceo",
            r"founder",
            r"co-founder",
            r"owner",
            r"president",
            r"managing director",
            r"geschäftsführer(?:in)?",
            r"pdg",
            r"directeur général",
            r"amministratore delegato",
        ),
    ),
    (
        "sales",
        _rx(
            r"sales",
            r"cro",
            r"revenue",
            r"business development",
            r"sdr",
            r"bdr",
            r"account executive",
            r"ae",
            r"vertrieb\w*",
            r"vertriebsleiter(?:in)?",
            r"ventas",
            r"vendite",
            r"commercial",
            r"commerciale",
            r"comercial",
            r"account manager",
        ),
    ),
    (
        "marketing",
        _rx(
            r"marketing",
            r"cmo",
            r"growth",
            r"demand gen\w*",
            r"brand",
            r"content",
            r"communications?",
            r"mercadotecnia",
        ),
    ),
    (
        "it",
        _rx(
            r"cto",
            r"cio",
            r"engineer\w*",
            r"developer",
            r"software",
            r"it",
            r"technology",
            r"tech",
            r"data",
            r"security",
            r"devops",
            r"architect",
            r"ingenieur",
            r"entwickler",
            r"informatique",
            r"sistemas",
        ),
    ),
    (
        "finance",
        _rx(
            r"cfo",
            r"finance",
            r"financial",
            r"controller",
            r"accounting",
            r"procurement",
            r"purchasing",
            r"einkauf",
            r"achats",
        ),
    ),
    ("people", _rx(r"hr", r"human resources", r"people", r"talent", r"recruit\w*")),
    ("customer_success", _rx(r"customer success", r"support", r"customer service", r"cs")),
    ("operations", _rx(r"coo", r"operations", r"ops", r"logistics", r"supply chain")),
]

INTENT_WORDS: dict[Intent, re.Pattern[str]] = {
    "job_seeker": _rx(
        r"job",
        r"jobs",
        r"career",
        r"careers",
        r"position",
        r"vacanc\w+",
        r"resume",
        r"cv",
        r"internship",
        r"apply(?:ing)?",
        r"application",
        r"hiring",
        r"open role",
        r"employment",
        r"bewerbung",
        r"candidature",
    ),
    "support": _rx(
        r"broken",
        r"error",
        r"bug",
        r"can'?t log ?in",
        r"cannot log ?in",
        r"login",
        r"log in",
        r"password",
        r"not working",
        r"doesn'?t work",
        r"support ticket",
        r"ticket",
        r"invoice",
        r"billing",
        r"refund",
        r"outage",
        r"our account",
        r"help with our",
    ),
    "partnership": _rx(
        r"partner",
        r"partnership",
        r"reseller",
        r"resell",
        r"affiliate",
        r"agency",
        r"integration partner",
        r"co-marketing",
        r"referral program",
        r"white[- ]label",
    ),
    "demo": _rx(
        r"demo",
        r"demonstration",
        r"walk ?through",
        r"see the product",
        r"show us",
        r"trial",
        r"evaluate",
        r"evaluation",
        r"poc",
        r"proof of concept",
        r"meeting",
        r"talk to sales",
    ),
    "pricing": _rx(
        r"pric\w+",
        r"cost",
        r"costs",
        r"quote",
        r"quotation",
        r"budget",
        r"license",
        r"licence",
        r"licensing",
        r"seats?",
        r"discount",
        r"contract",
        r"procurement",
        r"tarif\w*",
        r"precio",
        r"preis\w*",
    ),
}
FORM_INTENT: dict[str, Intent] = {
    "demo-request": "demo",
    "contact-sales": "demo",
    "pricing": "pricing",
}
URL = re.compile(r"https?://|www\.", re.IGNORECASE)
SPAM_WORDS = _rx(
    r"seo",
    r"backlinks?",
    r"crypto",
    r"bitcoin",
    r"casino",
    r"viagra",
    r"loan",
    r"guest post",
    r"rank(?:ing)? #?1",
    r"first page of google",
    r"buy followers",
    r"forex",
    r"web design services",
    r"lead list",
    r"email list",
)
TEST_WORDS = _rx(r"test", r"testing", r"asdf", r"qwerty", r"lorem ipsum", r"foo", r"bar")
HONEYPOT_FIELDS = ("honeypot", "_hp", "hp_field", "website_url_hp")


def persona_for(title: str | None) -> Persona:
    """Seniority and department from a job title, in English and the main European languages."""
    text = title or ""
    seniority: Seniority = "unknown"
    evidence: list[str] = []
    for level, pattern in SENIORITY:
        found = pattern.search(text)
        if found:
            seniority = level
            evidence.append(f"seniority '{found.group(0)}'")
            break
    department = "unknown"
    for name, pattern in DEPARTMENT:
        found = pattern.search(text)
        if found:
            department = name
            evidence.append(f"department '{found.group(0)}'")
            break
    return {"seniority": seniority, "department": department, "evidence": evidence}


def segment_for(company: Company, provenance: dict[str, Provenance], cfg: ScoringConfig) -> Segment:
    """The ICP segment by company size, abstaining when the size is unknown or unsure."""
    employees = company.get("employees")
    if not isinstance(employees, int | float):
        return {"id": None, "confidence": 0.0, "abstained": True, "reason": "company size unknown"}
    known = provenance.get("employees")
    confidence = float(known["confidence"]) if known else 0.0
    for seg in cfg.icp.segments:
        bounds = seg.employees
        if employees >= bounds.get("gte", float("-inf")) and employees < bounds.get(
            "lt", float("inf")
        ):
            if confidence < cfg.icp.abstain_below:
                return {
                    "id": None,
                    "confidence": confidence,
                    "abstained": True,
                    "reason": f"size {employees} too unsure ({confidence:.2f})",
                }
            return {
                "id": seg.id,
                "confidence": confidence,
                "abstained": False,
                "reason": f"{employees} employees",
            }
    return {
        "id": None,
        "confidence": confidence,
        "abstained": True,
        "reason": f"{employees} employees fits no segment",
    }


def intent_for(lead: Lead) -> tuple[Intent, list[str]]:
    """Inbound intent from the message, then the form or source."""
    message = lead.get("message") or ""
    for intent, pattern in INTENT_WORDS.items():
        hits = sorted({m.group(0).lower() for m in pattern.finditer(message)})
        if hits:
            return intent, [f"message says {', '.join(repr(h) for h in hits[:3])}"]
    for key, given in (("form_id", lead.get("form_id")), ("source", lead.get("source"))):
        value = (given or "").lower()
        if value in FORM_INTENT:
            return FORM_INTENT[value], [f"{key} '{value}'"]
    return "other", ["no intent words in the message"]


def _gibberish(name: str) -> bool:
    letters = re.sub(r"[^a-z]", "", name.lower())
    if len(letters) < 5:
        return False
    vowels = sum(ch in "aeiouy" for ch in letters)
    return vowels / len(letters) < 0.15 or re.search(r"[^aeiouy]{6,}", letters) is not None


def spam_for(lead: Lead, raw: dict[str, Any]) -> Spam:
    """Spam/bot verdict: strong signals alone, weak ones only together."""
    reasons: list[tuple[float, str]] = []
    given = raw.get("properties")
    props: dict[str, Any] = given if isinstance(given, dict) else {}
    if any(raw.get(f) or props.get(f) for f in HONEYPOT_FIELDS):
        reasons.append((1.0, "hidden honeypot field was filled (a bot)"))
    if lead.get("disposable"):
        reasons.append((1.0, f"disposable email domain {lead.get('domain')}"))
    message = lead.get("message") or ""
    links = len(URL.findall(message))
    if links >= 2:
        reasons.append((0.7, f"{links} links in the message"))
    spam_words = sorted({m.group(0).lower() for m in SPAM_WORDS.finditer(message)})
    if spam_words:
        reasons.append((0.6, f"spam words: {', '.join(spam_words[:3])}"))
    name = f"{lead.get('first_name') or ''}{lead.get('last_name') or ''}"
    if _gibberish(name):
        reasons.append((0.6, f"gibberish name {name!r}"))
    local = (lead.get("email") or "").split("@")[0]
    if TEST_WORDS.fullmatch(local) or TEST_WORDS.fullmatch((lead.get("first_name") or "").strip()):
        reasons.append((0.8, "looks like a test submission"))
    if lead.get("role_address"):
        reasons.append((0.2, f"role address {local}@"))
    score = round(sum(weight for weight, _ in reasons), 2)
    return {"is_spam": score >= 1.0, "score": score, "reasons": [r for _, r in reasons]}


def classify_lead(
    lead: Lead,
    raw: dict[str, Any],
    company: Company,
    provenance: dict[str, Provenance],
    cfg: ScoringConfig,
) -> Classification:
    """Persona, segment, intent and spam from the lead and its enrichment; spam wins intent."""
    spam = spam_for(lead, raw)
    intent, evidence = intent_for(lead)
    if spam["is_spam"]:
        intent, evidence = "spam", spam["reasons"]
    return {
        "persona": persona_for(lead.get("title")),
        "segment": segment_for(company, provenance, cfg),
        "intent": intent,
        "intent_evidence": evidence,
        "spam": spam,
        "method": "rules",
    }
