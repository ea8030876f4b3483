"""Similar-account memory: each completed lead's account is remembered, later leads see the
nearest remembered accounts with their outcomes, and `POST /webhooks/outcome` records what
became of a lead.

The sample accounts used here come from infra/accounts.csv: Novarin Software and Zellmoor
Software are the nearest accounts to Brevarin Systems (all US software companies), with a
cosine similarity above the shipped scoring.yaml's `prior.min_similarity`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.backends import open_store
from service.settings import Settings
from service.wiring import open_services
from tests.helpers import lead_payload, live_server, make_settings, submit_and_run, wait_status

NOVARIN = {"company": "Novarin Software Inc.", "domain": "novarinsoftware.com", "id": "ACC-1016"}
ZELLMOOR = {
    "company": "Zellmoor Software Inc.",
    "domain": "zellmoor-software.com",
    "id": "ACC-1018",
}
BREVARIN = {"company": "Brevarin Systems Inc.", "domain": "brevarin.com", "id": "ACC-1014"}
NORTHWIND = {
    "company": "Northwind Freight GmbH",
    "domain": "northwind-freight.de",
    "id": "ACC-1003",
}


def at(account: dict[str, str]) -> dict[str, Any]:
    """A lead from a new person at `account`'s email domain."""
    return lead_payload(
        email=f"alex.{uuid.uuid4().hex[:8]}@{account['domain']}",
        company=account["company"],
        country="United States",
    )


def similar(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The lead's similar accounts by memory id."""
    return {s["id"]: s for s in state["enrichment"]["similar_accounts"]}


def submit(client: httpx.Client, payload: dict[str, Any]) -> dict[str, Any]:
    """Post a lead and wait until it completes; return its admin record."""
    resp = client.post("/webhooks/lead", json=payload)
    assert resp.status_code == 202, resp.text
    record = wait_status(client, resp.json()["lead_id"], {"completed", "failed"})
    assert record["status"] == "completed", record.get("error")
    return record


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path_factory.mktemp("outcome-api"))
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def completed(client: httpx.Client) -> dict[str, Any]:
    """A lead at a known account, completed by the live server."""
    return submit(client, at(NOVARIN))


async def test_a_lead_sees_the_accounts_handled_before(tmp_path: Path) -> None:
    """After leads at known accounts complete, a lead at a similar account lists them."""
    async with open_services(make_settings(tmp_path)) as services:
        for account in (NOVARIN, ZELLMOOR, NORTHWIND):
            await submit_and_run(services, at(account))
        state = await submit_and_run(services, at(BREVARIN))
    found = similar(state)
    assert f"account:{NOVARIN['id']}" in found and f"account:{ZELLMOOR['id']}" in found
    assert found[f"account:{NOVARIN['id']}"]["name"] == NOVARIN["company"]
    assert found[f"account:{NOVARIN['id']}"]["industry"] == "software"
    scores = [s["score"] for s in state["enrichment"]["similar_accounts"]]
    assert scores == sorted(scores, reverse=True)
    assert found[f"account:{NOVARIN['id']}"]["score"] > found[f"account:{NORTHWIND['id']}"]["score"]


async def test_a_lead_never_lists_its_own_account(tmp_path: Path) -> None:
    """A second lead at an account is not shown that account as a similar one."""
    async with open_services(make_settings(tmp_path)) as services:
        await submit_and_run(services, at(NOVARIN))
        await submit_and_run(services, at(BREVARIN))
        state = await submit_and_run(services, at(BREVARIN))
    assert state["enrichment"]["account_match"]["account_id"] == BREVARIN["id"]
    found = similar(state)
    assert f"account:{NOVARIN['id']}" in found
    assert f"account:{BREVARIN['id']}" not in found


def test_outcome_by_lead_id_is_recorded(client: httpx.Client, completed: dict[str, Any]) -> None:
    """An outcome naming the lead id is recorded on that lead's account."""
    resp = client.post(
        "/webhooks/outcome", json={"lead_id": completed["lead_id"], "outcome": "lost"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["recorded"] is True and body["lead_id"] == completed["lead_id"]
    assert body["similar_account_memory"] == {"id": f"account:{NOVARIN['id']}", "outcome": "lost"}


def test_outcome_by_email_finds_the_lead(client: httpx.Client, completed: dict[str, Any]) -> None:
    """An outcome naming the lead's email is recorded on the lead with that email."""
    resp = client.post(
        "/webhooks/outcome",
        json={"email": completed["email"], "outcome": "won", "value": 12000},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["recorded"] is True
    assert resp.json()["lead_id"] == completed["lead_id"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"lead_id": "no-such-lead", "outcome": "won"}, id="lead_id"),
        pytest.param({"email": "nobody@nowhere-known.com", "outcome": "won"}, id="email"),
    ],
)
def test_outcome_for_an_unknown_lead_is_404(client: httpx.Client, body: dict[str, Any]) -> None:
    """An outcome for a lead nobody submitted is 404 naming the id or email given."""
    resp = client.post("/webhooks/outcome", json=body)
    assert resp.status_code == 404
    given = body.get("lead_id") or body["email"]
    assert resp.json()["detail"].startswith("no lead") and given in resp.json()["detail"]


def test_outcome_with_an_invalid_value_is_422(
    client: httpx.Client, completed: dict[str, Any]
) -> None:
    """An outcome value outside won/lost/converted/open is 422 naming the outcome field."""
    resp = client.post(
        "/webhooks/outcome", json={"lead_id": completed["lead_id"], "outcome": "maybe"}
    )
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["outcome"]


def test_outcome_naming_no_lead_is_422(client: httpx.Client) -> None:
    """An outcome with neither lead_id nor email is 422 saying to give one."""
    resp = client.post("/webhooks/outcome", json={"outcome": "won"})
    assert resp.status_code == 422
    assert any("lead_id or email" in e["problem"] for e in resp.json()["errors"])


async def stored_outcomes(settings: Settings) -> list[dict[str, Any]]:
    store = await open_store(settings)
    try:
        return await store.list_outcomes()
    finally:
        await store.close()


def test_outcomes_posted_are_stored_for_learning(tmp_path: Path) -> None:
    """Outcomes posted to the webhook are in the store after the server stops."""
    settings = make_settings(tmp_path)
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as c:
        lead = submit(c, at(NOVARIN))
        resp = c.post("/webhooks/outcome", json={"lead_id": lead["lead_id"], "outcome": "won"})
        assert resp.status_code == 200
    outcomes = asyncio.run(stored_outcomes(settings))
    assert [(o["lead_id"], o["outcome"]) for o in outcomes] == [(lead["lead_id"], "won")]


def test_won_similar_accounts_add_a_prior_to_a_later_lead(tmp_path: Path) -> None:
    """After two similar accounts are won, a later similar lead shows the outcomes and gains
    a positive `prior` that names them (shipped scoring.yaml thresholds)."""
    settings = make_settings(tmp_path)
    with live_server(settings) as url, httpx.Client(base_url=url, timeout=10) as c:
        for account in (NOVARIN, ZELLMOOR):
            lead = submit(c, at(account))
            resp = c.post("/webhooks/outcome", json={"lead_id": lead["lead_id"], "outcome": "won"})
            assert resp.status_code == 200 and resp.json()["recorded"] is True
        state = submit(c, at(BREVARIN))["state"]
    found = similar(state)
    assert found[f"account:{NOVARIN['id']}"]["outcome"] == "won"
    assert found[f"account:{ZELLMOOR['id']}"]["outcome"] == "won"
    priors = [c for c in state["score"]["contributions"] if c["component"] == "prior"]
    assert len(priors) == 1 and priors[0]["points"] > 0
    assert priors[0]["reason"].startswith("2 of 2 similar accounts won")
    assert NOVARIN["company"] in priors[0]["reason"]
    assert ZELLMOOR["company"] in priors[0]["reason"]
    assert state["score"]["prior"] == priors[0]["points"]


async def test_without_outcomes_there_is_no_prior(tmp_path: Path) -> None:
    """Similar accounts with no recorded outcome add no `prior` points."""
    async with open_services(make_settings(tmp_path)) as services:
        for account in (NOVARIN, ZELLMOOR):
            await submit_and_run(services, at(account))
        state = await submit_and_run(services, at(BREVARIN))
    assert len(state["enrichment"]["similar_accounts"]) >= 2
    assert all(c["component"] != "prior" for c in state["score"]["contributions"])
