"""The enrich node's waterfall: CRM and directory first, the HTTP provider only when needed,
its answers cached per domain and limited by a budget, and provenance on every field.

The HTTP provider is the real adapter talking to the local enrichment API
(`tests/fakes/enrichment_server.py`); leads run through the whole graph on embedded backends.
"""

from __future__ import annotations

import contextlib
import csv
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from service.wiring import Services, open_services
from tests.fakes.enrichment_server import API_KEY, FakeEnrichment
from tests.helpers import ROOT, lead_payload, make_settings, submit_and_run

SOURCE = "http:127.0.0.1"
UNKNOWN_DOMAIN = "zorblax-systems.io"
UNKNOWN_COMPANY = {
    "name": "Zorblax Systems Inc.",
    "domain": UNKNOWN_DOMAIN,
    "industry": "software",
    "employees": 450,
    "country": "US",
}


@contextlib.asynccontextmanager
async def opened(tmp_path: Path, url: str, **overrides: Any) -> AsyncIterator[Services]:
    settings = make_settings(tmp_path, ENRICHMENT_URL=url, ENRICHMENT_API_KEY=API_KEY, **overrides)
    async with open_services(settings) as services:
        yield services


@pytest.fixture
async def services(
    tmp_path: Path, enrichment_server: tuple[str, FakeEnrichment]
) -> AsyncIterator[Services]:
    async with opened(tmp_path, enrichment_server[0]) as opened_services:
        yield opened_services


def unknown_lead(**fields: Any) -> dict[str, Any]:
    """A lead at a corporate domain no CRM record or directory row knows."""
    return lead_payload(
        email=f"kim.{uuid.uuid4().hex[:8]}@{UNKNOWN_DOMAIN}",
        company="Zorblax Systems",
        country="United States",
        **fields,
    )


def step(state: dict[str, Any], provider: str) -> dict[str, Any]:
    """The waterfall log entry of `provider`."""
    return next(e for e in state["enrichment"]["waterfall"] if e["provider"] == provider)


def account_row(account_id: str) -> dict[str, str]:
    with (ROOT / "infra" / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        return next(r for r in csv.DictReader(handle) if r["account_id"] == account_id)


async def test_known_account_is_filled_without_asking_the_provider(
    services: Services, enrichment_api: FakeEnrichment
) -> None:
    """A lead at a known account is filled by CRM/directory; the HTTP provider is skipped."""
    state = await submit_and_run(services, lead_payload())
    company = state["enrichment"]["company"]
    assert company["industry"] == "logistics" and company["employees"] == 4200
    assert {state["enrichment"]["provenance"][f]["source"] for f in ("industry", "employees")} <= {
        "crm",
        "directory",
    }
    assert step(state, "http") == {
        "provider": "http",
        "status": "skipped",
        "reason": "fields filled",
    }
    assert enrichment_api.requests == []


async def test_unknown_domain_is_filled_by_the_http_provider(
    services: Services, enrichment_api: FakeEnrichment
) -> None:
    """A lead at an unknown corporate domain gets industry and size from the provider."""
    enrichment_api.add_company(UNKNOWN_DOMAIN, UNKNOWN_COMPANY)
    state = await submit_and_run(services, unknown_lead())
    company = state["enrichment"]["company"]
    provenance = state["enrichment"]["provenance"]
    assert company["industry"] == "software" and company["employees"] == 450
    for name in ("industry", "employees"):
        assert provenance[name]["source"] == SOURCE
        assert provenance[name]["confidence"] == 0.8
    assert step(state, "http")["via"] == "call"
    assert enrichment_api.requests == [UNKNOWN_DOMAIN]


async def test_second_lead_at_the_same_domain_is_served_from_the_cache(
    tmp_path: Path, enrichment_server: tuple[str, FakeEnrichment], enrichment_api: FakeEnrichment
) -> None:
    """With the provider asked first, a second lead at the domain is filled from the cache."""
    enrichment_api.add_company(UNKNOWN_DOMAIN, UNKNOWN_COMPANY)
    async with opened(
        tmp_path, enrichment_server[0], ENRICHMENT_ORDER=["http", "inference"]
    ) as services:
        first = await submit_and_run(services, unknown_lead())
        second = await submit_and_run(services, unknown_lead())
    assert enrichment_api.count() == 1
    assert step(first, "http")["via"] == "call"
    assert step(second, "http")["via"] == "cache"
    assert second["enrichment"]["company"] == first["enrichment"]["company"]
    assert second["enrichment"]["provenance"]["employees"]["source"] == SOURCE


async def test_a_domain_the_provider_does_not_know_is_asked_once(
    services: Services, enrichment_api: FakeEnrichment
) -> None:
    """The provider's "unknown domain" answer is cached too: a second lead sends no request."""
    first = await submit_and_run(services, unknown_lead())
    second = await submit_and_run(services, unknown_lead())
    assert enrichment_api.requests == [UNKNOWN_DOMAIN]
    assert step(first, "http")["status"] == "no data"
    assert step(second, "http") | {"ms": 0} == {
        "provider": "http",
        "status": "no data",
        "via": "cache",
        "filled": [],
        "ms": 0,
    }


async def test_spent_budget_skips_the_provider(
    tmp_path: Path, enrichment_server: tuple[str, FakeEnrichment], enrichment_api: FakeEnrichment
) -> None:
    """With ENRICHMENT_BUDGET=0 the provider is not asked and the lead is inferred instead."""
    enrichment_api.add_company(UNKNOWN_DOMAIN, UNKNOWN_COMPANY)
    async with opened(tmp_path, enrichment_server[0], ENRICHMENT_BUDGET=0) as services:
        state = await submit_and_run(services, unknown_lead())
    entry = step(state, "http")
    assert entry["status"] == "skipped" and entry["reason"] == "provider budget spent"
    assert enrichment_api.requests == []
    assert "employees" not in state["enrichment"]["company"]
    assert state["enrichment"]["provenance"]["name"]["source"] == "lead"


async def test_failing_provider_is_recorded_and_the_lead_still_routes(
    services: Services, enrichment_api: FakeEnrichment
) -> None:
    """A provider answering 500 every time leaves an error in the state; the lead is routed."""
    enrichment_api.add_company(UNKNOWN_DOMAIN, UNKNOWN_COMPANY)
    enrichment_api.fail_next(500, times=100)
    state = await submit_and_run(services, unknown_lead())
    errors = [e for e in state["errors"] if e.get("tool") == "http_enrichment"]
    assert len(errors) == 1 and errors[0]["node"] == "enrich"
    assert "500" in errors[0]["error"]
    assert step(state, "http")["status"] == "error"
    assert state["status"] == "completed"
    assert state["routing"]["owner"] or state["routing"]["queue"]
    record = await services.store.get_lead(state["lead_id"])
    assert record and record.status == "completed" and record.owner


async def test_free_mail_lead_is_matched_by_the_company_name_typed(
    services: Services, enrichment_api: FakeEnrichment
) -> None:
    """A gmail lead that types a known company's name is matched to that account by name."""
    row = account_row("ACC-1005")
    state = await submit_and_run(
        services,
        lead_payload(email=f"sam.{uuid.uuid4().hex[:8]}@gmail.com", company=row["name"]),
    )
    match = state["enrichment"]["account_match"]
    assert match["account_id"] == "ACC-1005"
    assert match["method"] in {"name_exact", "name_fuzzy"}
    company = state["enrichment"]["company"]
    assert company["domain"] == row["domain"]
    assert company["industry"] == row["industry"]
    assert company["employees"] == int(row["employees"])
    assert enrichment_api.requests == []


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(lambda: lead_payload(), id="known-account"),
        pytest.param(lambda: unknown_lead(), id="http-and-inference"),
        pytest.param(
            lambda: lead_payload(email="pat@gmail.com", company="Unheard Of Ltd"),
            id="free-mail-inferred",
        ),
    ],
)
async def test_every_filled_field_has_provenance(
    services: Services, enrichment_api: FakeEnrichment, payload: Any
) -> None:
    """Every company field carries the source, confidence and fetch time of its provider."""
    enrichment_api.add_company(UNKNOWN_DOMAIN, {"industry": "software", "employees": 450})
    state = await submit_and_run(services, payload())
    company = state["enrichment"]["company"]
    provenance = state["enrichment"]["provenance"]
    assert company and set(provenance) == set(company)
    for name in company:
        entry = provenance[name]
        assert isinstance(entry["source"], str) and entry["source"], name
        assert 0 < entry["confidence"] <= 1, name
        assert datetime.fromisoformat(entry["fetched_at"]).tzinfo is not None, name


async def test_company_filled_by_the_provider_keeps_the_leads_domain(
    services: Services, enrichment_api: FakeEnrichment
) -> None:
    """A provider answer without a domain still leaves the company keyed by the lead's domain,
    so it reaches the CRM and the similar-account memory."""
    enrichment_api.add_company(
        UNKNOWN_DOMAIN,
        {"name": "Quillbeck Systems", "industry": "software", "employees": 450, "country": "DE"},
    )
    state = await submit_and_run(services, unknown_lead())
    assert state["enrichment"]["company"]["domain"] == UNKNOWN_DOMAIN
    assert state["enrichment"]["provenance"]["domain"]["source"] == "lead"
    assert {"crm.company", "memory.account"} <= set(state["deliveries"])
