"""Replies to a lead: the body at the door, what a reply is, and the checks on a model's reading.

The rules read a reply in English, German, French, Spanish and Italian: every kind is scored
on the whole reply (the quoted earlier mail left out) from weighted cues and negative cues,
and they are confident when one kind clearly leads. With a language model the model reads it
too (as quoted data); its evidence must be the reply's own words. The rules decide when
confident, the model otherwise, and both readings are kept.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from domain.assist import injection_evidence, quoted_in
from domain.intake import EMAIL
from domain.records import InboundReply, ReplyKind, ReplyReading, ReplyVerdict
from domain.reply_dates import find_dates, fold, return_date

KINDS: tuple[ReplyKind, ...] = (
    "unsubscribe",
    "out_of_office",
    "spam",
    "wrong_person",
    "meeting_request",
    "interested",
    "not_now",
    "question",
    "other",
)
CONFIDENT_AT = 2.0
CONFIDENT_MARGIN = 1.0


NOT_BLANK: dict[str, Any] = {"pattern": r"\S"}  # the schema's "not empty once trimmed"


def present(*names: str) -> dict[str, Any]:
    """The schema's word for "these fields are given, as text"."""
    return {"required": list(names), "properties": {name: {"type": "string"} for name in names}}


_ADDRESS_PATTERN = r"[\w.+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"


class ReplyIn(BaseModel):
    """The body of `POST /webhooks/reply`: an inbound email reply to a lead."""

    model_config = ConfigDict(
        extra="allow",
        str_strip_whitespace=True,
        populate_by_name=True,
        json_schema_extra={"anyOf": [present("lead_id"), present("email", "thread_id")]},
    )

    lead_id: str | None = Field(default=None, max_length=100, json_schema_extra=NOT_BLANK)
    email: str | None = Field(
        default=None, max_length=254, json_schema_extra={"pattern": EMAIL.pattern}
    )
    thread_id: str | None = Field(default=None, max_length=500, json_schema_extra=NOT_BLANK)
    message_id: str = Field(min_length=1, max_length=500, json_schema_extra=NOT_BLANK)
    sender: str = Field(
        alias="from",
        min_length=3,
        max_length=500,
        json_schema_extra={"pattern": _ADDRESS_PATTERN},
    )
    subject: str | None = Field(default=None, max_length=1000)
    text: str = Field(min_length=1, max_length=50_000, json_schema_extra=NOT_BLANK)
    received_at: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _identifies_a_lead(self) -> ReplyIn:
        problems = []
        if not self.lead_id and not (self.email and self.thread_id):
            for name in ("lead_id", "email", "thread_id"):
                if name == "lead_id" or not getattr(self, name):
                    problems.append((name, "give lead_id, or email and thread_id"))
        if self.email and not EMAIL.match(self.email):
            problems.append(("email", f"{self.email[:80]!r} is not an email address"))
        if not sender_email(self.sender):
            problems.append(("from", f"{self.sender[:80]!r} holds no email address"))
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("reply", problem), loc=(name,), input=None
                    )
                    for name, problem in problems
                ],
            )
        return self


def parse_inbound(value: Any, *, waiting: bool) -> InboundReply:
    """The reply a lead's thread is handed; raises ValueError saying what is missing."""
    if not isinstance(value, dict):
        raise ValueError(f"a reply must be a mapping, got {type(value).__name__}")
    missing = [k for k in ("message_id", "sender", "text", "received_at") if not value.get(k)]
    if missing:
        raise ValueError(f"a reply needs {', '.join(missing)}")
    return {
        "message_id": str(value["message_id"]),
        "sender": str(value["sender"]),
        "subject": value.get("subject"),
        "text": str(value["text"]),
        "received_at": str(value["received_at"]),
        "thread_id": value.get("thread_id"),
        "waiting": waiting,
    }


_ADDRESS = re.compile(_ADDRESS_PATTERN)


def sender_email(sender: str) -> str | None:
    """The address in a From header (`Ana Silva <ana@example.com>` or a bare address)."""
    found = _ADDRESS.search(sender)
    return found.group(0).lower() if found else None


# Where the quoted earlier mail begins: it is not the reply.
QUOTE_HEADER = re.compile(
    r"^(?:on .{0,200}wrote:|am .{0,200}schrieb.{0,80}:|le .{0,200}a ecrit\s*:"
    r"|el .{0,200}escribio:|il .{0,200}ha scritto:|-{2,}\s*(?:original message"
    r"|urspr[uü]ngliche nachricht|message d'origine|mensaje original|messaggio originale)"
    r"|from: .+|von: .+|de: .+|da: .+)",
    re.IGNORECASE | re.MULTILINE,
)


def own_words(text: str) -> str:
    """The reply without the quoted mail it answers (`>` lines, "On … wrote:" and below)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    kept = "\n".join(lines)
    header = QUOTE_HEADER.search(fold(kept))
    return (kept[: header.start()] if header else kept).strip()


def _cues(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# (kind, weight, cues) over the folded text (lower case, no accents).
CUES: list[tuple[ReplyKind, float, re.Pattern[str]]] = [
    (
        "unsubscribe",
        3.0,
        _cues(
            r"\bunsubscribe\b|\bremove me\b|take me off|stop (?:emailing|contacting|sending)",
            r"do(?: not|n't) (?:contact|email|e-mail) me|opt(?:-| )?out|no (?:more|further) emails",
            r"\babmelden\b|austragen|keine (?:weiteren )?(?:e-?mails|nachrichten)|abbestellen",
            r"nicht mehr (?:kontaktieren|anschreiben)|loschen sie (?:mich|meine daten)",
            r"desabonner|desinscri|ne (?:plus|pas) me (?:contacter|recontacter|relancer)",
            r"retirez-moi|supprimez-moi|plus d'e-?mails",
            r"dar(?:me)? de baja|no me (?:contacten|vuelvan a contactar|escriban)"
            r"|eliminar(?:me)? de",
            r"disiscriv|cancellami|non (?:contattatemi|mi contattate|scrivetemi)|rimuovetemi",
            r"toglietemi",
        ),
    ),
    (
        "out_of_office",
        3.0,
        _cues(
            r"out of (?:the )?office|\bon (?:annual |parental |sick )?leave\b|on (?:vacation"
            r"|holiday)",
            r"limited access to (?:my )?e-?mail|automatic reply|auto(?:-| )?reply|i am away"
            r"|i'm away|away from (?:my desk|the office)",
            r"abwesen|nicht im buro|ausser haus|im urlaub|automatische antwort"
            r"|eingeschrankt erreichbar",
            r"absente? du bureau|en conges?\b|reponse automatique|en vacances|absente? jusqu",
            r"fuera de la oficina|de vacaciones|respuesta automatica|ausente hasta",
            r"fuori (?:ufficio|sede)|in ferie|risposta automatica|assente fino|in vacanza",
        ),
    ),
    (
        "spam",
        3.0,
        _cues(
            r"mailer-daemon|delivery status notification|undeliverable|delivery has failed",
            r"address not found|mail delivery (?:failed|subsystem)|unzustellbar|non remis",
            r"no se pudo entregar|impossibile recapitare|click here to unsubscribe",
            r"guest post|backlinks?|link building|seo services|rank (?:your site|on google)",
            r"\bcasino\b|\bcrypto|\bbitcoin|viagra|loan offer|web design services",
            r"app development services|we are a (?:leading|top) (?:agency|company|provider)",
        ),
    ),
    (
        "wrong_person",
        3.0,
        _cues(
            r"not the (?:right|best|correct) (?:person|contact)|wrong person"
            r"|no longer (?:works?|with)",
            r"(?:has )?left the company|the right person (?:is|would be)|better person",
            r"nicht (?:der|die) (?:richtige|passende) ansprechpartner|nicht zustandig",
            r"nicht mehr (?:im|bei|fur) (?:unternehmen|uns|die firma)"
            r"|(?:richtige )?ansprechpartner(?:in)? ist",
            r"pas la bonne personne|ne (?:travaille|fait) plus|n'est plus (?:chez|dans)"
            r"|le bon interlocuteur",
            r"no soy la persona (?:adecuada|indicada|correcta)|ya no trabaja|la persona indicada",
            r"non sono la persona giusta|non lavora piu|il referente (?:giusto )?e",
        ),
    ),
    (
        "wrong_person",
        1.5,
        _cues(
            r"please (?:contact|reach out to|get in touch with)|you should (?:contact|speak|talk)",
            r"handles this|in charge of|wenden sie sich an|zustandig ist|contactez plutot",
            r"adressez-vous a|s'occupe de|contacte con|encargad[oa] de|rivolgetevi a|si occupa di",
        ),
    ),
    (
        "meeting_request",
        2.5,
        _cues(
            r"(?:book|schedule|set up|arrange) (?:a |some )?(?:call|meeting|demo|time)",
            r"let's (?:talk|meet|chat|connect|set up)|calendar (?:invite|link)"
            r"|send (?:me )?an? invite",
            r"are you (?:free|available)|how about (?:monday|tuesday|wednesday|thursday|friday"
            r"|tomorrow|next week)|works for me|call me\b",
            r"termin (?:vereinbaren|machen|buchen|vorschlagen)|lassen sie uns (?:sprechen"
            r"|telefonieren)",
            r"(?:einen|ein) (?:call|gesprach|telefonat)|kalendereinladung"
            r"|haben sie (?:am .{0,20})?zeit",
            r"(?:prendre|fixer|planifier|caler) (?:un )?(?:rendez-vous|rdv|appel|creneau)",
            r"etes-vous disponible|on peut (?:se parler|s'appeler)|une demo",
            r"agendar (?:una )?(?:llamada|reunion|demo)|hablemos|esta disponible"
            r"|tienes disponibilidad",
            r"fissare (?:una )?(?:call|riunione|chiamata|demo)|sentirci|(?:e|sei) disponibile",
        ),
    ),
    (
        "interested",
        2.0,
        _cues(
            r"\binterested\b|sounds (?:good|great|interesting)|tell me more|\bkeen\b|let's do it",
            r"yes,? please|would love to|happy to (?:talk|chat|learn|hear)",
            r"\binteressiert\b|klingt (?:gut|spannend|interessant)|gerne mehr|mehr erfahren",
            r"\binteresse\b|ca m'interesse|avec plaisir|volontiers|en savoir plus",
            r"\binteresad[oa]\b|me interesa|suena (?:bien|interesante)|con gusto|saber mas",
            r"\binteressat[oa]\b|mi interessa|volentieri|mi piacerebbe|saperne di piu",
        ),
    ),
    (
        "not_now",
        2.0,
        _cues(
            r"not (?:right )?now|not at the moment|not at this time|maybe later|not a priority",
            r"circle back|check back|reach out (?:again )?(?:in|after|next)|ping me|get back to me",
            r"too early|no budget|later this year|touch base (?:in|after)",
            r"nicht (?:jetzt|im moment|aktuell)|derzeit nicht|momentan nicht|\bspater\b",
            r"melden sie sich (?:wieder )?(?:im|nach|in|ab)|kein budget",
            r"pas (?:pour le )?moment|pas maintenant|plus tard|recontactez-moi|revenez vers moi",
            r"pas de budget|ahora no|no por ahora|mas adelante|vuelva a contactarme",
            r"contactame (?:en|despues)|no tenemos presupuesto|non (?:ora|adesso"
            r"|in questo momento)",
            r"piu avanti|ricontatta(?:mi|temi)|non abbiamo budget",
        ),
    ),
    (
        "question",
        1.0,
        _cues(
            r"\bhow (?:much|does|do|long|many)\b|\bwhat (?:is|are|does)\b|\bcan (?:you|it|i)\b",
            r"\bdoes it\b|\bdo you\b|\bis there\b|\bpricing\b|\bcost\b",
            r"\bwie (?:viel|funktioniert|lange)\b|\bwas kostet\b|\bgibt es\b|\bkonnen sie\b",
            r"\bcombien\b|\bcomment\b|est-ce que|\bpouvez-vous\b|\btarifs?\b",
            r"\bcuanto\b|\bcomo funciona\b|\bpueden\b|\bprecio\b",
            r"\bquanto\b|\bcome funziona\b|\bpotete\b|\bprezzo\b|\bcosto\b",
        ),
    ),
]
# Words that turn a cue around: "not interested" is no interest, "let's talk after Easter" no
# meeting yet, a footer's unsubscribe link no opt-out.
NEGATIVE: list[tuple[ReplyKind, float, re.Pattern[str]]] = [
    (
        "interested",
        -3.0,
        _cues(
            r"not interested|no interest|nicht interessiert|kein interesse|pas interesse",
            r"ne m'interesse pas|no me interesa|no estoy interesad|non mi interessa",
            r"non sono interessat",
        ),
    ),
    (
        "meeting_request",
        -2.5,
        _cues(r"let's (?:talk|meet|chat|connect) (?:again )?(?:after|in|next|later|once|when)"),
    ),
    ("unsubscribe", -3.0, _cues(r"click here to unsubscribe|unsubscribe link|to unsubscribe,")),
]
NOT_INTERESTED = NEGATIVE[0][2]


def _add(
    scores: dict[str, float], evidence: dict[str, list[str]], kind: str, w: float, s: str
) -> None:
    scores[kind] = scores.get(kind, 0.0) + w
    if w > 0:
        evidence.setdefault(kind, []).append(s)


def read_reply(
    text: str, subject: str | None, sender: str, today: date, known: set[str] | None = None
) -> tuple[ReplyReading, ReplyVerdict]:
    """The rules' reading of a reply, and the verdict they would give on their own (kind,
    evidence, the date, the referred address)."""
    words = own_words(text)
    whole = f"{subject or ''}\n{words}"
    folded = fold(whole)
    scores: dict[str, float] = {}
    evidence: dict[str, list[str]] = {}
    for cue_kind, weight, pattern in [*CUES, *NEGATIVE]:
        for m in pattern.finditer(folded):
            _add(scores, evidence, cue_kind, weight, whole[m.start() : m.end()])
    refusal = NOT_INTERESTED.search(folded)
    if refusal:
        _add(scores, evidence, "not_now", 2.0, whole[refusal.start() : refusal.end()])
    if "?" in words:
        _add(scores, evidence, "question", 1.0, "?")
    address = sender_email(sender) or ""
    if re.match(r"(?:mailer-daemon|postmaster)@", address):
        _add(scores, evidence, "spam", 3.0, address)
    referred = referred_email(words, {address, *(known or set())})
    if referred and scores.get("wrong_person", 0) > 0:
        _add(scores, evidence, "wrong_person", 1.0, referred)
    dates = find_dates(words, today)
    if dates and scores.get("not_now", 0) > 0:
        _add(scores, evidence, "not_now", 1.0, dates[0].text)
    ranked = sorted(
        ((score, -KINDS.index(kind), kind) for kind, score in scores.items() if score > 0),
        reverse=True,
    )
    kind: ReplyKind = "other"
    top = second = 0.0
    if ranked:
        top, kind = ranked[0][0], ranked[0][2]  # type: ignore[assignment]
        second = ranked[1][0] if len(ranked) > 1 else 0.0
    confident = top >= CONFIDENT_AT and top - second >= CONFIDENT_MARGIN
    reading: ReplyReading = {
        "kind": kind,
        "confidence": round(min(1.0, (top - second) / 4 + (0.25 if top >= CONFIDENT_AT else 0)), 2),
        "confident": confident,
        "evidence": [q for q in evidence.get(kind, []) if q != "?"][:5]
        or evidence.get(kind, [])[:1],
        "scores": {k: round(v, 2) for k, v in sorted(scores.items())},
        "injection": bool(injection_evidence(words)),
    }
    verdict = dated(kind, words, today)
    verdict["referred_email"] = referred
    reading["date"] = verdict.get("date")
    return reading, verdict


# Sentences that say when to come back, kept as written when no date can be read from them.
_LATER = re.compile(
    r"[^.!?\n]*(?:later|spater|plus tard|mas adelante|piu avanti|after|nach|apres"
    r"|despues|dopo|once|sobald|quand|cuando|quando|when)[^.!?\n]*",
    re.IGNORECASE,
)


def dated(kind: ReplyKind, words: str, today: date) -> ReplyVerdict:
    """The date a reply of `kind` gives: the return day of an out-of-office, when to touch a
    not-now again (or its words, when no date can be read)."""
    if kind == "out_of_office":
        back = return_date(words, today)
        return {
            "date": back.day.isoformat() if back else None,
            "date_text": back.text if back else None,
        }
    if kind == "not_now":
        dates = find_dates(words, today)
        if dates:
            return {"date": dates[0].day.isoformat(), "date_text": dates[0].text}
        later = _LATER.search(words)
        return {"date": None, "date_text": later.group(0).strip() if later else None}
    return {"date": None, "date_text": None}


def referred_email(text: str, exclude: set[str]) -> str | None:
    """The first address in the reply that is not the sender's or one already known."""
    for found in _ADDRESS.findall(text):
        address = found.lower().rstrip(".")
        if address not in exclude and EMAIL.match(address):
            return str(address)
    return None


class ReplyAnswer(BaseModel):
    """The model's reading of a reply (the `classify_reply` prompt's answer)."""

    kind: Literal[
        "interested",
        "meeting_request",
        "question",
        "not_now",
        "unsubscribe",
        "out_of_office",
        "wrong_person",
        "spam",
        "other",
    ]
    evidence: list[str] = Field(description="the reply's own words that show the kind, copied")
    date: str | None = Field(description="ISO date YYYY-MM-DD: when back, or when to follow up")
    referred_email: str | None = Field(description="the address of the person referred to")


def checked_answer(answer: ReplyAnswer, text: str, today: date) -> ReplyReading:
    """The model's reading as the record keeps it: quotes not in the reply dropped and
    counted, a date kept only when it is a real day after the reply's."""
    kept = [q for q in answer.evidence if quoted_in(q, text)]
    reading: ReplyReading = {
        "kind": answer.kind,
        "evidence": kept,
        "dropped_quotes": len(answer.evidence) - len(kept),
        "date": None,
    }
    if answer.date:
        try:
            day = date.fromisoformat(answer.date)
        except ValueError:
            day = None
        if day is not None and today <= day <= today.replace(year=today.year + 2):
            reading["date"] = day.isoformat()
    return reading


def decide(
    rules: ReplyReading,
    rules_verdict: ReplyVerdict,
    model: ReplyReading | None,
    words: str,
    today: date,
) -> ReplyVerdict:
    """The verdict: the rules' when they are confident, else the model's when it answered with
    evidence from the reply, else the rules'. Both readings are kept."""
    verdict: ReplyVerdict = {"rules": rules}
    if model is not None:
        verdict["model"] = model
    if rules.get("confident") or model is None:
        why = "the rules are confident" if rules.get("confident") else "no model reading"
        if not rules.get("confident") and model is None:
            why = "the rules are not confident and no model reading was available"
        chosen, by, base = rules, "rules", rules_verdict
    elif not model.get("evidence") and model.get("kind") not in ("spam", "other"):
        chosen, by, base = rules, "rules", rules_verdict
        why = "the rules are not confident, and the model quoted nothing from the reply"
    else:
        chosen, by = model, "model"
        base = dated(model["kind"], words, today)
        if not base.get("date") and model.get("date"):
            base["date"] = model["date"]
        base["referred_email"] = rules_verdict.get("referred_email")
        why = "the rules are not confident; the model's reading, with its quotes checked"
    verdict.update(base)
    verdict["kind"] = chosen["kind"]
    verdict["evidence"] = chosen.get("evidence", [])
    verdict["decided_by"] = "model" if by == "model" else "rules"
    verdict["why"] = why
    return verdict


REPLY_DELIMITER = "<<<REPLY>>>"
END_REPLY_DELIMITER = "<<<END REPLY>>>"


def reply_block(subject: str | None, text: str) -> str:
    """The reply as quoted data between delimiters the reply cannot forge."""

    def quoted(value: str) -> str:
        clean = value.replace(REPLY_DELIMITER, "").replace(END_REPLY_DELIMITER, "")
        return '"' + clean.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [f"subject: {quoted(subject)}"] if subject else []
    lines.append(f"text: {quoted(text)}")
    return "\n".join([REPLY_DELIMITER, *lines, END_REPLY_DELIMITER])


def answer_template(first_name: str | None, rep_name: str, question: str) -> dict[str, Any]:
    """The rep's answer to a question, from a template: it thanks, restates and promises."""
    quoted = question.strip().splitlines()[0][:300] if question.strip() else ""
    body = (
        f"Hi {first_name or 'there'},\n\n"
        "Thanks for your question"
        + (f" — \u201c{quoted}\u201d" if quoted else "")
        + ". I'll come back to you with a proper answer shortly.\n\n"
        f"Best regards,\n{rep_name}"
    )
    return {"body": body, "method": "template"}
