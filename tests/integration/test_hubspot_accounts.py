"""Accounts from HubSpot: companies and owners synced through the real SDK from a local HubSpot,
full then incremental, kept across restarts, and used by matching and routing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from offline import check
from service import account_sync
from service.wiring import open_services
from tests.fakes.hubspot_server import TOKEN, FakeHubSpot, running_hubspot
from tests.helpers import lead_payload, make_settings, submit_and_run
from tools import crm_hubspot
from tools.hubspot_accounts import HubSpotAccounts, SyncTooLarge

from .test_hubspot import OWNERS, crm

REPS = {"1001": "ana@example.com", "1002": "ben@example.com"}


@pytest.fixture
def hubspot() -> Iterator[tuple[str, FakeHubSpot]]:
    with running_hubspot(owners=[*OWNERS, {"id": "2001", "email": "Olga@Example.com"}]) as served:
        yield served


def snapshot(tmp_path: Path, **options: Any) -> HubSpotAccounts:
    return HubSpotAccounts(tmp_path / "companies.json", rep_owner_ids=REPS, **options)


def ids(accounts: HubSpotAccounts) -> set[str]:
    return {row["account_id"] for row in accounts.report().rows}


async def test_a_full_sync_reads_every_company_page_by_page_as_account_rows(
    hubspot: tuple[str, FakeHubSpot], tmp_path: Path
) -> None:
    url, fake = hubspot
    parent = fake.add_company("vandel.io", "Vandel Holdings", hubspot_owner_id="1001")
    child = fake.add_company(
        "https://www.vandel-rail.co.uk/about",
        "Vandel Rail Ltd",
        hubspot_owner_id="2001",
        numberofemployees="1,250",
        industry="TRANSPORTATION_TRUCKING_RAILROAD",
        country="United Kingdom",
        state="England",
        city="Leeds",
        website="vandel-rail.com",
        hs_parent_company_id=parent,
    )
    for n in range(230):
        fake.add_company(f"filler-{n}.io", f"Filler {n}")
    fake.add_company("", "No Domain Co")

    accounts = snapshot(tmp_path)
    result = await accounts.sync(crm(url))

    assert result.full and result.read == result.total == 233
    assert fake.count("companies.list") == 3  # 100 a page
    rows = {row["account_id"]: row for row in accounts.report().rows}
    assert len(rows) == 233
    assert rows[child] == {
        "account_id": child,
        "name": "Vandel Rail Ltd",
        "domain": "vandel-rail.co.uk",
        "website": "vandel-rail.com",
        "owner_email": "olga@example.com",  # not a rep: HubSpot's own email for the owner
        "industry": "TRANSPORTATION_TRUCKING_RAILROAD",
        "employees": 1250,
        "country": "United Kingdom",
        "state": "England",
        "city": "Leeds",
        "parent_account_id": parent,
        "aliases": [],
        "properties": {},
    }
    assert rows[parent]["owner_email"] == "ana@example.com"  # the rep with crm_owner_id 1001
    assert accounts.report().warnings[0].kind == "no_domain"


async def test_an_incremental_sync_reads_only_what_changed_and_a_full_one_drops_archived(
    hubspot: tuple[str, FakeHubSpot], tmp_path: Path
) -> None:
    url, fake = hubspot
    first = fake.add_company("harrow.io", "Harrow", hubspot_owner_id="1001")
    second = fake.add_company("ostrava-ware.io", "Ostrava Ware")
    adapter = crm(url)
    accounts = snapshot(tmp_path)
    await accounts.sync(adapter)

    await asyncio.sleep(0.01)  # a later millisecond than the full read's last change
    fake.update_company(first, hubspot_owner_id="1002")
    third = fake.add_company("quillon.io", "Quillon")
    fake.archive_company(second)
    result = await accounts.sync(adapter)

    assert not result.full and result.read == 2
    [search] = fake.seen("companies.search")
    [group] = search.body["filterGroups"]
    assert group["filters"][0]["propertyName"] == "hs_lastmodifieddate"
    assert group["filters"][0]["operator"] == "GTE"
    assert search.body["sorts"] == [
        {"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}
    ]
    rows = {row["account_id"]: row for row in accounts.report().rows}
    assert rows[first]["owner_email"] == "ben@example.com"
    assert set(rows) == {first, second, third}  # a change feed does not show an archive

    full = await accounts.sync(adapter, full=True)
    assert full.full and ids(accounts) == {first, third}


async def test_a_change_the_search_index_has_not_caught_up_with_is_read_next_time(
    tmp_path: Path,
) -> None:
    """Search lags behind writes: the look-back window reads again what an earlier sync could
    not see, even after later changes moved the cursor past it."""
    with running_hubspot(owners=OWNERS, search_lag=1) as (url, fake):
        lagging = fake.add_company("lagging.io", "Lagging")
        adapter = crm(url)
        accounts = snapshot(tmp_path, look_back=timedelta(minutes=10))
        await accounts.sync(adapter)
        await asyncio.sleep(0.01)
        fake.update_company(lagging, name="Lagging Renamed")
        fake.search_lag = 0
        fresh = fake.add_company("fresh.io", "Fresh")

        missed = await accounts.sync(adapter)  # the index does not show the rename yet
        caught = await accounts.sync(adapter)

    assert missed.read == 1
    assert caught.read == 2
    names = {row["account_id"]: row["name"] for row in accounts.report().rows}
    assert names == {lagging: "Lagging Renamed", fresh: "Fresh"}


async def test_a_restart_reads_the_snapshot_and_then_only_what_changed(
    hubspot: tuple[str, FakeHubSpot], tmp_path: Path
) -> None:
    url, fake = hubspot
    for n in range(5):
        fake.add_company(f"kept-{n}.io", f"Kept {n}")
    await snapshot(tmp_path).sync(crm(url))
    listed = fake.count("companies.list")

    restarted = snapshot(tmp_path)
    assert restarted.load() and len(restarted.companies) == 5
    assert not restarted.full_due()
    result = await restarted.sync(crm(url))

    assert not result.full and result.total == 5
    assert fake.count("companies.list") == listed  # no second full read
    saved = json.loads((tmp_path / "companies.json").read_text())
    assert saved["version"] == 1 and len(saved["companies"]) == 5


async def test_a_full_sync_is_due_again_after_its_interval(
    hubspot: tuple[str, FakeHubSpot], tmp_path: Path
) -> None:
    url, fake = hubspot
    fake.add_company("due.io", "Due")
    accounts = snapshot(tmp_path, full_every=timedelta(0))
    await accounts.sync(crm(url))
    assert accounts.full_due()
    assert (await accounts.sync(crm(url))).full


async def test_past_the_search_cap_the_query_starts_again_from_the_last_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crm_hubspot, "SEARCH_PAGE", 2)
    monkeypatch.setattr(crm_hubspot, "SEARCH_CAP", 4)
    with running_hubspot(owners=OWNERS, search_cap=4) as (url, fake):
        accounts = snapshot(tmp_path, look_back=timedelta(0))
        await accounts.sync(crm(url))
        changed = []
        for n in range(7):
            await asyncio.sleep(0.003)  # each change in its own millisecond
            changed.append(fake.add_company(f"burst-{n}.io", f"Burst {n}"))
        result = await accounts.sync(crm(url))
        # More than the cap, all in one millisecond: only a full read gets past them.
        same = "2026-11-30T12:00:00.000Z"
        for company_id in changed:
            fake.update_company(company_id, hs_lastmodifieddate=same)
        accounts.cursor = datetime(2026, 11, 30, 12, tzinfo=UTC)
        with pytest.raises(SyncTooLarge):
            await accounts.sync(crm(url))
        assert await account_sync.sync(accounts, crm(url))

    assert result.read >= 7 and set(changed) <= ids(accounts)
    assert accounts.full_at is not None


async def test_hubspot_companies_route_a_lead_to_the_owner_of_its_account(
    hubspot: tuple[str, FakeHubSpot], tmp_path: Path
) -> None:
    """With HubSpot as the CRM the account directory is HubSpot's, not ACCOUNTS_CSV: a lead
    from a company's domain goes to the rep who owns that company in HubSpot, and a change of
    owner in HubSpot reaches routing at the next sync."""
    url, fake = hubspot
    company = fake.add_company("tessaline.io", "Tessaline Systems", hubspot_owner_id="1003")
    settings = make_settings(
        tmp_path, HUBSPOT_ACCESS_TOKEN=TOKEN, HUBSPOT_API_URL=url, HUBSPOT_SYNC_INTERVAL_S=1
    )
    async with open_services(settings) as services:
        assert len(services.context.directory) == 1  # ACCOUNTS_CSV's 60 are not read
        first = await submit_and_run(
            services, lead_payload(email="mo@tessaline.io", company="Tessaline Systems")
        )
        fake.update_company(company, hubspot_owner_id="1004")
        for _ in range(100):
            match = services.context.directory.lookup_domain("tessaline.io")
            if match and match["owner_email"] == "dan@example.com":
                break
            await asyncio.sleep(0.05)
        second = await submit_and_run(
            services, lead_payload(email="jo@tessaline.io", company="Tessaline Systems")
        )

    assert first["enrichment"]["account_match"]["account_id"] == company
    assert first["routing"]["owner_email"] == "carla@example.com"
    assert second["routing"]["owner_email"] == "dan@example.com"


async def test_without_a_snapshot_an_unreadable_hubspot_stops_the_start(
    hubspot: tuple[str, FakeHubSpot], tmp_path: Path
) -> None:
    url, _fake = hubspot
    settings = make_settings(tmp_path, HUBSPOT_ACCESS_TOKEN="pat-wrong", HUBSPOT_API_URL=url)
    with pytest.raises(account_sync.AccountSyncFailed, match="companies could not be read"):
        async with open_services(settings):
            pass


async def test_with_a_snapshot_an_unreadable_hubspot_starts_on_its_accounts(
    hubspot: tuple[str, FakeHubSpot], tmp_path: Path
) -> None:
    url, fake = hubspot
    fake.add_company("snapshot.io", "Snapshot Co")
    good = make_settings(tmp_path, HUBSPOT_ACCESS_TOKEN=TOKEN, HUBSPOT_API_URL=url)
    async with open_services(good):
        pass
    fake.fail_next(403, times=5, operation="owners.list")
    async with open_services(good) as services:
        assert services.context.directory.lookup_domain("snapshot.io") is not None


def test_check_reports_the_synced_companies_instead_of_accounts_csv(
    hubspot: tuple[str, FakeHubSpot], tmp_path: Path
) -> None:
    url, fake = hubspot
    settings = make_settings(tmp_path, HUBSPOT_ACCESS_TOKEN=TOKEN, HUBSPOT_API_URL=url)
    before, _ = check.run(settings, strict=False)
    fake.add_company("checked.io", "Checked")
    fake.add_company("bad domain", "Bad Domain Co")
    asyncio.run(account_sync.hubspot_accounts(settings, []).sync(crm(url)))
    after, status = check.run(settings, strict=False)

    assert any("HubSpot companies: none synced yet" in line for line in before)
    assert not any("accounts.csv" in line for line in before + after)
    [line] = [line for line in after if line.startswith("accounts")]
    assert "HubSpot companies: 2 loaded, 0 skipped, 1 warnings (last full read " in line
    assert status == 0
