"""The lead contract at the door (DESIGN §5): the body's fields, its idempotency key, its id.

Shared by the webhook and the backtest, so a replayed row is valid exactly when the webhook
would accept it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

LEAD_NAMESPACE = uuid.UUID("5b2f6a1e-3c4d-4e8f-9a0b-1c2d3e4f5a6b")
EMAIL = re.compile(
    r"^[^@\s\"<>(),;:]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


# Fields shown to reps and written to the CRM: no hidden characters (a name reading "admin"
# that is not), joiners aside.
SHOWN_FIELDS: tuple[str, ...] = ("first_name", "last_name", "full_name", "company", "title")
SHOWN_FIELDS += ("phone", "country", "state", "city", "website", "source", "form_id")
JOINERS = frozenset({"\u200c", "\u200d"})
LATEST_EPOCH_MS = 1e13  # the year 2286 in milliseconds: anything later is not a time


@functools.cache
def format_characters(*, allow_joiners: bool) -> str:
    """The format characters (Unicode category Cf: bidi controls, zero-width spaces…) as the
    body of a regex character class, for the schema's patterns."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) != "Cf" or (allow_joiners and char in JOINERS):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))

    def escaped(code: int) -> str:  # \\uXXXX reads alike in Python and ECMA; astral as is
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    return "".join(
        escaped(low) if low == high else f"{escaped(low)}-{escaped(high)}" for low, high in ranges
    )


def _shown_schema(schema: dict[str, Any]) -> None:
    """A shown field's schema: no format characters (joiners aside)."""
    schema["pattern"] = f"^[^{format_characters(allow_joiners=True)}]*$"


# Controls and every character Python's `\s` counts as a space, spelled out: ECMA's `\s`,
# which readers of the schema apply, is narrower.
_SPACES = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _email_schema(schema: dict[str, Any]) -> None:
    """The email's schema: the address pattern, with no space, control or format character."""
    hidden = format_characters(allow_joiners=False)
    local = f'[^@"<>(),;:{_SPACES}{hidden}]'
    schema["pattern"] = EMAIL.pattern.replace(r"[^@\s\"<>(),;:]", local)


def _shown(max_length: int) -> Any:
    return Field(default=None, max_length=max_length, json_schema_extra=_shown_schema)


# What the schema promises of `submitted_at`: ISO 8601 text, or Unix seconds or milliseconds.
SUBMITTED_AT_SCHEMA = {
    "anyOf": [
        {"type": "string", "description": "ISO 8601"},
        {"type": "number", "minimum": 0, "exclusiveMaximum": 1e13},
        {"type": "null"},
    ],
    "description": "when the form was submitted: ISO 8601, or Unix seconds or milliseconds",
}


class LeadIn(BaseModel):
    """The lead body of `POST /webhooks/lead`; unknown top-level fields are kept in `raw`."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    email: str = Field(max_length=254, json_schema_extra=_email_schema)
    first_name: str | None = _shown(200)
    last_name: str | None = _shown(200)
    full_name: str | None = _shown(400)
    company: str | None = _shown(300)
    title: str | None = _shown(300)
    phone: str | None = _shown(64)
    country: str | None = _shown(100)
    state: str | None = _shown(100)
    city: str | None = _shown(100)
    website: str | None = _shown(500)
    message: str | None = Field(default=None, max_length=20_000)
    source: str | None = _shown(100)
    form_id: str | None = _shown(200)
    event_id: str | int | None = None
    submitted_at: Annotated[str | int | float | None, WithJsonSchema(SUBMITTED_AT_SCHEMA)] = None
    utm: dict[str, Any] | None = None
    consent: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        hidden = invisible(value, allow_joiners=False)
        if hidden:
            raise ValueError(f"contains invisible or direction-changing characters ({hidden})")
        if not EMAIL.match(value):
            raise ValueError(f"{value[:80]!r} is not an email address")
        return value

    @field_validator(*SHOWN_FIELDS)
    @classmethod
    def _shown(cls, value: str | None) -> str | None:
        hidden = invisible(value or "", allow_joiners=True)
        if hidden:
            raise ValueError(f"contains invisible or direction-changing characters ({hidden})")
        return value

    @field_validator("submitted_at")
    @classmethod
    def _submitted_at(cls, value: str | int | float | None) -> str | int | float | None:
        if isinstance(value, int | float) and not (
            math.isfinite(value) and 0 <= value < LATEST_EPOCH_MS
        ):
            raise ValueError(
                f"{value!r} is not a time: give Unix seconds or milliseconds, or ISO 8601"
            )
        return value


def invisible(text: str, *, allow_joiners: bool) -> str:
    """The code points in `text` that change how it reads without showing (bidi controls,
    zero-width spaces, other format characters), as `U+202E, …`; empty when there are none.
    `allow_joiners` lets the zero-width (non-)joiner through: some scripts spell names with
    them."""
    found = []
    for char in text:
        if unicodedata.category(char) != "Cf":
            continue
        if allow_joiners and char in JOINERS:
            continue
        code = f"U+{ord(char):04X}"
        if code not in found:
            found.append(code)
    return ", ".join(found[:5])


def idempotency_key(header: str | None, body: dict[str, Any], lead: LeadIn) -> tuple[str, bool]:
    """The delivery's key and whether the sender chose it (header or provider event id).

    A derived key covers the person, the form, the day and the whole body: a redelivery of the
    same submission is absorbed, a new message from the same person is a new lead.
    """
    if header:
        return header_key(header), True
    event_id = body.get("event_id") or body.get("eventId")
    if event_id not in (None, ""):
        return f"event:{event_id}", True
    day = datetime.now(UTC).date().isoformat()
    if isinstance(lead.submitted_at, int | float):
        day = (
            datetime.fromtimestamp(
                lead.submitted_at / (1000 if lead.submitted_at > 1e11 else 1), UTC
            )
            .date()
            .isoformat()
        )
    elif isinstance(lead.submitted_at, str) and re.match(r"\d{4}-\d{2}-\d{2}", lead.submitted_at):
        day = lead.submitted_at[:10]
    rest = {name: value for name, value in body.items() if name != "email"}
    content = json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str)
    basis = f"{lead.email.strip().lower()}|{lead.form_id or ''}|{day}|{content}"
    return "derived:" + hashlib.sha256(basis.encode()).hexdigest()[:32], False


def header_key(header: str) -> str:
    """The key of a delivery whose sender chose it (an `Idempotency-Key`, a HubSpot event)."""
    return f"header:{header.strip()}"


def lead_id_for(key: str) -> str:
    return str(uuid.uuid5(LEAD_NAMESPACE, key))
