"""Run one lead's graph under a lease, resuming from its checkpoint, and keep its record current.

Delivery is at-least-once: a second delivery of a lead that is running elsewhere drops, one of
a completed lead does nothing, and one of a half-finished lead resumes only the unfinished node.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from graph.context import Context
from graph.state import initial_state
from tools import metrics
from tools.ports import LeadRecord, LeadRecords, Leases

log = structlog.get_logger("lead_router.runner")


def thread_config(lead_id: str) -> RunnableConfig:
    """The graph config of a lead's thread: the lead id is the thread id."""
    return {"configurable": {"thread_id": lead_id}}


class LeadRunner:
    """Process leads by id: lease, run or resume the graph, record the outcome."""

    def __init__(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        context: Context,
        records: LeadRecords,
        leases: Leases,
    ) -> None:
        self.graph = graph
        self.context = context
        self.records = records
        self.leases = leases

    async def process(self, lead_id: str) -> str:
        """Process one lead; returns what happened (completed, failed, busy, done, missing)."""
        record = await self.records.get_lead(lead_id)
        if record is None:
            log.warning("unknown lead", lead_id=lead_id)
            return "missing"
        if record.status == "completed":
            return "done"
        token = uuid.uuid4().hex
        ttl = self.context.settings.lease_ttl_ms
        lease = f"lead:{lead_id}"
        if not await self.leases.acquire_lease(lease, token, ttl):
            log.info("lead is held by another worker", lead_id=lead_id)
            return "busy"
        heartbeat = asyncio.create_task(self._renew(lease, token, ttl))
        try:
            with metrics.LEADS_RUNNING.track_inprogress():
                return await self._run(record)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.leases.release_lease(lease, token)

    async def _renew(self, lease: str, token: str, ttl: int) -> None:
        while True:
            await asyncio.sleep(ttl / 3000)
            if not await self.leases.renew_lease(lease, token, ttl):
                log.error("lost the lease while running", lease=lease)
                return

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
            owner=routing.get("owner") or routing.get("queue") or "",
            action=routing.get("action") or "",
            grade=final.get("score", {}).get("grade") or "",
            company=(
                final.get("enrichment", {}).get("company", {}).get("name")
                or final.get("lead", {}).get("company")
                or ""
            ),
        )
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
                    if await self.leases.lease_holder(f"lead:{rec.lead_id}") is None:
                        out.append(rec.lead_id)
                if len(page) < 200:
                    break
                offset += 200
        return out
