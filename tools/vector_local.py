"""Similar-account memory in one SQLite file: the embedded default of `VectorMemory`.

Rows are `(id, vector, metadata, updated_at, version)`: the vector as little-endian float32
bytes, the metadata as JSON (sanitized to Pinecone's rules, see `tools.vector`). An upsert
replaces the row with the same id, bumps a version counter and stamps its rows with the new
version, in one transaction. A query scores every stored vector by cosine similarity with numpy
over a matrix cached in memory; when the counter has moved, only the rows written since the
cached version are read and patched in, so an upsert from another instance or another process
is seen by the next query without reloading the whole file. The file's dimension is recorded
on first use and checked on every open and write.

Several processes may share the file (WAL journal, 10 s busy timeout, writes in
`BEGIN IMMEDIATE`) through one lock-guarded connection per instance
(`tools.sqlite_file.SqliteFile`); a query, which may patch and score the whole matrix, runs in a
worker thread. Open it with
`memory = await LocalVectorMemory(path, dim).open()`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import numpy as np

from tools.sqlite_file import SqliteFile, immediate
from tools.vector import check_top_k, check_vector, sanitize_metadata

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    id TEXT PRIMARY KEY,
    vector BLOB NOT NULL,
    metadata TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS vector_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO vector_meta (key, value) VALUES ('version', 0)
"""

_FLOAT = np.dtype("<f4")


@dataclass
class _Matrix:
    """The stored vectors as one row-normalized matrix, as of one version of the file."""

    version: int
    ids: list[str]
    unit: np.ndarray  # (n, dim) float32, each row of norm 1 (or 0 for a zero vector)
    metadata: list[str]  # raw JSON, decoded only for the rows a query returns
    position: dict[str, int]  # id → row


def _decode(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=_FLOAT)


class LocalVectorMemory(SqliteFile):
    """Cosine top-k over vectors persisted in a SQLite file, shared by processes."""

    def __init__(self, path: Path, dim: int | None) -> None:
        super().__init__(Path(path), _SCHEMA, create_parent=True)
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim = dim
        self._matrix: _Matrix | None = None

    async def open(self) -> Self:
        """Open the file (creating it if needed), check its dimension, return this instance."""
        await super().open()
        try:
            await self._run(self._settle_dim)
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Close the connection and drop the cached matrix."""
        await super().close()
        self._matrix = None

    def _settle_dim(self, conn: sqlite3.Connection) -> None:
        """Record this instance's dimension in a new file, or check it against the file's."""
        with immediate(conn):
            columns = {row[1] for row in conn.execute("PRAGMA table_info(vectors)")}
            if "version" not in columns:  # a file written before rows carried their version
                conn.execute("ALTER TABLE vectors ADD COLUMN version INTEGER NOT NULL DEFAULT 0")
            conn.execute("CREATE INDEX IF NOT EXISTS vectors_version ON vectors (version)")
            if self.dim is not None:
                conn.execute(
                    "INSERT INTO vector_meta (key, value) VALUES ('dim', ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (self.dim,),
                )
            self._check_dim(conn)

    def _check_dim(self, conn: sqlite3.Connection) -> None:
        """Adopt the file's dimension when this instance has none; raise when they differ."""
        row = conn.execute("SELECT value FROM vector_meta WHERE key = 'dim'").fetchone()
        if row is None:
            return
        stored = int(row[0])
        if self.dim is None:
            self.dim = stored
        elif stored != self.dim:
            raise ValueError(
                f"{self.path} holds {stored}-dimensional vectors, not {self.dim}: the embedder "
                "changed (EMBEDDINGS_MODEL?); move the file aside to start a new index"
            )

    async def upsert(self, items: list[tuple[str, list[float], dict[str, Any]]]) -> None:
        """Insert or replace each `(id, vector, metadata)`; all in one transaction."""
        if not items:
            return
        dim = self.dim
        rows: list[tuple[str, bytes, str, str]] = []
        now = datetime.now(UTC).isoformat()
        for item_id, vector, metadata in items:
            if not isinstance(item_id, str) or not item_id:
                raise ValueError(f"vector id must be a non-empty string, got {item_id!r}")
            values = check_vector(vector, dim, f"vector {item_id!r}")
            dim = len(values)
            blob = np.asarray(values, dtype=_FLOAT).tobytes()
            encoded = json.dumps(sanitize_metadata(metadata), ensure_ascii=False, sort_keys=True)
            rows.append((item_id, blob, encoded, now))
        await self._run(self._write(rows, dim))

    def _write(
        self, rows: list[tuple[str, bytes, str, str]], dim: int | None
    ) -> Callable[[sqlite3.Connection], None]:
        def write(conn: sqlite3.Connection) -> None:
            with immediate(conn):
                conn.execute(
                    "INSERT INTO vector_meta (key, value) VALUES ('dim', ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (dim,),
                )
                self._check_dim(conn)
                if self.dim != dim:
                    raise ValueError(f"vectors have {dim} dimensions, the memory holds {self.dim}")
                conn.execute("UPDATE vector_meta SET value = value + 1 WHERE key = 'version'")
                version = conn.execute(
                    "SELECT value FROM vector_meta WHERE key = 'version'"
                ).fetchone()[0]
                conn.executemany(
                    "INSERT INTO vectors (id, vector, metadata, updated_at, version)"
                    " VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET vector = excluded.vector,"
                    " metadata = excluded.metadata, updated_at = excluded.updated_at,"
                    " version = excluded.version",
                    [(*row, version) for row in rows],
                )

        return write

    async def query(self, vector: list[float], top_k: int) -> list[dict[str, Any]]:
        """The `top_k` stored vectors most similar to `vector` (cosine), best first.

        Each result is `{"id", "score", "metadata"}`; equal scores are ordered by id.
        """
        check_top_k(top_k)
        query = np.asarray(check_vector(vector, self.dim, "query vector"), dtype=np.float32)
        return await self._run_in_thread(lambda conn: self._query(conn, query, top_k))

    def _query(
        self, conn: sqlite3.Connection, query: np.ndarray, top_k: int
    ) -> list[dict[str, Any]]:
        matrix = self._current(conn)
        if not matrix.ids:
            return []
        if query.shape[0] != matrix.unit.shape[1]:
            raise ValueError(
                f"query vector has {query.shape[0]} dimensions, "
                f"the memory holds {matrix.unit.shape[1]}"
            )
        norm = float(np.linalg.norm(query))
        scores = matrix.unit @ (query / norm if norm > 0 else query)
        k = min(top_k, len(matrix.ids))
        if k < len(matrix.ids):
            # Keep every row tied with the k-th best so the id tie-break below is exact.
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            candidates = np.flatnonzero(scores >= kth)
        else:
            candidates = np.arange(len(matrix.ids))
        ordered = sorted(candidates.tolist(), key=lambda i: (-float(scores[i]), matrix.ids[i]))
        return [
            {
                "id": matrix.ids[i],
                "score": float(scores[i]),
                "metadata": json.loads(matrix.metadata[i]),
            }
            for i in ordered[:k]
        ]

    def _current(self, conn: sqlite3.Connection) -> _Matrix:
        """The cached matrix, brought up to the file's version in one read transaction."""
        conn.execute("BEGIN")
        try:
            version = int(
                conn.execute("SELECT value FROM vector_meta WHERE key = 'version'").fetchone()[0]
            )
            cached = self._matrix
            if cached is None or version < cached.version:  # new instance, or a file replaced
                self._matrix = self._load(conn, version, None)
            elif version != cached.version:
                self._matrix = self._load(conn, version, cached)
        finally:
            conn.execute("COMMIT")
        assert self._matrix is not None
        return self._matrix

    def _load(self, conn: sqlite3.Connection, version: int, cached: _Matrix | None) -> _Matrix:
        """The matrix at `version`: every row, or `cached` patched with the rows written since."""
        since = cached.version if cached is not None else -1
        rows = conn.execute(
            "SELECT id, vector, metadata FROM vectors WHERE version > ? ORDER BY id", (since,)
        ).fetchall()
        dim = self.dim or (len(rows[0][1]) // _FLOAT.itemsize if rows else 0)
        if cached is None:
            cached = _Matrix(version, [], np.zeros((0, dim), dtype=np.float32), [], {})
        ids, metadata, position = list(cached.ids), list(cached.metadata), dict(cached.position)
        fresh = [row for row in rows if row[0] not in position]
        unit = np.vstack([cached.unit, np.zeros((len(fresh), dim), dtype=np.float32)])
        for row in fresh:
            position[row[0]] = len(ids)
            ids.append(row[0])
            metadata.append(row[2])
        for item_id, blob, meta in rows:
            i = position[item_id]
            vector = _decode(blob)
            norm = float(np.linalg.norm(vector))
            unit[i] = vector / norm if norm > 0 else vector
            metadata[i] = meta
        return _Matrix(version, ids, unit, metadata, position)

    async def fetch(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored vectors with these ids: `{id: {"id", "values", "metadata"}}`; absent
        ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}

        def read(conn: sqlite3.Connection) -> list[tuple[str, bytes, str]]:
            found: list[tuple[str, bytes, str]] = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.extend(
                    conn.execute(
                        f"SELECT id, vector, metadata FROM vectors WHERE id IN ({marks})", chunk
                    ).fetchall()
                )
            return found

        rows = await self._run(read)
        return {
            row[0]: {
                "id": row[0],
                "values": _decode(row[1]).astype(float).tolist(),
                "metadata": json.loads(row[2]),
            }
            for row in rows
        }

    async def stats(self) -> dict[str, Any]:
        """`{"backend": "local", "count", "dimension"}` of the stored vectors."""

        def read(conn: sqlite3.Connection) -> int:
            self._check_dim(conn)
            return int(conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

        count = await self._run(read)
        return {"backend": "local", "count": count, "dimension": self.dim}
