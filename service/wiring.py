"""Open everything one process needs from its settings: backends, graph, runner and queue.

Each concern uses its embedded default unless its production setting is present (DESIGN §4);
a setting that cannot work as given stops the start (`UnsupportedSetting`). Tests swap
adapters here and nowhere else, through `Overrides`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import redis.asyncio as aioredis
import structlog
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph.state import CompiledStateGraph
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker

from domain.accounts import account_key
from domain.config import RoutingConfig, ScoringConfig, load_routing, load_scoring
from domain.learned_model import LearnedModel
from domain.normalize import normalize_lead
from domain.records import Enrichment
from graph.builder import build_graph
from graph.context import Context, RunSettings, utcnow
from graph.similar_accounts import remember
from service import account_sync, bookings, compaction
from service.admission import ClaimQueued, LeadSubmitter
from service.backends import (
    open_chat,
    open_embedder,
    open_hubspot_crm,
    open_store,
    open_vector_memory,
)
from service.decide import DecisionError, apply_decision
from service.faults import Outages, passes
from service.hubspot_intake import defer_event, take_event
from service.queue import (
    TASK_NAME,
    make_broker,
    register,
    register_booking,
    register_decision,
    register_hubspot_event,
    register_reply,
)
from service.replies import apply_reply, defer
from service.runner import LeadRunner, thread_config
from service.settings import Settings, refuse_unsupported
from service.stream import LeadStream
from tools.account_index_file import INDEX_FILE, open_index
from tools.accounts_read_file import read_accounts_to_keep
from tools.aside import ASIDE_MIN_ROWS, start_aside
from tools.calendar_builtin import BuiltinCalendar
from tools.calendar_calcom import CalcomCalendar
from tools.checkpoint_serde import CompressedSerializer
from tools.crm_builtin import BuiltinCRM, seed_accounts_file
from tools.directory import AccountsReport, InMemoryDirectory, rows_digest
from tools.enrichment_http import HttpEnrichmentProvider
from tools.outbox import Outbox
from tools.ports import (
    CRM,
    Calendar,
    ChatModel,
    Claim,
    ContactReader,
    Embedder,
    EnrichmentProvider,
    LeadRecord,
    Notifier,
    Store,
    VectorMemory,
)
from tools.slack import SlackNotifier, StoreReceipts
from tools.store_redis import RedisStore

if TYPE_CHECKING:
    from tools.crm_hubspot import HubSpotCRM
    from tools.hubspot_accounts import HubSpotAccounts

log = structlog.get_logger("lead_router.services")


@dataclass(frozen=True)
class Overrides:
    """Adapters to use instead of the ones the settings choose: the one seam for fakes.

    A field left None keeps the settings' choice. What is passed is used as given (not opened,
    seeded or closed here). `wrap_store` and `wrap_notifier` wrap the store and notifier in use
    (the settings' or the override), e.g. to fail or stop the process around the real one.
    """

    store: Store | None = None
    crm: CRM | None = None
    notifier: Notifier | None = None
    calendar: Calendar | None = None
    vectors: VectorMemory | None = None
    embedder: Embedder | None = None
    chat: ChatModel | None = None
    enricher: EnrichmentProvider | None = None
    clock: Callable[[], datetime] | None = None
    checkpointer: BaseCheckpointSaver[Any] | None = None
    wrap_store: Callable[[Store], Store] | None = None
    wrap_notifier: Callable[[Notifier], Notifier] | None = None


@dataclass
class Services:
    """The process's open backends and the compiled graph."""

    settings: Settings
    context: Context
    checkpointer: BaseCheckpointSaver[Any]
    graph: CompiledStateGraph[Any, Any, Any, Any]
    runner: LeadRunner
    broker: AsyncBroker
    task: AsyncTaskiqDecoratedTask[[str], Any]
    outbox: Outbox | None
    crm: BuiltinCRM | None
    store: Store
    contacts: ContactReader | None = None  # the CRM, when it reads contacts by id (HubSpot)
    outages: Outages = field(default_factory=Outages)
    # Claim a lead and queue it in one step, when the store and the stream share a server.
    claim_queued: ClaimQueued | None = None
    decision_task: AsyncTaskiqDecoratedTask[..., Any] = field(init=False)
    reply_task: AsyncTaskiqDecoratedTask[[str, dict[str, Any]], Any] = field(init=False)
    booking_task: AsyncTaskiqDecoratedTask[[str, dict[str, Any]], Any] = field(init=False)
    hubspot_task: AsyncTaskiqDecoratedTask[[dict[str, Any]], Any] = field(init=False)

    def __post_init__(self) -> None:
        self.decision_task = register_decision(self.broker, self.decide)
        self.reply_task = register_reply(self.broker, self.apply_reply)
        self.booking_task = register_booking(self.broker, self.apply_booking)
        self.hubspot_task = register_hubspot_event(self.broker, self.take_hubspot_event)

    async def enqueue_booking(self, lead_id: str, change: dict[str, Any]) -> None:
        """Queue a change to a lead's meeting reported by Cal.com."""
        await self.booking_task.kiq(lead_id, change)

    async def apply_booking(self, lead_id: str, change: dict[str, Any]) -> dict[str, Any]:
        """Apply a change to a lead's meeting now (the queued task's handler); a step that
        fails hands the change back to the sweeper, which finishes it."""
        try:
            return await bookings.apply_booking(
                self.graph, self.context, self.store, self.context.timers, lead_id, change
            )
        except Exception as exc:
            log.error("cal.com change failed; retried later", lead_id=lead_id, error=str(exc))
            await bookings.defer(self.context.timers, self.context, lead_id, change)
            return {"result": "deferred", "detail": f"{type(exc).__name__}: {exc}"[:300]}

    async def enqueue_hubspot_event(self, event: dict[str, Any]) -> None:
        """Queue a HubSpot webhook event for the worker."""
        await self.hubspot_task.kiq(event)

    async def take_hubspot_event(self, event: dict[str, Any]) -> None:
        """Read a HubSpot event's contact and take its lead (the queued task's handler)."""
        try:
            await take_event(self.contacts, self.store, self.enqueue, event)
        except Exception as exc:
            now = self.context.clock().timestamp()
            await defer_event(self.context.timers, now, event, f"{type(exc).__name__}: {exc}")

    async def enqueue_reply(self, lead_id: str, reply: dict[str, Any]) -> None:
        """Queue a lead's reply."""
        await self.reply_task.kiq(lead_id, reply)

    async def apply_reply(self, lead_id: str, reply: dict[str, Any]) -> dict[str, Any]:
        """Apply a lead's reply now (the queued task's handler); a step that fails hands the
        reply back to the sweeper, which finishes it."""
        try:
            return await apply_reply(
                self.graph, self.context, self.store, self.context.timers, lead_id, reply
            )
        except Exception as exc:
            log.error("reply failed; retried later", lead_id=lead_id, error=str(exc))
            await defer(self.context.timers, self.context, lead_id, reply)
            return {"result": "deferred", "detail": f"{type(exc).__name__}: {exc}"[:300]}

    async def enqueue(self, lead_id: str) -> None:
        """Queue `process_lead(lead_id)`."""
        await self.task.kiq(lead_id)

    async def enqueue_decision(
        self,
        lead_id: str,
        decision: str,
        *,
        actor: str,
        reason: str | None = None,
        expect_hop: int | None = None,
    ) -> None:
        """Queue a rep's decision (accept, reassign, not a fit) on the lead."""
        await self.decision_task.kiq(lead_id, decision, actor, reason, expect_hop)

    async def decide(
        self,
        lead_id: str,
        decision: str,
        *,
        actor: str,
        reason: str | None = None,
        expect_hop: int | None = None,
    ) -> dict[str, Any]:
        """Apply a rep's decision now (the queued task's handler): resume the waiting lead."""
        try:
            return await apply_decision(
                self.graph,
                self.context,
                self.store,
                self.store,
                lead_id,
                decision,
                actor=actor,
                reason=reason,
                expect_hop=expect_hop,
            )
        except DecisionError as exc:
            log.warning("rep decision refused", lead_id=lead_id, decision=decision, error=str(exc))
            return {"result": "refused", "detail": str(exc)}

    async def fire_timers(self) -> int:
        """Queue the SLA checks and the deferred replies, meeting changes and HubSpot events
        that are due."""
        due = await self.context.timers.pop_due_timers(self.context.clock().timestamp())
        for timer in due:
            payload = timer["payload"]
            if payload.get("task") == "reply":
                await self.enqueue_reply(payload["lead_id"], payload["reply"])
                continue
            if payload.get("task") == "booking":
                await self.enqueue_booking(payload["lead_id"], payload["change"])
                continue
            if payload.get("task") == "hubspot_event":
                await self.enqueue_hubspot_event(payload["event"])
                continue
            if payload.get("task") == compaction.TASK:
                await compaction.compact_lead(
                    lead_id=payload["lead_id"],
                    records=self.store,
                    leases=self.store,
                    timers=self.context.timers,
                    graph=self.graph,
                    checkpointer=self.checkpointer,
                    retention_s=self.settings.checkpoint_retention_hours * 3600,
                    now=self.context.clock().timestamp(),
                )
                continue
            await self.enqueue_decision(
                payload["lead_id"],
                "reassign",
                actor="sla",
                reason="not accepted within the SLA",
                expect_hop=payload["hop"],
            )
        return len(due)

    async def recover(self, older_than_s: float = 0) -> list[str]:
        """Re-queue leads left processing without a live lease (or stuck in queued)."""
        stranded = await self.runner.stranded(older_than_s)
        for lead_id in stranded:
            await self.enqueue(lead_id)
        if stranded:
            log.warning("re-queued stranded leads", count=len(stranded))
        return stranded

    async def remember_outcome(self, lead_id: str, outcome: str) -> dict[str, Any] | None:
        """Put the outcome on the lead's account in the similar-account memory."""
        ctx = self.context
        if ctx.vectors is None or ctx.embedder is None:
            return None
        config = thread_config(lead_id)
        enrichment: Enrichment | None = (await self.graph.aget_state(config)).values.get(
            "enrichment"
        )
        key = account_key(enrichment) if enrichment else None
        if enrichment is None or key is None:
            return None
        return await remember(
            ctx.vectors,
            ctx.embedder,
            key,
            enrichment.get("company") or {},
            lead_id=lead_id,
            outcome=outcome,
        )

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Let leads the in-process queue is running finish before backends close."""
        if isinstance(self.broker, InMemoryBroker):
            try:
                await asyncio.wait_for(self.broker.wait_all(), timeout_s)
            except TimeoutError:
                log.warning("leads still running at shutdown; recovery resumes them")

    async def sweep(self, older_than_s: float, *, first_older_than_s: float | None = None) -> None:
        """Recover stranded leads every RECOVERY_INTERVAL_S until cancelled."""
        threshold = older_than_s if first_older_than_s is None else first_older_than_s
        while True:
            try:
                await self.fire_timers()
                await self.recover(older_than_s=threshold)
                threshold = older_than_s
                self.outages.up("recovery")
            except Exception as exc:
                if passes(exc):  # said once, until the backend answers again
                    self.outages.down("recovery", exc)
                else:
                    log.error("recovery sweep failed", error=str(exc))
            await asyncio.sleep(self.settings.recovery_interval_s)

    async def health(self) -> dict[str, dict[str, Any]]:
        """Readiness of each backend: {"name": {"backend": <class in use>, "ok": bool, ...}}.

        `backend` is the class of the adapter this process opened; a backend with a probe is
        asked (two seconds at most) and reports `error` when it does not answer.
        """
        ctx = self.context
        vectors = ctx.vectors
        probes: dict[str, tuple[object, Callable[[], Awaitable[Any]] | None]] = {
            "store": (self.store, self.store.ping),
            "crm": (ctx.crm, ctx.crm.ping),
            "notifier": (ctx.notifier, ctx.notifier.ping),
            "checkpoints": (
                self.checkpointer,
                lambda: self.checkpointer.aget_tuple(
                    {"configurable": {"thread_id": "health", "checkpoint_ns": ""}}
                ),
            ),
            "queue": (self.broker, None),
            "calendar": (ctx.calendar, None),
            "vector_memory": (vectors, vectors.ping if vectors is not None else None),
            "embedder": (ctx.embedder, None),
            "llm": (ctx.chat, None),
        }
        out: dict[str, dict[str, Any]] = {}
        for name, (adapter, probe) in probes.items():
            entry: dict[str, Any] = {"backend": _class_name(adapter), "ok": True}
            if probe is not None:
                try:
                    await asyncio.wait_for(probe(), timeout=2)
                except Exception as exc:
                    entry.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
            out[name] = entry
        out["directory"] = {
            "backend": _class_name(ctx.directory),
            "ok": True,
            "accounts": len(ctx.directory),
        }
        return out


def _claim_queued(settings: Settings, store: Store, broker: AsyncBroker) -> ClaimQueued | None:
    """A lead's claim and its queueing in one round trip, when the store and the stream are
    the same Redis server (`REDIS_URL` = `QUEUE_URL`), else None (claim, then queue)."""
    if not (
        isinstance(store, RedisStore)
        and isinstance(broker, LeadStream)
        and settings.redis_url == settings.queue_url
    ):
        return None

    async def claim_queued(record: LeadRecord) -> Claim:
        entry = broker.entry(TASK_NAME, record.lead_id)
        return await store.claim_and_queue(record, broker.queue_name, entry)

    return claim_queued


def _class_name(adapter: object) -> str | None:
    return None if adapter is None else type(adapter).__name__


def run_settings(settings: Settings) -> RunSettings:
    """The part of the process settings that the graph's nodes read."""
    return RunSettings(
        **{f.name: getattr(settings, f.name) for f in dataclasses.fields(RunSettings)}
    )


@contextlib.asynccontextmanager
async def _checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    if settings.database_url:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
        # A connection is checked before it is lent, so one broken while PostgreSQL was away
        # is replaced instead of failing a step; a step waits at most 5 s for a connection
        # (PoolTimeout, retried by the runner) rather than the pool's default 30 s.
        async with AsyncConnectionPool(
            settings.database_url,
            kwargs=kwargs,
            min_size=1,
            max_size=max(4, settings.worker_concurrency),
            timeout=5,
            check=AsyncConnectionPool.check_connection,
            open=False,
        ) as pool:
            postgres = AsyncPostgresSaver(pool, serde=CompressedSerializer())  # type: ignore[arg-type]
            async with pool.connection() as conn:
                await _migrate_alone(conn, postgres)
            yield postgres
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(settings.checkpoints_path, timeout=30) as conn:
        # A new file gives pages freed by compaction back to the file system (no effect on a
        # file made before: it keeps and reuses them).
        await conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=30000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        saver = AsyncSqliteSaver(conn, serde=CompressedSerializer())
        await saver.setup()
        yield saver


MIGRATION_LOCK = 7414020101


async def _migrate_alone(conn: Any, postgres: Any) -> None:
    """Run the checkpointer's migrations in one process at a time.

    The lock is tried, not waited for: LangGraph's migrations build indexes `CONCURRENTLY`,
    which wait for every open transaction, and a session blocked in `pg_advisory_lock` is one,
    so processes starting together would wait on each other for ever. A process that does not
    get the lock retries in a moment; by then the tables usually exist.
    """
    while True:
        taken = await conn.execute("SELECT pg_try_advisory_lock(%s) AS taken", (MIGRATION_LOCK,))
        if (await taken.fetchone())["taken"]:
            break
        await asyncio.sleep(0.2)
    try:
        await postgres.setup()
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


async def _known_accounts(
    settings: Settings,
    routing: RoutingConfig,
    hubspot: HubSpotCRM | None,
    keep: list[Callable[[], object]],
) -> tuple[AccountsReport, HubSpotAccounts | None]:
    """The team's accounts as read, and the HubSpot sync behind them when there is one.

    With HubSpot as the CRM they are its companies, synced now (`account_sync`); a replay with
    HUBSPOT_ACCESS_TOKEN set reads the last snapshot without calling HubSpot. Otherwise, and
    for a replay before any sync, ACCOUNTS_CSV; the call that keeps what reading it gave in
    DATA_DIR, when one is due, is added to `keep`.
    """
    if hubspot is not None:
        synced = await account_sync.open_accounts(settings, routing.reps, hubspot)
        return _noted(synced.report()), synced
    if settings.hubspot_access_token is not None:
        snapshot = account_sync.hubspot_accounts(settings, routing.reps)
        if snapshot.load():
            return _noted(snapshot.report()), None
        log.warning("no HubSpot accounts synced yet; using ACCOUNTS_CSV", path=str(snapshot.path))
    return _load_accounts(settings.accounts_csv, settings, keep), None


def _noted(report: AccountsReport) -> AccountsReport:
    """`report`, after one log line summing it up (a warning when rows were skipped or values
    dropped)."""
    noted = log.warning if report.skipped or report.warnings else log.info
    noted("accounts", **report.summary())
    return report


def _load_accounts(
    path: Path, settings: Settings, keep: list[Callable[[], object]]
) -> AccountsReport:
    """An accounts file read (read back from DATA_DIR when unchanged), after its log line;
    the call that keeps what it gave in DATA_DIR, when one is due, is added to `keep`."""
    strict = settings.accounts_strict
    report, keep_report = read_accounts_to_keep(path, settings.data_dir, strict=strict)
    if keep_report is not None:
        keep.append(keep_report)
    return _noted(report)


@dataclass(frozen=True)
class Opened:
    """What `open_context` opened: the run context, the store behind its key/value roles, the
    outbox and built-in CRM when those were the adapters chosen, and the loop that keeps
    HubSpot's accounts fresh (not started) when HubSpot is the CRM."""

    context: Context
    store: Store
    outbox: Outbox | None
    crm: BuiltinCRM | None
    refresh_accounts: Callable[[], Coroutine[Any, Any, None]] | None = None


async def open_context(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    routing: RoutingConfig,
    scoring: ScoringConfig,
    *,
    live: bool = True,
    overrides: Overrides | None = None,
) -> Opened:
    """Open the backends a run needs (closed by `stack`) and the run context over them.

    Refuses settings whose adapter does not exist yet (`UnsupportedSetting`). `live=False` is
    for replays: no HTTP enrichment calls, no Slack, no HubSpot and no Cal.com, only the outbox,
    the built-in CRM and the built-in calendar. `overrides` replace
    adapters (tests).
    """
    refuse_unsupported(settings)
    given = overrides or Overrides()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    hubspot_crm = None
    if given.crm is None and live and settings.hubspot_access_token is not None:
        redis = None
        if settings.redis_url:
            redis = aioredis.Redis.from_url(settings.redis_url)
            stack.push_async_callback(redis.aclose)
        hubspot_crm = await open_hubspot_crm(settings, routing.reps, redis)
    keep: list[Callable[[], object]] = []
    known_read, synced = await _known_accounts(settings, routing, hubspot_crm, keep)
    extra_read = (
        _load_accounts(settings.company_directory, settings, keep)
        if settings.company_directory
        else None
    )
    known = known_read.rows
    extra = extra_read.rows if extra_read is not None else []
    accounts = known + extra
    # One digest of the rows for the CRM seed and the index key (each skips what is unchanged):
    # an accounts file's own (of its bytes and the code reading them), else `rows_digest`.
    known_digest = accounts_digest = known_read.digest or rows_digest(known)
    if extra_read is not None and extra:
        extra_digest = extra_read.digest or rows_digest(extra)
        accounts_digest = hashlib.sha256(f"{known_digest} {extra_digest}".encode()).hexdigest()
    crm: CRM | None = given.crm or hubspot_crm
    # With many accounts, a child writes the files they end in (the accounts read, the CRM's
    # seed) while this process builds the index; the CRM's own seed below then finds its work
    # done, or does it when the child failed.
    aside = None
    if len(known) >= ASIDE_MIN_ROWS:
        if crm is None:  # the built-in CRM, seeded below
            keep.append(
                functools.partial(seed_accounts_file, settings.crm_path, known, known_digest)
            )
        if keep:
            aside = start_aside("accounts kept and seeded", keep)
            stack.push_async_callback(aside.wait)
    else:
        for job in keep:
            job()
    directory = InMemoryDirectory(accounts)
    index_file = settings.data_dir / INDEX_FILE
    matcher = open_index(accounts, index_file, digest=accounts_digest)
    if aside is not None:
        await aside.wait()
    store = given.store
    if store is None:
        store = await open_store(settings)
        stack.push_async_callback(store.close)
    if given.wrap_store is not None:
        store = given.wrap_store(store)
    builtin_crm = None
    if crm is None:
        crm = builtin_crm = BuiltinCRM(settings.crm_path)
        await builtin_crm.open()
        stack.push_async_callback(builtin_crm.close)
        await builtin_crm.seed_owners([rep.model_dump() for rep in routing.reps])
        await builtin_crm.seed_accounts(known, known_digest)
    outbox = None
    notifier = given.notifier
    if notifier is None:
        outbox = Outbox(settings.data_dir / "outbox.sqlite3")
        await outbox.open()
        stack.push_async_callback(outbox.close)
        notifier = outbox
        if live and settings.slack_bot_token and not settings.shadow_mode:
            notifier = SlackNotifier(
                settings.slack_bot_token,
                base_url=settings.slack_api_url,
                receipts=StoreReceipts(store),
                min_interval_s=settings.slack_min_post_interval_s,
                fallback_channel=settings.slack_fallback_channel,
            )
    if given.wrap_notifier is not None:
        notifier = given.wrap_notifier(notifier)
    calendar = given.calendar
    if calendar is None and live and settings.calcom_api_key:
        calcom = CalcomCalendar(
            settings.calcom_api_key,
            base_url=settings.calcom_api_url,
            app_url=settings.calcom_app_url,
            receipts=StoreReceipts(store, effect="calcom.booking"),
            dry_run=settings.shadow_mode,
        )
        stack.push_async_callback(calcom.close)
        calendar = calcom
    if calendar is None:
        builtin_calendar = BuiltinCalendar(
            settings.data_dir / "calendar.sqlite3", base_url=settings.public_url
        )
        await builtin_calendar.open()
        stack.push_async_callback(builtin_calendar.close)
        calendar = builtin_calendar
    enricher = given.enricher
    if enricher is None and live and settings.enrichment_url:
        http_enricher = HttpEnrichmentProvider(
            settings.enrichment_url,
            settings.enrichment_api_key,
            timeout_s=settings.enrichment_timeout_s,
            path_template=settings.enrichment_path,
        )
        stack.push_async_callback(http_enricher.close)
        enricher = http_enricher
    vectors = given.vectors
    if vectors is None:
        vectors = await open_vector_memory(settings)
        stack.push_async_callback(vectors.close)
    model_file, shadow_file = settings.current_model_path, settings.shadow_model_path
    model = LearnedModel.load(model_file) if model_file.is_file() else None
    shadow_model = LearnedModel.load(shadow_file) if shadow_file.is_file() else None
    log.info(
        "scoring",
        method="learned" if model else "rules",
        model=model.version if model else scoring.model_version,
        shadow=shadow_model.version if shadow_model else None,
    )
    embedder = given.embedder if given.embedder is not None else open_embedder(settings)
    chat = given.chat
    if chat is None and live:
        opened_chat = open_chat(settings)
        if opened_chat is not None:
            stack.push_async_callback(opened_chat.close)
        chat = opened_chat
    refresh = None
    if synced is not None and hubspot_crm is not None:

        async def apply(rows: list[dict[str, Any]]) -> None:
            fresh = [*rows, *extra]
            index = await asyncio.to_thread(open_index, fresh, index_file)
            directory.replace(fresh)
            matcher.take_over(index)
            log.info("accounts refreshed", source="hubspot", accounts=len(rows))

        refresh = functools.partial(
            account_sync.keep_fresh, synced, hubspot_crm, apply, settings.hubspot_sync_interval_s
        )
    context = Context(
        settings=run_settings(settings),
        routing=routing,
        scoring=scoring,
        cache=store,
        round_robin=store,
        receipts=store,
        timers=store,
        crm=crm,
        directory=directory,
        notifier=notifier,
        calendar=calendar,
        matcher=matcher,
        enricher=enricher,
        vectors=vectors,
        embedder=embedder,
        model=model,
        shadow_model=shadow_model,
        chat=chat,
        clock=given.clock or utcnow,
    )
    return Opened(context, store, outbox, builtin_crm, refresh)


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, overrides: Overrides | None = None
) -> AsyncIterator[Services]:
    """Open every backend for `settings`, seed the built-in CRM, compile the graph.

    `overrides` replace adapters the settings would choose (see `Overrides`); tests inject
    fakes here and nowhere else.
    """
    # Build the suffix-list and phone tables now rather than during the first lead.
    normalize_lead({"email": "warm@up.co.uk", "phone": "+44 20 7946 0958", "country": "UK"})
    routing = load_routing(settings.routing_config)
    scoring = load_scoring(settings.scoring_config)
    async with contextlib.AsyncExitStack() as stack:
        opened = await open_context(settings, stack, routing, scoring, overrides=overrides)

        async def enqueue_lead(lead_id: str) -> None:
            await task.kiq(lead_id)

        context = dataclasses.replace(
            opened.context, intake=LeadSubmitter(opened.store, enqueue_lead)
        )
        checkpointer = overrides.checkpointer if overrides else None
        if checkpointer is None:
            checkpointer = await stack.enter_async_context(_checkpointer(settings))
        graph = build_graph(
            checkpointer=checkpointer,
            max_attempts=settings.node_max_attempts,
            initial_interval=settings.node_retry_initial_s,
            assist=context.chat is not None,
        )
        outages = Outages()
        runner = LeadRunner(
            graph,
            context,
            records=opened.store,
            leases=opened.store,
            outages=outages,
            retry_for_s=settings.backend_retry_s,
            compact_after_s=settings.checkpoint_retention_hours * 3600,
        )
        broker = make_broker(settings, outages)
        task = register(broker, runner.take)
        services = Services(
            settings=settings,
            context=context,
            checkpointer=checkpointer,
            graph=graph,
            runner=runner,
            broker=broker,
            task=task,
            outbox=opened.outbox,
            crm=opened.crm,
            store=opened.store,
            contacts=crm if isinstance(crm := context.crm, ContactReader) else None,
            outages=outages,
            claim_queued=_claim_queued(settings, opened.store, broker),
        )
        if opened.refresh_accounts is not None:
            refresher = asyncio.create_task(opened.refresh_accounts())

            async def stop_refreshing() -> None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher

            stack.push_async_callback(stop_refreshing)
        yield services
