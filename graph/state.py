"""The lead's state as it moves through the graph (DESIGN §2).

Every top-level value is JSON-serializable. Only `errors` and `timings` accumulate; every
other key is written by exactly one node and replaced whole.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired, TypedDict

Status = Literal["queued", "processing", "completed", "failed"]
Action = Literal["book", "draft", "nurture", "disqualify", "support"]


def merge_timings(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Merge per-node timing entries; a node that runs again replaces its own entry."""
    return {**(left or {}), **(right or {})}


class LeadState(TypedDict, total=False):
    """The whole decision record of one lead."""

    lead_id: str
    received_at: str
    source: str
    raw: dict[str, Any]
    lead: dict[str, Any]
    capture: dict[str, Any]
    enrichment: dict[str, Any]
    classification: dict[str, Any]
    score: dict[str, Any]
    routing: dict[str, Any]
    booking: dict[str, Any]
    draft: dict[str, Any]
    nurture: dict[str, Any]
    deliveries: dict[str, Any]
    status: Status
    errors: Annotated[list[dict[str, Any]], operator.add]
    timings: Annotated[dict[str, Any], merge_timings]


class CaptureUpdate(TypedDict):
    """What capture writes; each node's update type lists exactly its keys."""

    lead: dict[str, Any]
    capture: dict[str, Any]
    timings: NotRequired[dict[str, Any]]


class EnrichUpdate(TypedDict):
    enrichment: dict[str, Any]
    errors: NotRequired[list[dict[str, Any]]]
    timings: NotRequired[dict[str, Any]]


class ClassifyUpdate(TypedDict):
    classification: dict[str, Any]
    timings: NotRequired[dict[str, Any]]


class ScoreUpdate(TypedDict):
    score: dict[str, Any]
    timings: NotRequired[dict[str, Any]]


class RouteUpdate(TypedDict):
    routing: dict[str, Any]
    timings: NotRequired[dict[str, Any]]


class BookUpdate(TypedDict):
    booking: dict[str, Any]
    timings: NotRequired[dict[str, Any]]


class DraftUpdate(TypedDict):
    draft: dict[str, Any]
    timings: NotRequired[dict[str, Any]]


class NurtureUpdate(TypedDict):
    nurture: dict[str, Any]
    timings: NotRequired[dict[str, Any]]


class NotifyUpdate(TypedDict):
    deliveries: dict[str, Any]
    status: Status
    errors: NotRequired[list[dict[str, Any]]]
    timings: NotRequired[dict[str, Any]]
