"""Small Protocols, one per role, that nodes and services depend on.

Each role has an embedded default (SQLite files in DATA_DIR, no server needed) and a
production backend; both satisfy the same Protocol and pass the same contract tests. One
backend class may play several roles: the store (SQLite or Redis) plays all the key/value
ones, and a node asks only for the roles it uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from domain.records import Booking, ModelCall
from domain.rep_message import RepMessage

QUEUE_PREFIX = "queue:"


def owner_column(owner: str | None, queue: str | None) -> str:
    """What a lead's index row keeps as its `owner`: the rep's id, `queue:<id>` for a lead in
    a queue, or "" for neither; `LeadRecord.summary` shows them apart."""
    return owner or (f"{QUEUE_PREFIX}{queue}" if queue else "")


@dataclass
class LeadRecord:
    """The index row of one lead: what the API and the worker need without the graph state."""

    lead_id: str
    key: str
    payload_hash: str
    payload: dict[str, Any]
    source: str
    received_at: str  # ISO-8601 UTC
    status: str = "queued"  # queued | processing | completed | failed
    updated_at: str = ""
    email: str = ""
    company: str = ""
    owner: str = ""
    action: str = ""
    grade: str = ""
    error: dict[str, Any] | None = None
    attempts: int = 0
    # The steps of its checkpoint history, kept here when that history was compacted.
    steps: list[dict[str, Any]] | None = None

    def summary(self) -> dict[str, Any]:
        """The record without its payload, as the admin list shows it: `owner` a rep's id and
        `queue` a queue's id (one of them, or neither, is set)."""
        in_queue = self.owner.startswith(QUEUE_PREFIX)
        return {
            "lead_id": self.lead_id,
            "status": self.status,
            "source": self.source,
            "received_at": self.received_at,
            "updated_at": self.updated_at,
            "email": self.email,
            "company": self.company,
            "owner": None if in_queue else self.owner or None,
            "queue": self.owner.removeprefix(QUEUE_PREFIX) if in_queue else None,
            "action": self.action,
            "grade": self.grade,
            "error": self.error,
            "attempts": self.attempts,
        }


@dataclass
class Claim:
    """Outcome of claiming an idempotency key: the new record, or the one already there."""

    created: bool
    record: LeadRecord


@dataclass
class RoundRobinPick:
    """One weighted round-robin assignment: who, the pool's sequence number, counts after it."""

    rep_id: str
    sequence: int
    counts: dict[str, int] = field(default_factory=dict)
    repeated: bool = False  # this lead had already been assigned in this pool


class LeadRecords(Protocol):
    """Lead index rows and their idempotency keys (lead_id is derived from the key)."""

    async def claim(self, record: LeadRecord) -> Claim: ...

    async def get_lead(self, lead_id: str) -> LeadRecord | None: ...

    async def update_lead(self, lead_id: str, **fields: Any) -> None: ...

    async def list_leads(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        action: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LeadRecord]: ...


class Leases(Protocol):
    """One writer per lead: SET NX PX with compare-and-delete, or the SQL equivalent."""

    async def acquire_lease(self, name: str, token: str, ttl_ms: int) -> bool: ...

    async def renew_lease(self, name: str, token: str, ttl_ms: int) -> bool: ...

    async def release_lease(self, name: str, token: str) -> bool: ...

    async def lease_holder(self, name: str) -> str | None: ...


class RoundRobinCounters(Protocol):
    """Weighted round robin, atomic and idempotent per (pool, lead_id)."""

    async def pick_weighted(
        self, pool: str, lead_id: str, candidates: list[tuple[str, float]]
    ) -> RoundRobinPick: ...

    async def pool_counts(self, pool: str) -> dict[str, int]: ...


class Cache(Protocol):
    """String values with a TTL in seconds; `cache_set_if_absent` returns the stored value."""

    async def cache_get(self, key: str) -> str | None: ...

    async def cache_set(self, key: str, value: str, ttl_s: int) -> None: ...

    async def cache_set_if_absent(self, key: str, value: str, ttl_s: int) -> str: ...


class Receipts(Protocol):
    """Receipts of side effects, keyed by (lead_id, effect): the first one stored wins."""

    async def get_receipt(self, lead_id: str, effect: str) -> dict[str, Any] | None: ...

    async def get_receipts(self, lead_id: str) -> dict[str, dict[str, Any]]: ...

    async def put_receipt(
        self, lead_id: str, effect: str, receipt: dict[str, Any]
    ) -> dict[str, Any]: ...


class Outcomes(Protocol):
    """Outcomes (won, lost, converted …): one current outcome per lead, kept without expiry."""

    async def record_outcome(self, lead_id: str, outcome: dict[str, Any]) -> None: ...

    async def list_outcomes(self) -> list[dict[str, Any]]: ...


class Timers(Protocol):
    """Due work (SLA checks) keyed so that scheduling twice keeps one; popping is atomic."""

    async def add_timer(self, key: str, due_at: float, payload: dict[str, Any]) -> None: ...

    async def pop_due_timers(self, now: float, limit: int = 100) -> list[dict[str, Any]]: ...


class Store(LeadRecords, Leases, RoundRobinCounters, Cache, Receipts, Outcomes, Timers, Protocol):
    """Every role above in one backend (SQLite or Redis), as the wiring opens it.

    Nodes and services ask for the roles they use, not for the whole store.
    """

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class CRM(Protocol):
    """Contacts, companies (accounts), owners and notes."""

    async def ping(self) -> None: ...

    async def find_contact(self, email: str) -> dict[str, Any] | None: ...

    async def find_company_by_domain(self, domain: str) -> dict[str, Any] | None: ...

    async def upsert_contact(self, email: str, properties: dict[str, Any]) -> dict[str, Any]: ...

    async def upsert_company(self, domain: str, properties: dict[str, Any]) -> dict[str, Any]: ...

    async def assign_owner(self, contact_id: str, owner_email: str) -> dict[str, Any]: ...

    async def add_note(self, contact_id: str, key: str, body: str) -> dict[str, Any]: ...


@runtime_checkable
class ContactReader(Protocol):
    """Contacts read by the CRM's own id (a HubSpot webhook names the contact only by id)."""

    async def get_contact(
        self, contact_id: str, properties: Sequence[str]
    ) -> dict[str, Any] | None: ...


class LeadIntake(Protocol):
    """New leads raised inside the product (a referral in a reply), taken like the webhook's:
    claimed under their own idempotency key, queued and routed by the same rules."""

    async def submit_lead(self, payload: dict[str, Any], key: str) -> dict[str, Any]: ...


class CompanyDirectory(Protocol):
    """Known companies (ACCOUNTS_CSV and an optional larger directory file)."""

    def lookup_domain(self, domain: str) -> dict[str, Any] | None: ...

    def by_id(self, account_id: str) -> dict[str, Any] | None: ...

    def __len__(self) -> int: ...


class Notifier(Protocol):
    """Rep notifications: the outbox by default, Slack when configured. Each renders the
    channel-neutral `RepMessage` its own way (Slack Block Kit)."""

    async def ping(self) -> None: ...

    async def send(self, key: str, message: RepMessage) -> dict[str, Any]: ...

    async def update(self, receipt: dict[str, Any], message: RepMessage) -> dict[str, Any]: ...


class Calendar(Protocol):
    """Meeting slots and bookings: built-in calendar by default, Cal.com when configured."""

    async def book(
        self, key: str, rep: dict[str, Any], attendee: dict[str, Any], after: datetime
    ) -> Booking: ...


class Embedder(Protocol):
    """Text to vector: a deterministic local embedder by default."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class VectorMemory(Protocol):
    """Similar-account memory: a local index by default, Pinecone when configured."""

    async def upsert(self, items: list[tuple[str, list[float], dict[str, Any]]]) -> None: ...

    async def query(self, vector: list[float], top_k: int) -> list[dict[str, Any]]: ...

    async def fetch(self, ids: list[str]) -> dict[str, dict[str, Any]]: ...

    async def stats(self) -> dict[str, Any]: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class EnrichmentProvider(Protocol):
    """A paid or self-hosted firmographics lookup by company domain."""

    async def lookup(self, domain: str) -> Any: ...

    async def close(self) -> None: ...


Answer = TypeVar("Answer", bound=BaseModel)


@dataclass(frozen=True)
class ModelAnswer(Generic[Answer]):
    """A language model's validated answer, or None, and the record of the call."""

    parsed: Answer | None
    call: ModelCall


class ChatModel(Protocol):
    """A language model that answers in a given pydantic shape (OpenAI-compatible by default).

    `ask` never raises for a failed call: the outcome (`invalid`, `refused`, `error`,
    `timeout`, `breaker_open`) is in `call`, and the caller falls back to rules.
    """

    name: str

    async def ask(
        self, task: str, prompt: str, system: str, user: str, schema: type[Answer]
    ) -> ModelAnswer[Answer]: ...
