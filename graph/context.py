"""Run-scoped dependencies handed to every node as `runtime.context` (`context_schema`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.config import RoutingConfig, ScoringConfig
from domain.learned_model import LearnedModel
from domain.matching import AccountIndex
from tools.ports import (
    CRM,
    Cache,
    Calendar,
    ChatModel,
    CompanyDirectory,
    Embedder,
    EnrichmentProvider,
    LeadIntake,
    Notifier,
    Receipts,
    RoundRobinCounters,
    Timers,
    VectorMemory,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunSettings:
    """The process settings the nodes read (the service builds this from its `Settings`)."""

    public_url: str = "http://127.0.0.1:8000"  # where links in messages and drafts point
    dedupe_window_minutes: int = 30
    own_domains: list[str] = field(default_factory=list)
    enrichment_order: list[str] = field(
        default_factory=lambda: ["crm", "directory", "http", "inference"]
    )
    enrichment_fields: list[str] = field(
        default_factory=lambda: ["name", "industry", "employees", "country"]
    )
    enrichment_min_confidence: float = 0.7
    enrichment_budget: int = 1
    enrichment_cache_ttl_s: int = 7 * 86400
    similar_accounts_k: int = 5
    lease_ttl_ms: int = 30_000
    llm_calls_per_lead: int = 2
    llm_max_adjustment: float = 10.0
    llm_deadline_s: float = 20.0


@dataclass(frozen=True)
class Context:
    """Clients and config one lead's run needs; built once per process, shared by runs.

    The key/value roles (`cache`, `round_robin`, `receipts`, `timers`) are usually one store.
    """

    settings: RunSettings
    routing: RoutingConfig
    scoring: ScoringConfig
    cache: Cache
    round_robin: RoundRobinCounters
    receipts: Receipts
    timers: Timers
    crm: CRM
    directory: CompanyDirectory
    notifier: Notifier
    calendar: Calendar
    matcher: AccountIndex = field(default_factory=lambda: AccountIndex([]))
    enricher: EnrichmentProvider | None = None
    vectors: VectorMemory | None = None
    embedder: Embedder | None = None
    model: LearnedModel | None = None
    shadow_model: LearnedModel | None = None
    chat: ChatModel | None = None
    intake: LeadIntake | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
