"""Slack's interactivity endpoint: the rep message's Accept / Reassign / Not a fit buttons."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServicesDep, SlackClickDep
from api.problems import problem_responses
from service.rep_decisions import take_click

router = APIRouter(tags=["slack"])

INTERACTION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["payload"],
                    "properties": {
                        "payload": {
                            "type": "string",
                            "description": "a block_actions interaction, as JSON",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/slack/interactions",
    responses=problem_responses(
        {
            400: "not a block_actions interaction",
            401: "bad, missing or stale Slack v0 signature",
            404: "Slack is not configured (SLACK_SIGNING_SECRET is unset)",
            503: "the action could not be queued; click again",
        }
    ),
    openapi_extra=INTERACTION_BODY,
)
async def slack_interactions(click: SlackClickDep, services: ServicesDep) -> dict[str, Any]:
    """Accept / Reassign / Not a fit clicks from Slack: verify, queue, answer at once."""
    ignored = await take_click(services, click)
    return {"ok": True} if ignored is None else {"ok": True, "ignored": ignored}
