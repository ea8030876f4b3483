"""Store backed by one SQLite file (stdlib `sqlite3`, WAL): the embedded default.

Several OS processes may share the file: every read-modify-write is one statement (an upsert
whose `WHERE` decides) or runs in `BEGIN IMMEDIATE`, which takes SQLite's write lock up front,
and `busy_timeout` makes a waiting writer retry for up to 10 s (in a worker thread, see
`SqliteFile`). Within a process, one connection is guarded by a lock and its short statements
run on the event loop.

Open it with `store = await SqliteStore(path, record_ttl_s=...).open()`; `open()` creates the
file's tables and returns the store.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tools.ports import Claim, LeadRecord, RoundRobinPick
from tools.sqlite_file import SqliteFile, immediate
from tools.store import (
    choose_weighted,
    decode_receipt,
    encode_receipt,
    lead_from_json,
    lead_to_json,
    merge_lead_fields,
    received_us,
    validate_candidates,
    validate_page,
    validate_ttl,
)

T = TypeVar("T")

PURGE_INTERVAL_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS leads (
    lead_id TEXT PRIMARY KEY,
    received_us INTEGER NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL,
    action TEXT NOT NULL,
    expires_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS leads_received ON leads (received_us DESC, lead_id DESC);
CREATE INDEX IF NOT EXISTS leads_status ON leads (status, received_us DESC);
CREATE INDEX IF NOT EXISTS leads_owner ON leads (owner, received_us DESC);
CREATE INDEX IF NOT EXISTS leads_action ON leads (action, received_us DESC);
CREATE INDEX IF NOT EXISTS leads_expires ON leads (expires_at);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rr_pools (
    pool TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rr_counts (
    pool TEXT NOT NULL,
    rep_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (pool, rep_id)
);
CREATE TABLE IF NOT EXISTS rr_assignments (
    pool TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    rep_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (pool, lead_id)
);
CREATE INDEX IF NOT EXISTS rr_assignments_expires ON rr_assignments (expires_at);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_expires ON cache (expires_at);
CREATE TABLE IF NOT EXISTS receipts (
    lead_id TEXT NOT NULL,
    effect TEXT NOT NULL,
    receipt TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (lead_id, effect)
);
CREATE INDEX IF NOT EXISTS receipts_expires ON receipts (expires_at);
CREATE TABLE IF NOT EXISTS timers (
    key TEXT PRIMARY KEY,
    due_at REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at);
CREATE TABLE IF NOT EXISTS outcomes (
    lead_id TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SqliteStore(SqliteFile):
    """Lead records, leases, round-robin counters, cache and receipts in one SQLite file."""

    def __init__(self, path: Path, *, record_ttl_s: int) -> None:
        validate_ttl(record_ttl_s)
        super().__init__(path, SCHEMA)
        self._record_ttl_s = record_ttl_s
        self._next_purge = 0.0

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def purged_first(conn: sqlite3.Connection) -> T:
            self._maybe_purge(conn)
            return fn(conn)

        return await super()._run(purged_first)

    def _maybe_purge(self, conn: sqlite3.Connection) -> None:
        """Delete expired rows at most once per PURGE_INTERVAL_S in this process."""
        monotonic = time.monotonic()
        if monotonic < self._next_purge:
            return
        self._next_purge = monotonic + PURGE_INTERVAL_S
        now = time.time()
        with immediate(conn):
            conn.execute("DELETE FROM leads WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM leases WHERE expires_ms <= ?", (_now_ms(),))
            conn.execute("DELETE FROM rr_assignments WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM cache WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM receipts WHERE expires_at <= ?", (now,))

    # Leads

    async def claim(self, record: LeadRecord) -> Claim:
        """Store the record as queued unless its lead_id exists; return the stored record."""
        fresh = dataclasses.replace(record, status="queued", updated_at=record.received_at)
        score = received_us(fresh.received_at)
        data = lead_to_json(fresh)

        def claim_sync(conn: sqlite3.Connection) -> Claim:
            now = time.time()
            with immediate(conn):
                row = conn.execute(
                    "SELECT data FROM leads WHERE lead_id = ? AND expires_at > ?",
                    (fresh.lead_id, now),
                ).fetchone()
                if row is not None:
                    return Claim(False, lead_from_json(row[0]))
                conn.execute(
                    "INSERT OR REPLACE INTO leads"
                    " (lead_id, received_us, status, owner, action, expires_at, data)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        fresh.lead_id,
                        score,
                        fresh.status,
                        fresh.owner,
                        fresh.action,
                        now + self._record_ttl_s,
                        data,
                    ),
                )
            return Claim(True, lead_from_json(data))

        return await self._run(claim_sync)

    async def get_lead(self, lead_id: str) -> LeadRecord | None:
        """Return the live record of this lead, or None."""

        def get_sync(conn: sqlite3.Connection) -> LeadRecord | None:
            row = conn.execute(
                "SELECT data FROM leads WHERE lead_id = ? AND expires_at > ?",
                (lead_id, time.time()),
            ).fetchone()
            return None if row is None else lead_from_json(row[0])

        return await self._run(get_sync)

    async def update_lead(self, lead_id: str, **fields: Any) -> None:
        """Merge the given fields into the record; raise KeyError if the lead does not exist."""

        def update_sync(conn: sqlite3.Connection) -> None:
            with immediate(conn):
                row = conn.execute(
                    "SELECT data FROM leads WHERE lead_id = ? AND expires_at > ?",
                    (lead_id, time.time()),
                ).fetchone()
                if row is None:
                    raise KeyError(lead_id)
                merged = merge_lead_fields(lead_from_json(row[0]), fields)
                conn.execute(
                    "UPDATE leads SET received_us = ?, status = ?, owner = ?, action = ?,"
                    " data = ? WHERE lead_id = ?",
                    (
                        received_us(merged.received_at),
                        merged.status,
                        merged.owner,
                        merged.action,
                        lead_to_json(merged),
                        lead_id,
                    ),
                )

        await self._run(update_sync)

    async def list_leads(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        action: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LeadRecord]:
        """Return live records matching every given filter, newest received_at first."""
        validate_page(limit, offset)
        where = ["expires_at > ?"]
        params: list[Any] = []
        for column, value in (("status", status), ("owner", owner), ("action", action)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (
            f"SELECT data FROM leads WHERE {' AND '.join(where)}"
            " ORDER BY received_us DESC, lead_id DESC LIMIT ? OFFSET ?"
        )

        def list_sync(conn: sqlite3.Connection) -> list[LeadRecord]:
            rows = conn.execute(sql, (time.time(), *params, limit, offset)).fetchall()
            return [lead_from_json(row[0]) for row in rows]

        return await self._run(list_sync)

    # Leases

    async def acquire_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        """Take the lease if free or expired, or extend it if this token holds it."""
        validate_ttl(ttl_ms)

        def acquire_sync(conn: sqlite3.Connection) -> bool:
            now = _now_ms()
            # One statement: taken when free or expired, extended when this token holds it.
            cursor = conn.execute(
                "INSERT INTO leases (name, token, expires_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET token = excluded.token,"
                " expires_ms = excluded.expires_ms"
                " WHERE leases.expires_ms <= ? OR leases.token = excluded.token",
                (name, token, now + ttl_ms, now),
            )
            return cursor.rowcount == 1

        return await self._run(acquire_sync)

    async def renew_lease(self, name: str, token: str, ttl_ms: int) -> bool:
        """Extend the lease only if this token holds it and it has not expired."""
        validate_ttl(ttl_ms)

        def renew_sync(conn: sqlite3.Connection) -> bool:
            now = _now_ms()
            cursor = conn.execute(
                "UPDATE leases SET expires_ms = ? WHERE name = ? AND token = ? AND expires_ms > ?",
                (now + ttl_ms, name, token, now),
            )
            return cursor.rowcount == 1

        return await self._run(renew_sync)

    async def release_lease(self, name: str, token: str) -> bool:
        """Delete the lease only if this token holds it; return whether it was released."""

        def release_sync(conn: sqlite3.Connection) -> bool:
            now = _now_ms()
            row = conn.execute(
                "DELETE FROM leases WHERE name = ? AND token = ? RETURNING expires_ms",
                (name, token),
            ).fetchone()
            return row is not None and bool(row[0] > now)

        return await self._run(release_sync)

    async def lease_holder(self, name: str) -> str | None:
        """Return the token holding the live lease, or None."""

        def holder_sync(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT token FROM leases WHERE name = ? AND expires_ms > ?", (name, _now_ms())
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._run(holder_sync)

    # Weighted round robin

    async def pick_weighted(
        self, pool: str, lead_id: str, candidates: list[tuple[str, float]]
    ) -> RoundRobinPick:
        """Assign the lead to the candidate furthest below its weighted share, once per pool."""
        validate_candidates(candidates)

        def pick_sync(conn: sqlite3.Connection) -> RoundRobinPick:
            now = time.time()
            with immediate(conn):
                row = conn.execute(
                    "SELECT rep_id, sequence FROM rr_assignments"
                    " WHERE pool = ? AND lead_id = ? AND expires_at > ?",
                    (pool, lead_id, now),
                ).fetchone()
                if row is not None:
                    counts = self._counts(conn, pool)
                    return RoundRobinPick(str(row[0]), int(row[1]), counts, repeated=True)
                counts = self._counts(conn, pool)
                rep_id = choose_weighted(candidates, counts)
                conn.execute(
                    "INSERT INTO rr_counts (pool, rep_id, count) VALUES (?, ?, 1)"
                    " ON CONFLICT (pool, rep_id) DO UPDATE SET count = count + 1",
                    (pool, rep_id),
                )
                conn.execute(
                    "INSERT INTO rr_pools (pool, sequence) VALUES (?, 1)"
                    " ON CONFLICT (pool) DO UPDATE SET sequence = sequence + 1",
                    (pool,),
                )
                (sequence,) = conn.execute(
                    "SELECT sequence FROM rr_pools WHERE pool = ?", (pool,)
                ).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO rr_assignments"
                    " (pool, lead_id, rep_id, sequence, expires_at) VALUES (?, ?, ?, ?, ?)",
                    (pool, lead_id, rep_id, sequence, now + self._record_ttl_s),
                )
                counts[rep_id] = counts.get(rep_id, 0) + 1
                return RoundRobinPick(rep_id, int(sequence), counts)

        return await self._run(pick_sync)

    async def pool_counts(self, pool: str) -> dict[str, int]:
        """Return how many leads each rep has been assigned in this pool."""
        return await self._run(lambda conn: self._counts(conn, pool))

    @staticmethod
    def _counts(conn: sqlite3.Connection, pool: str) -> dict[str, int]:
        rows = conn.execute("SELECT rep_id, count FROM rr_counts WHERE pool = ?", (pool,))
        return {str(rep_id): int(count) for rep_id, count in rows}

    # Cache

    async def cache_get(self, key: str) -> str | None:
        """Return the live cached value, or None."""

        def get_sync(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT value FROM cache WHERE key = ? AND expires_at > ?", (key, time.time())
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._run(get_sync)

    async def cache_set(self, key: str, value: str, ttl_s: int) -> None:
        """Store the value for ttl_s seconds, replacing any previous one."""
        validate_ttl(ttl_s)

        def set_sync(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO cache (key, value, expires_at) VALUES (?, ?, ?)",
                (key, value, time.time() + ttl_s),
            )

        await self._run(set_sync)

    async def cache_set_if_absent(self, key: str, value: str, ttl_s: int) -> str:
        """Store the value unless a live one exists; return the value that is stored."""
        validate_ttl(ttl_s)

        def set_if_absent_sync(conn: sqlite3.Connection) -> str:
            now = time.time()
            # One statement: inserted, or in place of an expired value, or left as stored.
            stored = conn.execute(
                "INSERT INTO cache (key, value, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " expires_at = excluded.expires_at WHERE cache.expires_at <= ?",
                (key, value, now + ttl_s, now),
            ).rowcount
            if stored:
                return value
            row = conn.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
            return str(row[0])

        return await self._run(set_if_absent_sync)

    # Receipts

    async def get_receipt(self, lead_id: str, effect: str) -> dict[str, Any] | None:
        """Return the stored receipt of this effect, or None."""

        def get_sync(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                "SELECT receipt FROM receipts WHERE lead_id = ? AND effect = ? AND expires_at > ?",
                (lead_id, effect, time.time()),
            ).fetchone()
            return None if row is None else decode_receipt(row[0])

        return await self._run(get_sync)

    async def get_receipts(self, lead_id: str) -> dict[str, dict[str, Any]]:
        """Return every stored receipt of this lead, by effect."""

        def get_sync(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
            rows = conn.execute(
                "SELECT effect, receipt FROM receipts WHERE lead_id = ? AND expires_at > ?",
                (lead_id, time.time()),
            ).fetchall()
            return {str(effect): decode_receipt(receipt) for effect, receipt in rows}

        return await self._run(get_sync)

    async def put_receipt(
        self, lead_id: str, effect: str, receipt: dict[str, Any]
    ) -> dict[str, Any]:
        """Store the receipt unless one exists; return the receipt that is stored."""
        encoded = encode_receipt(receipt)

        def put_sync(conn: sqlite3.Connection) -> dict[str, Any]:
            now = time.time()
            # One statement: inserted, or in place of an expired receipt, or left as stored.
            stored = conn.execute(
                "INSERT INTO receipts (lead_id, effect, receipt, expires_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (lead_id, effect) DO UPDATE SET receipt = excluded.receipt,"
                " expires_at = excluded.expires_at WHERE receipts.expires_at <= ?",
                (lead_id, effect, encoded, now + self._record_ttl_s, now),
            ).rowcount
            if stored:
                return decode_receipt(encoded)
            row = conn.execute(
                "SELECT receipt FROM receipts WHERE lead_id = ? AND effect = ?",
                (lead_id, effect),
            ).fetchone()
            return decode_receipt(row[0])

        return await self._run(put_sync)

    async def record_outcome(self, lead_id: str, outcome: dict[str, Any]) -> None:
        """Store the lead's current outcome, replacing an earlier one."""
        encoded = json.dumps(outcome, sort_keys=True)

        def put_sync(conn: sqlite3.Connection) -> None:
            with immediate(conn):
                conn.execute(
                    "INSERT INTO outcomes (lead_id, outcome, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (lead_id) DO UPDATE SET outcome = excluded.outcome,"
                    " updated_at = excluded.updated_at",
                    (lead_id, encoded, time.time()),
                )

        await self._run(put_sync)

    async def list_outcomes(self) -> list[dict[str, Any]]:
        """Every stored outcome, oldest first, each with its `lead_id`."""

        def list_sync(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT lead_id, outcome FROM outcomes ORDER BY updated_at, lead_id"
            ).fetchall()
            return [{**json.loads(row[1]), "lead_id": row[0]} for row in rows]

        return await self._run(list_sync)

    async def add_timer(self, key: str, due_at: float, payload: dict[str, Any]) -> None:
        """Schedule `payload` at `due_at` (epoch seconds); a key already scheduled is kept."""
        encoded = json.dumps(payload, sort_keys=True)

        def add_sync(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO timers (key, due_at, payload) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, due_at, encoded),
            )

        await self._run(add_sync)

    async def pop_due_timers(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        """Remove and return timers due by `now`, earliest first; each is popped once."""

        def pop_sync(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            with immediate(conn):
                rows = conn.execute(
                    "SELECT key, due_at, payload FROM timers WHERE due_at <= ?"
                    " ORDER BY due_at, key LIMIT ?",
                    (now, limit),
                ).fetchall()
                conn.executemany("DELETE FROM timers WHERE key = ?", [(r[0],) for r in rows])
            return [{"key": r[0], "due_at": r[1], "payload": json.loads(r[2])} for r in rows]

        return await self._run(pop_sync)
