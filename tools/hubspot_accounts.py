"""Accounts from HubSpot: its companies and owners as the account directory (DESIGN §6).

When HubSpot is the CRM, the accounts that matching and routing know are HubSpot's companies,
read with their domain, website, name, owner, industry, employees, country, state, city and
parent, instead of ACCOUNTS_CSV:

- a full read of every company at first, and again every `full_every` (it also drops the
  companies deleted or archived since, which a feed of changes does not show);
- in between, an incremental read of the companies whose `hs_lastmodifieddate` is at or after
  the latest change already seen, minus `look_back` (HubSpot's search lags behind writes).
  The cursor is HubSpot's own timestamp, so this machine's clock never skips a change.

The companies and owners are kept in a snapshot file (JSON, written whole and renamed into
place), so a restart reads only what changed since. `report()` turns them into the same rows
`read_accounts_csv` gives: `account_id` is the HubSpot company id, `parent_account_id` its
parent's, and `owner_email` the rep whose `crm_owner_id` (routing.yaml) is the company's
`hubspot_owner_id`, else that HubSpot user's email.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog

from tools.directory import AccountsReport, read_account_records

log = structlog.get_logger("lead_router.hubspot_accounts")

SNAPSHOT_VERSION = 1


class SyncTooLarge(RuntimeError):
    """An incremental read cannot page past the search cap; a full read can."""


class CompanySource(Protocol):
    """Where companies and owners are read from (`HubSpotCRM`)."""

    def companies(self, modified_since: datetime | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every company as `{"id", "properties"}`, or those changed at or after a time."""
        ...

    async def list_owners(self) -> list[dict[str, Any]]:
        """The account's owners: `{"id", "email", ...}`."""
        ...


@dataclass(frozen=True)
class SyncResult:
    """What one sync did: `full` or incremental, companies read, companies held after it."""

    full: bool
    read: int
    total: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _account_fields(company: Mapping[str, Any]) -> dict[str, Any]:
    """One HubSpot company's properties under the DESIGN §6 column names (owner still an id)."""
    props = company.get("properties") or {}
    return {
        "account_id": str(company["id"]),
        "name": props.get("name"),
        "domain": props.get("domain"),
        "website": props.get("website"),
        "hubspot_owner_id": props.get("hubspot_owner_id") or None,
        "industry": props.get("industry"),
        "employees": props.get("numberofemployees"),
        "country": props.get("country"),
        "state": props.get("state"),
        "city": props.get("city"),
        "parent_account_id": props.get("hs_parent_company_id"),
        "modified": props.get("hs_lastmodifieddate"),
    }


class HubSpotAccounts:
    """The companies and owners last read from HubSpot, kept in `path`; see the module doc.

    `rep_owner_ids` maps a HubSpot owner id to the rep's email in routing.yaml.
    """

    def __init__(
        self,
        path: Path,
        *,
        rep_owner_ids: Mapping[str, str] | None = None,
        full_every: timedelta = timedelta(hours=24),
        look_back: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.path = path
        self.full_every = full_every
        self.look_back = look_back
        self._clock = clock
        self._rep_owner_ids = {str(k): v.strip().lower() for k, v in (rep_owner_ids or {}).items()}
        self.companies: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, str] = {}  # HubSpot owner id → email
        self.cursor: datetime | None = None  # the latest hs_lastmodifieddate seen
        self.full_at: datetime | None = None  # when the last full read finished

    @property
    def loaded(self) -> bool:
        """Whether a full read has been made (now or by an earlier run)."""
        return self.full_at is not None

    def load(self) -> bool:
        """Read the snapshot file; False when there is none (or it cannot be used)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            log.warning("hubspot accounts snapshot unreadable", path=str(self.path), error=str(exc))
            return False
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            log.warning("hubspot accounts snapshot of another version", path=str(self.path))
            return False
        self.companies = dict(data.get("companies") or {})
        self.owners = {str(k): str(v) for k, v in (data.get("owners") or {}).items()}
        self.cursor = _parse_time(data.get("cursor"))
        self.full_at = _parse_time(data.get("full_at"))
        return self.loaded

    def _save(self) -> None:
        data = {
            "version": SNAPSHOT_VERSION,
            "cursor": self.cursor.isoformat() if self.cursor else None,
            "full_at": self.full_at.isoformat() if self.full_at else None,
            "owners": self.owners,
            "companies": self.companies,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, self.path)

    def full_due(self) -> bool:
        """Whether the next sync should read every company."""
        return (
            self.full_at is None
            or self.cursor is None
            or self._clock() - self.full_at >= self.full_every
        )

    async def sync(self, source: CompanySource, *, full: bool | None = None) -> SyncResult:
        """Read owners and companies from `source` (full when due, or as `full` says), keep
        them, and save the snapshot. A failed read changes nothing."""
        full = self.full_due() if full is None else full
        owners = {str(o["id"]): str(o["email"]).lower() for o in await source.list_owners()}
        since = None if full else (self.cursor - self.look_back if self.cursor else None)
        read: dict[str, dict[str, Any]] = {}
        async for company in source.companies(modified_since=since):
            read[str(company["id"])] = _account_fields(company)
        latest = [self.cursor] if self.cursor and not full else []
        latest += [t for fields in read.values() if (t := _parse_time(fields["modified"]))]
        if full:
            self.companies = read
            self.full_at = self._clock()
        else:
            self.companies.update(read)
        self.owners = owners
        self.cursor = max(latest) if latest else self.cursor
        await asyncio.to_thread(self._save)
        result = SyncResult(full=full, read=len(read), total=len(self.companies))
        log.info("hubspot accounts synced", **vars(result))
        return result

    def owner_email(self, owner_id: str | None) -> str | None:
        """The rep (routing.yaml) or HubSpot user owning records with this owner id."""
        if not owner_id:
            return None
        return self._rep_owner_ids.get(owner_id) or self.owners.get(owner_id)

    def report(self) -> AccountsReport:
        """The companies as account rows, with the problems of those that cannot be used."""
        # Oldest company first: where HubSpot holds two for one domain, the directory names the
        # one people have worked on, as the CRM adapter's search does.
        ordered = sorted(
            self.companies.values(), key=lambda f: (len(f["account_id"]), f["account_id"])
        )
        records = (
            {**fields, "owner_email": self.owner_email(fields.get("hubspot_owner_id"))}
            for fields in ordered
        )
        return read_account_records(records, "HubSpot companies")
