"""Open each backend from the settings: the embedded default unless its production setting
is present (DESIGN §4). The one place that names concrete adapter classes for these ports.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from domain.config import Rep
from service.settings import Settings
from tools.embedder_local import DEFAULT_DIM, LocalEmbedder
from tools.ports import Embedder, Store, VectorMemory
from tools.vector import LOCAL_FILENAME, OpenAIEmbedder

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tools.crm_hubspot import HubSpotCRM
    from tools.llm_openai import OpenAIChatModel

MIN_RECORD_TTL_DAYS = 30

log = structlog.get_logger("lead_router.services")


async def open_hubspot_crm(
    settings: Settings, reps: Sequence[Rep], redis: Redis | None = None
) -> HubSpotCRM:
    """HubSpotCRM for HUBSPOT_ACCESS_TOKEN (at HUBSPOT_API_URL when set), reading only under
    SHADOW_MODE, within HUBSPOT_REQUESTS_PER_10S and HUBSPOT_SEARCHES_PER_S: counted in `redis`
    (shared by every worker) when given, else in this process. Each rep's `crm_owner_id` is
    checked against HubSpot's owners now: every mismatch is logged as a warning, and an
    unreachable HubSpot does not stop the start (`/health` reports it)."""
    from tools.crm_hubspot import HubSpotCRM, HubSpotError
    from tools.ratelimit import RedisWindow

    if settings.hubspot_access_token is None:
        raise ValueError("HubSpot needs HUBSPOT_ACCESS_TOKEN")
    limiters = None
    if redis is not None:
        # HubSpot counts per app: one key per token, whichever process calls.
        app = hashlib.sha256(settings.hubspot_access_token.get_secret_value().encode()).hexdigest()
        key = f"{settings.redis_prefix}hubspot:{app[:16]}:"
        limiters = (
            RedisWindow(redis, key + "requests", settings.hubspot_requests_per_10s, 10.0),
            RedisWindow(redis, key + "searches", settings.hubspot_searches_per_s, 1.0),
        )
    crm = HubSpotCRM(
        settings.hubspot_access_token,
        base_url=settings.hubspot_api_url,
        owners={rep.email: rep.crm_owner_id for rep in reps if rep.crm_owner_id},
        shadow=settings.shadow_mode,
        requests_per_10s=settings.hubspot_requests_per_10s,
        searches_per_s=settings.hubspot_searches_per_s,
        limiters=limiters,
    )
    try:
        mismatches = await crm.owner_mismatches(reps)
    except HubSpotError as exc:
        log.warning("hubspot owners not checked", error=str(exc))
        return crm
    for mismatch in mismatches:
        log.warning("hubspot owner mismatch", **mismatch)
    log.info("hubspot crm", base_url=crm.base_url, shadow=crm.shadow, mismatches=len(mismatches))
    return crm


def open_chat(settings: Settings) -> OpenAIChatModel | None:
    """The language model when LLM_MODEL is set (OpenAI or any compatible server), else None."""
    if not settings.llm_model or settings.openai_api_key is None:
        return None
    from tools.llm_openai import OpenAIChatModel

    return OpenAIChatModel(
        model=settings.llm_model,
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        method=settings.llm_structured_output,
        timeout_s=settings.llm_timeout_s,
        deadline_s=settings.llm_deadline_s,
    )


async def open_store(settings: Settings) -> Store:
    """Open RedisStore when settings.redis_url is set, else SqliteStore in settings.data_dir."""
    record_ttl_s = max(settings.idempotency_ttl_days, MIN_RECORD_TTL_DAYS) * 86_400
    if settings.redis_url:
        from tools.store_redis import RedisStore

        return await RedisStore(
            settings.redis_url, prefix=settings.redis_prefix, record_ttl_s=record_ttl_s
        ).open()
    from tools.store_sqlite import SqliteStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return await SqliteStore(settings.sqlite_path, record_ttl_s=record_ttl_s).open()


def open_embedder(settings: Settings) -> Embedder:
    """LocalEmbedder by default; OpenAIEmbedder when settings.embeddings_model is set."""
    if settings.embeddings_model:
        if settings.openai_api_key is None:
            raise ValueError(
                "EMBEDDINGS_MODEL is set: set OPENAI_API_KEY too (any value for an endpoint "
                "without auth, with OPENAI_BASE_URL pointing at it)"
            )
        api_key = settings.openai_api_key.get_secret_value()
        return OpenAIEmbedder(
            settings.embeddings_model, api_key=api_key, base_url=settings.openai_base_url
        )
    return LocalEmbedder(DEFAULT_DIM)


async def open_vector_memory(settings: Settings, dim: int | None = None) -> VectorMemory:
    """Open PineconeVectorMemory when settings.pinecone_api_key is set, else LocalVectorMemory.

    `dim` is the embedder's dimension. The local index checks it against the file; left None
    it is the local embedder's when EMBEDDINGS_MODEL is unset, else taken from the file or the
    first upsert. A Pinecone index has its own dimension, fixed when it was created.
    """
    if settings.pinecone_api_key:
        from tools.vector_pinecone import PineconeVectorMemory

        if not settings.pinecone_index and not settings.pinecone_host:
            raise ValueError("PINECONE_API_KEY is set: set PINECONE_INDEX (or PINECONE_HOST) too")
        return PineconeVectorMemory(
            api_key=settings.pinecone_api_key.get_secret_value(),
            index=settings.pinecone_index or "",
            host=settings.pinecone_host,
        )
    from tools.vector_local import LocalVectorMemory

    if dim is None and not settings.embeddings_model:
        dim = DEFAULT_DIM
    return await LocalVectorMemory(settings.data_dir / LOCAL_FILENAME, dim).open()
