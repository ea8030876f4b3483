"""The admin API: leads and their decision records, rep decisions, retries, the outbox.

Closed by `ADMIN_TOKEN` (a bearer token) when it is set.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import AdminDep, Parsed, ServicesDep, json_body, request_body_doc
from api.problems import problem_responses
from service import records
from service.rep_decisions import DecisionIn, decide_on_lead

router = APIRouter(prefix="/admin", tags=["admin"])

DecisionBody = Annotated[Parsed[DecisionIn], Depends(json_body(DecisionIn, "action", signed=False))]

UNAUTHORIZED = {
    401: "the bearer token is missing or is not ADMIN_TOKEN",
    503: "closed: ADMIN_TOKEN is not set (and ADMIN_OPEN is not true)",
}
NO_LEAD = {404: "no lead with this id"}
BAD_QUERY = {422: "invalid query parameters (every one listed)"}


@router.get("/leads", responses=problem_responses({**UNAUTHORIZED, **BAD_QUERY}))
async def list_leads(
    services: ServicesDep,
    _: AdminDep,
    status: str | None = None,
    owner: Annotated[str | None, Query(description="a rep's id")] = None,
    queue: Annotated[str | None, Query(description="a queue's id")] = None,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Recent leads, newest first, filtered by status, owner (a rep), queue or action; each
    has `owner` (a rep's id) or `queue` (a queue's id)."""
    leads = await records.recent_leads(
        services,
        status=status,
        owner=owner,
        queue=queue,
        action=action,
        limit=limit,
        offset=offset,
    )
    return {"leads": leads, "limit": limit, "offset": offset}


@router.get("/leads/{lead_id}", responses=problem_responses({**UNAUTHORIZED, **NO_LEAD}))
async def get_lead(lead_id: str, services: ServicesDep, _: AdminDep) -> dict[str, Any]:
    """The whole decision record: state, per-node history and timings, errors, deliveries."""
    return await records.decision_record(services, lead_id)


@router.post(
    "/leads/{lead_id}/actions",
    responses=problem_responses(
        {
            **UNAUTHORIZED,
            **NO_LEAD,
            409: "the action cannot apply to the lead as it stands",
            413: "body over MAX_BODY_BYTES",
            415: "Content-Type is not JSON",
            422: "not a JSON object, or invalid fields (every one listed)",
        }
    ),
    openapi_extra=request_body_doc(DecisionIn),
)
async def lead_action(
    lead_id: str, services: ServicesDep, _: AdminDep, body: DecisionBody
) -> dict[str, Any]:
    """Apply a rep's decision (accept, reassign, not_a_fit) as the Slack buttons do."""
    return await decide_on_lead(services, lead_id, body.model)


@router.post(
    "/retry/{lead_id}",
    status_code=202,
    responses=problem_responses({**UNAUTHORIZED, **NO_LEAD, 409: "the lead has not failed"}),
)
async def retry_lead(lead_id: str, services: ServicesDep, _: AdminDep) -> dict[str, Any]:
    """Resume a failed lead from its checkpoint."""
    await records.retry_lead(services, lead_id)
    return {"lead_id": lead_id, "status": "queued"}


@router.get("/outbox", responses=problem_responses({**UNAUTHORIZED, **BAD_QUERY}))
async def outbox(
    services: ServicesDep,
    _: AdminDep,
    lead_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Messages the built-in notifier stored instead of sending to Slack."""
    return {"messages": await records.outbox_messages(services, lead_id=lead_id, limit=limit)}
