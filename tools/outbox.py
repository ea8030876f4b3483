"""Notification outbox in a SQLite file: stands in for Slack (`chat.postMessage`).

The embedded default of the `Notifier` port (DESIGN §4), and where every message goes in
SHADOW_MODE. Each message is stored once per key (`INSERT … ON CONFLICT DO NOTHING`), so a
retried notify node gets the first receipt back instead of a second message; the admin API
lists what was sent. Several processes may share the file: WAL journal, 10 s busy timeout,
one lock-guarded connection per instance (`SqliteFile`).
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.rep_message import RepMessage, summary
from tools.slack import block_kit
from tools.sqlite_file import SqliteFile, immediate

_IDS = uuid.UUID("0f6a2c1d-93b4-4c55-8e0e-7d1b5a9c4e21")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    text TEXT NOT NULL,
    blocks TEXT NOT NULL DEFAULT '[]',
    lead_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_lead ON messages (lead_id, created_at)
"""


def _receipt(row: sqlite3.Row, created: bool) -> dict[str, Any]:
    return {
        "id": row["id"],
        "key": row["key"],
        "channel": row["channel"],
        "recipient": row["recipient"],
        "created": created,
        "at": row["created_at"],
    }


def _blocks_to(blocks: list[dict[str, Any]]) -> bytes:
    """Block Kit as stored: JSON, zlib-compressed (a lead's message is mostly markup)."""
    return zlib.compress(json.dumps(blocks, default=str).encode(), 6)


def read_blocks(stored: str | bytes) -> list[dict[str, Any]]:
    """Block Kit from its stored form: compressed, or the plain JSON of rows written before."""
    data = zlib.decompress(stored) if isinstance(stored, bytes) else stored
    blocks: list[dict[str, Any]] = json.loads(data)
    return blocks


def _message(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "key": row["key"],
        "channel": row["channel"],
        "recipient": row["recipient"],
        "text": row["text"],
        "blocks": read_blocks(row["blocks"]),
        "lead_id": row["lead_id"],
        "at": row["created_at"],
    }


class Outbox(SqliteFile):
    """Stored rep notifications; implements the `Notifier` port."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, row_factory=sqlite3.Row, create_parent=True)

    async def send(self, key: str, message: RepMessage) -> dict[str, Any]:
        """Store `message` once under `key`; a repeat returns the first receipt, same id.

        The stored row has the message's `channel` (a Slack destination, `dm:<rep>` or
        `queue:<id>`), `recipient`, `lead_id`, its one-line `text` and the Block Kit `blocks`
        Slack would show. Returns `{"id", "key", "channel", "recipient", "created", "at"}`.
        """
        if not key:
            raise ValueError("an outbox message needs a key")
        missing = [name for name in ("channel", "recipient") if not message.get(name)]
        if missing:
            raise ValueError(f"outbox message {key!r} has no {' or '.join(missing)}")
        values = (
            str(uuid.uuid5(_IDS, key)),
            key,
            str(message["channel"]),
            str(message["recipient"]),
            summary(message),
            _blocks_to(block_kit(message)),
            message.get("lead_id"),
            datetime.now(UTC).isoformat(timespec="microseconds"),
        )

        def insert(conn: sqlite3.Connection) -> dict[str, Any]:
            with immediate(conn):
                created = (
                    conn.execute(
                        "INSERT INTO messages (id, key, channel, recipient, text, blocks, lead_id,"
                        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (key) DO NOTHING",
                        values,
                    ).rowcount
                    == 1
                )
                row = conn.execute("SELECT * FROM messages WHERE key = ?", (key,)).fetchone()
            return _receipt(row, created)

        return await self._run(insert)

    async def update(self, receipt: dict[str, Any], message: RepMessage) -> dict[str, Any]:
        """Replace the text and blocks of the message a `send` receipt points at."""
        message_id = receipt.get("id")
        text, blocks = summary(message), block_kit(message)

        def change(conn: sqlite3.Connection) -> dict[str, Any]:
            with immediate(conn):
                changed = conn.execute(
                    "UPDATE messages SET text = ?, blocks = ? WHERE id = ?",
                    (text, _blocks_to(blocks), message_id),
                ).rowcount
                if changed != 1:
                    raise LookupError(f"no outbox message {message_id!r} to update")
                row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
            return {**_receipt(row, False), "updated": True}

        return await self._run(change)

    async def count(self) -> int:
        """How many messages are stored."""
        return await self._run(
            lambda conn: int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        )

    async def list(
        self, limit: int = 50, lead_id: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Stored messages, newest first, optionally only one lead's."""
        where, params = ("WHERE lead_id = ?", (lead_id,)) if lead_id is not None else ("", ())

        def select(conn: sqlite3.Connection) -> builtins.list[dict[str, Any]]:
            rows = conn.execute(
                f"SELECT * FROM messages {where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
            return [_message(row) for row in rows]

        return await self._run(select)


if TYPE_CHECKING:
    from tools.ports import Notifier

    def _is_notifier(notifier: Outbox) -> Notifier:
        """mypy checks that Outbox satisfies the `Notifier` port."""
        return notifier
