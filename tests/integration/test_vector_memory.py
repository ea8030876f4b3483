"""Similar-account memory: one contract, run on the local SQLite index and on Pinecone.

The Pinecone side is the real `pinecone` SDK talking HTTP to a local server that speaks the
data-plane API (`tests/fakes/pinecone_server.py`), including 429 with Retry-After, 5xx,
timeouts and a wrong API key. Retry waits are recorded instead of slept.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI, Request
from pinecone.errors import ServiceError

from domain.accounts import account_text
from service.backends import open_embedder, open_vector_memory
from tests.fakes import serving
from tests.fakes.pinecone_server import FakePinecone, running_pinecone
from tests.helpers import Waits, make_settings
from tools.embedder_local import LocalEmbedder
from tools.ports import VectorMemory
from tools.vector import OpenAIEmbedder, VectorMemoryError, sanitize_metadata
from tools.vector_local import LocalVectorMemory
from tools.vector_pinecone import PineconeVectorMemory

ROOT = Path(__file__).resolve().parents[2]
DIM = 256
API_KEY = "test-key"


def vec(*components: float) -> list[float]:
    """A DIM-dimensional vector starting with `components`, zeros after."""
    values = [0.0] * DIM
    values[: len(components)] = components
    return values


@pytest.fixture
def pinecone_server() -> Iterator[tuple[str, FakePinecone]]:
    with running_pinecone(api_key=API_KEY, dimension=DIM) as served:
        yield served


@pytest.fixture(params=["local", "pinecone"])
async def memory(
    request: pytest.FixtureRequest, tmp_path: Path, waits: Waits
) -> AsyncIterator[VectorMemory]:
    opened: VectorMemory
    if request.param == "local":
        opened = await LocalVectorMemory(tmp_path / "vectors.sqlite3", DIM).open()
    else:
        url, _ = request.getfixturevalue("pinecone_server")
        opened = PineconeVectorMemory(API_KEY, "accounts", url, sleep=waits)
    yield opened
    await opened.close()


# The contract, on both backends


async def test_query_returns_nearest_first_with_metadata(memory: VectorMemory) -> None:
    await memory.upsert(
        [
            ("acct-a", vec(1, 0, 0), {"outcome": "won", "employees": 250}),
            ("acct-b", vec(0.8, 0.6, 0), {"outcome": "lost"}),
            ("acct-c", vec(0, 0, 1), {"outcome": "open"}),
        ]
    )

    results = await memory.query(vec(1, 0.1, 0), top_k=2)

    assert [r["id"] for r in results] == ["acct-a", "acct-b"]
    assert results[0]["score"] == pytest.approx(1 / np.sqrt(1.01), abs=1e-5)
    assert results[0]["score"] > results[1]["score"]
    assert results[0]["metadata"] == {"outcome": "won", "employees": 250}
    assert results[1]["metadata"] == {"outcome": "lost"}
    everything = await memory.query(vec(0, 0, 1), top_k=10)
    assert everything[0]["id"] == "acct-c"
    assert len(everything) == 3


async def test_query_on_an_empty_memory_finds_nothing(memory: VectorMemory) -> None:
    assert await memory.query(vec(1, 0), top_k=5) == []


async def test_upsert_with_the_same_id_replaces_vector_and_metadata(memory: VectorMemory) -> None:
    await memory.upsert([("acct-a", vec(1, 0), {"outcome": "open", "stage": "demo"})])
    await memory.upsert([("acct-a", vec(0, 1), {"outcome": "won"})])

    results = await memory.query(vec(0, 1), top_k=1)

    assert results[0]["id"] == "acct-a"
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert results[0]["metadata"] == {"outcome": "won"}
    assert (await memory.stats())["count"] == 1


async def test_fetch_returns_stored_vectors_and_skips_unknown_ids(memory: VectorMemory) -> None:
    await memory.upsert(
        [("acct-a", vec(0.6, 0.8), {"outcome": "won"}), ("acct-b", vec(1), {"outcome": "lost"})]
    )

    found = await memory.fetch(["acct-a", "acct-missing"])

    assert set(found) == {"acct-a"}
    assert found["acct-a"]["id"] == "acct-a"
    assert found["acct-a"]["values"] == pytest.approx(vec(0.6, 0.8), abs=1e-6)
    assert found["acct-a"]["metadata"] == {"outcome": "won"}
    assert await memory.fetch([]) == {}


async def test_stats_count_the_stored_vectors(memory: VectorMemory) -> None:
    assert (await memory.stats())["count"] == 0
    await memory.upsert([(f"acct-{i}", vec(1, i), {}) for i in range(5)])
    await memory.upsert([("acct-0", vec(0, 1), {})])

    stats = await memory.stats()

    assert stats["count"] == 5
    assert stats["dimension"] == DIM
    await memory.ping()


async def test_metadata_is_kept_within_pinecone_rules(memory: VectorMemory) -> None:
    raw = {
        "outcome": "won",
        "owner": None,
        "tags": ["saas", None, 3],
        "deal": {"amount": 12000},
        "employees": 250,
        "customer": True,
    }
    await memory.upsert([("acct-a", vec(1), raw)])

    stored = (await memory.fetch(["acct-a"]))["acct-a"]["metadata"]

    assert stored == {
        "outcome": "won",
        "tags": ["saas", "3"],
        "deal": '{"amount": 12000}',
        "employees": 250,
        "customer": True,
    }


async def test_invalid_input_is_refused(memory: VectorMemory) -> None:
    with pytest.raises(ValueError, match="top_k"):
        await memory.query(vec(1), top_k=0)
    with pytest.raises(ValueError, match="finite"):
        await memory.upsert([("acct-a", vec(float("nan")), {})])
    with pytest.raises((ValueError, VectorMemoryError), match="dimension"):
        await memory.upsert([("acct-a", [1.0, 0.0, 0.0], {})])
    assert (await memory.stats())["count"] == 0


async def test_similar_accounts_rank_above_dissimilar_ones(memory: VectorMemory) -> None:
    embedder = LocalEmbedder(DIM)
    accounts = {
        "northwind": (
            {
                "name": "Northwind Freight GmbH",
                "industry": "Logistics",
                "country": "DE",
                "employees": 350,
                "description": "Freight forwarding and warehousing across Europe",
            },
            "won",
        ),
        "hanse": (
            {
                "name": "Hanse Cargo AG",
                "industry": "Logistics",
                "country": "Germany",
                "employees": 420,
                "description": "Road and rail freight forwarding",
            },
            "won",
        ),
        "pixel": (
            {
                "name": "Pixelwerk Studios",
                "industry": "Computer Games",
                "country": "US",
                "employees": 12,
                "description": "Indie mobile games",
            },
            "lost",
        ),
        "banque": (
            {
                "name": "Banque Lumière",
                "industry": "Banking",
                "country": "FR",
                "employees": 25000,
                "description": "Retail and private banking",
            },
            "lost",
        ),
        "clinic": (
            {
                "name": "Sunrise Dental",
                "industry": "Health Care",
                "country": "AU",
                "employees": 40,
                "description": "Dental clinics",
            },
            "open",
        ),
    }
    texts = [account_text(account) for account, _ in accounts.values()]
    vectors = embedder.embed(texts)
    await memory.upsert(
        [
            (account_id, vector, {"name": account["name"], "outcome": outcome})
            for (account_id, (account, outcome)), vector in zip(
                accounts.items(), vectors, strict=True
            )
        ]
    )
    lead_account = {
        "name": {"value": "Rhein Spedition GmbH", "source": "directory", "confidence": 0.9},
        "industry": {"value": "Logistics", "source": "directory", "confidence": 0.9},
        "country": "Germany",
        "employees": "300",
    }

    similar = await memory.query(embedder.embed([account_text(lead_account)])[0], top_k=3)

    assert {s["id"] for s in similar[:2]} == {"northwind", "hanse"}
    assert [s["metadata"]["outcome"] for s in similar[:2]] == ["won", "won"]
    assert similar[1]["score"] > similar[2]["score"] + 0.1


# Pinecone only: retries, errors, host resolution


def _pinecone(url: str, waits: Waits, **kwargs: Any) -> PineconeVectorMemory:
    return PineconeVectorMemory(API_KEY, "accounts", url, sleep=waits, **kwargs)


async def test_pinecone_429_is_retried_after_what_retry_after_asks(
    pinecone_server: tuple[str, FakePinecone], waits: Waits
) -> None:
    url, fake = pinecone_server
    memory = _pinecone(url, waits)
    await memory.upsert([("acct-a", vec(1), {"outcome": "won"})])
    fake.fail_next(429, retry_after=1, times=2, path="/query")

    results = await memory.query(vec(1), top_k=1)

    assert results[0]["id"] == "acct-a"
    assert waits.seconds == [1.0, 1.0]
    assert fake.count("/query") == 3
    await memory.close()


async def test_pinecone_retry_after_as_an_http_date_is_honoured(
    pinecone_server: tuple[str, FakePinecone], waits: Waits
) -> None:
    url, fake = pinecone_server
    memory = _pinecone(url, waits)
    fake.fail_next(429, retry_after=formatdate(time.time() + 3, usegmt=True), path="/query")

    assert await memory.query(vec(1), top_k=1) == []

    assert len(waits.seconds) == 1
    assert 1.0 < waits.seconds[0] <= 3.0
    await memory.close()


async def test_pinecone_retry_after_is_capped(
    pinecone_server: tuple[str, FakePinecone], waits: Waits
) -> None:
    url, fake = pinecone_server
    memory = _pinecone(url, waits, max_wait_s=2.0)
    fake.fail_next(429, retry_after=3600, path="/describe_index_stats")

    assert (await memory.stats())["count"] == 0

    assert waits.seconds == [2.0]
    await memory.close()


async def test_pinecone_503_twice_then_success(
    pinecone_server: tuple[str, FakePinecone], waits: Waits
) -> None:
    url, fake = pinecone_server
    memory = _pinecone(url, waits, backoff_s=0.25)
    fake.fail_next(503, times=2, path="/vectors/upsert")

    await memory.upsert([("acct-a", vec(1), {"outcome": "won"})])

    assert fake.count("/vectors/upsert") == 3
    assert len(waits.seconds) == 2
    assert 0.25 <= waits.seconds[0] <= 0.5
    assert 0.5 <= waits.seconds[1] <= 0.75
    assert fake.stored("accounts")["acct-a"]["metadata"] == {"outcome": "won"}
    await memory.close()


async def test_pinecone_timeout_then_success(
    pinecone_server: tuple[str, FakePinecone], waits: Waits
) -> None:
    url, fake = pinecone_server
    memory = _pinecone(url, waits, timeout_s=0.25)
    await memory.upsert([("acct-a", vec(1), {"outcome": "won"})])
    fake.delay_next(1.0, path="/vectors/fetch")

    found = await memory.fetch(["acct-a"])

    assert found["acct-a"]["metadata"] == {"outcome": "won"}
    assert fake.count("/vectors/fetch") == 2
    assert len(waits.seconds) == 1
    await memory.close()


async def test_pinecone_persistent_500_fails_after_the_bounded_attempts(
    pinecone_server: tuple[str, FakePinecone], waits: Waits
) -> None:
    url, fake = pinecone_server
    memory = _pinecone(url, waits, max_attempts=3)
    fake.fail_next(500, times=100, path="/query")

    with pytest.raises(VectorMemoryError, match="query failed after 3 attempts") as raised:
        await memory.query(vec(1), top_k=1)

    assert isinstance(raised.value.__cause__, ServiceError)
    assert fake.count("/query") == 3
    assert len(waits.seconds) == 2
    await memory.close()


async def test_pinecone_wrong_api_key_fails_at_once_with_a_clear_error(
    pinecone_server: tuple[str, FakePinecone], waits: Waits
) -> None:
    url, fake = pinecone_server
    memory = PineconeVectorMemory("not-the-key", "accounts", url, sleep=waits)

    with pytest.raises(VectorMemoryError, match=r"rejected the API key \(401\).*PINECONE_API_KEY"):
        await memory.upsert([("acct-a", vec(1), {})])

    assert fake.count("/vectors/upsert") == 1
    assert waits.seconds == []
    assert fake.stored("accounts") == {}
    await memory.close()


def test_pinecone_missing_api_key_is_refused_without_falling_back_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PINECONE_API_KEY", API_KEY)
    with pytest.raises(ValueError, match="PINECONE_API_KEY is empty"):
        PineconeVectorMemory("", "accounts", "http://127.0.0.1:9")


async def test_pinecone_host_is_resolved_once_from_the_index_name(
    pinecone_server: tuple[str, FakePinecone], waits: Waits, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, fake = pinecone_server
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", url)
    memory = PineconeVectorMemory(API_KEY, "accounts", None, sleep=waits)

    await memory.upsert([("acct-a", vec(1), {"outcome": "won"})])
    assert (await memory.query(vec(1), top_k=1))[0]["id"] == "acct-a"

    assert fake.count("/indexes/accounts") == 1
    assert memory.host == url
    await memory.close()


async def test_pinecone_unknown_index_name_is_a_clear_error(
    pinecone_server: tuple[str, FakePinecone], waits: Waits, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, fake = pinecone_server
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", url)
    memory = PineconeVectorMemory(API_KEY, "no-such-index", None, sleep=waits)

    with pytest.raises(VectorMemoryError, match=r"no-such-index.*404"):
        await memory.ping()

    assert fake.count("/indexes/no-such-index") == 1
    await memory.close()


# Local only: persistence and sharing one file


async def test_local_data_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "data" / "vectors.sqlite3"
    first = await LocalVectorMemory(path, DIM).open()
    await first.upsert([("acct-a", vec(1), {"outcome": "won"})])
    await first.close()

    second = await LocalVectorMemory(path, DIM).open()
    results = await second.query(vec(1), top_k=1)
    await second.close()

    assert results[0]["id"] == "acct-a"
    assert results[0]["metadata"] == {"outcome": "won"}


async def test_local_instances_on_one_file_see_each_others_upserts(tmp_path: Path) -> None:
    path = tmp_path / "vectors.sqlite3"
    reader = await LocalVectorMemory(path, DIM).open()
    writer = await LocalVectorMemory(path, DIM).open()
    await writer.upsert([("acct-a", vec(1), {"outcome": "open"})])
    assert [r["id"] for r in await reader.query(vec(1), top_k=5)] == ["acct-a"]

    await writer.upsert([("acct-b", vec(1, 1), {}), ("acct-a", vec(0, 1), {"outcome": "won"})])
    results = await reader.query(vec(0, 1), top_k=5)

    assert [r["id"] for r in results] == ["acct-a", "acct-b"]
    assert results[0]["metadata"] == {"outcome": "won"}
    await reader.close()
    await writer.close()


async def test_local_cache_patched_by_writes_answers_like_a_fresh_load(tmp_path: Path) -> None:
    """A reader that catches up on many small writes ranks exactly as a newly opened one."""
    path = tmp_path / "vectors.sqlite3"
    reader = await LocalVectorMemory(path, DIM).open()
    writer = await LocalVectorMemory(path, DIM).open()
    rng = np.random.default_rng(7)
    for i in range(40):
        await writer.upsert([(f"acct-{i % 15}", rng.normal(size=DIM).tolist(), {"i": i})])
        await reader.query(vec(1), top_k=3)
    fresh = await LocalVectorMemory(path, DIM).open()
    probe = rng.normal(size=DIM).tolist()
    patched, loaded = await reader.query(probe, top_k=15), await fresh.query(probe, top_k=15)
    assert [(r["id"], r["metadata"]) for r in patched] == [(r["id"], r["metadata"]) for r in loaded]
    assert [r["score"] for r in patched] == pytest.approx([r["score"] for r in loaded], abs=1e-6)
    for memory in (reader, writer, fresh):
        await memory.close()


async def test_local_file_from_before_row_versions_still_opens(tmp_path: Path) -> None:
    """A file whose rows carry no version is upgraded on open and keeps its vectors."""
    path = tmp_path / "vectors.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE vectors (id TEXT PRIMARY KEY, vector BLOB NOT NULL,"
            " metadata TEXT NOT NULL, updated_at TEXT NOT NULL);"
            "CREATE TABLE vector_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            f"INSERT INTO vector_meta VALUES ('version', 1), ('dim', {DIM});"
        )
        conn.execute(
            "INSERT INTO vectors VALUES ('acct-old', ?, '{}', '2026-01-01T00:00:00+00:00')",
            (np.asarray(vec(1), dtype="<f4").tobytes(),),
        )
    memory = await LocalVectorMemory(path, DIM).open()
    await memory.upsert([("acct-new", vec(0, 1), {})])
    assert [r["id"] for r in await memory.query(vec(1), top_k=2)] == ["acct-old", "acct-new"]
    await memory.close()


async def test_local_file_refuses_vectors_of_another_dimension(tmp_path: Path) -> None:
    path = tmp_path / "vectors.sqlite3"
    memory = await LocalVectorMemory(path, DIM).open()
    await memory.upsert([("acct-a", vec(1), {})])
    await memory.close()

    with pytest.raises(ValueError, match="256-dimensional"):
        await LocalVectorMemory(path, 1536).open()
    adopted = await LocalVectorMemory(path, None).open()
    assert (await adopted.stats())["dimension"] == DIM
    await adopted.close()


_WRITER = """
import asyncio, sys
from pathlib import Path
from tools.vector_local import LocalVectorMemory

async def main(path: str, name: str) -> None:
    memory = await LocalVectorMemory(Path(path), 8).open()
    for i in range(40):
        await memory.upsert([(f"{name}-{i}", [1.0, float(i)] + [0.0] * 6, {"by": name})])
    await memory.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_local_file_is_shared_by_processes(tmp_path: Path) -> None:
    path = tmp_path / "vectors.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WRITER, str(path), name, env=env, cwd=ROOT
        )
        for name in ("p1", "p2", "p3")
    ]
    codes = await asyncio.wait_for(asyncio.gather(*(w.wait() for w in writers)), timeout=60)
    assert codes == [0, 0, 0]

    memory = await LocalVectorMemory(path, 8).open()
    stats = await memory.stats()
    results = await memory.query([1.0] + [0.0] * 7, top_k=3)
    await memory.close()

    assert stats["count"] == 120
    assert {r["metadata"]["by"] for r in results} == {"p1", "p2", "p3"}


# Factories and the embedder


async def test_open_vector_memory_is_local_in_data_dir_by_default(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    memory = await open_vector_memory(settings)

    assert isinstance(memory, LocalVectorMemory)
    assert memory.path == settings.data_dir / "vectors.sqlite3"
    await memory.upsert([("acct-a", LocalEmbedder().embed(["Acme"])[0], {})])
    assert (await memory.stats())["dimension"] == LocalEmbedder().dim
    await memory.close()
    assert isinstance(open_embedder(settings), LocalEmbedder)


async def test_open_vector_memory_uses_pinecone_when_its_key_is_set(
    tmp_path: Path, pinecone_server: tuple[str, FakePinecone]
) -> None:
    url, fake = pinecone_server
    settings = make_settings(
        tmp_path, PINECONE_API_KEY=API_KEY, PINECONE_INDEX="accounts", PINECONE_HOST=url
    )

    memory = await open_vector_memory(settings)

    assert isinstance(memory, PineconeVectorMemory)
    await memory.upsert([("acct-a", vec(1), {"outcome": "won"})])
    assert set(fake.stored("accounts")) == {"acct-a"}
    await memory.close()
    assert not (settings.data_dir / "vectors.sqlite3").exists()


def _embeddings_endpoint(seen: list[dict[str, Any]]) -> FastAPI:
    """A local OpenAI-compatible `POST /v1/embeddings`, answering with LocalEmbedder(8)."""
    app = FastAPI()
    embedder = LocalEmbedder(8)

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> dict[str, Any]:
        body = await request.json()
        seen.append({"authorization": request.headers.get("authorization"), **body})
        data = []
        for i, vector in enumerate(embedder.embed(body["input"])):
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return {"object": "list", "data": data, "model": body["model"], "usage": usage}

    return app


async def test_open_embedder_uses_an_openai_compatible_endpoint_when_a_model_is_set(
    tmp_path: Path,
) -> None:
    seen: list[dict[str, Any]] = []
    texts = ["Northwind Freight GmbH\nLogistics", "Pixelwerk Studios"]
    with serving(_embeddings_endpoint(seen)) as url:
        settings = make_settings(
            tmp_path,
            EMBEDDINGS_MODEL="text-embedding-3-small",
            OPENAI_API_KEY="sk-local",
            OPENAI_BASE_URL=f"{url}/v1",
        )
        embedder = open_embedder(settings)
        assert isinstance(embedder, OpenAIEmbedder)
        vectors = await asyncio.to_thread(embedder.embed, texts)

    assert np.allclose(vectors, LocalEmbedder(8).embed(texts), atol=1e-6)
    assert embedder.dim == 8
    assert seen[0]["authorization"] == "Bearer sk-local"
    assert seen[0]["model"] == "text-embedding-3-small"
    assert seen[0]["input"] == texts
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        open_embedder(make_settings(tmp_path, EMBEDDINGS_MODEL="text-embedding-3-small"))


def test_local_embedder_is_deterministic_across_processes() -> None:
    texts = ["Northwind Freight GmbH\nLogistics\nGermany\n201-500 employees", ""]
    script = (
        "import json, sys; from tools.embedder_local import LocalEmbedder; "
        "print(json.dumps(LocalEmbedder().embed(json.loads(sys.argv[1]))))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "12345"}
    output = subprocess.run(
        [sys.executable, "-c", script, json.dumps(texts)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout

    here = LocalEmbedder().embed(texts)

    assert json.loads(output) == here
    for vector in here:
        assert len(vector) == DIM
        assert float(np.linalg.norm(vector)) == pytest.approx(1.0)


def test_account_text_normalizes_firmographics() -> None:
    plain = account_text(
        {"name": "Acme", "industry": "Software", "country": "DE", "employees": 1200}
    )
    enriched = account_text(
        {
            "company": {"value": "Acme", "source": "crm", "confidence": 1.0},
            "industry": {"value": "Software", "source": "directory", "confidence": 0.8},
            "country": "Germany",
            "employees": "1,200",
            "owner": None,
        }
    )

    assert plain == enriched == "Acme\nSoftware\nGermany\n1001-5000 employees"
    assert account_text({}) == ""
    assert sanitize_metadata({"a": None}) == {}
