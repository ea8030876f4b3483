"""Run one lead's graph under a lease, resuming from its checkpoint, and keep its record current.

Delivery is at-least-once: a second delivery of a lead that is running elsewhere drops, one of
a completed lead does nothing, and one of a half-finished lead resumes only the unfinished node.
A backend that cannot be reached for a while (Redis, PostgreSQL) does not fail the lead: the
attempt is repeated with backoff from the last checkpoint until it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from graph.context import Context
from graph.state import initial_state
from service.faults import Outages, backend_of, backoff, passes, pause
from tools import metrics
from tools.ports import LeadRecord, LeadRecords, Leases, Timers, owner_column

log = structlog.get_logger("lead_router.runner")

CONCERN = "leads"


def thread_config(lead_id: str) -> RunnableConfig:
    """The graph config of a lead's thread: the lead id is the thread id."""
    return {"configurable": {"thread_id": lead_id}}


COMPACT_TASK = "compact"


async def schedule_compaction(timers: Timers, lead_id: str, due_at: float) -> None:
    """Compact the lead's checkpoints at `due_at` (Unix seconds; `service.compaction`); a
    second call keeps one timer."""
    await timers.add_timer(f"compact:{lead_id}", due_at, {"task": COMPACT_TASK, "lead_id": lead_id})


class LeadRunner:
    """Process leads by id: lease, run or resume the graph, record the outcome.

    `retry_for_s` is how long a lead keeps being retried while a backend cannot be reached
    before it is marked failed (naming the backend); `outages` hears of each attempt, so the
    log says once that a backend went and once that it came back. With `compact_after_s`, a
    completed lead's checkpoints are compacted that long after (`service.compaction`).
    """

    def __init__(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        context: Context,
        records: LeadRecords,
        leases: Leases,
        *,
        outages: Outages | None = None,
        retry_for_s: float = 600.0,
        compact_after_s: float | None = None,
    ) -> None:
        self.graph = graph
        self.context = context
        self.records = records
        self.leases = leases
        self.outages = outages or Outages()
        self.retry_for_s = retry_for_s
        self.compact_after_s = compact_after_s

    async def take(self, lead_id: str) -> str:
        """Process a queued delivery of the lead, waiting up to one lease lifetime for a lease
        still held by a worker that died (its message can be claimed just before)."""
        return await self.process(lead_id, wait_s=self.context.settings.lease_ttl_ms / 1000)

    async def process(self, lead_id: str, *, wait_s: float = 0.0) -> str:
        """Process one lead; returns what happened (completed, failed, busy, done, missing).

        An attempt that fails because a backend cannot be reached is repeated with backoff,
        resuming from the lead's last checkpoint, for up to `retry_for_s`; the lease is kept
        (and renewed) in between. A lease held by another worker is waited for up to `wait_s`
        before giving up with `busy`.
        """
        token = uuid.uuid4().hex
        ttl = self.context.settings.lease_ttl_ms
        lease = f"lead:{lead_id}"
        waits = backoff()
        started = time.monotonic()
        heartbeat: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    record = await self.records.get_lead(lead_id)
                    if record is None:
                        log.warning("unknown lead", lead_id=lead_id)
                        return "missing"
                    if record.status == "completed":
                        return "done"
                    # Taken, or kept: the same token extends a lease it holds.
                    if not await self.leases.acquire_lease(lease, token, ttl):
                        waited = time.monotonic() - started
                        if heartbeat is None and waited < wait_s:
                            await asyncio.sleep(min(wait_s - waited, ttl / 6000))
                            continue
                        log.info("lead is held by another worker", lead_id=lead_id)
                        return "busy"
                    if heartbeat is None or heartbeat.done():  # a lapsed lease taken again
                        heartbeat = asyncio.create_task(self._renew(lease, token, ttl))
                    with metrics.LEADS_RUNNING.track_inprogress():
                        outcome = await self._run(record)
                except Exception as exc:
                    if not passes(exc):
                        raise
                    self.outages.down(CONCERN, exc)
                    if time.monotonic() - started >= self.retry_for_s:
                        return await self._give_up(lead_id, exc)
                    await pause(waits)
                    continue
                self.outages.up(CONCERN)
                return outcome
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
                try:
                    await self.leases.release_lease(lease, token)
                except Exception as exc:  # unreleased, the lease runs out by itself
                    if not passes(exc):
                        raise

    async def _renew(self, lease: str, token: str, ttl: int) -> None:
        while True:
            await asyncio.sleep(ttl / 3000)
            try:
                if not await self.leases.renew_lease(lease, token, ttl):
                    log.error("lost the lease while running", lease=lease)
                    return
            except Exception as exc:
                if not passes(exc):
                    raise
                self.outages.down(CONCERN, exc)

    async def _give_up(self, lead_id: str, exc: Exception) -> str:
        """Mark the lead failed after `retry_for_s` of a backend out of reach; if the record
        cannot be written either, the lead stays as it is and recovery takes it later."""
        error = {
            "node": None,
            "type": type(exc).__name__,
            "message": (f"{backend_of(exc)} unreachable for {self.retry_for_s:g} s: {exc}")[:2000],
            "at": datetime.now(UTC).isoformat(),
        }
        try:
            await self.records.update_lead(lead_id, status="failed", error=error)
        except Exception as again:
            if not passes(again):
                raise
            log.warning("lead left for recovery", lead_id=lead_id, **error)
            return "deferred"
        log.error("lead failed", lead_id=lead_id, **error)
        return "failed"

    async def _run(self, record: LeadRecord) -> str:
        lead_id = record.lead_id
        config = thread_config(lead_id)
        await self.records.update_lead(
            lead_id, status="processing", error=None, attempts=record.attempts + 1
        )
        try:
            snapshot = await self.graph.aget_state(config)
            if snapshot.values.get("status") == "completed" and (
                not snapshot.next or snapshot.interrupts
            ):
                # Notified (and waiting for its rep) before its record was updated.
                final = snapshot.values
            else:
                # Resume at the unfinished node, or start when no step was checkpointed.
                payload = (
                    None
                    if snapshot.next
                    else initial_state(
                        record.lead_id, record.received_at, record.source, record.payload
                    )
                )
                final = await self.graph.ainvoke(
                    payload, config, context=self.context, durability="sync"
                )
        except Exception as exc:
            if passes(exc):  # a backend out of reach: `process` resumes from the checkpoint
                raise
            node = await self._failed_node(config)
            error = {
                "node": node,
                "type": type(exc).__name__,
                "message": str(exc)[:2000],
                "at": datetime.now(UTC).isoformat(),
            }
            await self.records.update_lead(lead_id, status="failed", error=error)
            log.error("lead failed", lead_id=lead_id, **error)
            metrics.LEADS.labels(status="failed", action="none").inc()
            metrics.LEAD_FAILURES.labels(node=node or "unknown").inc()
            return "failed"
        routing = final.get("routing", {})
        await self.records.update_lead(
            lead_id,
            status="completed",
            owner=owner_column(routing.get("owner"), routing.get("queue")),
            action=routing.get("action") or "",
            grade=final.get("score", {}).get("grade") or "",
            company=(
                final.get("enrichment", {}).get("company", {}).get("name")
                or final.get("lead", {}).get("company")
                or ""
            ),
        )
        if self.compact_after_s is not None:
            due = self.context.clock().timestamp() + self.compact_after_s
            await schedule_compaction(self.context.timers, lead_id, due)
        deliveries = final.get("deliveries", {})
        log.info(
            "lead completed",
            lead_id=lead_id,
            action=routing.get("action"),
            owner=routing.get("owner"),
            ms_to_notify=deliveries.get("ms_to_notify"),
        )
        metrics.LEADS.labels(status="completed", action=routing.get("action") or "").inc()
        message = deliveries.get("rep.message") or {}
        if message and "skipped" not in message and deliveries.get("ms_to_notify") is not None:
            metrics.TIME_TO_NOTIFY.observe(deliveries["ms_to_notify"] / 1000)
        return "completed"

    async def _failed_node(self, config: RunnableConfig) -> str | None:
        try:
            snapshot = await self.graph.aget_state(config)
        except Exception:  # the checkpointer itself may be what failed
            return None
        failed = [t.name for t in snapshot.tasks if t.error]
        return failed[0] if failed else (snapshot.next[0] if snapshot.next else None)

    async def stranded(self, older_than_s: float) -> list[str]:
        """Leads left processing with no live lease, or queued for longer than `older_than_s`."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=older_than_s)).isoformat()
        out: list[str] = []
        for status in ("processing", "queued"):
            offset = 0
            while True:
                page = await self.records.list_leads(status=status, limit=200, offset=offset)
                for rec in page:
                    if status == "queued" and rec.updated_at > cutoff:
                        continue
                    if await self.leases.lease_holder(f"lead:{rec.lead_id}") is not None:
                        continue
                    # A lead finished between the listing and the lease check is not stranded:
                    # its record is updated before its lease is released.
                    now = await self.records.get_lead(rec.lead_id)
                    if now is not None and now.status == status:
                        out.append(rec.lead_id)
                if len(page) < 200:
                    break
                offset += 200
        return out
