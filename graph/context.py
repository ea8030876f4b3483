"""Run-scoped dependencies handed to every node as `runtime.context` (`context_schema`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from graph.config import RoutingConfig, ScoringConfig
from graph.learning import LearnedModel
from graph.matching import AccountIndex
from tools.enrichment_http import HttpEnrichmentProvider
from tools.ports import CRM, Calendar, CompanyDirectory, Embedder, Notifier, Store, VectorMemory
from tools.settings import Settings


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """Clients and config one lead's run needs; built once per process, shared by runs."""

    settings: Settings
    routing: RoutingConfig
    scoring: ScoringConfig
    store: Store
    crm: CRM
    directory: CompanyDirectory
    notifier: Notifier
    calendar: Calendar
    matcher: AccountIndex = field(default_factory=lambda: AccountIndex([]))
    enricher: HttpEnrichmentProvider | None = None
    vectors: VectorMemory | None = None
    embedder: Embedder | None = None
    model: LearnedModel | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
