"""A rep's decision on a routed lead, from a Slack button or the admin API: check it, apply it.

Slack clicks are verified (v0 signature), then taken once per click, and only from the lead's
owner or their team's manager; they are applied through the queue so Slack is answered at once.
The admin API applies the action directly and reports what happened. The action itself is in
`service.decide`.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from domain.config import RoutingConfig
from service.errors import Conflict, Malformed, NotFound, Unauthenticated, Unavailable
from service.runner import thread_config
from service.settings import Settings
from service.wiring import Services
from tools.slack_signature import (
    Interaction as Interaction,  # the click type the API's Slack route is handed
)
from tools.slack_signature import (
    InvalidInteraction,
    parse_interaction,
    verify_slack_request,
)

log = structlog.get_logger("lead_router.rep_decisions")

CLICK_MEMORY_S = 86400  # a click's action_ts is remembered this long to drop repeats
NOT_ALLOWED = "only the owner or the team's manager can act on this lead"


class DecisionIn(BaseModel):
    """A rep's decision on a lead (the body of `POST /admin/leads/{lead_id}/actions`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Literal["accept", "reassign", "not_a_fit"]
    actor: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)


def read_click(
    settings: Settings,
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    retry_num: str | None,
) -> Interaction:
    """The button click a Slack request carries, once its signature is verified.

    Raises `NotFound` when Slack is not configured, `Unauthenticated` for a missing, wrong or
    stale signature and `Malformed` for a body that is not a block_actions interaction.
    """
    secret = settings.slack_signing_secret
    if secret is None:
        raise NotFound("Slack is not configured (SLACK_SIGNING_SECRET is unset)")
    wrong = verify_slack_request(secret.get_secret_value(), body, timestamp, signature)
    if wrong:
        raise Unauthenticated(f"bad Slack signature: {wrong}")
    try:
        return parse_interaction(body, retry_num=retry_num)
    except InvalidInteraction as exc:
        raise Malformed(f"not a Slack interaction: {exc}") from exc


def may_act(config: RoutingConfig, routing: dict[str, Any], slack_user_id: str) -> bool:
    """Whether the Slack user is the lead's owner or the manager of its team."""
    clicker = config.rep_by_slack_id(slack_user_id)
    team = routing.get("team")
    manager = config.team(team).manager if team else None
    return clicker is not None and clicker.id in {routing.get("owner"), manager}


async def take_click(services: Services, click: Interaction) -> str | None:
    """Queue the clicked action; returns why the click was ignored, or None when queued.

    Raises `Unavailable` when the action cannot be queued (a new click has a new action_ts).
    """
    if click.is_retry:
        return "retried delivery"
    claim = uuid.uuid4().hex
    first = await services.store.cache_set_if_absent(
        f"slack:click:{click.action_ts}:{click.user_id}:{click.lead_id}", claim, CLICK_MEMORY_S
    )
    if first != claim:
        return "duplicate click"
    routing = (await services.graph.aget_state(thread_config(click.lead_id))).values.get(
        "routing"
    ) or {}
    if not may_act(services.context.routing, routing, click.user_id):
        return NOT_ALLOWED
    try:
        await services.enqueue_decision(
            click.lead_id,
            click.action_id,
            actor=f"<@{click.user_id}>",
            expect_hop=int(routing.get("hops", 0)),
        )
    except Exception as exc:
        log.error("queueing a Slack action failed", lead_id=click.lead_id, error=str(exc))
        raise Unavailable("could not queue the action; click again") from exc
    return None


async def decide_on_lead(services: Services, lead_id: str, decision: DecisionIn) -> dict[str, Any]:
    """Apply the decision now; returns `{"lead_id", "result", ...}` with the new routing.

    Raises `NotFound` for an unknown lead and `Conflict` when the action cannot apply.
    """
    if await services.store.get_lead(lead_id) is None:
        raise NotFound(f"no lead {lead_id}")
    result = await services.decide(
        lead_id, decision.action, actor=decision.actor, reason=decision.reason
    )
    if result["result"] in {"refused", "unchanged"}:  # e.g. already accepted or closed
        raise Conflict(result["detail"], lead_id=lead_id, result=result["result"])
    return {"lead_id": lead_id, **result}
