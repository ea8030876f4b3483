"""The account directory when HubSpot is the CRM: synced at start, then kept fresh.

At start the snapshot of an earlier run is read and brought up to date with the companies
changed since (a full read when there is none, or a full read is due). A HubSpot that cannot
be reached at start is survivable with a snapshot (its accounts are used, with a warning) and
fatal without one: routing without the team's accounts would hand every known account's lead
to round-robin. After start, `keep_fresh` syncs every HUBSPOT_SYNC_INTERVAL_S and swaps the
new accounts in when something changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog

from domain.config import Rep
from service.settings import Settings
from tools.hubspot_accounts import CompanySource, HubSpotAccounts, SyncTooLarge

log = structlog.get_logger("lead_router.accounts")

SNAPSHOT_NAME = "hubspot_companies.json"


class AccountSyncFailed(RuntimeError):
    """HubSpot's companies could not be read and no earlier snapshot stands in."""


def hubspot_accounts(settings: Settings, reps: Sequence[Rep]) -> HubSpotAccounts:
    """The HubSpot account snapshot for these settings (not read yet)."""
    return HubSpotAccounts(
        settings.data_dir / SNAPSHOT_NAME,
        rep_owner_ids={rep.crm_owner_id: rep.email for rep in reps if rep.crm_owner_id},
        full_every=timedelta(hours=settings.hubspot_full_sync_hours),
    )


async def sync(accounts: HubSpotAccounts, source: CompanySource) -> bool:
    """One sync (full when due); True when it read something. A search that cannot page far
    enough falls back to a full read."""
    try:
        result = await accounts.sync(source)
    except SyncTooLarge as exc:
        log.warning("hubspot accounts: incremental read too large, reading all", error=str(exc))
        result = await accounts.sync(source, full=True)
    return result.full or result.read > 0


async def open_accounts(
    settings: Settings, reps: Sequence[Rep], source: CompanySource
) -> HubSpotAccounts:
    """The accounts read from HubSpot at start (see the module doc)."""
    from tools.crm_hubspot import HubSpotError

    accounts = hubspot_accounts(settings, reps)
    had_snapshot = accounts.load()
    try:
        await sync(accounts, source)
    except HubSpotError as exc:
        if not had_snapshot:
            raise AccountSyncFailed(
                f"HubSpot companies could not be read ({exc}); with HUBSPOT_ACCESS_TOKEN set the "
                "accounts come from HubSpot: check the token's crm.objects.companies.read and "
                "crm.objects.owners.read scopes and HUBSPOT_API_URL"
            ) from exc
        log.warning(
            "hubspot accounts not refreshed at start; using the snapshot",
            path=str(accounts.path),
            companies=len(accounts.companies),
            error=str(exc),
        )
    return accounts


async def keep_fresh(
    accounts: HubSpotAccounts,
    source: CompanySource,
    apply: Callable[[list[dict[str, Any]]], Awaitable[None]],
    interval_s: float,
) -> None:
    """Sync every `interval_s` and `apply` the account rows when something changed; a failed
    sync is logged and tried again at the next interval. Runs until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            if await sync(accounts, source):
                await apply(accounts.report().rows)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next interval tries again
            log.warning("hubspot accounts sync failed", error=str(exc))
