"""Leads as the admin API shows them: the list, the decision record, a retry, the outbox.

The decision record joins the lead's index row with its graph state and the per-node history
rebuilt from the thread's checkpoints.
"""

from __future__ import annotations

from typing import Any

from service.errors import Conflict, NotFound
from service.runner import thread_config
from service.steps import lead_steps
from service.wiring import Services
from tools.ports import owner_column


async def recent_leads(
    services: Services,
    *,
    status: str | None = None,
    owner: str | None = None,
    queue: str | None = None,
    action: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Lead summaries, newest first, filtered by status, owner (a rep), queue or action."""
    if queue is not None:
        if owner is not None:
            return []  # a lead has an owner or a queue, not both
        owner = owner_column(None, queue)
    records = await services.store.list_leads(
        status=status, owner=owner, action=action, limit=limit, offset=offset
    )
    return [r.summary() for r in records]


async def decision_record(services: Services, lead_id: str) -> dict[str, Any]:
    """The whole decision record: state, per-node history and timings, errors, deliveries.

    Raises `NotFound` for a lead id the store does not know.
    """
    record = await services.store.get_lead(lead_id)
    if record is None:
        raise NotFound(f"no lead {lead_id}")
    config = thread_config(lead_id)
    snapshot = await services.graph.aget_state(config)
    timings = snapshot.values.get("timings", {}) if snapshot.values else {}
    steps = [
        {
            "step": step["step"],
            "node": step["node"],
            "finished_at": step["finished_at"],
            "ms": timings.get(step["node"], {}).get("ms"),
        }
        for step in await lead_steps(services.graph, lead_id, record.steps)
    ]
    values = dict(snapshot.values or {})
    return {
        **record.summary(),
        "payload": record.payload,
        "next": list(snapshot.next),
        "history": steps,
        "timings": timings,
        "errors": values.get("errors", []),
        "deliveries": values.get("deliveries", {}),
        "state": values,
    }


async def retry_lead(services: Services, lead_id: str) -> None:
    """Queue a failed lead again; it resumes from its checkpoint.

    Raises `NotFound` for an unknown lead and `Conflict` for one that has not failed.
    """
    store = services.store
    record = await store.get_lead(lead_id)
    if record is None:
        raise NotFound(f"no lead {lead_id}")
    if record.status != "failed":
        raise Conflict(f"lead {lead_id} is {record.status}, not failed")
    await store.update_lead(lead_id, status="queued")
    await services.enqueue(lead_id)


async def outbox_messages(
    services: Services, *, lead_id: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Rep messages the built-in notifier stored (none when there is no outbox)."""
    if services.outbox is None:
        return []
    return await services.outbox.list(limit=limit, lead_id=lead_id)
