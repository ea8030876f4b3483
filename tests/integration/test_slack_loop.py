"""The Slack loop end to end: a routed lead DMs its owner with buttons, and signed clicks on
POST /slack/interactions accept, reassign or drop the lead and edit the original message.

The API runs live with the real `slack-sdk` notifier pointed at the local Slack Web API in
`tests/fakes/slack_server.py`; clicks are built and signed as Slack builds and signs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import yaml

from domain.config import load_routing
from service.settings import Settings
from tests.fakes.slack_server import TEAM_ID, FakeSlack, running_slack
from tests.helpers import ROOT, lead_payload, live_server, make_settings, wait_for, wait_status
from tools.crm_builtin import BuiltinCRM

TOKEN = "xoxb-loop-test-token"
SIGNING_SECRET = "3c1f0e9b7a2d44c8a6b5e1f0d9c8b7a6"
ADMIN_TOKEN = "loop-admin-token"
POOL = ("ana", "ben")
SHIPPED = load_routing(ROOT / "infra" / "routing.yaml")


def slack_id(rep_id: str) -> str:
    """The rep's Slack user id from the shipped routing.yaml."""
    found = SHIPPED.rep(rep_id).slack_id
    assert found, f"{rep_id} has no slack_id in routing.yaml"
    return found


SLACK_IDS = {rep_id: slack_id(rep_id) for rep_id in POOL}
NAMES = {rep_id: SHIPPED.rep(rep_id).name for rep_id in POOL}
_ACTION_TS = itertools.count(1)


@dataclass
class Loop:
    """The live API, the local Slack behind it and the settings the API runs with."""

    client: httpx.Client
    slack: FakeSlack
    settings: Settings


def routing_without_time_off(tmp_path: Path) -> Path:
    """The shipped routing.yaml without out-of-office days, so no test depends on the date."""
    data = yaml.safe_load((ROOT / "infra" / "routing.yaml").read_text(encoding="utf-8"))
    for rep in data["reps"]:
        rep.pop("out_of_office", None)
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    """One live API on a local Slack, shared by this module's tests (each uses its own lead)."""
    tmp = tmp_path_factory.mktemp("slack-loop")
    with running_slack(token=TOKEN) as (slack_url, slack):
        assert slack_url.endswith("/api/")
        settings = make_settings(
            tmp,
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_API_URL=slack_url,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_MIN_POST_INTERVAL_S=0,  # pacing has its own test in test_slack.py
            ROUTING_CONFIG=routing_without_time_off(tmp),
            ADMIN_TOKEN=ADMIN_TOKEN,
        )
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with (
            live_server(settings) as url,
            httpx.Client(base_url=url, timeout=10, headers=admin) as client,
        ):
            yield Loop(client, slack, settings)


def routed_lead(loop: Loop) -> dict[str, Any]:
    """Submit a hot EMEA enterprise lead and return its admin record once routed."""
    resp = loop.client.post("/webhooks/lead", json=lead_payload())
    assert resp.status_code == 202
    record = wait_status(loop.client, resp.json()["lead_id"], {"completed", "failed"})
    assert record["status"] == "completed", record["error"]
    assert record["owner"] in POOL
    return record


def lead(loop: Loop, lead_id: str) -> dict[str, Any]:
    """The lead's admin record: GET /admin/leads/{id}."""
    resp = loop.client.get(f"/admin/leads/{lead_id}")
    assert resp.status_code == 200
    return dict(resp.json())


def slack_message(slack: FakeSlack, receipt: dict[str, Any]) -> dict[str, Any]:
    """The message a delivery receipt points at, as the local Slack holds it now."""
    found = [m for m in slack.messages(receipt["channel"]) if m["ts"] == receipt["ts"]]
    assert len(found) == 1, receipt
    return found[0]


def buttons(message: dict[str, Any]) -> list[str]:
    """The action ids of the message's buttons."""
    return [
        element["action_id"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    ]


def all_text(message: dict[str, Any]) -> str:
    """Every text of the message's blocks, joined."""
    return json.dumps(message["blocks"], ensure_ascii=False)


def click_body(
    lead_id: str, action_id: str, receipt: dict[str, Any], user_id: str, action_ts: str
) -> bytes:
    """A form-encoded block_actions interaction, as Slack posts a button click."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0LEADRTR",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": receipt["ts"],
            "channel_id": receipt["channel"],
            "is_ephemeral": False,
        },
        "trigger_id": f"{action_ts}.trigger",
        "team": {"id": TEAM_ID, "domain": "lead-router-test"},
        "channel": {"id": receipt["channel"], "name": "directmessage"},
        "message": {"type": "message", "ts": receipt["ts"], "text": "New lead"},
        "response_url": f"https://hooks.slack.test/actions/{TEAM_ID}/{action_ts}",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": f"lead:{lead_id}",
                "value": lead_id,
                "text": {"type": "plain_text", "text": action_id},
                "action_ts": action_ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed_headers(
    body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    """The headers Slack sends: its v0 signature over `v0:{timestamp}:{body}`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def click(
    loop: Loop, record: dict[str, Any], action_id: str, **headers: str
) -> tuple[httpx.Response, bytes]:
    """The owner clicks `action_id` on the lead's message; returns the answer and the body."""
    body = click_body(
        record["lead_id"],
        action_id,
        record["deliveries"]["rep.message"],
        SLACK_IDS[record["owner"]],
        f"{int(time.time())}.{next(_ACTION_TS):06d}",
    )
    return deliver(loop, body, **headers), body


def deliver(loop: Loop, body: bytes, **headers: str) -> httpx.Response:
    """POST a signed interaction body to /slack/interactions."""
    return loop.client.post(
        "/slack/interactions", content=body, headers={**signed_headers(body), **headers}
    )


def routing_when(loop: Loop, lead_id: str, done: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Poll the lead until `done(routing)` holds and its index row has caught up with the
    decision (the row is updated once the graph step is checkpointed); return its record."""

    def check() -> dict[str, Any] | None:
        record = lead(loop, lead_id)
        routing = record["state"]["routing"]
        caught_up = record["action"] == routing.get("action") and record["owner"] == (
            routing.get("owner") or routing.get("queue") or ""
        )
        return record if done(routing) and caught_up else None

    return dict(wait_for(check, timeout=20))


def crm_contact(settings: Settings, email: str) -> dict[str, Any] | None:
    """The contact as the built-in CRM file holds it."""

    async def read() -> dict[str, Any] | None:
        crm = BuiltinCRM(settings.crm_path)
        await crm.open()
        try:
            return await crm.find_contact(email)
        finally:
            await crm.close()

    return asyncio.run(read())


def test_a_hot_lead_dms_its_owner_with_buttons_and_reasons(loop: Loop) -> None:
    """The owner (ana or ben) gets a DM by Slack id with the score reasons and three buttons."""
    record = routed_lead(loop)
    receipt = record["deliveries"]["rep.message"]

    assert receipt["provider"] == "slack"
    assert receipt["channel"] == loop.slack.dm_channel(SLACK_IDS[record["owner"]])
    message = slack_message(loop.slack, receipt)
    assert buttons(message) == ["accept", "reassign", "not_a_fit"]
    actions = next(block for block in message["blocks"] if block["type"] == "actions")
    assert actions["block_id"] == f"lead:{record['lead_id']}"
    assert {element["value"] for element in actions["elements"]} == {record["lead_id"]}
    text = all_text(message)
    assert "Why this score" in text and "Northwind Freight" in text
    contributions = record["state"]["score"]["contributions"]
    strongest = max(contributions, key=lambda c: abs(c["points"]))
    assert strongest["reason"] in text


def test_accept_confirms_the_owner_and_edits_the_message(loop: Loop) -> None:
    """A signed Accept answers 200 at once; the lead is accepted, the CRM owner confirmed and
    the DM edited with chat.update to show who accepted, without buttons."""
    record = routed_lead(loop)
    lead_id, owner = record["lead_id"], record["owner"]
    updates_before = loop.slack.count("chat.update")

    resp, _ = click(loop, record, "accept")

    assert resp.status_code == 200 and resp.json() == {"ok": True}
    assert resp.elapsed < timedelta(seconds=3)
    after = routing_when(loop, lead_id, lambda routing: routing.get("accepted"))
    routing = after["state"]["routing"]
    assert routing["owner"] == owner
    assert routing["accepted"]["by"] == f"<@{SLACK_IDS[owner]}>"
    assert [event["event"] for event in routing["log"]] == ["accept"]
    assert after["deliveries"]["crm.owner.confirmed"]["owner"] == f"{owner}@example.com"
    contact = crm_contact(loop.settings, record["email"])
    assert contact and contact["owner_email"] == f"{owner}@example.com"
    assert loop.slack.count("chat.update") == updates_before + 1
    message = slack_message(loop.slack, record["deliveries"]["rep.message"])
    assert "edited" in message and buttons(message) == []
    assert "Accepted by" in all_text(message)


def test_reassign_moves_the_lead_to_the_other_pool_rep(loop: Loop) -> None:
    """Reassign gives the lead to the other pool rep, DMs them, closes the first message, and
    the decision log shows from, to and the round-robin sequence."""
    record = routed_lead(loop)
    lead_id, owner = record["lead_id"], record["owner"]
    other = next(rep for rep in POOL if rep != owner)
    first_sequence = record["state"]["routing"]["round_robin"]["sequence"]

    resp, _ = click(loop, record, "reassign")

    assert resp.status_code == 200
    after = routing_when(loop, lead_id, lambda routing: routing.get("hops") == 1)
    routing = after["state"]["routing"]
    assert (routing["owner"], routing["method"]) == (other, "reassigned")
    assert after["owner"] == other
    [event] = routing["log"]
    assert event["event"] == "reassign" and event["by"] == f"<@{SLACK_IDS[owner]}>"
    assert (event["from"], event["to"]) == (owner, other)
    assert event["round_robin"]["pool"] == "emea-enterprise"
    assert event["round_robin"]["sequence"] > first_sequence
    new_receipt = after["deliveries"]["rep.message"]
    assert new_receipt["channel"] == loop.slack.dm_channel(SLACK_IDS[other])
    assert buttons(slack_message(loop.slack, new_receipt)) == ["accept", "reassign", "not_a_fit"]
    first = slack_message(loop.slack, record["deliveries"]["rep.message"])
    assert "edited" in first and buttons(first) == []
    assert f"Reassigned to {NAMES[other]}" in all_text(first)


def test_not_a_fit_disqualifies_with_the_reason(loop: Loop) -> None:
    """Not a fit disqualifies the lead, records who and why, and closes the message."""
    record = routed_lead(loop)
    lead_id, owner = record["lead_id"], record["owner"]

    resp, _ = click(loop, record, "not_a_fit")

    assert resp.status_code == 200
    after = routing_when(loop, lead_id, lambda routing: routing.get("action") == "disqualify")
    routing = after["state"]["routing"]
    assert routing["disqualified"]["reason"] == "not a fit"
    assert routing["disqualified"]["by"] == f"<@{SLACK_IDS[owner]}>"
    assert routing["previous_action"] == record["state"]["routing"]["action"]
    assert after["action"] == "disqualify"
    message = slack_message(loop.slack, record["deliveries"]["rep.message"])
    assert buttons(message) == [] and "Not a fit" in all_text(message)


FAKE_RECEIPT = {"channel": "D0NOWHERE", "ts": "1700000000.000001"}


def test_a_bad_signature_is_401(loop: Loop) -> None:
    """A click signed with another secret is refused with 401 and the reason."""
    body = click_body(str(uuid.uuid4()), "accept", FAKE_RECEIPT, "U012ANA", "1.1")
    headers = signed_headers(body, secret="not-the-signing-secret")

    resp = loop.client.post("/slack/interactions", content=body, headers=headers)

    assert resp.status_code == 401
    assert "signature mismatch" in resp.json()["detail"]


def test_a_stale_timestamp_is_401(loop: Loop) -> None:
    """A correctly signed click from more than five minutes ago is refused with 401."""
    body = click_body(str(uuid.uuid4()), "accept", FAKE_RECEIPT, "U012ANA", "1.2")
    headers = signed_headers(body, timestamp=int(time.time()) - 6 * 60)

    resp = loop.client.post("/slack/interactions", content=body, headers=headers)

    assert resp.status_code == 401
    assert "outside the 300 s window" in resp.json()["detail"]


def test_a_retried_delivery_is_acknowledged_and_ignored(loop: Loop) -> None:
    """Slack's retry of a click (X-Slack-Retry-Num) gets 200 without a second action."""
    record = routed_lead(loop)
    resp, body = click(loop, record, "reassign")
    assert resp.status_code == 200

    retry = deliver(loop, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})

    assert retry.status_code == 200
    assert retry.json() == {"ok": True, "ignored": "retried delivery"}
    after = routing_when(loop, record["lead_id"], lambda routing: routing.get("hops") == 1)
    assert [event["event"] for event in after["state"]["routing"]["log"]] == ["reassign"]


def test_the_same_click_delivered_twice_applies_once(loop: Loop) -> None:
    """A click delivered twice (same action_ts) acts once: one hop, one new DM."""
    record = routed_lead(loop)
    posts_before = loop.slack.count("chat.postMessage")
    resp, body = click(loop, record, "reassign")
    assert resp.status_code == 200

    again = deliver(loop, body)

    assert again.status_code == 200
    assert again.json() == {"ok": True, "ignored": "duplicate click"}
    after = routing_when(loop, record["lead_id"], lambda routing: routing.get("hops") == 1)
    routing = after["state"]["routing"]
    assert [event["event"] for event in routing["log"]] == ["reassign"]
    assert routing["log"][0]["result"] == "reassigned"
    assert loop.slack.count("chat.postMessage") == posts_before + 1


def test_a_click_by_someone_else_is_ignored(loop: Loop) -> None:
    """A rep who neither owns the lead nor manages its team cannot act on it."""
    record = routed_lead(loop)
    outsider = next(rid for rid in SLACK_IDS if rid not in {record["owner"], "carla"})
    body = click_body(
        record["lead_id"],
        "not_a_fit",
        record["deliveries"]["rep.message"],
        SLACK_IDS[outsider],
        f"{int(time.time())}.{next(_ACTION_TS):06d}",
    )
    resp = deliver(loop, body)
    assert resp.status_code == 200
    assert "only the owner" in resp.json()["ignored"]
    assert lead(loop, record["lead_id"])["state"]["routing"]["action"] != "disqualify"


def test_two_reassign_clicks_on_one_hop_move_the_lead_once(loop: Loop) -> None:
    """Two separate Reassign clicks made on the same message hop the lead once."""
    record = routed_lead(loop)
    first, _ = click(loop, record, "reassign")
    second, _ = click(loop, record, "reassign")
    assert first.status_code == second.status_code == 200
    after = routing_when(loop, record["lead_id"], lambda routing: routing.get("hops") == 1)
    assert [event["event"] for event in after["state"]["routing"]["log"]] == ["reassign"]


def test_health_names_the_slack_notifier(loop: Loop) -> None:
    """With SLACK_BOT_TOKEN, /health names SlackNotifier and its auth.test probe answers."""
    resp = loop.client.get("/health")
    assert resp.status_code == 200
    assert resp.json()["checks"]["notifier"] == {"backend": "SlackNotifier", "ok": True}
