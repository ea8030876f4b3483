"""Company directory from ACCOUNTS_CSV: stands in for a firmographics provider's domain lookup.

`load_accounts_csv` parses the team's known accounts (DESIGN §6) and fails on a bad row with
the file, the line and the problem. `InMemoryDirectory` implements the `CompanyDirectory`
port with an exact index on the registrable domain of each account's `domain` and `website`.
Fuzzy name matching lives elsewhere; this module only answers "which account owns acme.co.uk".
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.accounts import split_aliases
from domain.normalize import registrable_domain

ACCOUNT_COLUMNS = (
    "account_id",
    "name",
    "domain",
    "website",
    "owner_email",
    "industry",
    "employees",
    "country",
    "state",
    "city",
    "parent_account_id",
    "aliases",
)


def _parse_employees(raw: str) -> int:
    cleaned = raw.replace(",", "").replace("_", "").replace(" ", "")
    if not cleaned.isdigit():
        raise ValueError(f"employees must be a whole number, got {raw!r}")
    return int(cleaned)


def _parse_row(values: dict[str, str], extras: dict[str, str]) -> dict[str, Any]:
    """One account from its stripped cell values; raises ValueError naming the problem."""
    account_id = values.get("account_id", "")
    if not account_id:
        raise ValueError("account_id is empty")

    raw_domain, raw_website = values.get("domain", ""), values.get("website", "")
    if not raw_domain and not raw_website:
        raise ValueError(f"account {account_id!r} has neither domain nor website")
    domain = registrable_domain(raw_domain) if raw_domain else None
    if raw_domain and domain is None:
        raise ValueError(f"domain {raw_domain!r} has no registrable domain")
    website = registrable_domain(raw_website) if raw_website else None
    if raw_website and website is None:
        raise ValueError(f"website {raw_website!r} has no registrable domain")

    raw_employees = values.get("employees", "")
    return {
        "account_id": account_id,
        "name": values.get("name") or None,
        "domain": domain,
        "website": website,
        "owner_email": (values.get("owner_email") or "").lower() or None,
        "industry": values.get("industry") or None,
        "employees": _parse_employees(raw_employees) if raw_employees else None,
        "country": values.get("country") or None,
        "state": values.get("state") or None,
        "city": values.get("city") or None,
        "parent_account_id": values.get("parent_account_id") or None,
        "aliases": list(split_aliases(values.get("aliases"))),
        "properties": {key: value for key, value in extras.items() if value},
    }


def load_accounts_csv(path: Path) -> list[dict[str, Any]]:
    """Parse ACCOUNTS_CSV into account dicts; a bad header or row raises ValueError with file:line.

    Each dict has the DESIGN §6 columns (empty cells → None, `employees` → int, `domain` and
    `website` → registrable domain, `owner_email` lower-cased) and `properties`, the non-empty
    extra columns.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip().lower() for name in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}:1: empty file, expected a header row") from None
        if "account_id" not in header:
            raise ValueError(f"{path}:1: header has no account_id column")
        if "domain" not in header and "website" not in header:
            raise ValueError(f"{path}:1: header needs a domain or website column")
        duplicated = sorted({name for name in header if name and header.count(name) > 1})
        if duplicated:
            raise ValueError(f"{path}:1: duplicate columns {', '.join(duplicated)}")

        rows: list[dict[str, Any]] = []
        first_seen: dict[str, int] = {}
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                raise ValueError(
                    f"{path}:{start}: {len(cells)} cells but the header has {len(header)} columns"
                )
            values: dict[str, str] = {}
            extras: dict[str, str] = {}
            for name, cell in zip(header, cells, strict=False):
                if name:
                    (values if name in ACCOUNT_COLUMNS else extras)[name] = cell.strip()
            try:
                row = _parse_row(values, extras)
            except ValueError as exc:
                raise ValueError(f"{path}:{start}: {exc}") from None
            if row["account_id"] in first_seen:
                raise ValueError(
                    f"{path}:{start}: duplicate account_id {row['account_id']!r} "
                    f"(first on line {first_seen[row['account_id']]})"
                )
            first_seen[row["account_id"]] = start
            rows.append(row)
    return rows


class InMemoryDirectory:
    """Known accounts indexed by registrable domain; implements the `CompanyDirectory` port.

    A domain names the first account (in file order) whose `domain` is that domain, else the
    first whose `website` is; the CRM seed (`BuiltinCRM.seed_accounts`) uses the same rule.
    """

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._by_domain: dict[str, dict[str, Any]] = {}
        for row in rows:
            self._rows.setdefault(str(row["account_id"]), row)
        for field in ("domain", "website"):
            for row in self._rows.values():
                if row.get(field):
                    self._by_domain.setdefault(row[field], row)

    @classmethod
    def from_csv(cls, path: Path) -> InMemoryDirectory:
        """The directory of the accounts in an ACCOUNTS_CSV file."""
        return cls(load_accounts_csv(path))

    def lookup_domain(self, domain: str) -> dict[str, Any] | None:
        """The account owning this domain (a bare domain, host, URL or email), or None."""
        key = (domain or "").strip().lower()
        row = self._by_domain.get(key)
        if row is None:
            normalized = registrable_domain(key)
            row = self._by_domain.get(normalized) if normalized else None
        return _copy(row)

    def by_id(self, account_id: str) -> dict[str, Any] | None:
        """The account with this account_id, or None."""
        return _copy(self._rows.get(account_id))

    def __len__(self) -> int:
        return len(self._rows)


def _copy(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy callers may change without touching the shared index."""
    if row is None:
        return None
    return {**row, "properties": dict(row.get("properties") or {})}


if TYPE_CHECKING:
    from tools.ports import CompanyDirectory

    def _is_directory(directory: InMemoryDirectory) -> CompanyDirectory:
        """mypy checks that InMemoryDirectory satisfies the `CompanyDirectory` port."""
        return directory
