"""The rules the Store backends share (Redis and SQLite; `service.backends` opens one).

Both backends import the helpers below, so record encoding, field merging, ordering keys and
the weighted round-robin choice are defined once.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.ports import LeadRecord

LEAD_FIELD_ORDER = tuple(field.name for field in dataclasses.fields(LeadRecord))
LEAD_FIELDS = frozenset(LEAD_FIELD_ORDER)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def utc_now_iso() -> str:
    """Return the current time as ISO-8601 UTC."""
    return datetime.now(UTC).isoformat()


def received_us(timestamp: str) -> int:
    """Return an ISO-8601 timestamp as integer microseconds since the epoch (naive means UTC)."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"received_at must be ISO-8601, got {timestamp!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


COMPRESS_FROM = 1024  # bytes of JSON: a compacted lead's record, with its steps
COMPRESSED = "z:"  # then base64 of zlib: still text, as Redis (decoded replies) and SQLite keep it


def lead_to_json(record: LeadRecord) -> str:
    """Encode a lead record as compact JSON (its fields in order; `json` walks the payload
    itself, so it is not copied first as `dataclasses.asdict` would); a long one (a compacted
    lead's record carries its steps) as `z:` and the base64 of the JSON zlib-compressed."""
    encoded = json.dumps(
        {name: getattr(record, name) for name in LEAD_FIELD_ORDER}, separators=(",", ":")
    )
    if len(encoded) < COMPRESS_FROM:
        return encoded
    return COMPRESSED + base64.b64encode(zlib.compress(encoded.encode(), 6)).decode()


def lead_from_json(encoded: str | bytes) -> LeadRecord:
    """Decode a lead record (JSON, or compressed as `lead_to_json` writes a long one),
    ignoring fields this version does not know."""
    text = encoded.decode() if isinstance(encoded, bytes) else encoded
    if text.startswith(COMPRESSED):
        text = zlib.decompress(base64.b64decode(text.removeprefix(COMPRESSED))).decode()
    data = json.loads(text)
    return LeadRecord(**{name: value for name, value in data.items() if name in LEAD_FIELDS})


def merge_lead_fields(record: LeadRecord, fields: dict[str, Any]) -> LeadRecord:
    """Return the record with fields applied and updated_at set to now unless given."""
    unknown = sorted(set(fields) - LEAD_FIELDS)
    if unknown:
        raise ValueError(f"unknown LeadRecord fields: {', '.join(unknown)}")
    if "lead_id" in fields and fields["lead_id"] != record.lead_id:
        raise ValueError("lead_id cannot be changed")
    if "received_at" in fields:
        received_us(fields["received_at"])
    changes = dict(fields)
    changes.setdefault("updated_at", utc_now_iso())
    return dataclasses.replace(record, **changes)


def validate_candidates(candidates: list[tuple[str, float]]) -> None:
    """Raise ValueError unless there is at least one candidate and every weight is positive."""
    if not candidates:
        raise ValueError("pick_weighted needs at least one candidate")
    for rep_id, weight in candidates:
        if not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0):
            raise ValueError(f"weight of {rep_id!r} must be a positive number, got {weight!r}")


def choose_weighted(candidates: list[tuple[str, float]], counts: dict[str, int]) -> str:
    """Return the candidate minimizing (count + 1) / weight; ties go to the earliest listed."""
    best_rep, best_key = candidates[0][0], math.inf
    for rep_id, weight in candidates:
        key = (counts.get(rep_id, 0) + 1) / float(weight)
        if key < best_key:
            best_rep, best_key = rep_id, key
    return best_rep


def validate_page(limit: int, offset: int) -> None:
    """Raise ValueError on a negative limit or offset."""
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must be >= 0, got {limit} and {offset}")


def validate_ttl(ttl: int) -> None:
    """Raise ValueError unless the TTL is a positive integer."""
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ValueError(f"TTL must be a positive integer, got {ttl!r}")


def encode_receipt(receipt: dict[str, Any]) -> str:
    """Encode a side-effect receipt as compact JSON."""
    return json.dumps(receipt, separators=(",", ":"), sort_keys=True)


def decode_receipt(encoded: str | bytes) -> dict[str, Any]:
    """Decode a stored receipt, which must be a JSON object."""
    value = json.loads(encoded)
    if not isinstance(value, dict):
        raise ValueError("stored receipt is not a JSON object")
    return value
