"""The lead's state as it moves through the graph (DESIGN §2).

`LeadState` is the decision record of `domain.records` plus the two keys that accumulate,
with their reducers. Every other key is written by one node and replaced whole; each node's
update type lists exactly the keys it writes.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired, TypedDict

from domain.records import (
    Assist,
    Booking,
    BookingEvent,
    Capture,
    Classification,
    DecisionRecord,
    Deliveries,
    Draft,
    Enrichment,
    ErrorEntry,
    InboundReply,
    Lead,
    Nurture,
    OptOut,
    RepAnswer,
    ReplyRecord,
    Routing,
    Score,
    Status,
    Timing,
)


def merge_timings(
    left: dict[str, Timing] | None, right: dict[str, Timing] | None
) -> dict[str, Timing]:
    """Merge per-node timing entries; a node that runs again replaces its own entry."""
    return {**(left or {}), **(right or {})}


class LeadState(DecisionRecord, total=False):
    """The whole decision record of one lead."""

    errors: Annotated[list[ErrorEntry], operator.add]
    timings: Annotated[dict[str, Timing], merge_timings]


def initial_state(
    lead_id: str, received_at: str, source: str, payload: dict[str, Any]
) -> LeadState:
    """The graph's input for a lead that has not started."""
    return {
        "lead_id": lead_id,
        "received_at": received_at,
        "source": source,
        "raw": payload,
        "status": "processing",
        "errors": [],
        "timings": {},
    }


class CaptureUpdate(TypedDict):
    lead: Lead
    capture: Capture
    timings: NotRequired[dict[str, Timing]]


class EnrichUpdate(TypedDict):
    enrichment: Enrichment
    errors: NotRequired[list[ErrorEntry]]
    timings: NotRequired[dict[str, Timing]]


class ClassifyUpdate(TypedDict):
    classification: Classification
    timings: NotRequired[dict[str, Timing]]


class ScoreUpdate(TypedDict):
    score: Score
    timings: NotRequired[dict[str, Timing]]


class RouteUpdate(TypedDict):
    routing: Routing
    timings: NotRequired[dict[str, Timing]]


class BookUpdate(TypedDict):
    booking: Booking
    timings: NotRequired[dict[str, Timing]]


class DraftUpdate(TypedDict):
    draft: Draft
    timings: NotRequired[dict[str, Timing]]


class NurtureUpdate(TypedDict):
    nurture: Nurture
    timings: NotRequired[dict[str, Timing]]


class NotifyUpdate(TypedDict):
    deliveries: Deliveries
    status: Status
    errors: NotRequired[list[ErrorEntry]]
    timings: NotRequired[dict[str, Timing]]


class AssistUpdate(TypedDict):
    assist: Assist
    draft: NotRequired[Draft]
    nurture: NotRequired[Nurture]
    deliveries: NotRequired[Deliveries]
    timings: NotRequired[dict[str, Timing]]


class WaitUpdate(TypedDict, total=False):
    """The rep's decision, or a reply from the lead that arrived while it waited."""

    rep_decision: RepAnswer
    inbound_reply: InboundReply
    inbound_booking: BookingEvent


class ReadReplyUpdate(TypedDict):
    inbound_reply: InboundReply
    timings: NotRequired[dict[str, Timing]]


class ReplyUpdate(TypedDict):
    """A reply handled: its record appended, the inbound reply cleared, and what it changed."""

    replies: list[ReplyRecord]
    inbound_reply: None
    booking: NotRequired[Booking]
    nurture: NotRequired[Nurture]
    routing: NotRequired[Routing]
    opted_out: NotRequired[OptOut]
    timings: NotRequired[dict[str, Timing]]


class DecisionUpdate(TypedDict):
    routing: Routing
    deliveries: NotRequired[Deliveries]
    timings: NotRequired[dict[str, Timing]]


class BookingChangedUpdate(TypedDict):
    """A Cal.com change applied: the meeting (with the change in its history), the change
    cleared."""

    booking: Booking
    inbound_booking: None
    timings: NotRequired[dict[str, Timing]]
