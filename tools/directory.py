"""Company directory from ACCOUNTS_CSV: stands in for a firmographics provider's domain lookup.

`read_accounts_csv` parses the team's known accounts (DESIGN §6) the way CRM exports are: a
row is loaded for what it can still be used for, a row that cannot be used is skipped, and the
`AccountsReport` lists both with the file and line; `strict=True` (and `load_accounts_csv`)
fails on the first such row instead. `InMemoryDirectory` implements the `CompanyDirectory`
port with an exact index on the registrable domain of each account's `domain` and `website`.
Fuzzy name matching lives elsewhere; this module only answers "which account owns acme.co.uk".
"""

from __future__ import annotations

import csv
import functools
import hashlib
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.accounts import split_aliases
from domain.bulk import collector_paused, keep_built
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


@dataclass(frozen=True)
class RowProblem:
    """A problem with one row of an accounts file: where, which kind, and what."""

    path: Path
    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class AccountsReport:
    """What `read_accounts_csv` made of a file: the rows loaded, the rows skipped (a row with
    no account_id, neither a name nor a usable domain, an account_id already seen, or more
    cells than columns) and the warnings on rows loaded without a value they could not use.
    `digest`, when known: a digest that changes with any value of the rows, taken without
    going through them (`accounts_read_file`: of the file's bytes and the code reading them)."""

    path: Path
    rows: list[dict[str, Any]]
    skipped: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)
    digest: str | None = None

    def summary(self, first: int = 3) -> dict[str, Any]:
        """Counts, counts by kind and the first problems with file:line, for one log line."""
        return {
            "path": str(self.path),
            "loaded": len(self.rows),
            "skipped": len(self.skipped),
            "warnings": len(self.warnings),
            "skipped_by_kind": dict(sorted(Counter(p.kind for p in self.skipped).items())),
            "warnings_by_kind": dict(sorted(Counter(p.kind for p in self.warnings).items())),
            "first": [
                *(f"{p.path}:{p.line}: skipped: {p.message}" for p in self.skipped),
                *(str(p) for p in self.warnings),
            ][:first],
        }


class _Row:
    """One data row being read: its problems go to the report, or raise when strict."""

    def __init__(self, path: Path, line: int, report: AccountsReport, strict: bool) -> None:
        self.path, self.line, self.report, self.strict = path, line, report, strict

    def skip(self, kind: str, message: str) -> None:
        self._note(self.report.skipped, kind, message)

    def warn(self, kind: str, message: str) -> None:
        self._note(self.report.warnings, kind, message)

    def _note(self, into: list[RowProblem], kind: str, message: str) -> None:
        problem = RowProblem(self.path, self.line, kind, message)
        if self.strict:
            raise ValueError(str(problem))
        into.append(problem)


def _parse_employees(raw: str) -> int | None:
    cleaned = raw.replace(",", "").replace("_", "").replace(" ", "")
    return int(cleaned) if cleaned.isdigit() else None


def _parse_row(
    values: dict[str, str], extras: dict[str, str], row: _Row, first_seen: dict[str, int]
) -> dict[str, Any] | None:
    """One account from its stripped cell values, or None when the row cannot be used."""
    account_id = values.get("account_id", "")
    if not account_id:
        row.skip("no_account_id", "account_id is empty")
        return None
    if account_id in first_seen:
        row.skip(
            "duplicate_account_id",
            f"duplicate account_id {account_id!r} (first on line {first_seen[account_id]})",
        )
        return None

    name = values.get("name") or None
    raw_domain, raw_website = values.get("domain", ""), values.get("website", "")
    domain = registrable_domain(raw_domain) if raw_domain else None
    website = registrable_domain(raw_website) if raw_website else None
    if not name and domain is None and website is None:
        row.skip("no_name_or_domain", f"account {account_id!r} has no name and no usable domain")
        return None
    if not raw_domain and not raw_website:
        row.warn("no_domain", f"account {account_id!r} has neither domain nor website")
    if raw_domain and domain is None:
        row.warn("bad_domain", f"domain {raw_domain!r} has no registrable domain")
    if raw_website and website is None:
        row.warn("bad_website", f"website {raw_website!r} has no registrable domain")

    raw_employees = values.get("employees", "")
    employees = _parse_employees(raw_employees) if raw_employees else None
    if raw_employees and employees is None:
        row.warn("bad_employees", f"employees must be a whole number, got {raw_employees!r}")

    first_seen[account_id] = row.line
    # Values many accounts share are kept once (sys.intern): a tenth of 100,000 rows' memory.
    return {
        "account_id": account_id,
        "name": name,
        "domain": domain,
        "website": domain if website == domain else website,
        "owner_email": sys.intern((values.get("owner_email") or "").lower()) or None,
        "industry": sys.intern(values.get("industry") or "") or None,
        "employees": employees,
        "country": sys.intern(values.get("country") or "") or None,
        "state": sys.intern(values.get("state") or "") or None,
        "city": sys.intern(values.get("city") or "") or None,
        "parent_account_id": values.get("parent_account_id") or None,
        "aliases": list(split_aliases(values.get("aliases"))),
        "properties": {key: value for key, value in extras.items() if value},
    }


def read_accounts_csv(path: Path, *, strict: bool = False) -> AccountsReport:
    """Parse ACCOUNTS_CSV into account dicts, keeping every row that can still be used.

    Each dict has the DESIGN §6 columns (empty cells → None, `employees` → int, `domain` and
    `website` → registrable domain, `owner_email` lower-cased) and `properties`, the non-empty
    extra columns. A value that cannot be used (a domain without a public suffix, employees
    that are not a number) becomes None with a warning; an account with a name but no usable
    domain is still matched by its name. A header problem raises ValueError with file:line, and
    so does, with `strict`, the first row skipped or warned about.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle, collector_paused():
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

        report = AccountsReport(path, [])
        first_seen: dict[str, int] = {}
        extra_names = [name for name in header if name and name not in ACCOUNT_COLUMNS]
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not "".join(cells).strip():
                continue
            row = _Row(path, start, report, strict)
            if len(cells) > len(header):
                row.skip(
                    "too_many_cells",
                    f"{len(cells)} cells but the header has {len(header)} columns",
                )
                continue
            values = dict(zip(header, map(str.strip, cells), strict=False))
            values.pop("", None)
            extras = {name: values.pop(name) for name in extra_names if name in values}
            account = _parse_row(values, extras, row, first_seen)
            if account is not None:
                report.rows.append(account)
        keep_built(len(report.rows))
    return report


def read_account_records(records: Iterable[Mapping[str, Any]], source: str) -> AccountsReport:
    """Accounts from records already split into the DESIGN §6 columns (a CRM's companies), by
    the same rules as a file's rows; a problem names `source` and the record's position."""
    report = AccountsReport(Path(source), [])
    first_seen: dict[str, int] = {}
    with collector_paused():
        _read_records(records, report, first_seen)
        keep_built(len(report.rows))
    return report


def _read_records(
    records: Iterable[Mapping[str, Any]], report: AccountsReport, first_seen: dict[str, int]
) -> None:
    for position, record in enumerate(records, start=1):
        values = {
            name: str(record[name]).strip()
            for name in ACCOUNT_COLUMNS
            if record.get(name) is not None
        }
        account = _parse_row(values, {}, _Row(report.path, position, report, False), first_seen)
        if account is not None:
            report.rows.append(account)


@functools.cache
def code_digest(version: str, modules: tuple[str, ...]) -> str:
    """A digest of `version`, the public suffix list's version and the source of `modules`
    (imported): the code a file kept in DATA_DIR was made by, so that a change to it makes
    the file again."""
    import tldextract

    digest = hashlib.sha256(f"{version} {tldextract.__version__}".encode())
    for name in modules:
        digest.update(Path(str(sys.modules[name].__file__)).read_bytes())
    return digest.hexdigest()


def rows_digest(rows: Iterable[Mapping[str, Any]]) -> str:
    """A digest of account rows, changing with any value: taken row by row (the repr of
    100,000 rows at once takes 70 MB). Computed once at start for the CRM seed and the index."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(row).encode())
    return digest.hexdigest()


def load_accounts_csv(path: Path) -> list[dict[str, Any]]:
    """The accounts in ACCOUNTS_CSV; the first row skipped or warned about raises ValueError
    with file:line (`read_accounts_csv(path, strict=True)`)."""
    return read_accounts_csv(path, strict=True).rows


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
        for column in ("domain", "website"):
            for row in self._rows.values():
                if row.get(column):
                    self._by_domain.setdefault(row[column], row)

    def replace(self, rows: Iterable[dict[str, Any]]) -> None:
        """Serve these accounts from now on, swapped in whole (a refreshed sync)."""
        fresh = InMemoryDirectory(rows)
        self._rows, self._by_domain = fresh._rows, fresh._by_domain

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
