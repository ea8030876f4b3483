"""What became of a lead (won, lost, converted, open): stored for `learn`, kept on its account.

A report names the lead by id, or by email through the CRM contact the lead created (its
`lead_id` property).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.errors import NotFound
from service.wiring import Services

log = structlog.get_logger("lead_router.outcomes")


NOT_BLANK: dict[str, Any] = {"pattern": r"\S"}  # the schema's word for "not empty once trimmed"


def present(*names: str) -> dict[str, Any]:
    """The schema's word for "these fields are given, as text"."""
    return {"required": list(names), "properties": {name: {"type": "string"} for name in names}}


class OutcomeIn(BaseModel):
    """An outcome report (the body of `POST /webhooks/outcome`), naming the lead by id or email."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"anyOf": [present("lead_id"), present("email")]},
    )

    lead_id: str | None = Field(default=None, max_length=64, json_schema_extra=NOT_BLANK)
    email: str | None = Field(default=None, max_length=254, json_schema_extra=NOT_BLANK)
    outcome: Literal["won", "lost", "converted", "open"]
    value: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    occurred_at: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _names_a_lead(self) -> OutcomeIn:
        if not (self.lead_id or self.email):
            raise ValueError("give lead_id or email")
        return self


@dataclass(frozen=True)
class RecordedOutcome:
    """The outcome as stored, and what the similar-account memory made of it (None: off)."""

    lead_id: str
    outcome: str
    similar_account_memory: dict[str, Any] | None


async def record_outcome(services: Services, report: OutcomeIn) -> RecordedOutcome:
    """Store the outcome on its lead and put it on the lead's account in the memory.

    Raises `NotFound` when no lead is known for the id or email given.
    """
    lead_id = report.lead_id
    if not lead_id and report.email:
        contact = await services.context.crm.find_contact(report.email.lower())
        lead_id = ((contact or {}).get("properties") or {}).get("lead_id")
        if not lead_id:
            raise NotFound(f"no lead is known for {report.email}")
    store = services.store
    record = await store.get_lead(str(lead_id))
    if record is None:
        raise NotFound(f"no lead {lead_id}")
    entry = report.model_dump(exclude_none=True, exclude={"lead_id"})
    entry["recorded_at"] = datetime.now(UTC).isoformat()
    await store.record_outcome(record.lead_id, entry)
    memory = await services.remember_outcome(record.lead_id, report.outcome)
    log.info("outcome", lead_id=record.lead_id, outcome=report.outcome, memory=memory)
    return RecordedOutcome(record.lead_id, report.outcome, memory)
