"""The decision record of one lead: what each step decided, as typed dicts (DESIGN §2).

These are the value types of the graph's state. Every one is a JSON-serializable dict, stored
as it is in the checkpoints and shown as it is by `GET /admin/leads/{id}`, so the TypedDicts
only name the keys that already exist; `total=False` where a step writes some keys only in
some cases. mypy checks every key a step reads or writes against them.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Status = Literal["queued", "processing", "completed", "failed"]
RoutingAction = Literal["book", "draft", "nurture", "disqualify", "support"]
RepDecision = Literal["accept", "reassign", "not_a_fit"]
Seniority = Literal["c_level", "vp", "director", "manager", "ic", "unknown"]
Intent = Literal["demo", "pricing", "support", "partnership", "job_seeker", "spam", "other"]
Method = Literal[
    "existing_owner",
    "named_account",
    "territory",
    "round_robin",
    "fallback",
    "disqualified",
    "reassigned",
    "repeat",
]


class Problem(TypedDict):
    """One problem with an input field, as the API and the capture step list them."""

    field: str
    problem: str


class Lead(TypedDict):
    """The normalized lead: exactly the keys of `domain.normalize.LEAD_KEYS`."""

    email: str | None
    email_local: str | None
    email_domain: str | None
    domain: str | None
    website_domain: str | None
    free_mail: bool
    disposable: bool
    role_address: bool
    first_name: str | None
    last_name: str | None
    full_name: str | None
    company: str | None
    title: str | None
    phone: str | None
    country: str | None
    country_source: str | None
    state: str | None
    city: str | None
    region: str | None
    message: str | None
    source: str | None
    form_id: str | None
    submitted_at: str | None
    utm: dict[str, Any]
    consent: dict[str, Any]
    properties: dict[str, Any]


class Capture(TypedDict):
    """What capture found: the non-fatal problems, and the earlier lead of a repeat."""

    problems: list[Problem]
    duplicate_of: str | None
    dedupe_window_minutes: int


class Provenance(TypedDict):
    """Where an enriched field came from."""

    source: str
    confidence: float
    fetched_at: str


class Company(TypedDict, total=False):
    """The lead's company, field by field as the waterfall filled it."""

    name: str
    domain: str
    industry: str
    employees: int
    country: str
    state: str
    city: str
    region: str | None


class ContactMatch(TypedDict):
    """The CRM contact with the lead's email, and its owner."""

    contact_id: str
    owner_email: str | None
    company_id: str | None
    method: Literal["email"]
    confidence: float


class AccountMatch(TypedDict, total=False):
    """The account the lead belongs to (`domain.matching.AccountMatch.as_dict`, or the CRM's)."""

    account_id: str
    name: str | None
    domain: str | None
    owner_email: str | None
    parent_account_id: str | None
    method: str
    confidence: float
    matched_on: str
    alias: str | None
    candidates: list[dict[str, Any]]
    tie_break: str | None
    block_size: int
    notes: list[str]
    source: Literal["directory", "crm"]


class SimilarAccount(TypedDict):
    """A remembered account near the lead's, with what became of it."""

    id: str
    score: float
    name: str | None
    industry: str | None
    employees: int | None
    country: str | None
    outcome: str | None


class Enrichment(TypedDict):
    """The lead's contact, account and firmographics, each field with its provenance."""

    company: Company
    provenance: dict[str, Provenance]
    account_match: AccountMatch | None
    contact_match: ContactMatch | None
    similar_accounts: list[SimilarAccount]
    waterfall: list[dict[str, Any]]
    complete: bool


class Persona(TypedDict):
    seniority: Seniority
    department: str
    evidence: list[str]


class Segment(TypedDict):
    id: str | None
    confidence: float
    abstained: bool
    reason: str


class Spam(TypedDict):
    is_spam: bool
    score: float
    reasons: list[str]


class Classification(TypedDict):
    """Persona, ICP segment, intent and the spam verdict, each with its evidence."""

    persona: Persona
    segment: Segment
    intent: Intent
    intent_evidence: list[str]
    intent_from: NotRequired[Literal["message", "form", "none"]]
    spam: Spam
    method: Literal["rules"]


class Contribution(TypedDict):
    component: Literal["fit", "intent", "timing", "prior", "learned", "bounds"]
    feature: str
    points: float
    reason: str


class ShadowScore(TypedDict):
    """What a model scoring in shadow gave the lead; recorded, never routed on."""

    model: str
    total: float
    grade: Literal["A", "B", "C", "D"]


class Score(TypedDict):
    """The total, its grade and sub-scores, and every contribution with its reason."""

    total: float
    grade: Literal["A", "B", "C", "D"]
    fit: float
    intent: float
    timing: float
    prior: float
    learned: float
    method: Literal["rules", "learned"]
    contributions: list[Contribution]
    model_version: str
    rules: dict[str, float] | None
    learned_skipped: NotRequired[str]
    shadow: NotRequired[ShadowScore]


class RuleTried(TypedDict):
    """One routing rule tried, and a line per condition saying why it held or not."""

    rule: str
    matched: bool
    checks: list[str]


class Skip(TypedDict):
    """A rep left out of a round-robin pick, and why."""

    rep: str
    reason: str


class RoundRobin(TypedDict, total=False):
    pool: str
    sequence: int
    counts: dict[str, int]


# A later step on a routed lead: a rep's decision or the SLA clock's, in `routing.log`
# (functional form: `from` is a keyword).
RepEvent = TypedDict(
    "RepEvent",
    {
        "event": RepDecision,
        "by": str,
        "at": str,
        "hop": int,
        "reason": str,
        "result": str,
        "detail": str,
        "skipped": list[Skip],
        "from": str | None,
        "to": str,
        "round_robin": RoundRobin,
    },
    total=False,
)


class RepAnswer(TypedDict):
    """What resumes a lead waiting for its rep: the decision, who took it, when and why."""

    decision: RepDecision
    by: str
    at: str
    reason: str | None


class Decided(TypedDict):
    by: str
    at: str


class Disqualified(TypedDict):
    by: str
    at: str
    reason: str


class AccountOwner(TypedDict):
    """The rep who owns the lead's contact or account while a rule sent the lead elsewhere."""

    rep: str
    email: str
    ownership: str  # "contact owner" | "account owner"


class Routing(TypedDict, total=False):
    """The routing decision: the action, the owner or queue, and every rule and rep considered.

    route writes every key but the last four; rep decisions change the owner and add them.
    """

    action: RoutingAction
    action_reason: str
    previous_owner: str | None  # a rep id, as `owner`
    previous_owner_email: str | None
    method: Method
    rule: str | None
    owner: str | None
    owner_email: str | None
    team: str | None
    queue: str | None
    candidates: list[str]
    skipped: list[Skip]
    rules_tried: list[RuleTried]
    ownership: str
    account_owner: AccountOwner
    repeat_of: str
    round_robin: RoundRobin
    sla_deadline: str
    hops: int
    log: list[RepEvent]
    accepted: Decided
    disqualified: Disqualified
    previous_action: RoutingAction | None
    previous_action_reason: str | None


class BookingEvent(TypedDict, total=False):
    """A change to the lead's meeting that Cal.com reported (`POST /webhooks/calcom`)."""

    trigger: Literal["BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"]
    uid: str
    reschedule_uid: str | None
    start: str | None
    end: str | None
    link: str | None
    attendee: str | None
    timezone: str | None
    created_at: str | None
    waiting: bool
    at: str
    text: str
    deliveries: dict[str, Any]


class Booking(TypedDict, total=False):
    """A meeting held with the owner, or why none was; `history` lists Cal.com's reports."""

    status: Literal["confirmed", "unavailable", "skipped", "rescheduled", "cancelled"]
    booking_id: str
    uid: str
    rep_id: str
    start: str
    end: str
    rep_local_start: str
    timezone: str
    link: str
    provider: str
    reason: str
    history: list[BookingEvent]


class Draft(TypedDict):
    """The rep's first-touch email, the facts it states and the checks it passed."""

    subject: str
    body: str
    facts_used: dict[str, Any]
    checks: dict[str, bool]
    checks_passed: bool
    method: Literal["template", "model"]
    composed_at: str
    prompt: NotRequired[str]


class NurtureMessage(TypedDict):
    subject: str | None
    body: str | None


class Nurture(TypedDict):
    """The nurture track, why, the next touch and the first message."""

    track: str
    reason: str
    enrolled_at: str
    next_touch_at: str
    first_message: NurtureMessage
    method: Literal["template", "model"]
    prompt: NotRequired[str]
    resume_text: NotRequired[str]  # a reply's "not now" words no date could be read from
    stopped: NotRequired[str]  # why no further touch is sent (an opt-out)


class ErrorEntry(TypedDict, total=False):
    """A tool that failed inside a step that went on without it."""

    node: str
    tool: str
    error: str


class Timing(TypedDict):
    ms: float
    finished_at: str


# Receipts of side effects by name (`crm.contact`, `rep.message`, …) plus `notified_at` and
# `ms_to_notify`; each adapter shapes its own receipt.
Deliveries = dict[str, Any]


ModelOutcome = Literal[
    "ok", "invalid", "refused", "error", "timeout", "late", "breaker_open", "over_budget"
]


class ModelCall(TypedDict):
    """One call to the language model: what for, how it went, its tokens and time."""

    task: str
    model: str
    prompt: str  # the prompt's name and version, e.g. "classify@1"
    outcome: ModelOutcome
    ms: float
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    error: NotRequired[str]


class Evidence(TypedDict):
    """A buying signal and the lead's own words that show it."""

    kind: Literal["budget", "authority", "need", "timeline"]
    quote: str


class ModelClassification(TypedDict):
    """The model's reading of the lead, after its checks (`domain.assist.checked_verdict`)."""

    intent: Intent
    is_spam: bool
    spam_reason: str | None
    signals: list[Evidence]
    dropped_quotes: int
    injection: bool
    injection_evidence: list[str]
    adjustment: float
    adjustment_reason: str
    persona: NotRequired[ModelPersona]


class ModelPersona(TypedDict):
    """The model's persona for a lead whose title the rules could not read."""

    seniority: Seniority
    department: str | None


class ModelDraft(TypedDict):
    """The model's draft and its claim checks; `used` is False when the template stayed."""

    language: str
    subject: str
    body: str
    problems: list[str]
    used: bool


class Assist(TypedDict, total=False):
    """What the language model added after the rep was told, and whether it was used."""

    calls: list[ModelCall]
    classification: ModelClassification
    agrees: bool  # the model's intent is the rules' intent
    draft: ModelDraft
    nurture: ModelDraft
    score_before: float
    score_after: float
    message_updated: bool
    summary: str


ReplyKind = Literal[
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


class ReplyReading(TypedDict, total=False):
    """One reader's verdict on a reply (the rules', or the model's after its checks)."""

    kind: ReplyKind
    confidence: float
    confident: bool
    evidence: list[str]
    scores: dict[str, float]
    dropped_quotes: int
    date: str | None
    injection: bool


class ReplyVerdict(TypedDict, total=False):
    """What a reply is, who decided (rules or model) and why; both readings kept."""

    kind: ReplyKind
    evidence: list[str]
    decided_by: Literal["rules", "model"]
    why: str
    rules: ReplyReading
    model: ReplyReading
    calls: list[ModelCall]
    date: str | None  # ISO day: a return date, or when to touch again
    date_text: str | None  # the words it was read from, or "not now" words without a date
    referred_email: str | None


class InboundReply(TypedDict, total=False):
    """A reply being handled: as it arrived, whether the lead was waiting, and its verdict."""

    message_id: str
    sender: str
    subject: str | None
    text: str
    received_at: str
    thread_id: str | None
    waiting: bool
    verdict: ReplyVerdict


class ReplyRecord(TypedDict, total=False):
    """One reply in the lead's record: what it was, what was done and why."""

    message_id: str
    sender: str
    subject: str | None
    received_at: str
    kind: ReplyKind
    evidence: list[str]
    action: str
    reason: str
    at: str
    waiting: bool
    verdict: ReplyVerdict
    draft: dict[str, Any]
    booking: Booking
    referral_lead_id: str
    deliveries: dict[str, Any]


class OptOut(TypedDict):
    """The lead asked for no further touches."""

    at: str
    message_id: str
    evidence: list[str]


class DecisionRecord(TypedDict, total=False):
    """The whole record of one lead but the two keys that accumulate (errors, timings)."""

    lead_id: str
    received_at: str
    source: str
    raw: dict[str, Any]
    lead: Lead
    capture: Capture
    enrichment: Enrichment
    classification: Classification
    score: Score
    routing: Routing
    booking: Booking
    draft: Draft
    nurture: Nurture
    deliveries: Deliveries
    rep_decision: RepAnswer
    assist: Assist
    status: Status
    replies: list[ReplyRecord]
    inbound_reply: InboundReply | None
    inbound_booking: BookingEvent | None
    opted_out: OptOut
