"""The HTTP API (DESIGN §5): verify, parse, claim the idempotency key, enqueue, answer.

Business logic lives in the graph's nodes; routes stay thin.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import structlog
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from domain.intake import LeadIn, idempotency_key, lead_id_for
from service.logs import configure_logging
from service.runner import thread
from service.settings import Settings
from service.wiring import Services, open_services
from tools.ports import LeadRecord
from tools.slack_signature import InvalidInteraction, parse_interaction, verify_slack_request

log = structlog.get_logger("lead_router.api")
M = TypeVar("M", bound=BaseModel)

SIGNATURE_WINDOW_S = 300


class ActionIn(BaseModel):
    """The body of `POST /admin/leads/{lead_id}/actions`: a rep's decision on a lead."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Literal["accept", "reassign", "not_a_fit"]
    actor: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)


class OutcomeIn(BaseModel):
    """The body of `POST /webhooks/outcome`: what became of a lead (by id or by email)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    lead_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=254)
    outcome: Literal["won", "lost", "converted", "open"]
    value: float | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    occurred_at: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _names_a_lead(self) -> OutcomeIn:
        if not (self.lead_id or self.email):
            raise ValueError("give lead_id or email")
        return self


def validation_problems(exc: ValidationError) -> list[dict[str, str]]:
    """Every invalid field of a body, as `{"field", "problem"}`."""
    return [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "(body)",
            "problem": str(e["msg"]).removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def _verify_signature(
    secret: str, body: bytes, signature: str | None, timestamp: str | None
) -> str | None:
    """None when the signature is good, else what is wrong with it."""
    if not signature or not timestamp:
        return "missing X-Signature or X-Timestamp header"
    try:
        ts = int(timestamp)
    except ValueError:
        return "X-Timestamp is not Unix seconds"
    if abs(time.time() - ts) > SIGNATURE_WINDOW_S:
        return "X-Timestamp is outside the 5-minute window"
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(signature.removeprefix("sha256="), expected):
        return "X-Signature does not match the body"
    return None


async def read_json(
    request: Request,
    settings: Settings,
    signature: str | None,
    timestamp: str | None,
    *,
    signed: bool = True,
) -> dict[str, Any] | JSONResponse:
    """The body as a JSON object, or the 401/413/415/422 answer saying what is wrong.

    `signed` bodies (webhooks) must carry the WEBHOOK_SECRET signature when one is set.
    """
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return problem(413, f"body is {declared} bytes; the limit is {limit} (MAX_BODY_BYTES)")
    body = await request.body()
    if len(body) > limit:
        return problem(413, f"body is {len(body)} bytes; the limit is {limit} (MAX_BODY_BYTES)")
    if signed and settings.webhook_secret:
        wrong = _verify_signature(
            settings.webhook_secret.get_secret_value(), body, signature, timestamp
        )
        if wrong:
            return problem(401, f"bad signature: {wrong}")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        return problem(415, f"Content-Type must be application/json, not {ctype or 'missing'}")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return problem(
            422, "body is not valid JSON", errors=[{"field": "(body)", "problem": str(exc)}]
        )
    if not isinstance(data, dict):
        return problem(
            422,
            "body must be a JSON object",
            errors=[{"field": "(body)", "problem": f"got {type(data).__name__}"}],
        )
    return data


async def parse_body(
    request: Request,
    settings: Settings,
    model: type[M],
    what: str,
    *,
    signature: str | None = None,
    timestamp: str | None = None,
    signed: bool = True,
) -> tuple[M, dict[str, Any]] | JSONResponse:
    """The body validated as `model` (and as the raw object), or the 4xx answer naming why."""
    data = await read_json(request, settings, signature, timestamp, signed=signed)
    if isinstance(data, JSONResponse):
        return data
    try:
        return model.model_validate(data), data
    except ValidationError as exc:
        return problem(422, f"invalid {what}", errors=validation_problems(exc))


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_admin(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Check the admin bearer token when `ADMIN_TOKEN` is set."""
    token = services.settings.admin_token
    if token is None:
        return
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise HTTPException(
            401, "admin token missing or wrong (Authorization: Bearer <ADMIN_TOKEN>)"
        )


AdminDep = Annotated[None, Depends(require_admin)]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; the lifespan opens backends and compiles the graph once."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            await services.broker.startup()
            sweeper = None
            if not settings.queue_url:  # this process is the worker; memory held the queue
                patience = settings.redeliver_after_ms / 1000
                sweeper = asyncio.create_task(services.sweep(patience, first_older_than_s=0))
            try:
                yield
            finally:
                if sweeper:
                    sweeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sweeper
                await services.drain()
                await services.broker.shutdown()

    app = FastAPI(title="Lead Router", version="0.1.0", lifespan=lifespan)

    @app.post("/webhooks/lead", status_code=202)
    async def submit_lead(
        request: Request,
        services: ServicesDep,
        idempotency_key_header: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
        x_signature: Annotated[str | None, Header()] = None,
        x_timestamp: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Accept a lead: 202 queued, or 200 for a repeat of a delivery already taken."""
        started = time.perf_counter()
        parsed = await parse_body(
            request, settings, LeadIn, "lead", signature=x_signature, timestamp=x_timestamp
        )
        if isinstance(parsed, JSONResponse):
            return parsed
        lead, data = parsed

        key, chosen = idempotency_key(idempotency_key_header, data, lead)
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
        claim = await services.context.store.claim(record)
        if not claim.created:
            existing = claim.record
            if chosen and existing.payload_hash != payload_hash:
                return problem(
                    422,
                    f"idempotency key {key.split(':', 1)[1]!r} was already used "
                    "with a different payload",
                    lead_id=lead_id,
                )
            log.info(
                "webhook",
                lead_id=lead_id,
                duplicate=True,
                status=existing.status,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
            return JSONResponse(
                {"lead_id": lead_id, "status": existing.status, "duplicate": True}, status_code=200
            )
        try:
            await services.enqueue(lead_id)
        except Exception as exc:  # the sweeper re-queues it; tell the sender to retry meanwhile
            log.error("enqueue failed", lead_id=lead_id, error=str(exc))
            return problem(
                503, "lead stored but the queue is unavailable; retry later", lead_id=lead_id
            )
        log.info(
            "webhook",
            lead_id=lead_id,
            duplicate=False,
            source=record.source,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return JSONResponse(
            {"lead_id": lead_id, "status": "queued", "duplicate": False}, status_code=202
        )

    @app.post("/webhooks/outcome")
    async def submit_outcome(
        request: Request,
        services: ServicesDep,
        x_signature: Annotated[str | None, Header()] = None,
        x_timestamp: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Record what became of a lead (won, lost, converted) for learning and memory."""
        parsed = await parse_body(
            request, settings, OutcomeIn, "outcome", signature=x_signature, timestamp=x_timestamp
        )
        if isinstance(parsed, JSONResponse):
            return parsed
        outcome = parsed[0]
        store = services.context.store
        lead_id = outcome.lead_id
        if not lead_id and outcome.email:
            contact = await services.context.crm.find_contact(outcome.email.lower())
            lead_id = ((contact or {}).get("properties") or {}).get("lead_id")
            if not lead_id:
                return problem(404, f"no lead is known for {outcome.email}")
        record = await store.get_lead(str(lead_id))
        if record is None:
            return problem(404, f"no lead {lead_id}")
        entry = outcome.model_dump(exclude_none=True, exclude={"lead_id"})
        entry["recorded_at"] = datetime.now(UTC).isoformat()
        await store.record_outcome(record.lead_id, entry)
        memory = await services.remember_outcome(record.lead_id, outcome.outcome)
        log.info("outcome", lead_id=record.lead_id, outcome=outcome.outcome, memory=memory)
        return JSONResponse(
            {
                "lead_id": record.lead_id,
                "outcome": outcome.outcome,
                "recorded": True,
                "similar_account_memory": memory,
            }
        )

    @app.post("/slack/interactions")
    async def slack_interactions(
        request: Request,
        services: ServicesDep,
        x_slack_signature: Annotated[str | None, Header()] = None,
        x_slack_request_timestamp: Annotated[str | None, Header()] = None,
        x_slack_retry_num: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Accept / Reassign / Not a fit clicks from Slack: verify, queue, answer at once."""
        secret = settings.slack_signing_secret
        if secret is None:
            return problem(404, "Slack is not configured (SLACK_SIGNING_SECRET is unset)")
        body = await request.body()
        wrong = verify_slack_request(
            secret.get_secret_value(), body, x_slack_request_timestamp, x_slack_signature
        )
        if wrong:
            return problem(401, f"bad Slack signature: {wrong}")
        try:
            click = parse_interaction(body, retry_num=x_slack_retry_num)
        except InvalidInteraction as exc:
            return problem(400, f"not a Slack interaction: {exc}")
        if click.is_retry:
            return JSONResponse({"ok": True, "ignored": "retried delivery"})
        claim = uuid.uuid4().hex
        first = await services.context.store.cache_set_if_absent(
            f"slack:click:{click.action_ts}:{click.user_id}:{click.lead_id}", claim, 86400
        )
        if first != claim:
            return JSONResponse({"ok": True, "ignored": "duplicate click"})
        config = thread(click.lead_id)
        routing = (await services.graph.aget_state(config)).values.get("routing") or {}
        clicker = services.context.routing.rep_by_slack_id(click.user_id)
        team = routing.get("team")
        manager = services.context.routing.team(team).manager if team else None
        if clicker is None or clicker.id not in {routing.get("owner"), manager}:
            return JSONResponse(
                {"ok": True, "ignored": "only the owner or the team's manager can act on this lead"}
            )
        try:
            await services.enqueue_action(
                click.lead_id,
                click.action_id,
                actor=f"<@{click.user_id}>",
                expect_hop=int(routing.get("hops", 0)),
            )
        except Exception as exc:  # tell Slack it failed; a new click has a new action_ts
            log.error("queueing a Slack action failed", lead_id=click.lead_id, error=str(exc))
            return problem(503, "could not queue the action; click again")
        return JSONResponse({"ok": True})

    @app.post("/admin/leads/{lead_id}/actions", status_code=202)
    async def lead_action(
        lead_id: str, request: Request, services: ServicesDep, _: AdminDep
    ) -> JSONResponse:
        """Apply a rep's decision (accept, reassign, not_a_fit) as the Slack buttons do."""
        parsed = await parse_body(request, settings, ActionIn, "action", signed=False)
        if isinstance(parsed, JSONResponse):
            return parsed
        action = parsed[0]
        if await services.context.store.get_lead(lead_id) is None:
            return problem(404, f"no lead {lead_id}")
        result = await services.act(
            lead_id, action.action, actor=action.actor, reason=action.reason
        )
        status = 409 if result["result"] == "refused" else 200
        return JSONResponse({"lead_id": lead_id, **result}, status_code=status)

    @app.get("/health")
    async def health(services: ServicesDep) -> JSONResponse:
        """Liveness and each backend's readiness."""
        checks = await services.health()
        ok = all(c["ok"] for c in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/admin/leads")
    async def list_leads(
        services: ServicesDep,
        _: AdminDep,
        status: str | None = None,
        owner: str | None = None,
        action: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Recent leads, newest first, filtered by status, owner or action."""
        records = await services.context.store.list_leads(
            status=status, owner=owner, action=action, limit=limit, offset=offset
        )
        return {"leads": [r.summary() for r in records], "limit": limit, "offset": offset}

    @app.get("/admin/leads/{lead_id}")
    async def get_lead(lead_id: str, services: ServicesDep, _: AdminDep) -> dict[str, Any]:
        """The whole decision record: state, per-node history and timings, errors, deliveries."""
        record = await services.context.store.get_lead(lead_id)
        if record is None:
            raise HTTPException(404, f"no lead {lead_id}")
        config = thread(lead_id)
        snapshot = await services.graph.aget_state(config)
        history = [s async for s in services.graph.aget_state_history(config)]
        history.reverse()
        timings = snapshot.values.get("timings", {}) if snapshot.values else {}
        steps = []
        for before, after in itertools.pairwise(history):
            for node in before.next:
                if node.startswith("__"):
                    continue
                steps.append(
                    {
                        "step": after.metadata.get("step") if after.metadata else None,
                        "node": node,
                        "finished_at": after.created_at,
                        "ms": timings.get(node, {}).get("ms"),
                    }
                )
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

    @app.post("/admin/retry/{lead_id}", status_code=202)
    async def retry_lead(lead_id: str, services: ServicesDep, _: AdminDep) -> dict[str, Any]:
        """Resume a failed lead from its checkpoint."""
        store = services.context.store
        record = await store.get_lead(lead_id)
        if record is None:
            raise HTTPException(404, f"no lead {lead_id}")
        if record.status != "failed":
            raise HTTPException(409, f"lead {lead_id} is {record.status}, not failed")
        await store.update_lead(lead_id, status="queued")
        await services.enqueue(lead_id)
        return {"lead_id": lead_id, "status": "queued"}

    @app.get("/admin/outbox")
    async def outbox(
        services: ServicesDep,
        _: AdminDep,
        lead_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Messages the built-in notifier stored instead of sending to Slack."""
        if services.outbox is None:
            return {"messages": []}
        return {"messages": await services.outbox.list(limit=limit, lead_id=lead_id)}

    return app
