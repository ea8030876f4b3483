"""The shared SQLite plumbing of the embedded adapters: opening one file from many connections."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

from tools.sqlite_file import connect
from tools.store_sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_body ON items (body)
"""
CONNECTIONS = 8


def test_connections_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Eight connections opening one new file at the same moment all get WAL and the schema.

    The first connection to switch a new file to WAL holds its write lock meanwhile, and one
    that reads the file in that moment gets "database is locked" at once, whatever its busy
    timeout. `first` holds that lock while the eight start, so each of them meets it.
    """
    path = tmp_path / "new.sqlite"
    start = threading.Barrier(CONNECTIONS + 1, timeout=10)

    def open_at_start(item: int) -> str:
        start.wait()
        conn = connect(path, SCHEMA)
        try:
            conn.execute("INSERT INTO items (id, body) VALUES (?, 'x')", (str(item),))
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        finally:
            conn.close()

    with (
        closing(sqlite3.connect(path, isolation_level=None)) as first,
        ThreadPoolExecutor(CONNECTIONS) as pool,
    ):
        first.execute("BEGIN IMMEDIATE")
        futures = [pool.submit(open_at_start, item) for item in range(CONNECTIONS)]
        start.wait()
        time.sleep(0.05)
        first.execute("COMMIT")
        modes = [future.result() for future in futures]

    assert modes == ["wal"] * CONNECTIONS
    with closing(sqlite3.connect(path)) as check:
        assert check.execute("SELECT COUNT(*) FROM items").fetchone() == (CONNECTIONS,)


async def test_a_write_meeting_a_locked_file_waits_off_the_event_loop(tmp_path: Path) -> None:
    """A write that finds another connection holding the file's write lock waits for it in a
    thread: the event loop runs on meanwhile, and the write lands once the lock is released."""
    path = tmp_path / "store.sqlite3"
    store = await SqliteStore(path, record_ttl_s=60).open()
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            write = asyncio.create_task(store.cache_set("key", "value", 60))
            await asyncio.sleep(0.05)  # the loop is free while the write waits
            assert not write.done()
            other.execute("COMMIT")
            await write
        assert await store.cache_get("key") == "value"
    finally:
        await store.close()
