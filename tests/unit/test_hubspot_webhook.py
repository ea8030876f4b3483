"""HubSpot webhook signatures, event identity and the lead a contact makes (pure functions)."""

from __future__ import annotations

from typing import Any

from hubspot.utils.signature import Signature
from hypothesis import given
from hypothesis import strategies as st

from domain.hubspot_webhook import (
    HubSpotEvent,
    lead_from_contact,
    signed_uri,
    v2_problem,
    v3_problem,
    v3_signature,
)

NOW_MS = 1_764_000_000_000
URI = "https://leads.example.com/webhooks/hubspot"


def event(**fields: Any) -> HubSpotEvent:
    values = {
        "subscriptionId": 7,
        "eventId": 100,
        "objectId": 501,
        "occurredAt": NOW_MS,
        "subscriptionType": "contact.creation",
        **fields,
    }
    return HubSpotEvent.model_validate(values)


@given(body=st.text(max_size=200), secret=st.text(min_size=1, max_size=40))
def test_v3_matches_hubspots_helper_for_any_body(body: str, secret: str) -> None:
    """Our v3 signature is the SDK's for any body and secret (a URI with nothing to decode)."""
    ts = str(NOW_MS)
    expected = Signature.get_signature(secret, body, "v3", http_uri=URI, timestamp=ts)
    assert v3_signature(secret, "POST", URI, body.encode(), ts) == expected


def test_only_hubspots_escapes_are_decoded() -> None:
    """The twelve escapes HubSpot decodes are decoded; %20, %3D, %26 and lower case are not."""
    raw = "https://h/p?a=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B&b=%20%3D%26%3a"
    assert signed_uri(raw) == "https://h/p?a=:/?@!$'()*,;&b=%20%3D%26%3a"


def test_v3_refuses_a_timestamp_from_the_future_too() -> None:
    """A timestamp more than five minutes ahead is outside the window like a stale one."""
    ts = str(NOW_MS + 6 * 60 * 1000)
    signature = v3_signature("s", "POST", URI, b"[]", ts)
    assert "window" in (v3_problem("s", "POST", URI, b"[]", signature, ts, NOW_MS) or "")
    assert v3_problem("s", "POST", URI, b"[]", signature, ts, NOW_MS + 6 * 60 * 1000) is None


def test_v2_matches_hubspots_helper() -> None:
    """A v2 signature from the SDK passes; another body does not."""
    signature = Signature.get_signature("s", "[1]", "v2", http_uri=URI, http_method="POST")
    assert v2_problem("s", "POST", URI, b"[1]", signature) is None
    assert v2_problem("s", "POST", URI, b"[2]", signature) is not None


def test_an_event_is_known_by_its_four_ids() -> None:
    """eventId alone is not the identity: another objectId or occurredAt is another event."""
    assert event().key == event().key
    assert event().key != event(objectId=502).key
    assert event().key != event(occurredAt=NOW_MS + 1).key
    assert event().key != event(subscriptionId=8).key


def test_creations_and_conversions_become_leads_and_nothing_else() -> None:
    """contact.creation and a recent_conversion_event_name change; not other changes."""
    assert event().becomes_lead
    conversion = event(
        subscriptionType="contact.propertyChange", propertyName="recent_conversion_event_name"
    )
    assert conversion.becomes_lead
    assert not event(subscriptionType="contact.propertyChange", propertyName="phone").becomes_lead
    assert not event(subscriptionType="contact.deletion").becomes_lead


def test_a_contact_becomes_a_lead_payload() -> None:
    """HubSpot's properties map to lead fields; the conversion name is the form; no email, no
    lead."""
    properties = {
        "email": "Lena@Example.de",
        "firstname": "Lena",
        "lastname": "",
        "jobtitle": "VP Sales",
        "recent_conversion_event_name": "Demo request",
        "message": "Call me",
    }
    payload = lead_from_contact("501", properties, event())
    assert payload is not None
    assert {k: v for k, v in payload.items() if k != "hubspot"} == {
        "email": "Lena@Example.de",
        "source": "hubspot",
        "first_name": "Lena",
        "title": "VP Sales",
        "form_id": "Demo request",
        "message": "Call me",
    }
    assert payload["hubspot"]["contact_id"] == "501"
    assert lead_from_contact("501", {"firstname": "Lena"}, event()) is None
