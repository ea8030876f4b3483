"""Take in a lead from the webhook (DESIGN §3): `service.admission` claims and queues it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.intake import LeadIn
from service.admission import Submission, take_lead

if TYPE_CHECKING:
    from service.wiring import Services


async def submit_lead(
    services: Services, lead: LeadIn, data: dict[str, Any], idempotency_header: str | None
) -> Submission:
    """Claim the lead's key and queue it; a repeat returns the lead already there.

    Raises `Rejected` when a sender-chosen key comes back with another payload, and
    `Unavailable` when the lead is stored but cannot be queued (the sweeper queues it later).
    """
    return await take_lead(
        services.store,
        services.enqueue,
        lead,
        data,
        idempotency_header,
        claim_queued=services.claim_queued,
    )
