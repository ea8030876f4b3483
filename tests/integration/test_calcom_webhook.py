"""`POST /webhooks/calcom` against a live server: the door's answers and a reschedule applied
through the queue on embedded defaults; then leads booked on a local Cal.com with their owner
told in a local Slack (the real `slack-sdk`), whose later cancellation or move finds the lead by
the booking's uid, edits the rep's message with `chat.update`, notes the CRM and tells the
owner."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.calcom import CalcomWebhook, as_change
from service import bookings
from service.settings import Settings
from service.wiring import Overrides, Services, open_services
from tests.fakes.calcom_server import API_KEY, FakeCalcom, running_calcom
from tests.fakes.slack_server import FakeSlack, running_slack
from tests.helpers import (
    Clock,
    lead_payload,
    lead_state,
    live_server,
    make_settings,
    submit,
    submit_and_run,
    wait_for,
    wait_status,
)
from tests.integration.test_calcom import half_hours, routing_with_event_types, scoring_that_books
from tests.integration.test_replies import routed_lead
from tests.integration.test_slack_loop import all_text, buttons, slack_message
from tools.crm_builtin import BuiltinCRM

SECRET = "cal-s3cret"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path, CALCOM_WEBHOOK_SECRET=SECRET)
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def delivery(lead_id: str | None, trigger: str = "BOOKING_RESCHEDULED", **extra: Any) -> bytes:
    """A Cal.com delivery as `sendPayload` posts it, for the lead's meeting (ours when a lead
    is named)."""
    metadata = {"lead_id": lead_id, "lead_router_key": f"{lead_id}:meeting"} if lead_id else {}
    body = {
        "triggerEvent": trigger,
        "createdAt": "2026-06-01T08:00:00.000Z",
        "payload": {
            "uid": f"uid-{uuid.uuid4().hex[:12]}",
            "startTime": "2026-06-02T08:00:00Z",
            "endTime": "2026-06-02T08:30:00Z",
            "metadata": metadata,
            "attendees": [{"name": "Lena Brandt", "email": "lena@northwind-freight.de"}],
            "organizer": {"name": "Ben", "timeZone": "Europe/Berlin"},
            "videoCallData": {"url": "https://cal.example/video/1"},
            **extra,
        },
    }
    return json.dumps(body).encode()


def post(client: httpx.Client, body: bytes, secret: str = SECRET) -> httpx.Response:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Cal-Signature-256": signature}
    return client.post("/webhooks/calcom", content=body, headers=headers)


def test_without_a_secret_the_endpoint_is_not_configured(tmp_path: Path) -> None:
    """No CALCOM_WEBHOOK_SECRET: 503 problem, whatever the signature."""
    with live_server(make_settings(tmp_path)) as url, httpx.Client(base_url=url) as c:
        resp = post(c, delivery(str(uuid.uuid4())))
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "not configured" in resp.json()["detail"]


@pytest.mark.parametrize("secret", ["wrong-secret", ""], ids=["wrong", "missing"])
def test_a_bad_signature_is_401(client: httpx.Client, secret: str) -> None:
    """Signed with another secret, or not signed: 401 problem."""
    body = delivery(str(uuid.uuid4()))
    if secret:
        resp = post(client, body, secret)
    else:
        resp = client.post(
            "/webhooks/calcom", content=body, headers={"Content-Type": "application/json"}
        )
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_an_unknown_lead_is_404(client: httpx.Client) -> None:
    resp = post(client, delivery(str(uuid.uuid4())))
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_a_booking_without_our_metadata_is_ignored(client: httpx.Client) -> None:
    resp = post(client, delivery(None))
    assert resp.status_code == 200 and resp.json()["status"] == "ignored"


def history(client: httpx.Client, lead_id: str) -> list[dict[str, Any]]:
    state = client.get(f"/admin/leads/{lead_id}").json()["state"]
    return list((state.get("booking") or {}).get("history") or [])


def test_a_reschedule_is_applied_through_the_queue_and_a_redelivery_changes_nothing(
    client: httpx.Client,
) -> None:
    """Queued (202), then in the lead's meeting and history; the same delivery again is a 200
    duplicate and the history keeps one entry."""
    lead_id = routed_lead(client)["lead_id"]
    body = delivery(lead_id)

    first = post(client, body)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    [entry] = wait_for(lambda: history(client, lead_id), timeout=30)
    assert entry["trigger"] == "BOOKING_RESCHEDULED"
    assert entry["text"].startswith("Lena Brandt moved the meeting to ")
    state = client.get(f"/admin/leads/{lead_id}").json()["state"]
    assert state["booking"]["status"] == "rescheduled"
    assert state["booking"]["start"] == "2026-06-02T08:00:00Z"

    again = post(client, body)
    assert again.status_code == 200
    assert again.json() == {
        "lead_id": lead_id,
        "key": f"BOOKING_RESCHEDULED:{json.loads(body)['payload']['uid']}",
        "status": "duplicate",
        "duplicate": True,
    }
    assert history(client, lead_id) == [entry]


def test_a_reschedule_without_metadata_finds_the_lead_of_the_booking_it_replaces(
    client: httpx.Client,
) -> None:
    """The booking Cal.com creates on a reschedule may lack our metadata: its rescheduleUid
    names the booking taken earlier for the lead."""
    lead_id = routed_lead(client)["lead_id"]
    created = delivery(lead_id, "BOOKING_CREATED")
    assert post(client, created).status_code == 202
    wait_for(lambda: history(client, lead_id))
    original = json.loads(created)["payload"]["uid"]

    moved = post(client, delivery(None, rescheduleUid=original))

    assert moved.status_code == 202 and moved.json()["lead_id"] == lead_id
    entries = wait_for(lambda: len(history(client, lead_id)) == 2 and history(client, lead_id))
    assert [e["trigger"] for e in entries] == ["BOOKING_CREATED", "BOOKING_RESCHEDULED"]


async def test_a_deferred_meeting_change_is_queued_again_and_nothing_else(tmp_path: Path) -> None:
    """The sweeper hands a deferred change back to the booking task, never to the SLA check."""
    async with open_services(make_settings(tmp_path)) as services:
        change = {"trigger": "BOOKING_CANCELLED", "uid": "bk-1", "payload": {}}
        await services.context.timers.add_timer(
            "booking:unknown-lead:bk-1",
            0,
            {"task": "booking", "lead_id": "unknown-lead", "change": change},
        )
        assert await services.fire_timers() == 1
        assert await services.fire_timers() == 0


# Meetings the router booked on Cal.com, with the owner told in Slack

SLACK_TOKEN = "xoxb-calcom-test-token"


@dataclass
class Booked:
    """The live API on a local Cal.com and a local Slack, and the settings it runs with."""

    client: httpx.Client
    calcom: FakeCalcom
    slack: FakeSlack
    settings: Settings


@pytest.fixture(scope="module")
def booked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booked]:
    """One live API that books hot leads on Cal.com and DMs their owner in Slack, shared by
    the tests below (each uses its own lead)."""
    tmp = tmp_path_factory.mktemp("calcom-slack")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with (
        running_calcom() as (calcom_url, calcom),
        running_slack(token=SLACK_TOKEN) as (slack_url, slack),
    ):
        for event_type in (701, 702):
            calcom.add_event_type(event_type, half_hours(start, 21 * 48))
        settings = make_settings(
            tmp,
            CALCOM_API_KEY=API_KEY,
            CALCOM_API_URL=calcom_url,
            CALCOM_WEBHOOK_SECRET=SECRET,
            SLACK_BOT_TOKEN=SLACK_TOKEN,
            SLACK_API_URL=slack_url,
            SLACK_MIN_POST_INTERVAL_S=0,
            ROUTING_CONFIG=routing_with_event_types(tmp),
            SCORING_CONFIG=scoring_that_books(tmp),
        )
        with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as client:
            yield Booked(client, calcom, slack, settings)


def booked_lead(booked: Booked) -> dict[str, Any]:
    """A hot lead routed, booked on Cal.com and its owner DMed: its admin record."""
    lead_id = booked.client.post("/webhooks/lead", json=lead_payload()).json()["lead_id"]
    record = wait_status(booked.client, lead_id, {"completed", "failed"})
    assert record["status"] == "completed", record["error"]
    assert record["state"]["booking"]["status"] == "confirmed"
    assert "*Meeting booked:*" in all_text(slack_message(booked.slack, rep_receipt(record)))
    return record


def rep_receipt(record: dict[str, Any]) -> dict[str, Any]:
    receipt = record["deliveries"]["rep.message"]
    assert receipt["provider"] == "slack"
    return dict(receipt)


def without_metadata(uid: str, trigger: str, start: str, **extra: Any) -> bytes:
    """Cal.com's report on the booking `uid` as it may come: without the router's metadata."""
    end = (datetime.fromisoformat(start) + timedelta(minutes=30)).isoformat()
    return delivery(None, trigger, uid=uid, startTime=start, endTime=end, **extra)


def crm_notes(settings: Settings, email: str) -> list[str]:
    """The bodies of the contact's notes in the built-in CRM file."""

    async def read() -> list[str]:
        crm = BuiltinCRM(settings.crm_path)
        await crm.open()
        try:
            contact = await crm.find_contact(email)
            assert contact is not None
            return [note["body"] for note in await crm.list_notes(str(contact["id"]))]
        finally:
            await crm.close()

    return asyncio.run(read())


def test_a_cancellation_without_metadata_finds_the_lead_the_router_booked(
    booked: Booked,
) -> None:
    """The book step records the booking's uid for its lead, so Cal.com's BOOKING_CANCELLED
    without `metadata.lead_id` (and with no earlier delivery) is applied to that lead."""
    record = booked_lead(booked)
    lead_id, meeting = record["lead_id"], record["state"]["booking"]

    resp = post(
        booked.client,
        without_metadata(meeting["booking_id"], "BOOKING_CANCELLED", meeting["start"]),
    )

    assert resp.status_code == 202 and resp.json()["lead_id"] == lead_id
    [entry] = wait_for(lambda: history(booked.client, lead_id))
    assert (entry["trigger"], entry["uid"]) == ("BOOKING_CANCELLED", meeting["booking_id"])
    state = booked.client.get(f"/admin/leads/{lead_id}").json()["state"]
    assert state["booking"]["status"] == "cancelled"


def test_a_cancellation_closes_the_meeting_in_the_reps_slack_message(booked: Booked) -> None:
    """chat.update strikes the meeting in the DM the owner got, which keeps its buttons and
    says what happened; the owner is told in a new message and the CRM contact noted."""
    record = booked_lead(booked)
    lead_id, meeting = record["lead_id"], record["state"]["booking"]
    receipt = rep_receipt(record)
    updates = booked.slack.count("chat.update")

    post(
        booked.client,
        without_metadata(meeting["booking_id"], "BOOKING_CANCELLED", meeting["start"]),
    )
    [entry] = wait_for(lambda: history(booked.client, lead_id))

    assert booked.slack.count("chat.update") == updates + 1
    message = slack_message(booked.slack, receipt)
    text = all_text(message)
    assert "edited" in message
    assert re.search(r"\*Meeting cancelled:\* ~\w{3} \d+ \w{3}, \d\d:\d\d–\d\d:\d\d \S+~", text)
    assert "Meeting booked" not in text
    assert entry["text"].startswith("Lena Brandt cancelled the meeting of ")
    assert entry["text"] in text and message["text"].endswith(entry["text"])
    assert buttons(message) == ["accept", "reassign", "not_a_fit"]
    told = [m for m in booked.slack.messages(receipt["channel"]) if m["text"] == entry["text"]]
    assert len(told) == 1 and told[0]["ts"] != receipt["ts"]
    assert f"Cal.com: {entry['text']}." in crm_notes(booked.settings, record["email"])


def test_a_reschedule_shows_the_new_time_in_the_reps_slack_message(booked: Booked) -> None:
    """Cal.com's new booking replaces the router's (its rescheduleUid): the DM shows the new
    time and link instead of the old one."""
    record = booked_lead(booked)
    lead_id, meeting = record["lead_id"], record["state"]["booking"]
    moved_to = (datetime.fromisoformat(meeting["start"]) + timedelta(days=1)).isoformat()

    resp = post(
        booked.client,
        without_metadata(
            f"uid-{uuid.uuid4().hex[:12]}",
            "BOOKING_RESCHEDULED",
            moved_to,
            rescheduleUid=meeting["booking_id"],
        ),
    )
    assert resp.status_code == 202 and resp.json()["lead_id"] == lead_id
    [entry] = wait_for(lambda: history(booked.client, lead_id))

    text = all_text(slack_message(booked.slack, rep_receipt(record)))
    assert (
        "*Meeting moved to:* " in text
        and "— <https://cal.example/video/1|open the booking>" in text
    )
    assert meeting["start"] not in text
    assert entry["text"].startswith("Lena Brandt moved the meeting to ")


# A change that finds its lead busy


async def outbox_keys(services: Services, lead_id: str) -> list[str]:
    assert services.outbox is not None
    return [m["key"] for m in await services.outbox.list(lead_id=lead_id)]


@pytest.mark.parametrize("busy", ["lease held", "not yet routed"])
async def test_a_change_for_a_busy_lead_waits_on_a_timer_and_is_applied_once(
    tmp_path: Path, busy: str
) -> None:
    """Taken at the door while another worker holds the lead's lease, or before the lead is
    routed: the queued change is deferred to a timer (not applied, backing off while the lead
    stays busy) and applied once when the sweeper fires it after; nothing applies it again."""
    clock = Clock(datetime.now(UTC))
    settings = make_settings(tmp_path, CALCOM_WEBHOOK_SECRET=SECRET)
    async with open_services(settings, Overrides(clock=clock)) as services:
        await services.broker.startup()
        store, lease = services.store, "another-worker"
        if busy == "lease held":
            lead_id = (await submit_and_run(services, lead_payload()))["lead_id"]
            assert await store.acquire_lease(f"lead:{lead_id}", lease, 60_000)
        else:
            lead_id = await submit(services, lead_payload())
        event = CalcomWebhook.model_validate_json(delivery(lead_id))
        key = f"{lead_id}:calcom.BOOKING_RESCHEDULED.{event.payload.uid}"

        taken = await bookings.take_booking(store, store, services.enqueue_booking, event)
        await services.broker.wait_all()  # type: ignore[attr-defined]

        assert taken.status == "queued"
        assert not (await lead_state(services, lead_id)).get("booking", {}).get("history")
        assert await services.fire_timers() == 0  # the first try waits ten seconds
        clock.now += timedelta(seconds=11)
        assert await services.fire_timers() == 1  # still busy: deferred again, for longer
        await services.broker.wait_all()  # type: ignore[attr-defined]
        clock.now += timedelta(seconds=11)
        assert await services.fire_timers() == 0
        if busy == "lease held":
            assert await store.release_lease(f"lead:{lead_id}", lease)
        else:
            assert await services.runner.process(lead_id) == "completed"
        assert key not in await outbox_keys(services, lead_id)

        clock.now += timedelta(seconds=10)
        assert await services.fire_timers() == 1
        await services.broker.wait_all()  # type: ignore[attr-defined]
        clock.now += timedelta(minutes=10)
        assert await services.fire_timers() == 0
        again = await bookings.take_booking(store, store, services.enqueue_booking, event)
        replayed = await services.apply_booking(lead_id, dict(as_change(event)))
        state = await lead_state(services, lead_id)
        told = (await outbox_keys(services, lead_id)).count(key)
        await services.broker.shutdown()

    [entry] = state["booking"]["history"]
    assert (entry["trigger"], entry["uid"]) == ("BOOKING_RESCHEDULED", event.payload.uid)
    assert state["booking"]["status"] == "rescheduled" and told == 1
    assert again.status == "duplicate" and replayed["result"] == "duplicate"
