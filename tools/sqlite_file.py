"""One SQLite file shared by several processes: WAL journal, busy timeout, one locked connection.

`connect` opens a file in WAL mode with `synchronous = NORMAL`, a 10 s busy timeout and
autocommit (transactions are explicit, see `immediate`), and creates the caller's schema.
SQLite's busy handler does not cover every lock it takes: connections opening a new file at
the same moment may get "database is locked" straight away from the switch to WAL, so that
switch and the schema creation are retried after a short random back-off.

`SqliteFile` is the base of the embedded adapters: one connection per instance, guarded by a
lock. Its statements are short (WAL, small transactions, no fsync per commit), so they run on
the event loop itself, without waiting for a lock: a call that finds the file's write lock held
by another connection is run again in a worker thread, which waits for it up to the busy
timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

T = TypeVar("T")

RowFactory = Callable[[sqlite3.Cursor, tuple[Any, ...]], object]

BUSY_TIMEOUT_MS = 10_000
INLINE_BUSY_TIMEOUT_MS = 0  # on the event loop a locked file is handed to a thread at once
LOCKED_ATTEMPTS = 10


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "database is locked" in str(exc)


_retry_when_locked = retry(
    retry=retry_if_exception(_is_locked),
    wait=wait_random_exponential(multiplier=0.005, max=0.25),
    stop=stop_after_attempt(LOCKED_ATTEMPTS) | stop_after_delay(BUSY_TIMEOUT_MS / 1000),
    reraise=True,
)


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in a write transaction that takes the file's write lock up front."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@_retry_when_locked
def _use_wal(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")


@_retry_when_locked
def _create_schema(conn: sqlite3.Connection, schema: str) -> None:
    with immediate(conn):
        for statement in schema.split(";"):
            if statement.strip():
                conn.execute(statement)


def connect(
    path: Path, schema: str = "", *, row_factory: RowFactory | None = None
) -> sqlite3.Connection:
    """Open the file (WAL, 10 s busy timeout, autocommit) and run `schema` in one transaction.

    `schema` holds `;`-separated statements that can run again (`CREATE … IF NOT EXISTS`). The
    connection may be used from any thread; callers serialize their use of it.
    """
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        if row_factory is not None:
            conn.row_factory = row_factory
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _use_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        _create_schema(conn, schema)
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteFile:
    """One connection to a SQLite file, guarded by a lock.

    `open()` connects and creates `schema` (the file's parent folder too when `create_parent`);
    `_run(fn)` runs `fn(conn)` under the lock on the event loop, or in a worker thread when the
    file is locked by another connection; after `close()`, `open()` may be called again.
    """

    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        row_factory: RowFactory | None = None,
        create_parent: bool = False,
    ) -> None:
        self.path = Path(path)
        self._schema = schema
        self._row_factory = row_factory
        self._create_parent = create_parent
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def open(self) -> Self:
        """Open the file (creating it and its tables if needed) and return this instance."""
        await asyncio.to_thread(self._open_sync)
        return self

    def _open_sync(self) -> None:
        with self._lock:
            if self._conn is not None:
                return
            if self._create_parent:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path, self._schema, row_factory=self._row_factory)
            conn.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_TIMEOUT_MS}")
            self._conn = conn

    async def close(self) -> None:
        """Close the connection; `open()` may be called again afterwards."""
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """Raise unless the file answers a query."""
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` while holding this instance's lock: on the event loop, or in a worker
        thread that waits for them when a thread holds this instance's lock or another
        connection holds the file's lock.

        `fn` may run twice, so it must leave nothing behind when it raises "database is
        locked": a single statement, or its statements in one transaction (`immediate`).
        """
        if self._lock.acquire(blocking=False):
            try:
                return fn(self._open_conn())
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise
            finally:
                self._lock.release()
        return await asyncio.to_thread(self._call_waiting, fn)

    async def _run_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in a worker thread while holding this instance's lock: for a call
        that computes more than it reads, so that it does not hold up the event loop."""
        return await asyncio.to_thread(self._call_waiting, fn)

    def _call_waiting(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._open_conn()
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            try:
                return fn(conn)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_TIMEOUT_MS}")

    def _open_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(
                f"{type(self).__name__} at {self.path} is not open; call open() first"
            )
        return self._conn
