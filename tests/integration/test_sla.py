"""SLA: a lead not accepted within its team's SLA moves to the next rep and the manager is told,
through timers on the queue; hops are bounded. Plus the admin action endpoint (outbox mode)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from domain.rep_decisions import MAX_HOPS
from service.records import decision_record
from service.wiring import Overrides, Services, open_services
from tests.helpers import (
    ROOT,
    Clock,
    lead_payload,
    lead_state,
    live_server,
    make_settings,
    submit,
    wait_status,
)

# A Monday, 10:00 in Lisbon (ana) and 11:00 in Berlin (ben); the EMEA SLA is 15 minutes.
MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def set_clock(services: Services, at: datetime) -> None:
    """Move the clock the graph, the actions and the timers read to `at`."""
    clock = services.context.clock
    assert isinstance(clock, Clock), "open the services with Overrides(clock=Clock(...))"
    clock.now = at


async def routing_of(services: Services, lead_id: str) -> dict[str, Any]:
    """The lead's routing decision as its graph state holds it."""
    return dict((await lead_state(services, lead_id))["routing"])


async def messages(services: Services, lead_id: str) -> dict[str, dict[str, Any]]:
    """The lead's outbox messages by key, without the lead id prefix."""
    assert services.outbox is not None
    stored = await services.outbox.list(lead_id=lead_id)
    return {m["key"].removeprefix(f"{lead_id}:"): m for m in stored}


async def fire_due(services: Services, at: datetime) -> int:
    """Fire the timers due at `at` and let the queued actions finish; how many fired."""
    set_clock(services, at)
    fired = await services.fire_timers()
    await services.broker.wait_all()  # type: ignore[attr-defined]
    return fired


def block_types(message: dict[str, Any]) -> list[str]:
    return [block["type"] for block in message["blocks"]]


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    """Services on embedded defaults (outbox notifier, in-memory queue) at MONDAY."""
    async with open_services(make_settings(tmp_path), Overrides(clock=Clock(MONDAY))) as opened:
        await opened.broker.startup()
        yield opened
        await opened.broker.shutdown()


async def routed_lead(services: Services) -> str:
    """An EMEA enterprise lead routed to the team's pool, not yet accepted."""
    lead_id = await submit(services, lead_payload())
    assert await services.runner.process(lead_id) == "completed"
    routing = await routing_of(services, lead_id)
    assert routing["team"] == "emea-enterprise" and routing["hops"] == 0
    return lead_id


async def test_a_lead_is_not_moved_before_its_deadline(services: Services) -> None:
    """Fourteen minutes in, no timer is due and the lead stays with its first owner."""
    lead_id = await routed_lead(services)
    routing = await routing_of(services, lead_id)
    assert routing["sla_deadline"] == (MONDAY + timedelta(minutes=15)).isoformat()

    assert await fire_due(services, MONDAY + timedelta(minutes=14)) == 0

    assert await routing_of(services, lead_id) == routing


async def test_an_unaccepted_lead_moves_to_the_next_rep_and_the_manager_is_told(
    services: Services,
) -> None:
    """Past the SLA the lead is reassigned by "sla" to the other pool rep, who gets the message,
    Carla (the manager) is told, the first message is closed and the log records the hop."""
    lead_id = await routed_lead(services)
    first = await routing_of(services, lead_id)
    other = next(rep for rep in ("ana", "ben") if rep != first["owner"])
    at = MONDAY + timedelta(minutes=16)

    assert await fire_due(services, at) == 1

    routing = await routing_of(services, lead_id)
    assert (routing["owner"], routing["hops"], routing["method"]) == (other, 1, "reassigned")
    assert routing["owner_email"] == f"{other}@example.com"
    assert routing["previous_owner"] == first["owner"]
    assert routing["previous_owner_email"] == first["owner_email"]
    [hop] = routing["log"]
    assert hop["event"] == "reassign" and hop["by"] == "sla"
    assert (hop["from"], hop["to"], hop["hop"]) == (first["owner"], other, 0)
    assert hop["reason"] == "not accepted within the SLA"
    assert hop["at"] == at.isoformat()
    assert hop["round_robin"] == {
        "pool": "emea-enterprise",
        "sequence": first["round_robin"]["sequence"] + 1,
    }
    assert hop["skipped"] == [{"rep": first["owner"], "reason": "already had this lead"}]
    assert datetime.fromisoformat(routing["sla_deadline"]) > at

    sent = await messages(services, lead_id)
    assert set(sent) == {"rep", "rep:hop1", "manager:hop1"}
    assert sent["rep:hop1"]["recipient"] == other and "actions" in block_types(sent["rep:hop1"])
    assert "actions" not in block_types(sent["rep"])
    manager = sent["manager:hop1"]
    assert (manager["recipient"], manager["channel"]) == ("carla", "U012CAR")
    assert f"not accepted in time by {first['owner']}" in manager["text"]
    record = await services.store.get_lead(lead_id)
    assert record and record.owner == other


async def test_firing_again_when_nothing_is_due_does_nothing(services: Services) -> None:
    """After the hop, firing at the same moment finds no timer and changes nothing."""
    lead_id = await routed_lead(services)
    at = MONDAY + timedelta(minutes=16)
    assert await fire_due(services, at) == 1
    routing = await routing_of(services, lead_id)
    sent = await messages(services, lead_id)

    assert await fire_due(services, at) == 0

    assert await routing_of(services, lead_id) == routing
    assert await messages(services, lead_id) == sent


async def test_an_accepted_lead_stays_when_its_timer_fires(services: Services) -> None:
    """A lead accepted within the SLA keeps its owner when the timer fires; nobody is told."""
    lead_id = await routed_lead(services)
    owner = (await routing_of(services, lead_id))["owner"]
    assert (await services.decide(lead_id, "accept", actor=owner))["result"] == "accepted"
    accepted = await routing_of(services, lead_id)

    assert await fire_due(services, MONDAY + timedelta(minutes=16)) == 1

    assert await routing_of(services, lead_id) == accepted
    assert accepted["owner"] == owner and accepted["accepted"]["by"] == owner
    assert [event["event"] for event in accepted["log"]] == ["accept"]
    assert set(await messages(services, lead_id)) == {"rep"}


async def test_a_timer_from_an_earlier_owner_is_stale(services: Services) -> None:
    """After a rep passes the lead on, the first owner's timer fires and changes nothing."""
    lead_id = await routed_lead(services)
    owner = (await routing_of(services, lead_id))["owner"]
    set_clock(services, MONDAY + timedelta(minutes=5))
    moved = await services.decide(lead_id, "reassign", actor=owner)
    assert moved["result"] == "reassigned"
    routing = await routing_of(services, lead_id)

    assert await fire_due(services, MONDAY + timedelta(minutes=16)) == 1

    assert await routing_of(services, lead_id) == routing
    assert "manager:hop1" not in await messages(services, lead_id)


async def test_a_lead_routed_on_friday_evening_is_due_on_monday(services: Services) -> None:
    """The SLA counts working time: a lead at 17:55 on Friday is not moved over the weekend."""
    friday_evening = datetime(2026, 3, 6, 17, 55, tzinfo=UTC)
    set_clock(services, friday_evening)
    lead_id = await routed_lead(services)
    owner = (await routing_of(services, lead_id))["owner"]

    assert await fire_due(services, datetime(2026, 3, 8, 23, 0, tzinfo=UTC)) == 0
    assert (await routing_of(services, lead_id))["owner"] == owner

    assert await fire_due(services, datetime(2026, 3, 9, 10, 0, tzinfo=UTC)) == 1
    assert (await routing_of(services, lead_id))["owner"] != owner


def routing_with_a_big_pool(tmp_path: Path) -> tuple[Path, list[str]]:
    """The shipped routing.yaml with an EMEA enterprise pool one rep larger than the hops."""
    data = yaml.safe_load((ROOT / "infra" / "routing.yaml").read_text(encoding="utf-8"))
    pool = ["ana", "ben", "dan", "erin", "gus"][: MAX_HOPS + 2]
    assert len(pool) == MAX_HOPS + 2, "add reps to the pool to cover MAX_HOPS"
    for team in data["teams"]:
        if team["id"] == "emea-enterprise":
            team["pool"] = pool
    path = tmp_path / "routing-big-pool.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path, pool


async def test_hops_stop_at_max_hops_with_an_escalation(tmp_path: Path) -> None:
    """Missed SLAs move the lead MAX_HOPS times; the next miss escalates to the manager and
    leaves the owner in place, and no further timer is set."""
    path, pool = routing_with_a_big_pool(tmp_path)
    # Compaction's timer falls due long after the last check below: only SLA timers count.
    settings = make_settings(tmp_path, ROUTING_CONFIG=path, CHECKPOINT_RETENTION_HOURS=8760)
    async with open_services(settings, Overrides(clock=Clock(MONDAY))) as services:
        await services.broker.startup()
        lead_id = await routed_lead(services)
        owners = [(await routing_of(services, lead_id))["owner"]]

        for hop in range(1, MAX_HOPS + 2):
            deadline = datetime.fromisoformat((await routing_of(services, lead_id))["sla_deadline"])
            assert await fire_due(services, deadline + timedelta(minutes=1)) == 1, hop
            owners.append((await routing_of(services, lead_id))["owner"])

        routing = await routing_of(services, lead_id)
        assert routing["hops"] == MAX_HOPS
        assert len(set(owners[: MAX_HOPS + 1])) == MAX_HOPS + 1 and set(owners) <= set(pool)
        assert owners[-1] == owners[-2], "the escalation moved the lead"
        assert [e.get("result", "reassigned") for e in routing["log"]] == [
            *["reassigned"] * MAX_HOPS,
            "escalated",
        ]
        assert all(e["by"] == "sla" for e in routing["log"])
        sent = await messages(services, lead_id)
        told = sorted(key for key in sent if key.startswith("manager:"))
        assert told == [f"manager:hop{n}" for n in range(1, MAX_HOPS + 2)]
        escalation = sent[f"manager:hop{MAX_HOPS + 1}"]
        assert escalation["recipient"] == "carla"
        assert "needs an owner (hops exhausted)" in escalation["text"]

        assert await fire_due(services, datetime(2026, 3, 31, tzinfo=UTC)) == 0
        await services.broker.shutdown()


# POST /admin/leads/{id}/actions


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A live API on embedded defaults (outbox notifier), shared by this module's API tests."""
    settings = make_settings(tmp_path_factory.mktemp("admin-actions"))
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


def completed_lead(client: httpx.Client) -> dict[str, Any]:
    """Submit a lead and return its admin record once routed."""
    lead_id = client.post("/webhooks/lead", json=lead_payload()).json()["lead_id"]
    record = wait_status(client, lead_id, {"completed", "failed"})
    assert record["status"] == "completed"
    return record


def test_admin_accept_confirms_the_owner_and_closes_the_message(client: httpx.Client) -> None:
    """Accept through the admin API answers 200 and the stored message loses its buttons."""
    record = completed_lead(client)
    lead_id, owner = record["lead_id"], record["owner"]
    [before] = client.get("/admin/outbox", params={"lead_id": lead_id}).json()["messages"]
    assert "actions" in block_types(before)

    resp = client.post(f"/admin/leads/{lead_id}/actions", json={"action": "accept", "actor": owner})

    assert resp.status_code == 200
    assert resp.json()["result"] == "accepted" and resp.json()["owner"] == owner
    [message] = client.get("/admin/outbox", params={"lead_id": lead_id}).json()["messages"]
    assert "actions" not in block_types(message)
    assert f"Accepted by {owner}" in message["blocks"][-1]["elements"][0]["text"]
    routing = client.get(f"/admin/leads/{lead_id}").json()["state"]["routing"]
    assert routing["accepted"]["by"] == owner


def test_the_actions_status_is_the_one_the_schema_declares(client: httpx.Client) -> None:
    """POST /admin/leads/{id}/actions is declared 200 in /openapi.json and answers 200."""
    record = completed_lead(client)
    path = client.get("/openapi.json").json()["paths"]["/admin/leads/{lead_id}/actions"]
    declared = {code for code in path["post"]["responses"] if code.startswith("2")}

    resp = client.post(
        f"/admin/leads/{record['lead_id']}/actions",
        json={"action": "accept", "actor": record["owner"]},
    )

    assert declared == {str(resp.status_code)} == {"200"}


def test_acting_on_a_closed_lead_is_409(client: httpx.Client) -> None:
    """A lead already accepted refuses a second decision with a 409 problem saying why."""
    record = completed_lead(client)
    url = f"/admin/leads/{record['lead_id']}/actions"
    assert client.post(url, json={"action": "accept", "actor": record["owner"]}).status_code == 200

    resp = client.post(url, json={"action": "not_a_fit", "actor": record["owner"]})

    assert resp.status_code == 409
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["detail"] == "the lead was already accepted or closed"
    routing = client.get(f"/admin/leads/{record['lead_id']}").json()["state"]["routing"]
    assert routing["action"] != "disqualify"


def test_not_a_fit_says_why_in_the_action_reason(client: httpx.Client) -> None:
    """After Not a fit the action reason is the rep's, and the score's reason is kept apart."""
    record = completed_lead(client)
    before = record["state"]["routing"]["action_reason"]

    resp = client.post(
        f"/admin/leads/{record['lead_id']}/actions",
        json={"action": "not_a_fit", "actor": "ana", "reason": "a student project"},
    )

    assert resp.status_code == 200
    routing = client.get(f"/admin/leads/{record['lead_id']}").json()["state"]["routing"]
    assert routing["action"] == "disqualify"
    assert routing["action_reason"] == "not a fit, by ana: a student project"
    assert routing["previous_action_reason"] == before


def test_admin_action_must_be_a_known_action(client: httpx.Client) -> None:
    """An action other than accept, reassign, not_a_fit is refused with 422 naming the field."""
    lead_id = completed_lead(client)["lead_id"]

    resp = client.post(f"/admin/leads/{lead_id}/actions", json={"action": "snooze", "actor": "ana"})

    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["action"]
    routing = client.get(f"/admin/leads/{lead_id}").json()["state"]["routing"]
    assert routing["log"] == [] and "accepted" not in routing


def test_admin_action_on_an_unknown_lead_is_404(client: httpx.Client) -> None:
    """A valid action on a lead that does not exist is 404."""
    resp = client.post(
        f"/admin/leads/{uuid.uuid4()}/actions", json={"action": "accept", "actor": "ana"}
    )

    assert resp.status_code == 404


async def test_each_decision_is_a_step_in_the_lead_history(services: Services) -> None:
    """Waiting, a reassignment, the new owner's message and the acceptance are checkpointed
    steps of the lead's graph, in order, in its decision record."""
    lead_id = await routed_lead(services)
    owner = (await routing_of(services, lead_id))["owner"]
    assert (await services.decide(lead_id, "reassign", actor=owner))["result"] == "reassigned"
    new_owner = (await routing_of(services, lead_id))["owner"]
    assert (await services.decide(lead_id, "accept", actor=new_owner))["result"] == "accepted"

    record = await decision_record(services, lead_id)

    nodes = [step["node"] for step in record["history"]]
    assert nodes[-6:] == ["notify", "wait_for_rep", "reassign", "notify", "wait_for_rep", "accept"]
    assert record["next"] == []
    assert record["state"]["rep_decision"]["decision"] == "accept"


async def test_a_click_racing_the_sla_timer_applies_once(services: Services) -> None:
    """An Accept and the SLA timer, both for the lead's first hop and at the same moment: one
    applies and the other finds the lead moved on, so the message is closed once."""
    lead_id = await routed_lead(services)
    owner = (await routing_of(services, lead_id))["owner"]
    set_clock(services, MONDAY + timedelta(minutes=16))

    results = await asyncio.gather(
        services.decide(lead_id, "accept", actor=owner, expect_hop=0),
        services.decide(
            lead_id, "reassign", actor="sla", reason="not accepted within the SLA", expect_hop=0
        ),
    )

    applied = [r["result"] for r in results if r["result"] in {"accepted", "reassigned"}]
    assert len(applied) == 1
    assert {r["result"] for r in results} - set(applied) <= {"stale", "unchanged"}
    routing = await routing_of(services, lead_id)
    assert len(routing["log"]) == 1
    first = (await messages(services, lead_id))["rep"]
    closing = first["blocks"][-1]["elements"][0]["text"]
    assert ("Accepted by" in closing) != ("Reassigned to" in closing)
