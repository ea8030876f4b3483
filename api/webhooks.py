"""Webhooks from forms, CRMs and other systems: submit a lead, report what became of one."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from api.deps import (
    SIGNATURE_HEADERS,
    CalcomWebhookDep,
    HubSpotEventsDep,
    Parsed,
    ServicesDep,
    json_body,
    request_body_doc,
)
from api.problems import problem_responses
from domain.hubspot_webhook import HubSpotEvent
from domain.intake import LeadIn
from domain.replies import ReplyIn
from service import bookings, hubspot_intake, intake, outcomes, replies
from service.outcomes import OutcomeIn

router = APIRouter(tags=["webhooks"])

# Read by the lead route itself rather than through `Depends`: FastAPI's resolution of a
# dependency costs more than the reading, and every lead sent comes through here.
read_lead = json_body(LeadIn, "lead", signed=True)
ReplyBody = Annotated[
    Parsed[ReplyIn], Depends(json_body(ReplyIn, "reply", signed=True, system=True))
]
OutcomeBody = Annotated[
    Parsed[OutcomeIn], Depends(json_body(OutcomeIn, "outcome", signed=True, system=True))
]

SIGNED_BODY_PROBLEMS = {
    401: "bad or missing X-Signature / X-Timestamp (when WEBHOOK_SECRET is set)",
    413: "body over MAX_BODY_BYTES",
    415: "Content-Type is not JSON",
}


@router.post(
    "/webhooks/lead",
    status_code=202,
    responses={
        200: {"description": "a repeat of a delivery already taken: its lead and status"},
        **problem_responses(
            {
                **SIGNED_BODY_PROBLEMS,
                422: "not a JSON object, invalid fields (every one listed), or an idempotency "
                "key already used with another payload",
                503: "the lead is stored but the queue is unavailable; retry later",
            }
        ),
    },
    openapi_extra=request_body_doc(LeadIn, headers=("Idempotency-Key", *SIGNATURE_HEADERS)),
)
async def submit_lead(request: Request) -> Response:
    """Accept a lead: 202 queued, or 200 for a repeat of a delivery already taken.

    With `WEBHOOK_SECRET` set, the signature covers the body and not the headers, so the
    `Idempotency-Key` header is ignored: the key comes from the signed body (its `event_id`,
    else the person, form, day and content), and a captured request replayed under new keys
    stays one lead.
    """
    body = await read_lead(request)
    services = body.services
    idempotency_key = (
        request.headers.get("idempotency-key") if services.settings.webhook_secret is None else None
    )
    submitted = await intake.submit_lead(services, body.model, body.data, idempotency_key)
    return submission_answer(submitted.lead_id, submitted.status, submitted.duplicate)


def submission_answer(lead_id: str, status: str, duplicate: bool) -> Response:
    """`{"lead_id", "status", "duplicate"}` as `JSONResponse` would encode it (compact), with
    200 for a repeat and 202 for a lead queued now; written out, since the lead webhook
    answers it on every delivery."""
    content = (
        f'{{"lead_id":{json.dumps(lead_id)},"status":{json.dumps(status)},'
        f'"duplicate":{"true" if duplicate else "false"}}}'
    )
    return Response(
        content.encode(), status_code=200 if duplicate else 202, media_type="application/json"
    )


@router.post(
    "/webhooks/outcome",
    responses=problem_responses(
        {
            **SIGNED_BODY_PROBLEMS,
            404: "no lead is known for the lead_id or email given",
            422: "not a JSON object, or invalid fields (every one listed)",
            503: "closed: WEBHOOK_SECRET is not set (and ADMIN_OPEN is not true)",
        }
    ),
    openapi_extra=request_body_doc(OutcomeIn, headers=SIGNATURE_HEADERS),
)
async def submit_outcome(body: OutcomeBody) -> dict[str, Any]:
    """Record what became of a lead (won, lost, converted) for learning and memory."""
    recorded = await outcomes.record_outcome(body.services, body.model)
    return {
        "lead_id": recorded.lead_id,
        "outcome": recorded.outcome,
        "recorded": True,
        "similar_account_memory": recorded.similar_account_memory,
    }


@router.post(
    "/webhooks/reply",
    status_code=202,
    responses={
        200: {"description": "a repeat of a message_id already taken: nothing changes"},
        **problem_responses(
            {
                **SIGNED_BODY_PROBLEMS,
                404: "no lead for the lead_id, or for the email in that thread_id",
                422: "not a JSON object, or invalid fields (every one listed)",
                503: "the reply could not be queued (retry later), or the webhook is closed: "
                "WEBHOOK_SECRET is not set (and ADMIN_OPEN is not true)",
            }
        ),
    },
    openapi_extra=request_body_doc(ReplyIn, headers=SIGNATURE_HEADERS),
)
async def submit_reply(body: ReplyBody) -> JSONResponse:
    """Take a lead's email reply: 202 queued, or 200 for a message already taken."""
    services = body.services
    store = services.store
    taken = await replies.take_reply(store, store, services.enqueue_reply, body.model)
    return JSONResponse(
        {
            "lead_id": taken.lead_id,
            "message_id": taken.message_id,
            "status": "duplicate" if taken.duplicate else "queued",
            "duplicate": taken.duplicate,
        },
        status_code=200 if taken.duplicate else 202,
    )


@router.post(
    "/webhooks/calcom",
    status_code=202,
    responses={
        200: {"description": "a repeat of a delivery already taken, or a booking not ours"},
        **problem_responses(
            {
                401: "X-Cal-Signature-256 missing or not the HMAC of the body",
                404: "no lead for the booking's metadata.lead_id",
                413: "body over MAX_BODY_BYTES",
                415: "Content-Type is not JSON",
                422: "not a JSON object, or invalid fields (every one listed)",
                503: "CALCOM_WEBHOOK_SECRET is not set, or the change could not be queued",
            }
        ),
    },
)
async def submit_calcom(event: CalcomWebhookDep, services: ServicesDep) -> JSONResponse:
    """Take Cal.com's report of a booking made, moved or cancelled: 202 queued, 200 for a
    repeat or a booking this service did not make."""
    store = services.store
    taken = await bookings.take_booking(store, store, services.enqueue_booking, event)
    return JSONResponse(
        {
            "lead_id": taken.lead_id,
            "key": taken.key,
            "status": taken.status,
            "duplicate": taken.status == "duplicate",
        },
        status_code=202 if taken.status == "queued" else 200,
    )


@router.post(
    "/webhooks/hubspot",
    responses=problem_responses(
        {
            401: "bad, missing or stale X-HubSpot-Signature-v3 (v2 only with "
            "HUBSPOT_SIGNATURE_V2=true)",
            413: "body over MAX_BODY_BYTES",
            415: "Content-Type is not JSON",
            422: "not a JSON array of HubSpot events (every invalid field listed)",
            503: "HUBSPOT_CLIENT_SECRET is not set, or an event could not be queued; retry later",
        }
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": HubSpotEvent.model_json_schema()}
                }
            },
        }
    },
)
async def submit_hubspot(events: HubSpotEventsDep, services: ServicesDep) -> dict[str, Any]:
    """Take a HubSpot delivery: contact creations and form conversions are queued as leads
    (the contact is read by the worker); a redelivered event is counted, never a second lead."""
    batch = await hubspot_intake.accept_events(
        services.store,
        services.store,
        services.enqueue_hubspot_event,
        events,
        services.settings.idempotency_ttl_days * 86400,
    )
    return batch.answer()
