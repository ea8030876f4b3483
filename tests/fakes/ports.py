"""In-memory stand-ins for the graph's ports, for tests that compile the graph without I/O.

Each class keeps what it was asked in plain attributes, so a test can read what the graph did:
the CRM's contacts and owners, the messages sent and edited, the meetings booked, the timers
scheduled. They satisfy the Protocols of `tools.ports` (mypy checks it at the bottom).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.records import Booking, ModelCall
from domain.rep_message import RepMessage
from tools.ports import (
    CRM,
    Answer,
    Cache,
    Calendar,
    ChatModel,
    ModelAnswer,
    Notifier,
    Receipts,
    RoundRobinCounters,
    RoundRobinPick,
    Timers,
)
from tools.store import choose_weighted, validate_candidates


class MemoryKeyValue:
    """Cache, round-robin counters, receipts and timers in dicts (TTLs are not enforced)."""

    def __init__(self) -> None:
        self.cache: dict[str, str] = {}
        self.picks: dict[str, dict[str, str]] = {}  # pool -> lead key -> rep
        self.receipts: dict[tuple[str, str], dict[str, Any]] = {}
        self.timers: dict[str, tuple[float, dict[str, Any]]] = {}

    async def cache_get(self, key: str) -> str | None:
        return self.cache.get(key)

    async def cache_set(self, key: str, value: str, ttl_s: int) -> None:
        self.cache[key] = value

    async def cache_set_if_absent(self, key: str, value: str, ttl_s: int) -> str:
        return self.cache.setdefault(key, value)

    async def pick_weighted(
        self, pool: str, lead_id: str, candidates: list[tuple[str, float]]
    ) -> RoundRobinPick:
        validate_candidates(candidates)
        picks = self.picks.setdefault(pool, {})
        repeated = lead_id in picks
        if not repeated:
            picks[lead_id] = choose_weighted(candidates, await self.pool_counts(pool))
        return RoundRobinPick(
            rep_id=picks[lead_id],
            sequence=list(picks).index(lead_id) + 1,
            counts=await self.pool_counts(pool),
            repeated=repeated,
        )

    async def pool_counts(self, pool: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rep in self.picks.get(pool, {}).values():
            counts[rep] = counts.get(rep, 0) + 1
        return counts

    async def get_receipt(self, lead_id: str, effect: str) -> dict[str, Any] | None:
        receipt = self.receipts.get((lead_id, effect))
        return dict(receipt) if receipt is not None else None

    async def get_receipts(self, lead_id: str) -> dict[str, dict[str, Any]]:
        return {effect: dict(r) for (lead, effect), r in self.receipts.items() if lead == lead_id}

    async def put_receipt(
        self, lead_id: str, effect: str, receipt: dict[str, Any]
    ) -> dict[str, Any]:
        return dict(self.receipts.setdefault((lead_id, effect), dict(receipt)))

    async def add_timer(self, key: str, due_at: float, payload: dict[str, Any]) -> None:
        self.timers.setdefault(key, (due_at, payload))

    async def pop_due_timers(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        due = sorted((at, key) for key, (at, _) in self.timers.items() if at <= now)[:limit]
        return [{"key": key, "payload": self.timers.pop(key)[1]} for _, key in due]


class MemoryCRM:
    """Contacts by email, companies by domain, owners and notes."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.companies: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, str] = {}  # contact id -> owner email
        self.notes: dict[str, str] = {}  # note key -> body

    async def ping(self) -> None:
        return None

    async def find_contact(self, email: str) -> dict[str, Any] | None:
        return self.contacts.get(email.lower())

    async def find_company_by_domain(self, domain: str) -> dict[str, Any] | None:
        return self.companies.get(domain)

    async def upsert_contact(self, email: str, properties: dict[str, Any]) -> dict[str, Any]:
        key = email.lower()
        created = key not in self.contacts
        contact = self.contacts.setdefault(key, {"id": f"c{len(self.contacts) + 1}"})
        contact.update({k: v for k, v in properties.items() if v is not None})
        return {"id": contact["id"], "created": created}

    async def upsert_company(self, domain: str, properties: dict[str, Any]) -> dict[str, Any]:
        created = domain not in self.companies
        company = self.companies.setdefault(domain, {"id": f"a{len(self.companies) + 1}"})
        company.update({k: v for k, v in properties.items() if v is not None})
        return {"id": company["id"], "created": created}

    async def assign_owner(self, contact_id: str, owner_email: str) -> dict[str, Any]:
        self.owners[contact_id] = owner_email
        return {"id": contact_id, "owner_email": owner_email}

    async def add_note(self, contact_id: str, key: str, body: str) -> dict[str, Any]:
        self.notes.setdefault(key, body)
        return {"id": key, "contact_id": contact_id}


class MemoryNotifier:
    """Messages by key, first send wins; edits are kept in order."""

    def __init__(self) -> None:
        self.sent: dict[str, RepMessage] = {}
        self.edits: list[tuple[str, RepMessage]] = []

    async def ping(self) -> None:
        return None

    async def send(self, key: str, message: RepMessage) -> dict[str, Any]:
        created = key not in self.sent
        self.sent.setdefault(key, message)
        return {"id": key, "key": key, "channel": message["channel"], "created": created}

    async def update(self, receipt: dict[str, Any], message: RepMessage) -> dict[str, Any]:
        if receipt.get("id") not in self.sent:
            raise LookupError(f"no message {receipt.get('id')!r} to update")
        self.edits.append((receipt["id"], message))
        return {**receipt, "updated": True}


class MemoryCalendar:
    """Every meeting is confirmed one hour after `after`, once per key."""

    def __init__(self) -> None:
        self.bookings: dict[str, Booking] = {}

    async def book(
        self, key: str, rep: dict[str, Any], attendee: dict[str, Any], after: datetime
    ) -> Booking:
        if key not in self.bookings:
            start = after + timedelta(hours=1)
            self.bookings[key] = {
                "status": "confirmed",
                "booking_id": f"b{len(self.bookings) + 1}",
                "rep_id": rep["id"],
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=30)).isoformat(),
                "provider": "memory",
            }
        return self.bookings[key]


def _satisfies_ports(
    kv: MemoryKeyValue,
    crm: MemoryCRM,
    notifier: MemoryNotifier,
    calendar: MemoryCalendar,
    chat: ScriptedChat,
) -> tuple[Cache, RoundRobinCounters, Receipts, Timers, CRM, Notifier, Calendar, ChatModel]:
    """mypy checks that each fake satisfies the Protocols it stands in for."""
    return kv, kv, kv, kv, crm, notifier, calendar, chat


class ScriptedChat:
    """A `ChatModel` that answers each task from a script: a dict (validated into the asked
    shape), or an outcome name for a failed call. Every question is kept in `asked`."""

    name = "scripted"

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str, str]] = []  # (task, system, user)

    async def ask(
        self, task: str, prompt: str, system: str, user: str, schema: type[Answer]
    ) -> ModelAnswer[Answer]:
        self.asked.append((task, system, user))
        given = self.answers.get(task, "error")
        call: ModelCall = {
            "task": task,
            "model": self.name,
            "prompt": prompt,
            "outcome": "ok" if isinstance(given, dict) else given,
            "ms": 1.0,
            "attempts": 1,
            "prompt_tokens": len(system + user) // 4,
            "completion_tokens": 20,
        }
        parsed = schema.model_validate(given) if isinstance(given, dict) else None
        return ModelAnswer(parsed, call)
