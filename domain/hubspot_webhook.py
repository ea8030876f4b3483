"""HubSpot webhook deliveries (DESIGN §3): their signatures, their events, the leads they make.

Signatures (HubSpot's "Validating requests"):

- v3: `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret, method + URI + raw body +
  `X-HubSpot-Request-Timestamp`)), the timestamp in milliseconds and at most 5 minutes away.
  The URI is the one HubSpot called (scheme, host, path, query), after HubSpot decodes the
  characters in `URI_DECODES` (and only those) in it.
- v2: `X-HubSpot-Signature` = hex SHA-256(client secret + method + URI + raw body). No
  timestamp, so a captured request can be replayed; accepted only when enabled.

Events: a delivery is a JSON array of events. HubSpot says `eventId` alone is not unique, so
an event is known by (subscriptionId, eventId, objectId, occurredAt). `contact.creation` and a
form conversion (`contact.propertyChange` of `recent_conversion_event_name`) become leads;
other events are acknowledged and ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SIGNATURE_WINDOW_MS = 5 * 60 * 1000

# HubSpot decodes exactly these escapes in the URI before signing (v3).
URI_DECODES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}

CONVERSION_PROPERTY = "recent_conversion_event_name"
# The contact properties a lead is built from (read from HubSpot in the worker).
CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "company",
    "jobtitle",
    "phone",
    "country",
    CONVERSION_PROPERTY,
    "message",
)
# HubSpot property → lead field.
_LEAD_FIELDS = {
    "firstname": "first_name",
    "lastname": "last_name",
    "company": "company",
    "jobtitle": "title",
    "phone": "phone",
    "country": "country",
    CONVERSION_PROPERTY: "form_id",
    "message": "message",
}


def signed_uri(uri: str) -> str:
    """The URI as HubSpot signs it: the escapes in `URI_DECODES` decoded, nothing else."""
    out = []
    i = 0
    while i < len(uri):
        escape = uri[i : i + 3]
        if escape in URI_DECODES:
            out.append(URI_DECODES[escape])
            i += 3
        else:
            out.append(uri[i])
            i += 1
    return "".join(out)


def v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot sends for this request (`uri` as called, not yet decoded)."""
    message = f"{method.upper()}{signed_uri(uri)}".encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def v2_signature(secret: str, method: str, uri: str, body: bytes) -> str:
    """The v2 signature HubSpot sends for this request."""
    return hashlib.sha256(f"{secret}{method.upper()}{uri}".encode() + body).hexdigest()


def v3_problem(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now_ms: float,
) -> str | None:
    """None when the v3 signature is good, else what is wrong with it."""
    if not signature or not timestamp:
        return "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 15:
        return "X-HubSpot-Request-Timestamp is not Unix milliseconds"
    sent_ms = int(timestamp)
    if abs(now_ms - sent_ms) > SIGNATURE_WINDOW_MS:
        return "X-HubSpot-Request-Timestamp is outside the 5-minute window"
    expected = v3_signature(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return f"X-HubSpot-Signature-v3 does not match {method.upper()} {signed_uri(uri)}"
    return None


def v2_problem(secret: str, method: str, uri: str, body: bytes, signature: str) -> str | None:
    """None when the v2 signature is good, else what is wrong with it."""
    expected = v2_signature(secret, method, uri, body)
    if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
        return f"X-HubSpot-Signature (v2) does not match {method.upper()} {uri}"
    return None


class HubSpotEvent(BaseModel):
    """One event of a webhook delivery, as HubSpot sends it (unknown fields kept)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    subscription_id: int | str = Field(alias="subscriptionId")
    event_id: int | str = Field(alias="eventId")
    object_id: int | str = Field(alias="objectId")
    occurred_at: int | str = Field(alias="occurredAt")
    subscription_type: str = Field(alias="subscriptionType")
    portal_id: int | str | None = Field(default=None, alias="portalId")
    property_name: str | None = Field(default=None, alias="propertyName")
    property_value: str | None = Field(default=None, alias="propertyValue")

    @property
    def key(self) -> str:
        """The event's identity: (subscriptionId, eventId, objectId, occurredAt)."""
        return f"hubspot:{self.subscription_id}:{self.event_id}:{self.object_id}:{self.occurred_at}"

    @property
    def becomes_lead(self) -> bool:
        """A contact created, or a contact's form conversion."""
        if self.subscription_type == "contact.creation":
            return True
        return (
            self.subscription_type == "contact.propertyChange"
            and self.property_name == CONVERSION_PROPERTY
        )


def lead_from_contact(
    contact_id: str, properties: dict[str, Any], event: HubSpotEvent
) -> dict[str, Any] | None:
    """The lead payload for a contact's properties, or None when it has no email."""
    email = str(properties.get("email") or "").strip()
    if not email:
        return None
    payload: dict[str, Any] = {"email": email, "source": "hubspot"}
    for prop, name in _LEAD_FIELDS.items():
        value = properties.get(prop)
        if value not in (None, ""):
            payload[name] = str(value)
    converted = event.property_name == CONVERSION_PROPERTY and event.property_value
    if "form_id" not in payload and converted:
        payload["form_id"] = event.property_value
    payload["hubspot"] = {
        "contact_id": contact_id,
        "portal_id": event.portal_id,
        "subscription_type": event.subscription_type,
        "event": event.key,
    }
    return payload
