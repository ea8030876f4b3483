"""`POST /webhooks/hubspot` against a live app on embedded defaults and a local HubSpot.

Signature vectors are computed with HubSpot's own `hubspot.utils.signature.Signature`; it signs
the URI it is given, so the URI-decoding cases hand it the URI as HubSpot decodes it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from hubspot.utils.signature import Signature

from app import create_app
from domain.hubspot_webhook import HubSpotEvent
from service import hubspot_intake
from service.wiring import Overrides, open_services
from tests.fakes.calcom_server import API_KEY as CALCOM_KEY
from tests.fakes.calcom_server import FakeCalcom, running_calcom
from tests.fakes.hubspot_server import TOKEN, FakeHubSpot, running_hubspot
from tests.helpers import (
    Clock,
    free_port,
    live_server,
    make_settings,
    unavailable,
    wait_for,
    wait_status,
)
from tests.integration.test_calcom import (
    half_hours,
    routing_with_event_types,
    scoring_that_books,
)

SECRET = "0a1b2c3d-client-secret"
PATH = "/webhooks/hubspot"
OWNERS = [
    {"id": str(1000 + n), "email": f"{name}@example.com"}
    for n, name in enumerate(["ana", "ben", "carla", "dan", "erin", "farah", "gus", "hana"], 1)
] + [{"id": "1009", "email": "ivan@example.com"}]


@pytest.fixture(scope="module")
def hubspot() -> Iterator[tuple[str, FakeHubSpot]]:
    with running_hubspot(owners=OWNERS) as served:
        yield served


def app_url(tmp_path: Path, hubspot_url: str, **settings: Any) -> Any:
    """A live app with HubSpot as the CRM and HUBSPOT_CLIENT_SECRET set."""
    return live_server(
        make_settings(
            tmp_path,
            HUBSPOT_ACCESS_TOKEN=TOKEN,
            HUBSPOT_API_URL=hubspot_url,
            HUBSPOT_CLIENT_SECRET=SECRET,
            **settings,
        )
    )


@pytest.fixture
def client(tmp_path: Path, hubspot: tuple[str, FakeHubSpot]) -> Iterator[httpx.Client]:
    with app_url(tmp_path, hubspot[0]) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def event(kind: str = "contact.creation", object_id: str = "1", **fields: Any) -> dict[str, Any]:
    """One HubSpot webhook event with fresh ids."""
    return {
        "eventId": uuid.uuid4().int % 10**9,
        "subscriptionId": 2_100_001,
        "portalId": 62515,
        "appId": 1_160_452,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": kind,
        "attemptNumber": 0,
        "objectId": int(object_id),
        "changeSource": "FORM",
        **fields,
    }


def conversion(object_id: str) -> dict[str, Any]:
    return event(
        "contact.propertyChange",
        object_id,
        propertyName="recent_conversion_event_name",
        propertyValue="Demo request",
    )


def v3_headers(
    body: str, uri: str, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers HubSpot sends for `body` posted to `uri` (as HubSpot signs it), v3."""
    ts = str(timestamp if timestamp is not None else int(time.time() * 1000))
    signature = Signature.get_signature(
        secret, body, "v3", http_uri=uri, http_method="POST", timestamp=ts
    )
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": ts,
    }


def uri(client: httpx.Client) -> str:
    """The webhook's URI as the client calls it."""
    return str(client.base_url).rstrip("/") + PATH


def deliver(client: httpx.Client, events: list[dict[str, Any]], **headers: str) -> httpx.Response:
    """POST the events as HubSpot does, signed v3 over the URI the client calls."""
    body = json.dumps(events)
    signed = v3_headers(body, uri(client))
    return client.post(PATH, content=body, headers={**signed, **headers})


def contact(fake: FakeHubSpot, **properties: Any) -> tuple[str, str]:
    """A contact at a known sample account in the local HubSpot: (id, email)."""
    email = f"lena.{uuid.uuid4().hex[:8]}@northwind-freight.de"
    values = {
        "firstname": "Lena",
        "lastname": "Brandt",
        "company": "Northwind Freight GmbH",
        "jobtitle": "VP Sales",
        "country": "Germany",
        "message": "Can we see a demo this week? Our contract ends this quarter.",
        **properties,
    }
    return fake.add_contact(email, **values), email


# Signatures


def test_without_a_client_secret_the_endpoint_is_closed(tmp_path: Path) -> None:
    """No HUBSPOT_CLIENT_SECRET: 503 problem "not configured", whatever the request."""
    with live_server(make_settings(tmp_path)) as url:
        resp = httpx.post(f"{url}{PATH}", json=[event()], timeout=10)
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "not configured" in resp.json()["detail"]


def test_a_v3_signature_from_hubspots_helper_is_accepted(
    client: httpx.Client, hubspot: tuple[str, FakeHubSpot]
) -> None:
    """The SDK's v3 vector over method + URI + body + timestamp is accepted."""
    contact_id, _ = contact(hubspot[1])
    resp = deliver(client, [event(object_id=contact_id)])
    assert resp.status_code == 200, resp.text
    assert resp.json()["received"] == 1


@pytest.mark.parametrize(
    ("query_sent", "query_signed"),
    [
        ("portal=62515%3Aprod&who=ops%40acme.de", "portal=62515:prod&who=ops@acme.de"),
        (
            "next=%2Fa%2Fb%3Fc&x=%21%24%27%28%29%2A%2C%3B",
            "next=/a/b?c&x=!$'()*,;",
        ),
        ("name=a%20b&eq=%3D&amp=%26&hash=%23", "name=a%20b&eq=%3D&amp=%26&hash=%23"),
    ],
    ids=["colon-at", "slash-question-and-the-rest", "others-stay-encoded"],
)
def test_the_uri_is_decoded_as_hubspot_decodes_it_before_signing(
    client: httpx.Client, query_sent: str, query_signed: str
) -> None:
    """HubSpot decodes its fixed set of escapes in the URI before signing, and no others."""
    body = json.dumps([event("contact.deletion")])
    headers = v3_headers(body, f"{uri(client)}?{query_signed}")
    resp = client.post(f"{PATH}?{query_sent}", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["ignored"] == 1


def test_behind_a_proxy_the_uri_is_rebuilt_from_forwarded_headers(client: httpx.Client) -> None:
    """Signed over https://leads.example.com/…, the request passes with X-Forwarded-* set and
    fails without them."""
    body = json.dumps([event("contact.deletion")])
    headers = v3_headers(body, f"https://leads.example.com{PATH}")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "leads.example.com"}
    assert client.post(PATH, content=body, headers={**headers, **forwarded}).status_code == 200
    resp = client.post(PATH, content=body, headers=headers)
    assert resp.status_code == 401
    assert "does not match" in resp.json()["detail"]


def test_a_stale_timestamp_is_refused(client: httpx.Client) -> None:
    """A correct signature over a timestamp six minutes old is 401."""
    body = json.dumps([event()])
    stale = int(time.time() * 1000) - 6 * 60 * 1000
    headers = v3_headers(body, uri(client), timestamp=stale)
    resp = client.post(PATH, content=body, headers=headers)
    assert resp.status_code == 401
    assert "5-minute window" in resp.json()["detail"]


@pytest.mark.parametrize("wrong", ["secret", "body", "missing"])
def test_a_bad_or_missing_signature_is_refused(client: httpx.Client, wrong: str) -> None:
    """Another secret, a changed body, or no signature: 401 problem."""
    body = json.dumps([event()])
    headers = v3_headers(body, uri(client), secret="other" if wrong == "secret" else SECRET)
    if wrong == "missing":
        del headers["X-HubSpot-Signature-v3"]
    sent = body.replace("contact.creation", "contact.deletion") if wrong == "body" else body
    resp = client.post(PATH, content=sent, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


def v2_headers(body: str, uri: str) -> dict[str, str]:
    signature = Signature.get_signature(SECRET, body, "v2", http_uri=uri, http_method="POST")
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature": signature,
        "X-HubSpot-Signature-Version": "v2",
    }


def test_v2_is_refused_unless_enabled(client: httpx.Client) -> None:
    """A good v2 signature alone is 401 by default."""
    body = json.dumps([event("contact.deletion")])
    resp = client.post(PATH, content=body, headers=v2_headers(body, uri(client)))
    assert resp.status_code == 401


def test_v2_is_accepted_when_enabled(tmp_path: Path, hubspot: tuple[str, FakeHubSpot]) -> None:
    """With HUBSPOT_SIGNATURE_V2=true a good v2 signature passes and a bad one does not."""
    with app_url(tmp_path, hubspot[0], HUBSPOT_SIGNATURE_V2=True) as url:
        body = json.dumps([event("contact.deletion")])
        good = v2_headers(body, f"{url}{PATH}")
        assert httpx.post(f"{url}{PATH}", content=body, headers=good).status_code == 200
        bad = {**good, "X-HubSpot-Signature": "0" * 64}
        assert httpx.post(f"{url}{PATH}", content=body, headers=bad).status_code == 401


def test_openapi_documents_the_batch_body(tmp_path: Path) -> None:
    """The schema shows the body as an array of events with their four ids required."""
    schema = create_app(make_settings(tmp_path)).openapi()
    body = schema["paths"][PATH]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "array"
    assert {"subscriptionId", "eventId", "objectId", "occurredAt"} <= set(body["items"]["required"])


# Batches


def test_a_batch_queues_creations_and_conversions_and_ignores_the_rest(
    client: httpx.Client, hubspot: tuple[str, FakeHubSpot]
) -> None:
    """Creation + conversion + another property change: 2 leads, 1 ignored, answered at once;
    each lead is built from its contact as read from HubSpot."""
    fake = hubspot[1]
    created_id, created_email = contact(fake)
    converted_id, converted_email = contact(fake, recent_conversion_event_name="Demo request")
    other = event("contact.propertyChange", created_id, propertyName="phone", propertyValue="1")
    resp = deliver(client, [event(object_id=created_id), conversion(converted_id), other])
    assert resp.status_code == 200
    answer = resp.json()
    assert answer["received"] == 3 and answer["duplicates"] == 0 and answer["ignored"] == 1
    assert len(answer["leads"]) == 2
    records = [wait_status(client, lead_id, {"completed", "failed"}) for lead_id in answer["leads"]]
    assert [r["email"] for r in records] == [created_email, converted_email]
    assert records[1]["payload"]["form_id"] == "Demo request"
    assert records[1]["payload"]["hubspot"]["contact_id"] == converted_id


def test_a_redelivered_batch_makes_no_second_lead(
    client: httpx.Client, hubspot: tuple[str, FakeHubSpot]
) -> None:
    """The same events again (and twice in one batch) are counted as duplicates: no new lead."""
    contact_id, email = contact(hubspot[1])
    events = [event(object_id=contact_id), conversion(contact_id)]
    first = deliver(client, events).json()
    for lead_id in first["leads"]:
        wait_status(client, lead_id, {"completed", "failed"})
    again = deliver(client, [*events, events[0]])
    assert again.status_code == 200
    assert again.json() == {"received": 3, "leads": [], "duplicates": 3, "ignored": 0}
    leads = client.get("/admin/leads", params={"limit": 200}).json()["leads"]
    assert sorted(lead["lead_id"] for lead in leads if lead["email"] == email) == sorted(
        first["leads"]
    )


def test_a_body_that_is_not_an_array_of_events_is_422(client: httpx.Client) -> None:
    """A JSON object, or an event without its ids, is 422 listing what is wrong."""
    body = json.dumps([{"subscriptionType": "contact.creation"}])
    resp = client.post(PATH, content=body, headers=v3_headers(body, uri(client)))
    assert resp.status_code == 422
    assert {e["field"] for e in resp.json()["errors"]} >= {"0.eventId", "0.objectId"}


# End to end


def test_a_hubspot_contact_ends_routed_owned_and_noted(
    client: httpx.Client, hubspot: tuple[str, FakeHubSpot]
) -> None:
    """Webhook → the worker reads the contact from HubSpot → the lead is routed, and the same
    contact ends owned by its rep and noted in HubSpot."""
    fake = hubspot[1]
    contact_id, email = contact(fake)
    [lead_id] = deliver(client, [event(object_id=contact_id)]).json()["leads"]
    record = wait_status(client, lead_id, {"completed", "failed"})
    assert record["status"] == "completed"
    routing = record["state"]["routing"]
    owner_id = next(o["id"] for o in OWNERS if o["email"] == routing["owner_email"])
    stored = fake.contact_by_email(email)
    assert stored is not None and stored["id"] == contact_id
    assert stored["properties"]["hubspot_owner_id"] == owner_id
    [note] = fake.notes_of(contact_id)
    assert f"Lead Router ref: {lead_id}:note" in note["properties"]["hs_note_body"]


async def test_a_contact_read_that_fails_is_retried_by_the_sweeper(
    tmp_path: Path, hubspot: tuple[str, FakeHubSpot]
) -> None:
    """HubSpot's daily limit on the contact read: no lead yet; when the timer is due the event
    is queued again and the lead is taken and routed."""
    url, fake = hubspot
    clock = Clock(datetime.now(UTC))
    settings = make_settings(
        tmp_path, HUBSPOT_ACCESS_TOKEN=TOKEN, HUBSPOT_API_URL=url, HUBSPOT_CLIENT_SECRET=SECRET
    )
    contact_id, email = contact(fake)
    async with open_services(settings, Overrides(clock=clock)) as services:
        await services.broker.startup()
        fake.rate_limit_next(policy="DAILY", operation="contacts.get")
        batch = await hubspot_intake.accept_events(
            services.store,
            services.store,
            services.enqueue_hubspot_event,
            [HubSpotEvent.model_validate(event(object_id=contact_id))],
            3600,
        )
        await services.broker.wait_all()  # type: ignore[attr-defined]
        [lead_id] = batch.leads
        assert await services.store.get_lead(lead_id) is None
        assert await services.fire_timers() == 0
        clock.now += timedelta(seconds=hubspot_intake.RETRY_FIRST_S + 1)
        assert await services.fire_timers() == 1
        await services.broker.wait_all()  # type: ignore[attr-defined]
        await services.broker.wait_all()  # type: ignore[attr-defined]
        record = await services.store.get_lead(lead_id)
        await services.broker.shutdown()
    assert record is not None and record.email == email
    assert record.status == "completed"


class QueueRedis:
    """A redis-server of the test's own for the queue, on a free port, stopped and started
    again by the test (nothing is persisted between runs)."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed", hint="install Redis")
        self.binary, self.folder, self.port = str(binary), folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, timeout=10)

    def answers(self) -> bool:
        try:
            with redis.Redis.from_url(self.url, socket_timeout=1) as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stream_length(self, name: str) -> int:
        with redis.Redis.from_url(self.url) as client:
            return int(client.xlen(name))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def test_an_event_the_queue_cannot_take_is_503_and_taken_as_new_on_retry(
    tmp_path: Path, hubspot: tuple[str, FakeHubSpot]
) -> None:
    """With the queue's Redis down the delivery is a 503 problem, so HubSpot retries; the
    event is not kept as seen, so the retry queues it as a lead, not as a duplicate."""
    contact_id, _ = contact(hubspot[1])
    events = [event(object_id=contact_id)]
    lead_id = hubspot_intake.event_lead_id(HubSpotEvent.model_validate(events[0]))
    queue = QueueRedis(tmp_path)
    queue.start()
    try:
        with (
            app_url(tmp_path, hubspot[0], QUEUE_URL=queue.url) as url,
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            queue.stop()
            down = deliver(client, events)
            queue.start()
            retried = deliver(client, events)
            queued = queue.stream_length("lead-router")
    finally:
        queue.stop()

    assert down.status_code == 503
    assert down.headers["content-type"].startswith("application/problem+json")
    assert "retry later" in down.json()["detail"] and down.json()["lead_id"] == lead_id
    assert retried.status_code == 200
    assert retried.json() == {"received": 1, "leads": [lead_id], "duplicates": 0, "ignored": 0}
    assert queued == 1


@pytest.fixture
def calcom() -> Iterator[tuple[str, FakeCalcom]]:
    """A local Cal.com offering the event types of `routing_with_event_types` every half hour."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with running_calcom() as (url, fake):
        for event_type in (701, 702):
            fake.add_event_type(event_type, half_hours(start, 21 * 48))
        yield url, fake


def test_a_hubspot_delivery_ends_owned_noted_and_booked_on_cal_com(
    tmp_path: Path, hubspot: tuple[str, FakeHubSpot], calcom: tuple[str, FakeCalcom]
) -> None:
    """End to end: a signed HubSpot delivery → the worker reads the contact → the lead is
    routed and booked → HubSpot has the contact owned, associated and noted, and Cal.com the
    meeting, whose link is in the lead's record."""
    hubspot_url, fake = hubspot
    calcom_url, cal = calcom
    contact_id, email = contact(fake)
    settings = {
        "CALCOM_API_KEY": CALCOM_KEY,
        "CALCOM_API_URL": calcom_url,
        "ROUTING_CONFIG": routing_with_event_types(tmp_path),
        "SCORING_CONFIG": scoring_that_books(tmp_path),
    }
    with (
        app_url(tmp_path, hubspot_url, **settings) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        [lead_id] = deliver(client, [conversion(contact_id)]).json()["leads"]
        record = wait_status(client, lead_id, {"completed", "failed"})

    state = record["state"]
    assert record["status"] == "completed" and state["routing"]["action"] == "book"
    owner_id = next(o["id"] for o in OWNERS if o["email"] == state["routing"]["owner_email"])
    stored = fake.contact_by_email(email)
    assert stored is not None and stored["properties"]["hubspot_owner_id"] == owner_id
    assert state["deliveries"]["crm.contact"]["id"] == contact_id
    [note] = fake.notes_of(contact_id)
    assert f"Lead Router ref: {lead_id}:note" in note["properties"]["hs_note_body"]
    [made] = cal.bookings_of(email)
    assert made["metadata"]["lead_id"] == lead_id
    assert state["booking"]["status"] == "confirmed"
    assert state["booking"]["link"] == made["location"]
