"""Admit a lead: claim its idempotency key, creating its record, and queue it (DESIGN §3).

The same delivery always maps to the same lead id (a UUIDv5 of the key), so a repeat finds the
record already there and is answered with it instead of becoming a second lead. The webhook
(`service.intake`) and the leads the product raises itself (a referral in a reply) both come in
here.

A lead stored but not queued (the queue was out of reach) carries a `not_queued` error until a
repeat of the delivery — the sender retrying after its 503 — queues it, or the sweeper does.
When the store and the queue share a Redis server, `claim_queued` stores and queues a new lead
in one step instead, so it cannot be left stored but not queued.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from domain.intake import LeadIn, idempotency_key, lead_id_for
from service.errors import Rejected, Unavailable
from service.faults import passes
from tools.ports import Claim, LeadRecord, LeadRecords

ClaimQueued = Callable[[LeadRecord], Awaitable[Claim]]

log = structlog.get_logger("lead_router.intake")

NOT_QUEUED = "not_queued"


@dataclass(frozen=True)
class Submission:
    """What became of a submitted lead: queued now, or a repeat of one already taken."""

    lead_id: str
    status: str
    duplicate: bool


async def take_lead(
    store: LeadRecords,
    enqueue: Callable[[str], Awaitable[None]],
    lead: LeadIn,
    data: dict[str, Any],
    idempotency_header: str | None,
    claim_queued: ClaimQueued | None = None,
) -> Submission:
    """Claim the lead's key in `store` and queue it with `enqueue`; a repeat returns the lead
    already there. Raises `Rejected` for a sender-chosen key reused with another payload and
    `Unavailable` when the lead is stored but cannot be queued (the sweeper queues it later).

    `claim_queued`, when given, claims the key and queues a new lead in one step."""
    started = time.perf_counter()
    key, chosen = idempotency_key(idempotency_header, data, lead)
    lead_id = lead_id_for(key)
    payload_hash = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    now = datetime.now(UTC).isoformat()
    record = LeadRecord(
        lead_id=lead_id,
        key=key,
        payload_hash=payload_hash,
        payload=data,
        source=lead.source or lead.form_id or "api",
        received_at=now,
        updated_at=now,
        email=lead.email.lower(),
        company=lead.company or "",
    )
    claim = await (claim_queued or store.claim)(record)
    if not claim.created:
        existing = claim.record
        if chosen and existing.payload_hash != payload_hash:
            raise Rejected(
                f"idempotency key {key.split(':', 1)[1]!r} was already used "
                "with a different payload",
                lead_id=lead_id,
            )
        if existing.status == "queued" and (existing.error or {}).get("type") == NOT_QUEUED:
            await _enqueue(store, enqueue, lead_id)  # the sender retried after a 503
            await store.update_lead(lead_id, error=None)
        log.info(
            "webhook",
            lead_id=lead_id,
            duplicate=True,
            status=existing.status,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return Submission(lead_id=lead_id, status=existing.status, duplicate=True)
    if claim_queued is None:
        await _enqueue(store, enqueue, lead_id)
    log.info(
        "webhook",
        lead_id=lead_id,
        duplicate=False,
        source=record.source,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return Submission(lead_id=lead_id, status="queued", duplicate=False)


async def _enqueue(
    store: LeadRecords, enqueue: Callable[[str], Awaitable[None]], lead_id: str
) -> None:
    """Queue the lead; when the queue cannot take it, note that on the record (a repeat of
    the delivery queues it then) and raise `Unavailable` so the sender retries."""
    try:
        await enqueue(lead_id)
    except Exception as exc:
        log.warning("enqueue failed", lead_id=lead_id, error=str(exc))
        error = {
            "type": NOT_QUEUED,
            "node": None,
            "message": f"stored but not queued: {type(exc).__name__}: {exc}"[:300],
            "at": datetime.now(UTC).isoformat(),
        }
        try:
            await store.update_lead(lead_id, error=error)
        except Exception as again:  # the store is away too; the sweeper queues it later
            if not passes(again):
                raise
        raise Unavailable(
            "lead stored but the queue is unavailable; retry later", lead_id=lead_id
        ) from exc


@dataclass
class LeadSubmitter:
    """The `LeadIntake` port over the webhook's intake: a lead the product raises itself (a
    referral) is claimed under its own key, queued and routed like any other."""

    store: LeadRecords
    enqueue: Callable[[str], Awaitable[None]]

    async def submit_lead(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        """Take the lead; returns `{"lead_id", "status", "duplicate"}`."""
        submitted = await take_lead(
            self.store, self.enqueue, LeadIn.model_validate(payload), payload, key
        )
        return {
            "lead_id": submitted.lead_id,
            "status": submitted.status,
            "duplicate": submitted.duplicate,
        }
