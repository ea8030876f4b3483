"""Similar-account memory: what an account looks like as a vector, and what became of it.

Each account the graph handles is embedded from its firmographics and kept in the vector
memory under a stable id, with its name, industry, size, country and latest outcome; enrich
asks for the nearest accounts, and the outcome webhook updates the outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from domain.accounts import META_FIELDS, account_text
from domain.records import SimilarAccount
from tools.ports import Embedder, VectorMemory


async def embed(embedder: Embedder, company: Mapping[str, Any]) -> list[float]:
    """The company's vector (embedders may block on I/O, so off the event loop)."""
    vectors = await asyncio.to_thread(embedder.embed, [account_text(company)])
    return vectors[0]


async def similar_accounts(
    memory: VectorMemory,
    embedder: Embedder,
    company: Mapping[str, Any],
    *,
    k: int,
    exclude: str | None,
) -> list[SimilarAccount]:
    """The `k` most similar remembered accounts (never the lead's own), with their outcomes."""
    if k <= 0 or not company:
        return []
    hits = await memory.query(await embed(embedder, company), k + 1)
    out: list[SimilarAccount] = []
    for hit in hits:
        if hit["id"] == exclude:
            continue
        meta = hit.get("metadata") or {}
        out.append(
            {
                "id": hit["id"],
                "score": round(float(hit["score"]), 4),
                "name": meta.get("name"),
                "industry": meta.get("industry"),
                "employees": meta.get("employees"),
                "country": meta.get("country"),
                "outcome": meta.get("outcome"),
            }
        )
    return out[:k]


async def remember(
    memory: VectorMemory,
    embedder: Embedder,
    key: str,
    company: Mapping[str, Any],
    *,
    lead_id: str,
    outcome: str | None = None,
) -> dict[str, Any]:
    """Store (or refresh) the account, keeping an outcome it already had unless given one."""
    existing = (await memory.fetch([key])).get(key) or {}
    previous = (existing.get("metadata") or {}).get("outcome")
    metadata = {f: company.get(f) for f in META_FIELDS if company.get(f) is not None}
    metadata["last_lead_id"] = lead_id
    if outcome or previous:
        metadata["outcome"] = outcome or previous
    await memory.upsert([(key, await embed(embedder, company), metadata)])
    return {"id": key, "outcome": metadata.get("outcome")}
