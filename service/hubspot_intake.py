"""Take in HubSpot webhook deliveries (DESIGN §3): claim each event, queue it, make it a lead.

The request only claims and queues (HubSpot wants an answer within seconds): each event is
claimed under its (subscriptionId, eventId, objectId, occurredAt) key, and a new one that
becomes a lead is queued. The worker reads the contact from HubSpot, builds the lead from its
properties and takes it through `take_lead` under the same key, so the lead id is known when
the request answers and a redelivered event never makes a second lead.

A contact read that still fails after the adapter's retries (HubSpot down, 429 for long) is
handed to the sweeper as a timer and queued again, backing off up to an hour, for a day: the
request has answered 200 already, so HubSpot will not deliver the event again.

An event whose queueing failed is answered 503 and its claim released, so HubSpot's retry takes
it as new. An event claimed and queued before but without a lead yet (its worker has not
finished, or lost it) is queued again on redelivery: taking the lead is idempotent, so the
worst case is a second contact read.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from domain.hubspot_webhook import CONTACT_PROPERTIES, HubSpotEvent, lead_from_contact
from domain.intake import LeadIn, header_key, lead_id_for
from service.admission import Submission, take_lead
from service.errors import Rejected, Unavailable
from service.lead_events import claim_and_queue
from tools.ports import Cache, ContactReader, LeadRecords, Timers

log = structlog.get_logger("lead_router.hubspot_intake")

RETRY_FIRST_S = 5.0
RETRY_MAX_S = 3600.0
RETRY_ATTEMPTS = 30  # 5 s doubling to an hour: about a day in all


@dataclass
class Batch:
    """What became of a delivery's events: the leads queued, repeats, and events ignored."""

    received: int = 0
    leads: list[str] = field(default_factory=list)
    duplicates: int = 0
    ignored: int = 0

    def answer(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "leads": self.leads,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
        }


def event_lead_id(event: HubSpotEvent) -> str:
    """The id the lead of this event has (or will have once the worker takes it)."""
    return lead_id_for(header_key(event.key))


async def accept_events(
    claims: Cache,
    records: LeadRecords,
    enqueue: Callable[[dict[str, Any]], Awaitable[None]],
    events: Sequence[HubSpotEvent],
    ttl_s: int,
) -> Batch:
    """Claim each lead event of a delivery and queue the new ones; count the rest.

    Raises `Unavailable` when an event cannot be queued, so HubSpot delivers the batch again;
    that event's claim is released first, so the redelivery takes it as new.
    """
    batch = Batch(received=len(events))
    seen: set[str] = set()
    for event in events:
        if not event.becomes_lead:
            batch.ignored += 1
            continue
        lead_id = event_lead_id(event)
        if event.key in seen:
            batch.duplicates += 1
            continue
        seen.add(event.key)
        held = await claim_and_queue(
            claims,
            f"hubspot-event:{event.key}",
            lead_id,
            functools.partial(enqueue, event.model_dump(mode="json", by_alias=True)),
            "a HubSpot event could not be queued; retry later",
            ttl_s,
        )
        if held is None:
            batch.leads.append(lead_id)
            continue
        batch.duplicates += 1
        if await records.get_lead(lead_id) is None:
            await _queue(enqueue, event, lead_id)
    log.info("hubspot webhook", **batch.answer())
    return batch


async def _queue(
    enqueue: Callable[[dict[str, Any]], Awaitable[None]], event: HubSpotEvent, lead_id: str
) -> None:
    try:
        await enqueue(event.model_dump(mode="json", by_alias=True))
    except Exception as exc:
        log.error("hubspot event not queued", lead_id=lead_id, error=str(exc))
        raise Unavailable(
            "HubSpot event claimed but the queue is unavailable; retry later", lead_id=lead_id
        ) from exc


async def take_event(
    contacts: ContactReader | None,
    store: LeadRecords,
    enqueue: Callable[[str], Awaitable[None]],
    event_data: dict[str, Any],
) -> Submission | None:
    """Read the event's contact, build its lead and take it under the event's key (the queued
    task's handler); None when there is no lead to take (no contact, no email)."""
    event = HubSpotEvent.model_validate(event_data)
    lead_id = event_lead_id(event)
    if contacts is None:
        log.error("hubspot event dropped: the CRM cannot read contacts by id", lead_id=lead_id)
        return None
    contact = await contacts.get_contact(str(event.object_id), CONTACT_PROPERTIES)
    if contact is None:
        log.warning("hubspot contact not found", lead_id=lead_id, contact_id=event.object_id)
        return None
    payload = lead_from_contact(contact["id"], contact["properties"], event)
    if payload is None:
        log.warning("hubspot contact has no email", lead_id=lead_id, contact_id=event.object_id)
        return None
    try:
        lead = LeadIn.model_validate(payload)
    except ValidationError as exc:
        log.warning("hubspot contact is not a valid lead", lead_id=lead_id, error=str(exc))
        return None
    try:
        return await take_lead(store, enqueue, lead, payload, event.key)
    except Rejected:  # taken already from an earlier read of a contact that changed since
        log.info("hubspot event already taken", lead_id=lead_id)
        return None


async def defer_event(
    timers: Timers, now: float, event_data: dict[str, Any], error: str
) -> float | None:
    """Hand an event whose contact could not be read back to the sweeper (a timer, keyed by
    the event, backing off); returns when it is due, or None when its attempts are spent."""
    attempt = int(event_data.get("leadRouterAttempt", 0)) + 1
    event = HubSpotEvent.model_validate(event_data)
    if attempt > RETRY_ATTEMPTS:
        log.error("hubspot event given up", lead_id=event_lead_id(event), error=error)
        return None
    due = now + min(RETRY_MAX_S, RETRY_FIRST_S * 2.0 ** (attempt - 1))
    await timers.add_timer(
        f"hubspot-event:{event.key}",
        due,
        {"task": "hubspot_event", "event": {**event_data, "leadRouterAttempt": attempt}},
    )
    log.warning(
        "hubspot event deferred",
        lead_id=event_lead_id(event),
        attempt=attempt,
        due_in_s=round(due - now, 1),
        error=error,
    )
    return due
