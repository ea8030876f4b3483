"""Built-in CRM in a SQLite file: stands in for HubSpot (contacts, companies, owners, notes).

The embedded default of the `CRM` port (DESIGN §4), seeded from ACCOUNTS_CSV and the reps in
routing.yaml. Several processes (API and workers) may share the file: WAL journal, a 10 s busy
timeout, and `BEGIN IMMEDIATE` around every read-modify-write. Each write is idempotent by its
natural key (contact email, company domain, note key), like HubSpot's upsert by email, so a
retried node never writes twice. One connection per instance, guarded by a lock
(`SqliteFile`).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.directory import rows_digest
from tools.sqlite_file import SqliteFile, connect, immediate

_IDS = uuid.UUID("5b0c3f8e-4a51-4d4e-9a63-1f0d2c7e6a10")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS owners (
    email TEXT PRIMARY KEY,
    name TEXT,
    crm_owner_id TEXT
);
CREATE TABLE IF NOT EXISTS companies (
    id TEXT PRIMARY KEY,
    domain TEXT UNIQUE,
    name TEXT,
    owner_email TEXT,
    parent_id TEXT,
    properties TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    company_id TEXT,
    owner_email TEXT,
    properties TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_company ON contacts (company_id);
CREATE TABLE IF NOT EXISTS notes (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    contact_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_contact ON notes (contact_id);
CREATE TABLE IF NOT EXISTS seeds (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    companies TEXT NOT NULL
);
"""

# Company properties that have their own column rather than a place in `properties`.
_COMPANY_COLUMNS = ("name", "owner_email", "parent_id")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _stable_id(kind: str, natural_key: str) -> str:
    """The same id for the same natural key, so a replayed insert cannot mint a second id."""
    return str(uuid.uuid5(_IDS, f"{kind}:{natural_key}"))


def _merge(stored: str, update: dict[str, Any]) -> dict[str, Any]:
    """Stored JSON properties updated with the non-None values of `update`."""
    merged: dict[str, Any] = json.loads(stored or "{}")
    merged.update({key: value for key, value in update.items() if value is not None})
    return merged


_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def _dumps(properties: dict[str, Any]) -> str:
    return _ENCODER.encode(properties)


def _contact(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "owner_email": row["owner_email"],
        "company_id": row["company_id"],
        "properties": json.loads(row["properties"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _company(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "domain": row["domain"],
        "name": row["name"],
        "owner_email": row["owner_email"],
        "parent_id": row["parent_id"],
        "properties": json.loads(row["properties"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


class BuiltinCRM(SqliteFile):
    """Contacts, companies (accounts), owners and notes in SQLite; implements the `CRM` port."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, row_factory=sqlite3.Row, create_parent=True)

    # Contacts

    async def find_contact(self, email: str) -> dict[str, Any] | None:
        """The contact with this email (case-insensitive), or None."""
        key = email.strip().lower()

        def find(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute("SELECT * FROM contacts WHERE email = ?", (key,)).fetchone()
            return _contact(row) if row else None

        return await self._run(find)

    async def upsert_contact(self, email: str, properties: dict[str, Any]) -> dict[str, Any]:
        """Create or update the one contact for this email, merging non-None properties.

        A new contact is linked to the company whose domain is the email's domain, as HubSpot's
        automatic company association does. Returns `{"id", "created"}`.
        """
        key = email.strip().lower()
        if "@" not in key:
            raise ValueError(f"not an email address: {email!r}")
        email_domain = key.rsplit("@", 1)[1]

        def upsert(conn: sqlite3.Connection) -> dict[str, Any]:
            now = _now()
            with immediate(conn):
                row = conn.execute(
                    "SELECT id, properties FROM contacts WHERE email = ?", (key,)
                ).fetchone()
                if row is not None:
                    conn.execute(
                        "UPDATE contacts SET properties = ?, updated_at = ? WHERE id = ?",
                        (_dumps(_merge(row["properties"], properties)), now, row["id"]),
                    )
                    return {"id": row["id"], "created": False}
                company = conn.execute(
                    "SELECT id FROM companies WHERE domain = ?", (email_domain,)
                ).fetchone()
                contact_id = _stable_id("contact", key)
                conn.execute(
                    "INSERT INTO contacts (id, email, company_id, owner_email, properties,"
                    " created_at, updated_at) VALUES (?, ?, ?, NULL, ?, ?, ?)",
                    (
                        contact_id,
                        key,
                        company["id"] if company else None,
                        _dumps(
                            {key: value for key, value in properties.items() if value is not None}
                        ),
                        now,
                        now,
                    ),
                )
                return {"id": contact_id, "created": True}

        return await self._run(upsert)

    async def assign_owner(self, contact_id: str, owner_email: str) -> dict[str, Any]:
        """Make `owner_email` the contact's owner; returns the previous owner alongside.

        Returns `{"contact_id", "previous_owner", "owner", "changed"}`; raises LookupError for
        an unknown contact.
        """
        owner = owner_email.strip().lower()

        def assign(conn: sqlite3.Connection) -> dict[str, Any]:
            with immediate(conn):
                row = conn.execute(
                    "SELECT owner_email FROM contacts WHERE id = ?", (contact_id,)
                ).fetchone()
                if row is None:
                    raise LookupError(f"no contact with id {contact_id!r}")
                previous = row["owner_email"]
                if previous != owner:
                    conn.execute(
                        "UPDATE contacts SET owner_email = ?, updated_at = ? WHERE id = ?",
                        (owner, _now(), contact_id),
                    )
            return {
                "contact_id": contact_id,
                "previous_owner": previous,
                "owner": owner,
                "changed": previous != owner,
            }

        return await self._run(assign)

    async def add_note(self, contact_id: str, key: str, body: str) -> dict[str, Any]:
        """Attach a note once per `key`; a repeat returns the stored note's id.

        Returns `{"id", "created"}`; raises LookupError for an unknown contact.
        """

        def add(conn: sqlite3.Connection) -> dict[str, Any]:
            with immediate(conn):
                existing = conn.execute("SELECT id FROM notes WHERE key = ?", (key,)).fetchone()
                if existing is not None:
                    return {"id": existing["id"], "created": False}
                if not conn.execute(
                    "SELECT 1 FROM contacts WHERE id = ?", (contact_id,)
                ).fetchone():
                    raise LookupError(f"no contact with id {contact_id!r}")
                note_id = _stable_id("note", key)
                conn.execute(
                    "INSERT INTO notes (id, key, contact_id, body, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (note_id, key, contact_id, body, _now()),
                )
                return {"id": note_id, "created": True}

        return await self._run(add)

    async def list_contacts(self, limit: int = 100) -> list[dict[str, Any]]:
        """Contacts, newest first."""

        def select(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT * FROM contacts ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall()
            return [_contact(row) for row in rows]

        return await self._run(select)

    async def list_notes(self, contact_id: str) -> list[dict[str, Any]]:
        """A contact's notes, oldest first."""

        def select(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT id, key, contact_id, body, created_at FROM notes WHERE contact_id = ?"
                " ORDER BY created_at, rowid",
                (contact_id,),
            ).fetchall()
            return [dict(row) for row in rows]

        return await self._run(select)

    # Companies

    async def find_company_by_domain(self, domain: str) -> dict[str, Any] | None:
        """The company with this domain (case-insensitive), or None."""
        key = domain.strip().lower()

        def find(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute("SELECT * FROM companies WHERE domain = ?", (key,)).fetchone()
            return _company(row) if row else None

        return await self._run(find)

    async def upsert_company(self, domain: str, properties: dict[str, Any]) -> dict[str, Any]:
        """Create or update the one company for this domain, merging non-None properties.

        `name`, `owner_email` and `parent_id` go to their columns, the rest to `properties`.
        Returns `{"id", "created"}`.
        """
        key = domain.strip().lower()
        if not key:
            raise ValueError("a company needs a domain")
        columns = {name: properties.get(name) for name in _COMPANY_COLUMNS}
        extra = {k: v for k, v in properties.items() if k not in _COMPANY_COLUMNS}

        def upsert(conn: sqlite3.Connection) -> dict[str, Any]:
            now = _now()
            with immediate(conn):
                row = conn.execute("SELECT * FROM companies WHERE domain = ?", (key,)).fetchone()
                if row is not None:
                    conn.execute(
                        "UPDATE companies SET name = COALESCE(?, name),"
                        " owner_email = COALESCE(?, owner_email),"
                        " parent_id = COALESCE(?, parent_id), properties = ?, updated_at = ?"
                        " WHERE id = ?",
                        (
                            columns["name"],
                            columns["owner_email"],
                            columns["parent_id"],
                            _dumps(_merge(row["properties"], extra)),
                            now,
                            row["id"],
                        ),
                    )
                    return {"id": row["id"], "created": False}
                company_id = _stable_id("company", key)
                conn.execute(
                    "INSERT INTO companies (id, domain, name, owner_email, parent_id, properties,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        company_id,
                        key,
                        columns["name"],
                        columns["owner_email"],
                        columns["parent_id"],
                        _dumps(_merge("{}", extra)),
                        now,
                        now,
                    ),
                )
                return {"id": company_id, "created": True}

        return await self._run(upsert)

    # Seeding from configuration

    async def seed_accounts(self, rows: list[dict[str, Any]], digest: str | None = None) -> int:
        """Upsert the ACCOUNTS_CSV accounts (`directory.load_accounts_csv` rows); returns how many.

        The company id is the `account_id`; CSV columns overwrite what they name, other
        properties stay. A company already holding an account's domain under another id (one
        created from a lead) is folded into the account, its contacts moved with it. When two
        accounts share a domain, the first in file order holds it, as in `InMemoryDirectory`;
        the other keeps it under `properties["domain"]`.

        Seeding the rows seeded last again would change nothing, so it is skipped (a restart
        on an unchanged accounts file) while the companies table is as that seed left it: as
        many companies, none written since. `digest`: `rows_digest(rows)`, when the caller has it.
        """
        digest = digest or rows_digest(rows)
        return await self._run(functools.partial(_seed_accounts, rows=rows, digest=digest))

    async def seed_owners(self, reps: list[dict[str, Any]]) -> int:
        """Upsert owners from routing.yaml reps (email, name, crm_owner_id); returns how many."""
        values = [
            (
                str(rep["email"]).strip().lower(),
                rep.get("name"),
                None if rep.get("crm_owner_id") is None else str(rep["crm_owner_id"]),
            )
            for rep in reps
        ]

        def seed(conn: sqlite3.Connection) -> int:
            with immediate(conn):
                conn.executemany(
                    "INSERT INTO owners (email, name, crm_owner_id) VALUES (?, ?, ?)"
                    " ON CONFLICT (email) DO UPDATE SET name = excluded.name,"
                    " crm_owner_id = excluded.crm_owner_id",
                    values,
                )
            return len(values)

        return await self._run(seed)

    async def list_owners(self) -> list[dict[str, Any]]:
        """Owners, by email."""

        def select(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute("SELECT * FROM owners ORDER BY email").fetchall()
            return [dict(row) for row in rows]

        return await self._run(select)

    async def counts(self) -> dict[str, int]:
        """How many contacts, companies and notes are stored."""

        def count(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("contacts", "companies", "notes")
            }

        return await self._run(count)


def _seed_accounts(conn: sqlite3.Connection, rows: list[dict[str, Any]], digest: str) -> int:
    """`BuiltinCRM.seed_accounts` on `conn`."""
    now = _now()
    claimed: set[str] = set()
    with immediate(conn):
        last = conn.execute(
            "SELECT digest, companies FROM seeds WHERE name = 'accounts'"
        ).fetchone()
        if last is not None and tuple(last) == (digest, _companies_state(conn)):
            return len(rows)
        if not _seed_new_accounts(conn, rows, now):
            for row in rows:
                _seed_account(conn, row, claimed, now)
        conn.execute(
            "INSERT INTO seeds (name, digest, companies) VALUES ('accounts', ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET digest = excluded.digest,"
            " companies = excluded.companies",
            (digest, _companies_state(conn)),
        )
    return len(rows)


def seed_accounts_file(path: Path, rows: list[dict[str, Any]], digest: str) -> int:
    """`BuiltinCRM.seed_accounts` on the CRM file at `path` through a connection of its own,
    opened and closed here: for a process that holds no `BuiltinCRM` of that file (a child
    seeding aside, `tools.aside`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path, _SCHEMA, row_factory=sqlite3.Row)
    try:
        return _seed_accounts(conn, rows, digest)
    finally:
        conn.close()


def _companies_state(conn: sqlite3.Connection) -> str:
    """How many companies there are and when one was last written: any write moves it."""
    count, written = conn.execute("SELECT COUNT(*), MAX(updated_at) FROM companies").fetchone()
    return f"{count} {written}"


_UPSERT_COMPANY = (
    "INSERT INTO companies (id, domain, name, owner_email, parent_id, properties,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET domain = excluded.domain, name = excluded.name,"
    " owner_email = excluded.owner_email, parent_id = excluded.parent_id,"
    " properties = excluded.properties, updated_at = excluded.updated_at"
)


def _account_properties(row: dict[str, Any]) -> dict[str, Any]:
    """The properties an account row sets on its company."""
    return {
        "industry": row.get("industry"),
        "employees": row.get("employees"),
        "country": row.get("country"),
        "state": row.get("state"),
        "city": row.get("city"),
        "website": row.get("website"),
        "aliases": row.get("aliases") or None,
        **(row.get("properties") or {}),
    }


def _claim_domain(row: dict[str, Any], claimed: set[str]) -> tuple[str | None, dict[str, Any]]:
    """An account row's domain for its company and the properties it sets: a domain an
    earlier row of the same seed took (`claimed`) is kept in the properties only, and None
    is returned in its place."""
    domain = row.get("domain") or row.get("website")
    properties = _account_properties(row)
    if domain in claimed:
        properties["domain"], domain = domain, None
    elif domain:
        claimed.add(domain)
    return domain, properties


def _seed_new_accounts(conn: sqlite3.Connection, rows: list[dict[str, Any]], now: str) -> bool:
    """Insert the accounts in one statement when there is no company yet and no account_id
    repeats, as `_seed_account` would one by one; False (nothing done) otherwise."""
    ids = {str(row["account_id"]) for row in rows}
    if len(ids) < len(rows) or conn.execute("SELECT 1 FROM companies LIMIT 1").fetchone():
        return False
    claimed: set[str] = set()

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        domain, properties = _claim_domain(row, claimed)
        return (
            str(row["account_id"]),
            domain,
            row.get("name"),
            row.get("owner_email"),
            row.get("parent_account_id"),
            _dumps({key: value for key, value in properties.items() if value is not None}),
            now,
            now,
        )

    conn.executemany(_UPSERT_COMPANY, map(values, rows))
    return True


def _seed_account(
    conn: sqlite3.Connection, row: dict[str, Any], claimed: set[str], now: str
) -> None:
    """Upsert one account inside the caller's transaction."""
    account_id = str(row["account_id"])
    domain, csv_properties = _claim_domain(row, claimed)
    if domain:  # first claimed here: an older company holding it gives way to this account
        holder = conn.execute(
            "SELECT id, properties FROM companies WHERE domain = ? AND id != ?",
            (domain, account_id),
        ).fetchone()
        if holder is not None:
            csv_properties = _merge(holder["properties"], csv_properties)
            conn.execute(
                "UPDATE contacts SET company_id = ? WHERE company_id = ?",
                (account_id, holder["id"]),
            )
            conn.execute(
                "UPDATE companies SET parent_id = ? WHERE parent_id = ?",
                (account_id, holder["id"]),
            )
            conn.execute("DELETE FROM companies WHERE id = ?", (holder["id"],))

    existing = conn.execute(
        "SELECT properties FROM companies WHERE id = ?", (account_id,)
    ).fetchone()
    properties = _merge(existing["properties"] if existing else "{}", csv_properties)
    conn.execute(
        _UPSERT_COMPANY,
        (
            account_id,
            domain,
            row.get("name"),
            row.get("owner_email"),
            row.get("parent_account_id"),
            _dumps(properties),
            now,
            now,
        ),
    )


if TYPE_CHECKING:
    from tools.ports import CRM

    def _is_crm(crm: BuiltinCRM) -> CRM:
        """mypy checks that BuiltinCRM satisfies the `CRM` port."""
        return crm
